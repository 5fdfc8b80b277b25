/* test_attn_layers.c - the sequence layers (attention, transformer, posenc, seqpool, dense
 * on a sequence) as layers, through the model API on the device under test ($NNCL_DEVICE):
 *  - central finite differences of L = sum(y * r) against backward, for the input and every
 *    trainable parameter: one and several heads, causal mask, key padding mask (from a
 *    layer's output), no bias, post- and pre-norm transformer blocks with relu and gelu,
 *    learned and sinusoidal positions, mean/max/last pooling; with dropout p > 0 too, the
 *    training step pinned so that every forward draws the same masks (backward must use
 *    the forward's masks);
 *  - masks: a padded key changes no output, a causal output ignores later steps;
 *  - dropout: identity in evaluation, masks differ between steps;
 *  - model text round trip of the example transformer and of every new key.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fdcheck.h"
#include "nncl_config.h"

static void test_gradcheck(void) {
  fd_check("dense_seq", 2, "input shape=3,4\ndense units=5 act=tanh\ndense units=2\n", 0, 0);
  fd_check("attn_h1", 2, "input shape=5,4\nattention heads=1\n", 0, 0);
  fd_check("attn_h2_causal", 2, "input shape=6,4\nattention heads=2 causal=1\n", 0, 0);
  fd_check("attn_h4_nobias", 2, "input shape=3,8\nattention heads=4 bias=0\n", 0, 0);
  fd_check("attn_odd", 3, "input shape=7,6\ndense units=9\nattention heads=3\n", 0, 0);
  /* key padding from a layer: keys where relu(dense) > 0 are padded (away from its kink,
   * the mask does not move under the finite differences) */
  fd_check("attn_mask", 2, "input shape=5,4\ndense units=1 act=relu name=m\nattention heads=2 from=input mask_from=m\n", 0, 0);
  fd_check("attn_mask_causal", 2, "input shape=6,4\ndense units=2 act=relu name=m\nattention heads=2 causal=1 from=input mask_from=m\n", 0, 0);
  fd_check("tf_post_relu", 2, "input shape=4,8\ntransformer heads=2 ff=6 dropout=0\n", 0, 0);
  fd_check("tf_pre_gelu", 2, "input shape=4,8\ntransformer heads=2 ff=5 dropout=0 norm=pre act=gelu\n", 0, 0);
  fd_check("tf_causal_2", 2, "input shape=5,4\ntransformer heads=1 ff=3 dropout=0 causal=1\ntransformer heads=2 ff=4 dropout=0 norm=pre\n", 0, 0);
  fd_check("posenc_learned", 2, "input shape=5,4\nposenc kind=learned max_len=7\ndense units=3\n", 0, 0);
  fd_check("posenc_sin", 2, "input shape=5,4\nposenc max_len=5\nattention heads=2\n", 0, 0);
  fd_check("seqpool_mean", 2, "input shape=5,3\ndense units=4\nseqpool mode=mean\n", 0, 0);
  fd_check("seqpool_max", 2, "input shape=5,3\ndense units=4\nseqpool mode=max\n", 0, 0);
  fd_check("seqpool_last", 2, "input shape=5,3\ndense units=4\nseqpool mode=last\ndense units=2\n", 0, 0);
  /* dropout inside attention and the block: the same masks in every forward */
  fd_check("attn_dropout", 2, "input shape=5,4\nattention heads=2 dropout=0.4\n", 0, 3);
  fd_check("tf_dropout", 2, "input shape=4,8\ntransformer heads=2 ff=6 dropout=0.3 act=gelu\n", 0, 3);
}

/* ---- masks and dropout ----------------------------------------------------------------- */

/* Outputs of m (compiled for `rows`) for x, in training or evaluation. */
static int run(nncl_model *m, int rows, const float *x, float *y, int training) {
  int64_t in = nncl_model_input_size(m), out = nncl_model_output_size(m);
  nncl_tensor *xt = lt_tensor(ctx, rows, in), *yt = lt_tensor(ctx, rows, out);
  int r = !xt || !yt ? NNCL_ENOMEM : 0;
  if (!r && !(r = nncl_model_set_training(m, training)) && !(r = lt_write(xt, x)) && !(r = nncl_model_forward(m, xt, yt)))
    r = nncl_tensor_read(yt, y, (size_t)(rows * out) * sizeof *y);
  nncl_tensor_destroy(xt);
  nncl_tensor_destroy(yt);
  return r;
}

