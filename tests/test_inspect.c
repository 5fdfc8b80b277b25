/* test_inspect.c - looking inside on the device under test: gradient norms against
 * central finite differences of the loss, activation statistics and dead ReLUs against
 * the outputs, saliency of a linear classifier (|W_c|), ablation against the model built
 * without the layer, and every call leaving the model as it was. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apicheck.h"
#include "testutil.h"

#define N 16
#define IN 6

static float X[N * IN];
static int32_t Y[N];

static nncl_dataset *toy_data(nncl_ctx *ctx) {
  tu_rng r = {11};
  for (int i = 0; i < N * IN; i++) X[i] = (float)tu_uniform(&r, -1, 1);
  for (int i = 0; i < N; i++) Y[i] = i % 3;
  nncl_dataset *d = NULL;
  int64_t shape[1] = {IN};
  return nncl_dataset_from_arrays(ctx, N, 1, shape, X, Y, 3, &d) ? NULL : d;
}

static nncl_model *model(nncl_ctx *ctx, const char *text) {
  nncl_model *m = NULL;
  if (nncl_model_parse(ctx, text, "toy", &m) || nncl_model_compile(m, N, NNCL_MODE_TRAIN)) {
    CHECK(0, "model: %s", nncl_errmsg(ctx));
    nncl_model_destroy(m);
    return NULL;
  }
  return m;
}

/* All parameters (and buffers) in one host array. */
static float *snapshot(nncl_model *m, size_t *total) {
  size_t n = 0;
  for (int i = 0; i < nncl_model_param_count(m); i++) {
    nncl_tensor *v, *g;
    nncl_model_param(m, i, NULL, &v, &g);
    n += (size_t)nncl_tensor_numel(v);
  }
  float *h = malloc(n * sizeof *h), *p = h;
  for (int i = 0; h && i < nncl_model_param_count(m); i++) {
    nncl_tensor *v, *g;
    nncl_model_param(m, i, NULL, &v, &g);
    nncl_tensor_read(v, p, (size_t)nncl_tensor_numel(v) * sizeof *p);
    p += nncl_tensor_numel(v);
  }
  *total = n;
  return h;
}

static void unchanged(nncl_model *m, const float *before, size_t n, const char *what) {
  size_t k;
  float *after = snapshot(m, &k);
  CHECK(after && k == n && !memcmp(before, after, n * sizeof *after), "%s changed the model", what);
  free(after);
}

/* Mean cross-entropy of m on d (eval mode; the model has no batch-dependent layer). */
static double loss_of(nncl_model *m, nncl_dataset *d) {
  double loss, acc;
  return nncl_evaluate(m, d, NNCL_LOSS_XENT, &loss, &acc) ? NAN : loss;
}

static void grad_norms(nncl_ctx *ctx, nncl_dataset *d) {
  nncl_model *m = model(ctx, "input shape=6\ndense units=5 act=tanh name=h\ndense units=3 name=o\nsoftmax\n");
  if (!m) return;
  size_t np;
  float *before = snapshot(m, &np);
  nncl_layer_stats st[8];
  int nl = 0;
  CHECK(!nncl_model_inspect(m, d, 0, N, st, 8, &nl) && nl == 4, "inspect: %s", nncl_errmsg(ctx));
  unchanged(m, before, np, "inspect");
  /* |grad| of each layer against central differences of the loss, parameter by parameter */
  double fd[2] = {0, 0};
  for (int i = 0; i < nncl_model_param_count(m); i++) {
    const char *name;
    nncl_tensor *v, *g;
    nncl_model_param(m, i, &name, &v, &g);
    int64_t k = nncl_tensor_numel(v);
    float *w = malloc((size_t)k * sizeof *w);
    nncl_tensor_read(v, w, (size_t)k * sizeof *w);
    for (int64_t j = 0; j < k; j++) {
      const float h = 1e-2f, w0 = w[j];
      w[j] = w0 + h;
      nncl_tensor_write(v, w, (size_t)k * sizeof *w);
      double lp = loss_of(m, d);
      w[j] = w0 - h;
      nncl_tensor_write(v, w, (size_t)k * sizeof *w);
      double lm = loss_of(m, d);
      w[j] = w0;
      nncl_tensor_write(v, w, (size_t)k * sizeof *w);
      double gj = (lp - lm) / (2 * h);
      fd[name[0] == 'o'] += gj * gj;
    }
    free(w);
  }
  for (int l = 0; l < 2; l++) {
    const nncl_layer_stats *s = &st[1 + l];
    CHECK(fabs(s->grad_norm - sqrt(fd[l])) <= 0.02 * sqrt(fd[l]) + 1e-5, "%s: grad norm %g, finite differences %g", s->name,
          s->grad_norm, sqrt(fd[l]));
  }
  CHECK(st[0].grad_norm == -1 && st[3].grad_norm == -1, "input/softmax have no parameters");
  free(before);
  nncl_model_destroy(m);
}

