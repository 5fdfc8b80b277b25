/* test_golden.c - the seed network (784-128-64-10, ReLU, ReLU, softmax) against golden
 * vectors from PyTorch in float64 (tests/gen_golden.py writes tests/data/golden_seed.safetensors):
 * softmax outputs, mean cross-entropy, every parameter gradient, and 5 plain SGD steps
 * (lr 0.1) through nncl_fit (losses and final weights).
 *
 * Weights and inputs come from the formula documented in gen_golden.py, reproduced here
 * bit for bit:
 *   value(salt, i) = float(((((i + 1 + salt * 1000003) * 2654435761) mod 2^32) / 2^32 - 0.5) * scale)
 * computed in double; input = float(double(value(6, i) at scale 1) + 0.5);
 * label of sample n = (3 n + 1) mod 10.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "nncl.h"
#include "nncl_config.h"
#include "safetensors.h"

#define N 8
#define IN 784
#define OUT 10

static const char seed_text[] =
  "input shape=784\n"
  "dense units=128 act=relu\n"
  "dense units=64 act=relu\n"
  "dense units=10\n"
  "softmax\n";

/* Model order: salt = index, as in gen_golden.py. */
static const struct { const char *name; double scale; } params[] = {
  {"dense1.weight", 0.1}, {"dense1.bias", 0.1}, {"dense2.weight", 0.2},
  {"dense2.bias", 0.1},   {"dense3.weight", 0.3}, {"dense3.bias", 0.1},
};
#define NPARAMS 6
#define INPUT_SALT 6

static float formula(int salt, int64_t i, double scale) {
  uint64_t h = (((uint64_t)i + 1 + (uint64_t)salt * 1000003u) * 2654435761u) & 0xFFFFFFFFu;
  return (float)(((double)h / 4294967296.0 - 0.5) * scale);
}

static nncl_st_file *golden;

/* Golden tensor `name` as a malloc'd float array of exactly n values (NULL on mismatch). */
static float *golden_f32(const char *name, int64_t n) {
  nncl_st_tensor t;
  if (nncl_st_find(golden, name, &t) || strcmp(t.dtype, "F32") || t.bytes != (size_t)n * sizeof(float)) {
    printf("FAIL golden tensor '%s': missing or not F32 with %lld values\n", name, (long long)n);
    failures++;
    return NULL;
  }
  float *v = malloc(t.bytes);
  if (v) memcpy(v, t.data, t.bytes);
  return v;
}

/* |got - ref| <= atol + rtol |ref| with atol = afrac * max |ref|. */
static void compare(const char *what, const float *got, const float *ref, int64_t n, double rtol, double afrac) {
  if (!got || !ref) {
    failures++;
    return;
  }
  double maxref = 0, maxerr = 0, maxrel = 0;
  for (int64_t i = 0; i < n; i++) maxref = fmax(maxref, fabs(ref[i]));
  double atol = afrac * maxref;
  int64_t bad = 0, first = -1;
  for (int64_t i = 0; i < n; i++) {
    double e = fabs((double)got[i] - (double)ref[i]);
    maxerr = fmax(maxerr, e);
    if (fabs(ref[i]) > atol) maxrel = fmax(maxrel, e / fabs(ref[i]));
    if (!(e <= atol + rtol * fabs(ref[i]))) {
      if (first < 0) first = i;
      bad++;
    }
  }
  if (bad) {
    printf("FAIL %-22s seed network, %lld values: %lld bad, first at index %lld: got %.9g want %.9g "
           "(max abs err %.3g, tol %.3g + %.3g*|ref|)\n",
           what, (long long)n, (long long)bad, (long long)first, got[first], ref[first], maxerr, atol, rtol);
    failures++;
  } else {
    printf("ok   %-22s max abs err %.3g (max |ref| %.3g, max rel err %.3g)\n", what, maxerr, maxref, maxrel);
  }
}

static int check(int r, const char *what) {
  if (r) printf("FAIL %s: %s: %s\n", what, nncl_strerror(r), nncl_errmsg(ctx));
  return r;
}

