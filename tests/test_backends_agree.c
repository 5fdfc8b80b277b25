/* test_backends_agree.c - whole-model training on the device under test ($NNCL_DEVICE)
 * against the C backend, for the example models (MLP, LeNet, LSTM, bidirectional GRU,
 * transformer with dropout): from one seed both start from bit-identical weights, and
 * after 16 Adam steps over shuffled batches of synthetic 28x28 images their weights differ
 * only by float rounding: for every parameter tensor, |w_dev - w_c| is below 1e-4 of how
 * far training moved it (|w_c - w_0|; about 1e-6 is usual), and the two runs' losses agree
 * to 1e-4 relative. The op tests compare kernels one by one; this catches what only a
 * whole run shows (an op's convention, dropout masks, the shuffle, the optimizer's steps).
 * One exception: the key third of an attention layer's in_proj_bias. Softmax ignores a
 * shift shared by all keys, so that bias's true gradient is zero and what each backend
 * computes is rounding noise, which Adam scales up to steps of the full rate with random
 * signs (PyTorch's too): it is left out. Skipped on C itself. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "nncl_config.h"

enum { NS = 512, SIDE = 28, BATCH = 32 };

static const char *const models[] = {"seed_mlp.txt", "lenet5.txt", "lstm_rows.txt", "gru_bidir.txt", "transformer_rows.txt"};

/* Ten classes of striped images: class k's stripes run at an angle and frequency of its
 * own, plus noise, so that the models learn something in a few steps. */
static void make_data(float *x, int32_t *y) {
  uint64_t s = 12345;
  for (int i = 0; i < NS; i++) {
    int k = i % 10;
    y[i] = k;
    double a = 0.3 * k, f = 0.2 + 0.05 * k;
    for (int r = 0; r < SIDE; r++)
      for (int c = 0; c < SIDE; c++)
        x[(i * SIDE + r) * SIDE + c] = (float)(0.5 + 0.4 * sin(f * (r * cos(a) + c * sin(a))) + 0.1 * urand(&s));
  }
}

/* A context on device with the given seed, or NULL (a failure). */
static nncl_ctx *open_on(const char *device, uint64_t seed) {
  nncl_ctx_params p;
  nncl_ctx_params_init(&p);
  p.device = device, p.threads = 2, p.seed = seed;
  nncl_ctx *c = NULL;
  char err[512];
  if (nncl_ctx_create(&p, &c, err, sizeof err)) FAIL("context on %s: %s", device, err);
  return c;
}

typedef struct run {
  float *w0, *w;      /* all weights in model order, before and after training */
  int64_t n;
  int ntensors;
  char names[64][96]; /* per parameter tensor */
  int64_t sizes[64];
  double loss;        /* the epoch's training loss */
} run;

/* All parameter values of m in model order (malloc'd), or NULL; names and sizes into r. */
static float *params_of(nncl_model *m, run *r) {
  float *all = NULL;
  r->n = 0, r->ntensors = 0;
  for (int i = 0; i < nncl_model_param_count(m) && i < 64; i++) {
    const char *name;
    nncl_tensor *v;
    if (nncl_model_param(m, i, &name, &v, NULL)) break;
    int64_t k = nncl_tensor_numel(v);
    float *grown = realloc(all, (size_t)(r->n + k) * sizeof *all);
    if (!grown || nncl_tensor_read(v, grown + r->n, (size_t)k * sizeof *grown)) {
      free(grown ? grown : all);
      return NULL;
    }
    snprintf(r->names[i], sizeof r->names[i], "%s", name);
    r->sizes[i] = k, r->ntensors = i + 1;
    all = grown, r->n += k;
  }
  return all;
}

static int last_loss(void *user, const nncl_epoch_stats *s, int end) {
  if (end) *(double *)user = s->train_loss;
  return 0;
}

