/* test_rnn_layers.c - the sequence layers as layers (the ops have their own tests),
 * through the model API on the device under test ($NNCL_DEVICE):
 *  - central finite differences of L = sum(y * r) against backward through whole layers
 *    and through time, for the input and every trainable parameter: lstm, gru, rnn
 *    (tanh, relu), one and two layers, bidirectional, return=last and sequence, learned
 *    initial states, stacked recurrent layers, embedding feeding lstm and gru;
 *  - embedding: an id outside [0, vocab) or not an integer fails the forward cleanly (and
 *    the next valid batch runs); the padding row starts at zero and stays there through
 *    training;
 *  - training determinism: two runs from the same seed give the same weights bit for bit;
 *  - model text round trip of examples/models/lstm_rows.txt (same text, summary, outputs).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fdcheck.h"
#include "nncl_config.h"

static nncl_ctx *make_ctx(uint64_t seed) {
  nncl_ctx_params p;
  nncl_ctx_params_init(&p);
  p.threads = 2;
  p.seed = seed;
  nncl_ctx *c = NULL;
  char err[512];
  if (nncl_ctx_create(&p, &c, err, sizeof err)) FAIL("context: %s", err);
  return c;
}

static void test_gradcheck(void) {
  fd_check("lstm_last", 2, "input shape=5,3\nlstm units=4\n", 0, 0);
  fd_check("lstm_seq", 2, "input shape=4,3\nlstm units=3 return=sequence\n", 0, 0);
  fd_check("lstm_bi_2l", 2, "input shape=4,2\nlstm units=3 layers=2 bidirectional=1 return=sequence\n", 0, 0);
  fd_check("lstm_learned", 3, "input shape=3,2\nlstm units=3 layers=2 bidirectional=1 initial=learned\n", 0, 0);
  fd_check("gru_last", 2, "input shape=5,3\ngru units=4\n", 0, 0);
  fd_check("gru_bi_2l", 2, "input shape=4,3\ngru units=3 layers=2 bidirectional=1 return=sequence\n", 0, 0);
  fd_check("gru_learned", 2, "input shape=3,2\ngru units=3 initial=learned bidirectional=1\n", 0, 0);
  fd_check("rnn_tanh_2l", 2, "input shape=5,3\nrnn units=4 layers=2\n", 0, 0);
  fd_check("rnn_relu_bi", 2, "input shape=4,3\nrnn units=5 act=relu bidirectional=1 return=sequence\n", 0, 0);
  fd_check("rnn_learned", 2, "input shape=3,2\nrnn units=3 initial=learned\n", 0, 0);
  fd_check("stacked", 2, "input shape=4,3\ngru units=3 return=sequence\nlstm units=2 bidirectional=1\ndense units=2\n", 0, 0);
  /* no padding_idx: its row is read but gets no gradient (torch), which no difference shows */
  fd_check("emb_lstm", 3, "input shape=6\nembedding vocab=7 dim=3\nlstm units=3\n", 7, 0);
  fd_check("emb_gru_seq", 2, "input shape=5\nembedding vocab=4 dim=2\ngru units=2 return=sequence\ndense units=2\n", 4, 0);
}

/* ---- embedding ------------------------------------------------------------------------ */

static const char emb_text[] = "input shape=4\nembedding vocab=5 dim=3 padding_idx=1 name=emb\nlstm units=4\ndense units=3\nsoftmax\n";

/* Bad ids fail the forward with NNCL_EINVAL (no crash), and a valid batch runs after it. */
static void test_bad_ids(void) {
  static const float bad[][4] = {{0, 1, 5, 2}, {0, -1, 2, 3}, {0, 2.5f, 1, 1}, {NAN, 0, 0, 0}};
  const float good[4] = {0, 1, 4, 3};
  nncl_model *m = NULL;
  nncl_tensor *x = NULL, *y = NULL;
  const int fails0 = failures;
  if (!ok(nncl_model_parse(ctx, emb_text, "emb", &m), "parse") || !ok(nncl_model_compile(m, 1, NNCL_MODE_INFER), "compile") ||
      !(x = lt_tensor(ctx, 1, 4)) || !(y = lt_tensor(ctx, 1, 3)))
    goto done;
  for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
    int r = lt_write(x, bad[k]) ? -1 : nncl_model_forward(m, x, y);
    if (r != NNCL_EINVAL || !strstr(nncl_errmsg(ctx), "token id"))
      FAIL("embedding: bad ids case %zu: forward returned %d (%s), want NNCL_EINVAL naming the token id", k, r, nncl_errmsg(ctx));
  }
  if (ok(lt_write(x, good), "write") && ok(nncl_model_forward(m, x, y), "forward after bad ids") && failures == fails0)
    printf("ok   embedding: ids out of range, negative, fractional and NaN fail the forward cleanly; the next batch runs\n");