static int record_loss(void *user, const nncl_epoch_stats *s, int epoch_end) {
  if (epoch_end) *(double *)user = s->train_loss;
  return 0;
}

/* Reads parameter i (value or gradient) into a malloc'd array. */
static float *read_param(nncl_model *m, int i, int grad, int64_t *n) {
  nncl_tensor *v, *g;
  if (nncl_model_param(m, i, NULL, &v, &g)) return NULL;
  nncl_tensor *t = grad ? g : v;
  if (!t) return NULL;
  *n = nncl_tensor_numel(t);
  float *h = malloc((size_t)*n * sizeof *h);
  if (h && nncl_tensor_read(t, h, (size_t)*n * sizeof *h)) {
    free(h);
    return NULL;
  }
  return h;
}

/* Every parameter's value (its gradient when grad) against the golden "<prefix>.<name>",
 * reported as "<label> <name>". */
static void compare_params(nncl_model *m, int grad, const char *prefix, const char *label, double rtol, double afrac) {
  for (int i = 0; i < NPARAMS; i++) {
    char gname[64], what[64];
    int64_t n = 0;
    float *got = read_param(m, i, grad, &n);
    snprintf(gname, sizeof gname, "%s.%s", prefix, params[i].name);
    snprintf(what, sizeof what, "%s %s", label, params[i].name);
    float *ref = golden_f32(gname, n);
    compare(what, got, ref, n, rtol, afrac);
    free(got);
    free(ref);
  }
}