/* Trains the example model `file` on c for one epoch of NS samples. */
static int train(nncl_ctx *c, const char *file, const float *x, const int32_t *y, run *out) {
  char path[512];
  snprintf(path, sizeof path, "%s/examples/models/%s", NNCL_SOURCE_DIR, file);
  const int64_t shape[2] = {SIDE, SIDE};
  nncl_model *m = NULL;
  nncl_optim *o = NULL;
  nncl_dataset *d = NULL;
  nncl_optim_params op;
  nncl_optim_params_init(&op);
  nncl_fit_params fp;
  nncl_fit_params_init(&fp);
  fp.batch = BATCH, fp.progress = last_loss, fp.user = &out->loss;
  int r = nncl_model_parse_file(c, path, &m);
  if (!r && !(out->w0 = params_of(m, out))) r = NNCL_ENOMEM;
  if (!r && !(r = nncl_model_compile(m, BATCH, NNCL_MODE_TRAIN)) && !(r = nncl_optim_create(m, &op, &o)) &&
      !(r = nncl_dataset_from_arrays(c, NS, 2, shape, x, y, 10, &d)) && !(r = nncl_fit(m, o, d, NULL, &fp)) &&
      !(out->w = params_of(m, out)))
    r = NNCL_ENOMEM;
  if (r) FAIL("%s on %s: %s: %s", file, nncl_ctx_backend(c), nncl_strerror(r), nncl_errmsg(c));
  nncl_dataset_destroy(d);
  nncl_optim_destroy(o);
  nncl_model_destroy(m);
  return r;
}

/* Whether w[k] of tensor `name` (size n) is an attention key bias (see the top). */
static int key_bias(const char *name, int64_t n, int64_t k) {
  const char *tail = strstr(name, "in_proj_bias");
  return tail && !tail[12] && k >= n / 3 && k < 2 * n / 3;
}

static void compare(const char *file, const run *dev, const run *c) {
  if (dev->n != c->n || memcmp(dev->w0, c->w0, (size_t)c->n * sizeof *c->w0)) {
    FAIL("%s: the initial weights differ between the backends", file);
    return;
  }
  double worst = 0, lrel = fabs(dev->loss - c->loss) / fabs(c->loss);
  const char *where = "";
  int64_t off = 0;
  for (int t = 0; t < c->ntensors; off += c->sizes[t++]) {
    double diff = 0, moved = 0;
    for (int64_t k = off; k < off + c->sizes[t]; k++) {
      if (key_bias(c->names[t], c->sizes[t], k - off)) continue;
      diff += ((double)dev->w[k] - c->w[k]) * ((double)dev->w[k] - c->w[k]);
      moved += ((double)c->w[k] - c->w0[k]) * ((double)c->w[k] - c->w0[k]);
    }
    double rel = diff == 0 ? 0 : moved > 0 ? sqrt(diff / moved) : INFINITY;
    if (!(rel <= worst)) worst = rel, where = c->names[t];
  }
  if (!(worst < 1e-4) || !(lrel < 1e-4))
    FAIL("%s: after 16 steps |w_dev - w_c| = %.3g of |w_c - w_0| in %s (want < 1e-4), loss %.7g vs %.7g (%.2g "
         "relative, want < 1e-4)", file, worst, where, dev->loss, c->loss, lrel);
  else
    printf("ok   %-22s %lld weights: |w_dev - w_c| <= %.2g of |w_c - w_0| (worst: %s); loss %.6f vs %.6f\n", file,
           (long long)c->n, worst, where, dev->loss, c->loss);
}

int main(void) {
  int st = harness_open();
  if (st) return st;
  if (!strcmp(nncl_ctx_backend(ctx), "c")) {
    printf("SKIP the device under test is the C backend, the reference of this comparison\n");
    nncl_ctx_destroy(ctx);
    return 77;
  }
  float *x = malloc((size_t)NS * SIDE * SIDE * sizeof *x);
  int32_t *y = malloc(NS * sizeof *y);
  if (!x || !y) return 1;
  make_data(x, y);
  const char *dev = getenv("NNCL_DEVICE") ? getenv("NNCL_DEVICE") : "auto";
  for (size_t i = 0; i < sizeof models / sizeof *models; i++) {
    nncl_ctx *a = open_on(dev, 42), *b = open_on("c", 42);
    run rd = {0}, rc = {0};
    if (a && b && !train(a, models[i], x, y, &rd) && !train(b, models[i], x, y, &rc)) compare(models[i], &rd, &rc);
    free(rd.w0), free(rd.w), free(rc.w0), free(rc.w);
    nncl_ctx_destroy(a);
    nncl_ctx_destroy(b);
  }
  free(x);
  free(y);
  return harness_close();
}