/* Largest |a - b| over the steps t of (rows, T, D) outputs where keep[t] is set. */
static double diff_steps(const float *a, const float *b, int rows, int T, int D, const int *keep) {
  double d = 0;
  for (int n = 0; n < rows; n++)
    for (int t = 0; t < T; t++)
      for (int j = 0; keep[t] && j < D; j++) {
        size_t k = ((size_t)n * T + t) * D + j;
        if (fabs(a[k] - b[k]) > d) d = fabs(a[k] - b[k]);
      }
  return d;
}

enum { MT = 6, MD = 4, MR = 2 };

/* Padded keys (first value of the step == mask_pad) change no output of an unpadded step;
 * with causal=1 a step's output ignores every later step. */
static void test_masks(void) {
  static const char *const text[] = {
    "input shape=6,4\nattention heads=2 mask_from=input mask_pad=7\n",
    "input shape=6,4\ntransformer heads=2 ff=8 dropout=0 mask_from=input mask_pad=7\n",
    "input shape=6,4\nattention heads=2 causal=1\n",
    "input shape=6,4\ntransformer heads=2 ff=8 dropout=0 norm=pre causal=1\n",
  };
  static const int padded[MT] = {0, 1, 0, 0, 1, 0};
  for (int c = 0; c < 4; c++) {
    nncl_model *m = NULL;
    float x[MR * MT * MD], x2[MR * MT * MD], y[MR * MT * MD], y2[MR * MT * MD];
    uint64_t s = 77;
    int causal = c >= 2, keep[MT];
    for (int i = 0; i < MR * MT * MD; i++) x[i] = x2[i] = urand(&s);
    for (int n = 0; n < MR; n++)
      for (int t = 0; t < MT; t++) {
        float *step = x + ((size_t)n * MT + t) * MD, *step2 = x2 + ((size_t)n * MT + t) * MD;
        if (!causal && padded[t]) step[0] = step2[0] = 7;
        /* changed: the padded steps beyond their marker, or the last two steps */
        for (int j = 1; j < MD; j++)
          if (causal ? t >= MT - 2 : padded[t]) step2[j] += 0.5f + urand(&s);
      }
    for (int t = 0; t < MT; t++) keep[t] = causal ? t < MT - 2 : !padded[t];
    if (!ok(nncl_model_parse(ctx, text[c], "masks", &m), "parse") || !ok(randomize(m, &s), "randomize") ||
        !ok(nncl_model_compile(m, MR, NNCL_MODE_TRAIN), "compile") || !ok(run(m, MR, x, y, 0), "forward") ||
        !ok(run(m, MR, x2, y2, 0), "forward")) {
      nncl_model_destroy(m);
      continue;
    }
    int other[MT];
    for (int t = 0; t < MT; t++) other[t] = !keep[t];
    double d = diff_steps(y, y2, MR, MT, MD, keep), moved = diff_steps(y, y2, MR, MT, MD, other);
    if (d > 1e-6 || moved < 1e-3)
      FAIL("masks: %s: steps that must not see the change moved by %g (at most 1e-6), the others by %g", text[c], d, moved);
    else
      printf("ok   mask %s", strchr(text[c], '\n') + 1);
    nncl_model_destroy(m);
  }
}

/* Attention and block dropout: evaluation is deterministic and unaffected; training draws
 * different masks at every step. */
static void test_dropout(void) {
  nncl_model *m = NULL;
  enum { R = 3, N = R * 5 * 8 };
  float x[N], e1[N], e2[N], t1[N], t2[N];
  uint64_t s = 5;
  for (int i = 0; i < N; i++) x[i] = urand(&s);
  if (!ok(nncl_model_parse(ctx, "input shape=5,8\ntransformer heads=2 ff=16 dropout=0.3\n", "dropout", &m), "parse") ||
      !ok(nncl_model_compile(m, R, NNCL_MODE_TRAIN), "compile") || !ok(run(m, R, x, e1, 0), "eval") || !ok(run(m, R, x, t1, 1), "train") ||
      !ok(run(m, R, x, t2, 1), "train") || !ok(run(m, R, x, e2, 0), "eval")) {
    nncl_model_destroy(m);
    return;
  }
  if (memcmp(e1, e2, sizeof e1)) FAIL("dropout: evaluation outputs changed after training forwards");
  else if (!memcmp(t1, t2, sizeof t1)) FAIL("dropout: two training steps drew the same masks");
  else if (!memcmp(t1, e1, sizeof t1)) FAIL("dropout: training output equals evaluation output");
  else printf("ok   dropout in attention and block: evaluation deterministic, fresh masks per training step\n");
  nncl_model_destroy(m);
}