static void activation_stats(nncl_ctx *ctx, nncl_dataset *d) {
  nncl_model *m = model(ctx, "input shape=6\ndense units=7 act=relu name=h\ndense units=3 name=o\nsoftmax\n");
  if (!m) return;
  /* a dead unit: row 2 of h's weight and its bias pushed far negative */
  nncl_tensor *v, *g;
  float w[42], b[7];
  nncl_model_param(m, 0, NULL, &v, &g);
  nncl_tensor_read(v, w, sizeof w);
  for (int j = 0; j < IN; j++) w[2 * IN + j] = 0;
  nncl_tensor_write(v, w, sizeof w);
  nncl_model_param(m, 1, NULL, &v, &g);
  nncl_tensor_read(v, b, sizeof b);
  b[2] = -5;
  nncl_tensor_write(v, b, sizeof b);
  nncl_layer_stats st[8];
  int nl = 0;
  CHECK(!nncl_model_inspect(m, d, 0, N, st, 8, &nl), "inspect: %s", nncl_errmsg(ctx));
  /* h's output from the weights on the host */
  double sum = 0, sq = 0;
  int dead = 0;
  for (int u = 0; u < 7; u++) {
    int alive = 0;
    for (int i = 0; i < N; i++) {
      double z = b[u];
      for (int j = 0; j < IN; j++) z += (double)w[u * IN + j] * X[i * IN + j];
      z = z > 0 ? z : 0;
      alive |= z > 0;
      sum += z, sq += z * z;
    }
    dead += !alive;
  }
  double mean = sum / (7 * N), sd = sqrt(sq / (7 * N) - mean * mean);
  CHECK(fabs(st[1].mean - mean) < 1e-4 && fabs(st[1].std - sd) < 1e-4, "h: mean %g std %g, want %g %g", st[1].mean,
        st[1].std, mean, sd);
  CHECK(fabs(st[1].dead - dead / 7.0) < 1e-9 && dead >= 1, "h: dead %g, want %d/7", st[1].dead, dead);
  CHECK(st[2].dead == -1, "a layer without ReLU reports no dead fraction");
  CHECK(fabs(st[3].mean - 1.0 / 3) < 1e-5, "softmax outputs average 1/3, got %g", st[3].mean);
  nncl_model_destroy(m);
}

static void saliency(nncl_ctx *ctx, nncl_dataset *d) {
  nncl_model *m = model(ctx, "input shape=6\ndense units=3 name=o\nsoftmax\n");
  if (!m) return;
  size_t np;
  float *before = snapshot(m, &np), s[IN], w[3 * IN], p[3];
  int cls = -1;
  nncl_tensor *v, *g;
  nncl_model_param(m, 0, NULL, &v, &g);
  nncl_tensor_read(v, w, sizeof w);
  CHECK(!nncl_model_saliency(m, d, 5, s, &cls), "saliency: %s", nncl_errmsg(ctx));
  CHECK(!nncl_predict(m, 1, X + 5 * IN, p), "predict: %s", nncl_errmsg(ctx));
  int best = p[1] > p[0] ? 1 : 0;
  best = p[2] > p[best] ? 2 : best;
  CHECK(cls == best, "saliency class %d, predicted %d", cls, best);
  for (int j = 0; cls >= 0 && j < IN; j++)
    CHECK(fabsf(s[j] - fabsf(w[cls * IN + j])) < 1e-6f, "saliency[%d] = %g, |W[%d,%d]| = %g", j, s[j], cls, j, fabsf(w[cls * IN + j]));
  unchanged(m, before, np, "saliency");
  free(before);
  nncl_model_destroy(m);
}

static void ablation(nncl_ctx *ctx, nncl_dataset *d) {
  const char *path = "test_inspect.safetensors";
  nncl_model *m = model(ctx, "input shape=6\ndense units=6 act=relu name=h\ndense units=3 name=o\nsoftmax\n");
  nncl_model *w = model(ctx, "input shape=6\ndense units=3 name=o\nsoftmax\n");
  double loss, acc, wl, wa;
  if (!m || !w || nncl_save(m, NULL, 0, path) || nncl_model_load_weights(w, path, 0, NULL)) {
    CHECK(0, "setup: %s", nncl_errmsg(ctx));
    goto done;
  }
  size_t np;
  float *before = snapshot(m, &np);
  CHECK(!nncl_model_ablate(m, 1, d, &loss, &acc), "ablate: %s", nncl_errmsg(ctx));
  CHECK(!nncl_evaluate(w, d, NNCL_LOSS_XENT, &wl, &wa), "evaluate: %s", nncl_errmsg(ctx));
  CHECK(fabs(loss - wl) < 1e-5 && acc == wa, "without h: loss %g acc %g; the model without it: %g %g", loss, acc, wl, wa);
  CHECK(nncl_model_ablate(m, 2, d, &loss, &acc) == NNCL_ESHAPE, "o changes the shape");
  CHECK(nncl_model_ablate(m, 0, d, &loss, &acc) == NNCL_EINVAL, "the input is not a hidden layer");
  unchanged(m, before, np, "ablate");
  double l2, a2;
  CHECK(!nncl_evaluate(m, d, NNCL_LOSS_XENT, &l2, &a2) && !isnan(l2), "the model still evaluates: %s", nncl_errmsg(ctx));
  free(before);
done:
  remove(path);
  nncl_model_destroy(w);
  nncl_model_destroy(m);
}

int main(void) {
  nncl_ctx *ctx;
  nncl_dataset *d;
  int r = api_open(&ctx, toy_data, &d);
  if (r) return r;
  grad_norms(ctx, d);
  activation_stats(ctx, d);
  saliency(ctx, d);
  ablation(ctx, d);
  nncl_dataset_destroy(d);
  nncl_ctx_destroy(ctx);
  return api_verdict("test_inspect");
}