done:
  nncl_tensor_destroy(x);
  nncl_tensor_destroy(y);
  nncl_model_destroy(m);
}

/* Trains emb_text for 2 epochs from context seed `seed`; copies every parameter into w
 * (malloc'd, *n values) and checks the padding row of emb.weight stays zero. */
static int train_emb(uint64_t seed, float **w, int64_t *n) {
  enum { NS = 48 };
  float x[NS * 4];
  int32_t labels[NS];
  uint64_t s = 5;
  for (int i = 0; i < NS; i++) {
    for (int t = 0; t < 4; t++) x[i * 4 + t] = (float)(int)((urand(&s) + 1) * 2.499f);
    labels[i] = ((int)x[i * 4] + (int)x[i * 4 + 3]) % 3;
  }
  nncl_ctx *c = make_ctx(seed);
  nncl_model *m = NULL;
  nncl_optim *o = NULL;
  nncl_dataset *d = NULL;
  const int64_t shape[1] = {4};
  nncl_optim_params op;
  nncl_optim_params_init(&op);
  op.lr = 0.05f;
  nncl_fit_params fp;
  nncl_fit_params_init(&fp);
  fp.batch = 16, fp.epochs = 2;
  int r = !c ? NNCL_EINVAL : 0;
  *w = NULL, *n = 0;
  if (!r && !(r = nncl_model_parse(c, emb_text, "emb", &m)) && !(r = nncl_model_compile(m, 16, NNCL_MODE_TRAIN)) &&
      !(r = nncl_optim_create(m, &op, &o)) && !(r = nncl_dataset_from_arrays(c, NS, 1, shape, x, labels, 3, &d)))
    r = nncl_fit(m, o, d, NULL, &fp);
  for (int i = 0; !r && i < nncl_model_param_count(m); i++) {
    const char *name;
    nncl_tensor *v;
    if ((r = nncl_model_param(m, i, &name, &v, NULL))) break;
    int64_t k = nncl_tensor_numel(v);
    float *h = lt_read(v), *nw = h ? realloc(*w, (size_t)(*n + k) * sizeof *nw) : NULL;
    if (!nw) {
      free(h);
      r = NNCL_ENOMEM;
      break;
    }
    *w = nw;
    memcpy(*w + *n, h, (size_t)k * sizeof *h);
    *n += k;
    if (!strcmp(name, "emb.weight"))
      for (int j = 0; j < 3; j++)
        if (h[3 + j] != 0) FAIL("embedding: padding row 1 of emb.weight is %g at column %d after training, want 0", h[3 + j], j);
    free(h);
  }
  if (r) FAIL("embedding training: %s: %s", nncl_strerror(r), c ? nncl_errmsg(c) : "no context");
  nncl_dataset_destroy(d);
  nncl_optim_destroy(o);
  nncl_model_destroy(m);
  nncl_ctx_destroy(c);
  return r;
}

static void test_training(void) {
  float *w1, *w2;
  int64_t n1, n2;
  const int fails0 = failures;
  if (!train_emb(11, &w1, &n1) && !train_emb(11, &w2, &n2)) {
    if (n1 != n2 || memcmp(w1, w2, (size_t)n1 * sizeof *w1)) FAIL("training an embedding + lstm twice from one seed gave different weights");
    else if (failures == fails0)
      printf("ok   embedding + lstm training: padding row stays zero; two runs from one seed give the same %lld weights bit for bit\n",
             (long long)n1);
  }
  free(w1);
  free(w2);
}

/* ---- model text round trip ----------------------------------------------------------- */

typedef struct text_buf {
  char s[8192];
  size_t len;
} text_buf;

static void collect(void *user, const char *line) {
  text_buf *b = user;
  int k = snprintf(b->s + b->len, sizeof b->s - b->len, "%s\n", line);
  if (k > 0 && b->len + (size_t)k < sizeof b->s) b->len += (size_t)k;
}

/* Outputs of m for 2 random samples, in evaluation (running statistics) and in training
 * (batch statistics; nothing draws dropout masks in the examples). */