/* ---- model text round trip ----------------------------------------------------------- */

/* text -> model -> text -> model -> text: both written texts equal, eval outputs equal with
 * the same parameters. */
static void round_trip(const char *name, const char *text) {
  nncl_model *m = NULL, *m2 = NULL;
  char *t1 = NULL, *t2 = NULL;
  float *y1 = NULL, *y2 = NULL, *x = NULL;
  uint64_t s = 9;
  if (!ok(nncl_model_parse(ctx, text, name, &m), name) || !ok(nncl_model_to_text(m, &t1), "to_text") ||
      !ok(nncl_model_parse(ctx, t1, "written", &m2), "parse written text") || !ok(nncl_model_to_text(m2, &t2), "to_text"))
    goto done;
  if (strcmp(t1, t2)) {
    FAIL("%s: the written text does not write back the same:\n%s---\n%s", name, t1, t2);
    goto done;
  }
  if (!ok(randomize(m, &s), "randomize")) goto done;
  for (int i = 0; i < nncl_model_param_count(m); i++) {
    nncl_tensor *v1, *v2;
    float *w = NULL;
    if (!ok(nncl_model_param(m, i, NULL, &v1, NULL), "param") || !ok(nncl_model_param(m2, i, NULL, &v2, NULL), "param") ||
        !(w = lt_read(v1)) || !ok(lt_write(v2, w), "write")) {
      free(w);
      goto done;
    }
    free(w);
  }
  int64_t in = nncl_model_input_size(m), out = nncl_model_output_size(m);
  x = malloc((size_t)(2 * in) * sizeof *x), y1 = malloc((size_t)(2 * out) * sizeof *y1), y2 = malloc((size_t)(2 * out) * sizeof *y2);
  if (!x || !y1 || !y2) goto done;
  for (int64_t i = 0; i < 2 * in; i++) x[i] = urand(&s);
  if (!ok(nncl_model_compile(m, 2, NNCL_MODE_INFER), "compile") || !ok(nncl_model_compile(m2, 2, NNCL_MODE_INFER), "compile") ||
      !ok(run(m, 2, x, y1, 0), "forward") || !ok(run(m2, 2, x, y2, 0), "forward"))
    goto done;
  if (memcmp(y1, y2, (size_t)(2 * out) * sizeof *y1)) FAIL("%s: outputs differ after the text round trip", name);
  else printf("ok   text round trip %-18s %d layers: same text and outputs\n", name, m->nlayers);
done:
  free(t1), free(t2), free(x), free(y1), free(y2);
  nncl_model_destroy(m);
  nncl_model_destroy(m2);
}

static char *read_example(const char *file) {
  char path[512];
  snprintf(path, sizeof path, "%s/examples/models/%s", NNCL_SOURCE_DIR, file);
  FILE *f = fopen(path, "rb");
  char *buf = f ? calloc(1, 1 << 16) : NULL;
  if (buf && fread(buf, 1, (1 << 16) - 1, f) == 0) {
    free(buf);
    buf = NULL;
  }
  if (f) fclose(f);
  if (!buf) FAIL("cannot read %s", path);
  return buf;
}

int main(void) {
  int r = harness_open();
  if (r) return r;
  test_gradcheck();
  test_masks();
  test_dropout();
  char *ex = read_example("transformer_rows.txt");
  if (ex) round_trip("transformer_rows", ex);
  free(ex);
  round_trip("every_key",
             "input shape=6,8\nposenc kind=learned max_len=9 name=pe\ndense units=1 act=relu name=m\n"
             "attention heads=2 causal=1 dropout=0.25 bias=0 mask_from=m from=pe\n"
             "transformer heads=4 ff=12 dropout=0.5 norm=pre act=gelu eps=1e-6 mask_from=input mask_pad=-1.5\n"
             "posenc kind=sinusoidal max_len=6\nseqpool mode=max\n");
  round_trip("seqpool_last", "input shape=3,2\nseqpool mode=last\n");
  return harness_close();
}
