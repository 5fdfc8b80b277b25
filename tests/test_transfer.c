/* test_transfer.c - transfer learning on the device under test: frozen layers keep their
 * parameters bit for bit and get no gradient, the freeze spec, a new head keeps every
 * other weight, weights load by name, and class subsets relabel. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apicheck.h"
#include "testutil.h"

#define N 96
#define CLASSES 4

static const char *MODEL = "input shape=1,6,6\n"
                           "conv2d filters=3 kernel=3 act=relu name=c1\n"
                           "batchnorm name=bn\n"
                           "flatten name=fl\n"
                           "dense units=8 act=relu name=f1\n"
                           "dense units=4 name=head\n"
                           "softmax\n";

/* Host copy of parameter i's value (malloc'd) and its element count. */
static float *param_copy(nncl_model *m, int i, size_t *n, const char **name) {
  nncl_tensor *v, *g;
  if (nncl_model_param(m, i, name, &v, &g)) return NULL;
  *n = (size_t)nncl_tensor_numel(v);
  float *h = malloc(*n * sizeof *h);
  if (h && nncl_tensor_read(v, h, *n * sizeof *h)) free(h), h = NULL;
  return h;
}

static nncl_dataset *toy_data(nncl_ctx *ctx) {
  static float x[N * 36];
  static int32_t y[N];
  tu_rng r = {7};
  for (int i = 0; i < N; i++) {
    y[i] = i % CLASSES;
    for (int k = 0; k < 36; k++) x[i * 36 + k] = (float)tu_uniform(&r, 0, 1) + (k % CLASSES == y[i]);
  }
  nncl_dataset *d = NULL;
  int64_t shape[3] = {1, 6, 6};
  return nncl_dataset_from_arrays(ctx, N, 3, shape, x, y, CLASSES, &d) ? NULL : d;
}

static void frozen_stay_fixed(nncl_ctx *ctx, nncl_dataset *d) {
  nncl_model *m = NULL;
  nncl_optim *o = NULL;
  nncl_optim_params op;
  nncl_optim_params_init(&op);
  op.lr = 0.05f;
  nncl_fit_params fp;
  nncl_fit_params_init(&fp);
  fp.epochs = 2, fp.batch = 16;
  int np = 0;
  if (nncl_model_parse(ctx, MODEL, "toy", &m) || nncl_model_compile(m, 16, NNCL_MODE_TRAIN) ||
      nncl_model_freeze(m, ":bn,3", 1) || nncl_optim_create(m, &op, &o) || (np = nncl_model_param_count(m)) < 8) {
    CHECK(0, "setup: %s", nncl_errmsg(ctx));
    goto done;
  }
  float *before[16] = {0};
  size_t n[16];
  const char *name[16];
  for (int i = 0; i < np && i < 16; i++) before[i] = param_copy(m, i, &n[i], &name[i]);
  CHECK(!nncl_fit(m, o, d, NULL, &fp), "fit: %s", nncl_errmsg(ctx));
  for (int i = 0; i < np && i < 16; i++) {
    size_t k;
    float *after = param_copy(m, i, &k, &name[i]);
    nncl_tensor *v, *g;
    nncl_model_param(m, i, NULL, &v, &g);
    int frozen = !strncmp(name[i], "c1.", 3) || !strncmp(name[i], "bn.weight", 9) || !strncmp(name[i], "bn.bias", 7);
    int running = !strncmp(name[i], "bn.running", 10) || !strncmp(name[i], "bn.num", 6);
    int same = before[i] && after && !memcmp(before[i], after, k * sizeof(float));
    if (frozen) {
      CHECK(same, "frozen %s changed in training", name[i]);
      CHECK(g == NULL, "frozen %s has a gradient", name[i]);
    } else if (!running) {
      CHECK(!same, "trainable %s did not change", name[i]);
    }
    free(after);
    free(before[i]);
  }
  /* unfreezing brings the gradients back */
  CHECK(!nncl_model_freeze(m, "c1", 0), "unfreeze: %s", nncl_errmsg(ctx));
  nncl_tensor *v, *g;
  nncl_model_param(m, 0, NULL, &v, &g);
  CHECK(g != NULL, "unfrozen c1.weight has no gradient");
done:
  nncl_optim_destroy(o);
  nncl_model_destroy(m);
}

static void freeze_spec_errors(nncl_ctx *ctx) {
  nncl_model *m = NULL;
  if (nncl_model_parse(ctx, MODEL, "toy", &m)) {
    CHECK(0, "parse: %s", nncl_errmsg(ctx));
    return;
  }
  const char *bad[] = {"nope", "f1:c1", "99", "c1:nope", "", ","};
  for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
    int r = nncl_model_freeze(m, bad[k], 1);
    CHECK(r == NNCL_EINVAL && strstr(nncl_errmsg(ctx), "freeze"), "freeze '%s' gave %d (%s)", bad[k], r, nncl_errmsg(ctx));
  }
  CHECK(!nncl_model_freeze(m, "f1:", 1), "freeze f1: %s", nncl_errmsg(ctx));
  nncl_model_destroy(m);
}

