/* test_rnn_layers.c - the sequence layers as layers (the ops have their own tests),
 * through the model API on the device under test ($NNCL_DEVICE):
 *  - central finite differences of L = sum(y * r) against backward through whole layers
 *    and through time, for the input and every trainable parameter: lstm, gru, rnn
 *    (tanh, relu), one and two layers, bidirectional, return=last and sequence, learned
 *    initial states, stacked recurrent layers, embedding feeding lstm and gru;
 *  - embedding: an id outside [0, vocab) or not an integer fails the forward cleanly (and
 *    the next valid batch runs), and a training run at the batch that holds it (found by
 *    the NaN/Inf guard a batch later: the batch's update and the next one's are skipped);
 *    the padding row starts at zero and stays there through training;
 *  - training determinism: two runs from the same seed give the same weights bit for bit;
 *  - model text round trip of examples/models/lstm_rows.txt (same text, summary, outputs).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fdcheck.h"
#include "roundtrip.h"

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

/* A bad id in the second batch of a training run: NNCL_EINVAL naming the token id, one
 * step taken. */
static void test_bad_id_in_training(void) {
  enum { NS = 48 };
  float x[NS * 4];
  int32_t labels[NS];
  for (int i = 0; i < NS * 4; i++) x[i] = (float)(i % 5);
  for (int i = 0; i < NS; i++) labels[i] = i % 3;
  x[20 * 4 + 2] = 5; /* sample 20: batch 2 of 16 */
  const int64_t shape[1] = {4};
  nncl_model *m = NULL;
  nncl_optim *o = NULL;
  nncl_dataset *d = NULL;
  nncl_optim_params op;
  nncl_optim_params_init(&op);
  nncl_fit_params fp;
  nncl_fit_params_init(&fp);
  fp.batch = 16, fp.shuffle = 0;
  if (ok(nncl_model_parse(ctx, emb_text, "emb", &m), "parse") && ok(nncl_model_compile(m, 16, NNCL_MODE_TRAIN), "compile") &&
      ok(nncl_optim_create(m, &op, &o), "optim") && ok(nncl_dataset_from_arrays(ctx, NS, 1, shape, x, labels, 3, &d), "data")) {
    int r = nncl_fit(m, o, d, NULL, &fp);
    if (r != NNCL_EINVAL || !strstr(nncl_errmsg(ctx), "token id") || !strstr(nncl_errmsg(ctx), "batch 2") ||
        nncl_optim_steps(o) != 1)
      FAIL("embedding: a bad id in batch 2 of a training run: status %d (%s), %lld steps; want NNCL_EINVAL naming the "
           "token id and batch 2 after 1 step", r, nncl_errmsg(ctx), (long long)nncl_optim_steps(o));
    else printf("ok   embedding: a bad id in batch 2 stops training after 1 step: %s\n", nncl_errmsg(ctx));
  }
  nncl_dataset_destroy(d);
  nncl_optim_destroy(o);
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

int main(void) {
  int r = harness_open();
  if (r) return r;
  test_gradcheck();
  test_bad_ids();
  test_bad_id_in_training();
  test_training();
  text_round_trip("lstm_rows.txt");
  return harness_close();
}