static int run(void) {
  nncl_model *m = NULL;
  nncl_optim *o = NULL;
  nncl_dataset *d = NULL;
  nncl_tensor *x = NULL, *y = NULL, *dy = NULL;
  float *hx = malloc(N * IN * sizeof *hx), prob[N * OUT], dyh[N * OUT], *gout = NULL, *gloss = NULL;
  int32_t labels[N];
  int r;
  if (!hx) return 1;
  for (int64_t i = 0; i < N * IN; i++) hx[i] = (float)((double)formula(INPUT_SALT, i, 1.0) + 0.5);
  for (int n = 0; n < N; n++) labels[n] = (3 * n + 1) % 10;
  float *gin = golden_f32("input", N * IN);
  if (gin && memcmp(gin, hx, N * IN * sizeof *hx)) {
    printf("FAIL input formula: C and gen_golden.py disagree\n");
    failures++;
  }
  free(gin);

  const int64_t xs[2] = {N, IN}, ys[2] = {N, OUT}, in1[1] = {IN};
  if (check(r = nncl_model_parse(ctx, seed_text, "seed", &m), "parse seed network")) goto done;
  if (nncl_model_param_count(m) != NPARAMS) {
    printf("FAIL seed network has %d parameters tensors, want %d\n", nncl_model_param_count(m), NPARAMS);
    r = 1;
    goto done;
  }
  for (int i = 0; i < NPARAMS && !r; i++) {
    const char *name;
    nncl_tensor *v;
    if (check(r = nncl_model_param(m, i, &name, &v, NULL), "param")) goto done;
    if (strcmp(name, params[i].name)) {
      printf("FAIL parameter %d is '%s', want '%s'\n", i, name, params[i].name);
      r = 1;
      goto done;
    }
    int64_t n = nncl_tensor_numel(v);
    float *w = malloc((size_t)n * sizeof *w);
    if (!w) return 1;
    for (int64_t k = 0; k < n; k++) w[k] = formula(i, k, params[i].scale);
    r = check(nncl_tensor_write(v, w, (size_t)n * sizeof *w), "write parameter");
    free(w);
  }
  if (r) goto done;

  /* inference plan (buffers reused by liveness), then the training plan */
  gout = golden_f32("output", N * OUT), gloss = golden_f32("loss", 1);
  if (check(r = nncl_model_compile(m, N, NNCL_MODE_INFER), "compile") ||
      check(r = nncl_tensor_create(ctx, 2, xs, NNCL_F32, &x), "tensor") ||
      check(r = nncl_tensor_create(ctx, 2, ys, NNCL_F32, &y), "tensor") ||
      check(r = nncl_tensor_create(ctx, 2, ys, NNCL_F32, &dy), "tensor") ||
      check(r = nncl_tensor_write(x, hx, N * IN * sizeof *hx), "write input") ||
      check(r = nncl_model_forward(m, x, y), "forward") ||
      check(r = nncl_tensor_read(y, prob, sizeof prob), "read output"))
    goto done;
  compare("output (inference)", prob, gout, N * OUT, 1e-4, 1e-6);
  /* forward, loss, backward with dL/dp = -onehot / (N p) for the mean cross-entropy */
  if (check(r = nncl_model_compile(m, N, NNCL_MODE_TRAIN), "compile") ||
      check(r = nncl_model_forward(m, x, y), "forward") ||
      check(r = nncl_tensor_read(y, prob, sizeof prob), "read output"))
    goto done;
  compare("output (training)", prob, gout, N * OUT, 1e-4, 1e-6);
  double loss = 0;
  for (int n = 0; n < N; n++) {
    loss -= log(prob[n * OUT + labels[n]]) / N;
    for (int c = 0; c < OUT; c++) dyh[n * OUT + c] = c == labels[n] ? (float)(-1.0 / (N * (double)prob[n * OUT + c])) : 0;
  }
  float lossf = (float)loss;
  compare("cross-entropy loss", &lossf, gloss, 1, 1e-5, 0);
  if (check(r = nncl_tensor_write(dy, dyh, sizeof dyh), "write dy") || check(r = nncl_model_backward(m, dy), "backward"))
    goto done;
  compare_params(m, 1, "grad", "d/d", 1e-3, 1e-4);

  /* 5 SGD steps on the same batch through nncl_fit: one epoch of one batch per call */
  nncl_optim_params op;
  nncl_optim_params_init(&op);
  op.kind = NNCL_OPT_SGD;
  op.lr = 0.1f;
  nncl_fit_params fp;
  nncl_fit_params_init(&fp);
  fp.epochs = 1;
  fp.batch = N;
  fp.shuffle = 0;
  fp.progress = record_loss;
  float losses[5];
  if (check(r = nncl_optim_create(m, &op, &o), "optimizer") ||
      check(r = nncl_dataset_from_arrays(ctx, N, 1, in1, hx, labels, OUT, &d), "dataset"))
    goto done;
  for (int s = 0; s < 5; s++) {
    double l = NAN;
    fp.user = &l;
    if (check(r = nncl_fit(m, o, d, NULL, &fp), "fit")) goto done;
    losses[s] = (float)l;
  }
  float *gl = golden_f32("sgd_losses", 5);
  compare("SGD losses (5 steps)", losses, gl, 5, 1e-4, 0);
  free(gl);
  compare_params(m, 0, "sgd5", "SGD x5", 1e-4, 1e-5);
done:
  free(hx);
  free(gout);
  free(gloss);
  nncl_tensor_destroy(x);
  nncl_tensor_destroy(y);
  nncl_tensor_destroy(dy);
  nncl_dataset_destroy(d);
  nncl_optim_destroy(o);
  nncl_model_destroy(m);
  return r != 0;
}

int main(void) {
  const char *dir = getenv("NNCL_TEST_DATA");
  char path[4096];
  snprintf(path, sizeof path, "%s/golden_seed.safetensors", dir ? dir : NNCL_SOURCE_DIR "/tests/data");
  int r = harness_open();
  if (r) return r;
  if ((r = nncl_st_open(ctx, path, &golden))) {
    printf("FAIL cannot open golden file: %s (regenerate with /usr/bin/python3 tests/gen_golden.py)\n", nncl_errmsg(ctx));
    nncl_ctx_destroy(ctx);
    return 1;
  }
  if (run()) failures++; /* a step that could not run (printed) */
  nncl_st_close(golden);
  return harness_close();
}