static void new_head_and_load(nncl_ctx *ctx) {
  nncl_model *m = NULL, *h = NULL, *l = NULL;
  const char *path = "test_transfer.safetensors";
  if (nncl_model_parse(ctx, MODEL, "toy", &m) || nncl_model_new_head(m, 7, &h) || nncl_save(m, NULL, 0, path)) {
    CHECK(0, "setup: %s", nncl_errmsg(ctx));
    goto done;
  }
  CHECK(nncl_model_output_size(h) == 7, "new head gives %lld outputs", (long long)nncl_model_output_size(h));
  for (int i = 0; i < nncl_model_param_count(m); i++) {
    size_t a, b;
    const char *na, *nb;
    float *pa = param_copy(m, i, &a, &na), *pb = param_copy(h, i, &b, &nb);
    int head = !strncmp(na, "head.", 5);
    CHECK(!strcmp(na, nb), "parameter %d: %s vs %s", i, na, nb);
    if (!head) CHECK(a == b && pa && pb && !memcmp(pa, pb, a * sizeof(float)), "%s differs after a new head", na);
    else CHECK(b == a / 4 * 7, "%s: %zu values for 7 outputs", nb, b);
    free(pa), free(pb);
  }
  /* by name: all but the head's two tensors load; strict refuses */
  int loaded = -1;
  CHECK(!nncl_model_load_weights(h, path, 0, &loaded), "load weights: %s", nncl_errmsg(ctx));
  CHECK(loaded == nncl_model_param_count(h) - 2, "loaded %d of %d", loaded, nncl_model_param_count(h));
  CHECK(nncl_model_load_weights(h, path, 1, NULL) == NNCL_EFORMAT && strstr(nncl_errmsg(ctx), "head.weight"),
        "strict load: %s", nncl_errmsg(ctx));
  CHECK(!nncl_model_parse(ctx, MODEL, "toy", &l) && !nncl_model_load_weights(l, path, 1, &loaded) &&
            loaded == nncl_model_param_count(l), "strict load of the same model: %s", nncl_errmsg(ctx));
  for (int i = 0; l && i < nncl_model_param_count(m); i++) {
    size_t a, b;
    const char *na, *nb;
    float *pa = param_copy(m, i, &a, &na), *pb = param_copy(l, i, &b, &nb);
    CHECK(a == b && pa && pb && !memcmp(pa, pb, a * sizeof(float)), "%s not loaded exactly", na);
    free(pa), free(pb);
  }
done:
  remove(path);
  nncl_model_destroy(l);
  nncl_model_destroy(h);
  nncl_model_destroy(m);
}

static void subsets(nncl_ctx *ctx, nncl_dataset *d) {
  nncl_dataset *s = NULL, *t = NULL;
  int classes[] = {3, 1};
  CHECK(!nncl_dataset_subset(d, classes, 2, 0, &s), "subset: %s", nncl_errmsg(ctx));
  CHECK(nncl_dataset_size(s) == N / 2 && nncl_dataset_classes(s) == 2, "subset has %lld samples, %d classes",
        (long long)nncl_dataset_size(s), nncl_dataset_classes(s));
  static float x[N * 36], xo[N * 36];
  int32_t y[N], yo[N];
  nncl_dataset_read(d, 0, N, xo, yo);
  if (s && !nncl_dataset_read(s, 0, nncl_dataset_size(s), x, y))
    for (int i = 0, j = 0; i < N; i++) { /* in order: the samples of classes 1 and 3 */
      if (yo[i] != 1 && yo[i] != 3) continue;
      CHECK(y[j] == (yo[i] == 3 ? 0 : 1) && !memcmp(x + j * 36, xo + i * 36, 36 * sizeof(float)), "sample %d", j);
      j++;
    }
  CHECK(!nncl_dataset_subset(s, (int[]){1}, 1, 5, &t) && nncl_dataset_size(t) == 5, "subset of a subset with a limit");
  if (t && !nncl_dataset_read(t, 0, 5, x, y))
    for (int j = 0; j < 5; j++) CHECK(y[j] == 0, "limited sample %d has label %d", j, y[j]);
  nncl_dataset_destroy(t);
  CHECK(nncl_dataset_subset(d, (int[]){1, 1}, 2, 0, &t) == NNCL_EINVAL, "a class listed twice");
  CHECK(nncl_dataset_subset(d, (int[]){CLASSES}, 1, 0, &t) == NNCL_EINVAL, "a class out of range");
  nncl_dataset_destroy(t);
  nncl_dataset_destroy(s);
}

int main(void) {
  nncl_ctx *ctx;
  nncl_dataset *d;
  int r = api_open(&ctx, toy_data, &d);
  if (r) return r;
  frozen_stay_fixed(ctx, d);
  freeze_spec_errors(ctx);
  new_head_and_load(ctx);
  subsets(ctx, d);
  nncl_dataset_destroy(d);
  nncl_ctx_destroy(ctx);
  return api_verdict("test_transfer");
}