static int outputs(nncl_model *m, float *y) {
  int64_t in = nncl_model_input_size(m), out = nncl_model_output_size(m);
  float *xh = malloc((size_t)(2 * in) * sizeof *xh);
  nncl_tensor *x = lt_tensor(ctx, 2, in), *t = lt_tensor(ctx, 2, out);
  uint64_t s = 3;
  int r = !xh || !x || !t ? NNCL_ENOMEM : 0;
  for (int64_t i = 0; !r && i < 2 * in; i++) xh[i] = urand(&s);
  if (!r && !(r = nncl_model_compile(m, 2, NNCL_MODE_TRAIN)) && !(r = lt_write(x, xh)) && !(r = nncl_model_set_training(m, 0)) &&
      !(r = nncl_model_forward(m, x, t)) && !(r = nncl_tensor_read(t, y, (size_t)(2 * out) * sizeof *y)) &&
      !(r = nncl_model_set_training(m, 1)) && !(r = nncl_model_forward(m, x, t)))
    r = nncl_tensor_read(t, y + 2 * out, (size_t)(2 * out) * sizeof *y);
  free(xh);
  nncl_tensor_destroy(x);
  nncl_tensor_destroy(t);
  return r;
}

static void text_round_trip(const char *file) {
  char path[512];
  snprintf(path, sizeof path, "%s/examples/models/%s", NNCL_SOURCE_DIR, file);
  nncl_model *m = NULL, *m2 = NULL;
  char *t1 = NULL, *t2 = NULL;
  text_buf s1 = {0}, s2 = {0};
  float *y1 = NULL, *y2 = NULL;
  uint64_t s = 21;
  if (!ok(nncl_model_parse_file(ctx, path, &m), path) || !ok(nncl_model_to_text(m, &t1), "to_text") ||
      !ok(nncl_model_parse(ctx, t1, "written", &m2), "parse written text") || !ok(nncl_model_to_text(m2, &t2), "to_text") ||
      !ok(nncl_model_summary(m, collect, &s1, NULL), "summary") || !ok(nncl_model_summary(m2, collect, &s2, NULL), "summary"))
    goto done;
  if (strcmp(t1, t2)) FAIL("%s: the written text does not write back the same:\n%s---\n%s", file, t1, t2);
  if (strcmp(s1.s, s2.s)) FAIL("%s: summaries differ after the text round trip:\n%s---\n%s", file, s1.s, s2.s);
  if (nncl_model_param_count(m) != nncl_model_param_count(m2)) {
    FAIL("%s: %d parameters, %d after the round trip", file, nncl_model_param_count(m), nncl_model_param_count(m2));
    goto done;
  }
  if (!ok(randomize(m, &s), "randomize")) goto done;
  for (int i = 0; i < nncl_model_param_count(m); i++) {
    const char *n1, *n2;
    nncl_tensor *v1, *v2;
    float *w = NULL;
    if (!ok(nncl_model_param(m, i, &n1, &v1, NULL), "param") || !ok(nncl_model_param(m2, i, &n2, &v2, NULL), "param")) goto done;
    if (strcmp(n1, n2) || nncl_tensor_numel(v1) != nncl_tensor_numel(v2) || !(w = lt_read(v1)) || lt_write(v2, w)) {
      FAIL("%s: parameter %d is '%s', after the round trip '%s'", file, i, n1, n2);
      free(w);
      goto done;
    }
    free(w);
  }
  int64_t out = nncl_model_output_size(m);
  y1 = malloc((size_t)(4 * out) * sizeof *y1), y2 = malloc((size_t)(4 * out) * sizeof *y2);
  if (!y1 || !y2 || !ok(outputs(m, y1), "outputs") || !ok(outputs(m2, y2), "outputs of the round-trip model")) goto done;
  if (memcmp(y1, y2, (size_t)(4 * out) * sizeof *y1)) FAIL("%s: outputs differ after the text round trip", file);
  else {
    int64_t np = 0;
    nncl_model_summary(m, collect, &s2, &np);
    printf("ok   text round trip %-18s %d layers, %lld parameters: same text, summary and outputs (eval and train)\n", file,
           m->nlayers, (long long)np);
  }
done:
  free(t1);
  free(t2);
  free(y1);
  free(y2);
  nncl_model_destroy(m);
  nncl_model_destroy(m2);
}

int main(void) {
  nncl_ctx_params p;
  nncl_ctx_params_init(&p);
  p.threads = 2;
  char err[512];
  int r = nncl_ctx_create(&p, &ctx, err, sizeof err);
  if (r == NNCL_ENODEV) {
    printf("SKIP no device '%s': %s\n", getenv("NNCL_DEVICE") ? getenv("NNCL_DEVICE") : "auto", err);
    return 77;
  }
  if (r) {
    printf("FAIL context: %s\n", err);
    return 1;
  }
  printf("device: %s\n", nncl_ctx_device(ctx));
  test_gradcheck();
  test_bad_ids();
  test_training();
  text_round_trip("lstm_rows.txt");
  nncl_ctx_destroy(ctx);
  printf("%s\n", failures ? "FAILED" : "PASSED");
  return failures != 0;
}
