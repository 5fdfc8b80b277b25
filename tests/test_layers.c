/* test_layers.c - the vision layers as layers (the ops have their own tests), through the
 * model API on the device under test ($NNCL_DEVICE):
 *  - central finite differences of L = sum(y * r) against backward, for the input and every
 *    trainable parameter, through tiny nets: conv2d (stride, asymmetric and `same` padding,
 *    dilation, groups, depthwise, no bias), conv1d, max/avg pooling (padding, ceil mode,
 *    count_include_pad), global pooling, batch norm after conv and dense (training), layer
 *    norm (dims 1 and 2), dropout p = 0, ResNet-style add and DenseNet-style concat joins;
 *  - dropout with p > 0: backward uses the forward's mask; identity in evaluation; the mask
 *    follows the context seed;
 *  - batch norm: batch statistics in training, running statistics in evaluation, running
 *    statistics updated by training forwards only;
 *  - checkpoint round trip of a trained model with batch norm (buffers included);
 *  - model text round trip of the example models (same text, summary and outputs).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fdcheck.h"
#include "roundtrip.h"

static void test_gradcheck(void) {
  /* convolution: out = floor((in + pads - d (k - 1) - 1) / s) + 1 */
  fd_check("conv_s2_asym", 2, "input shape=2,7,6\nconv2d filters=3 kernel=3 stride=2 padding=1,2,0,1\n", 0, 0);
  fd_check("conv_same_s1", 2, "input shape=2,5,6\nconv2d filters=2 kernel=4,3 padding=same\n", 0, 0);
  fd_check("conv_same_s2", 2, "input shape=2,6,5\nconv2d filters=3 kernel=4 stride=2 padding=same\n", 0, 0);
  fd_check("conv_dilation", 2, "input shape=2,7,7\nconv2d filters=2 kernel=3 dilation=2 padding=1\n", 0, 0);
  fd_check("conv_gemm_path", 2, "input shape=64,3,3\nconv2d filters=32 kernel=3 padding=1\n", 0, 0); /* > 16384 weights */
  fd_check("conv_groups", 2, "input shape=4,5,5\nconv2d filters=6 kernel=3 groups=2 padding=1 stride=2,1\n", 0, 0);
  fd_check("depthwise", 2, "input shape=3,5,5\nconv2d filters=3 kernel=3 groups=3 bias=0 padding=1\n"
                           "conv2d filters=6 kernel=3 groups=3 stride=2 bias=0\n", 0, 0);
  fd_check("conv1d", 2, "input shape=3,11\nconv1d filters=4 kernel=3 stride=2 padding=2,1 dilation=2\n"
                        "conv1d filters=2 kernel=2 groups=2 bias=0\n", 0, 0);
  fd_check("conv_elu_conv", 2, "input shape=2,6,6\nconv2d filters=3 kernel=3 act=elu\nconv2d filters=2 kernel=2 stride=2\n", 0, 0);
  /* pooling */
  fd_check("maxpool_ceil", 2, "input shape=2,7,7\nmaxpool kernel=3 stride=2 padding=1 ceil=1\n", 0, 0);
  fd_check("maxpool_2", 2, "input shape=2,5,7\nconv2d filters=2 kernel=1\nmaxpool kernel=2 ceil=1\n", 0, 0);
  fd_check("avgpool_incl", 2, "input shape=2,7,6\navgpool kernel=3 stride=2 padding=1 ceil=1 count_include_pad=1\n", 0, 0);
  fd_check("avgpool_excl", 2, "input shape=2,7,6\navgpool kernel=3 stride=2 padding=1 ceil=1 count_include_pad=0\n", 0, 0);
  fd_check("avgpool_rect", 2, "input shape=2,5,7\nconv2d filters=2 kernel=1\navgpool kernel=2,3 stride=1,2 padding=1,0\n", 0, 0);
  fd_check("pool1d", 2, "input shape=2,9\nconv1d filters=2 kernel=2\nmaxpool kernel=3 stride=2 padding=1 ceil=1\n"
                        "avgpool kernel=2 ceil=1\n", 0, 0);
  fd_check("globalavg", 2, "input shape=3,4,5\nconv2d filters=2 kernel=1\nglobalavgpool\n", 0, 0);
  fd_check("globalmax", 2, "input shape=3,4,5\nglobalmaxpool\nconv2d filters=2 kernel=1\n", 0, 0);
  /* normalisation (training: batch statistics) */
  fd_check("bn_conv", 3, "input shape=2,4,4\nconv2d filters=3 kernel=3 padding=1\nbatchnorm\nconv2d filters=2 kernel=2 stride=2\n", 0, 0);
  fd_check("bn_dense", 4, "input shape=5\ndense units=4\nbatchnorm momentum=0.2 eps=1e-3\ndense units=3\n", 0, 0);
  fd_check("bn_conv1d", 2, "input shape=2,6\nconv1d filters=3 kernel=3\nbatchnorm\n", 0, 0);
  fd_check("layernorm1", 2, "input shape=3,4\nlayernorm dims=1\nflatten\ndense units=3\n", 0, 0);
  fd_check("layernorm2", 2, "input shape=2,3,4\nconv2d filters=2 kernel=1\nlayernorm dims=2 eps=1e-4\nconv2d filters=2 kernel=2\n", 0, 0);
  fd_check("dropout_p0", 2, "input shape=2,4,4\ndropout p=0\nconv2d filters=2 kernel=3\ndropout p=0\n", 0, 0);
  /* joins: the input feeds two layers, so its gradient sums two contributions */
  fd_check("resnet", 3,
           "input shape=2,5,5\n"
           "conv2d filters=2 kernel=3 padding=1 bias=0 name=c1\nbatchnorm name=bn1\nelu name=r1\n"
           "conv2d filters=2 kernel=3 padding=1 bias=0 name=c2\nbatchnorm name=bn2\n"
           "add from=input,bn2 name=skip\nelu\n"
           "conv2d filters=2 kernel=1 name=c3\nadd from=skip,c3\n"
           "globalavgpool\nflatten\ndense units=3\n", 0, 0);
  fd_check("densenet", 2,
           "input shape=2,4,4\n"
           "conv2d filters=2 kernel=3 padding=1 name=l1\nconcat from=input,l1 name=c1\n"
           "batchnorm\nrelu\nconv2d filters=2 kernel=3 padding=1 name=l2\nconcat from=c1,l2,input name=c2\n"
           "avgpool kernel=2\nflatten\ndense units=3\n", 0, 0);
}

/* ---- dropout ------------------------------------------------------------------------ */

#define DR_ROWS 4
#define DR_COLS 256

/* One training forward and backward of "dropout p" on x with dy: every value is either
 * dropped in y and dx, or kept and scaled by 1/(1-p) in both. Returns the kept count. */
static int drop_step(nncl_model *m, nncl_tensor *x, nncl_tensor *y, nncl_tensor *dy, nncl_tensor *dx, const float *xh, const float *dyh,
                     float *yh, float p) {
  float *dxh = NULL;
  int kept = 0;
  if (!ok(nncl_model_forward(m, x, y), "dropout forward") || !ok(nncl_model_backward(m, dy), "dropout backward") ||
      !ok(nncl_tensor_read(y, yh, DR_ROWS * DR_COLS * sizeof *yh), "read y") || !(dxh = lt_read(dx)))
    return -1;
  const float sc = (float)(1.0 / (1.0 - p));
  for (int k = 0; k < DR_ROWS * DR_COLS; k++) {
    int keep = yh[k] != 0;
    kept += keep;
    if (yh[k] != (keep ? xh[k] * sc : 0) || dxh[k] != (keep ? dyh[k] * sc : 0)) {
      FAIL("dropout p=%g: element %d: x %.7g -> y %.7g, dy %.7g -> dx %.7g: backward does not use the forward's mask", p, k, xh[k],
           yh[k], dyh[k], dxh[k]);
      kept = -1;
      break;
    }
  }
  free(dxh);
  return kept;
}

/* Training-mode output of "dropout p=0.5" for x in a model built in a context seeded `seed`. */
static int drop_output(uint64_t seed, const float *xh, float *yh) {
  nncl_ctx *c = make_ctx(seed);
  nncl_model *m = NULL;
  nncl_tensor *x = NULL, *y = NULL;
  int r = 1;
  if (c && !nncl_model_parse(c, "input shape=256\ndropout p=0.5\n", "dropout", &m) && !nncl_model_compile(m, DR_ROWS, NNCL_MODE_TRAIN) &&
      (x = lt_tensor(c, DR_ROWS, DR_COLS)) && (y = lt_tensor(c, DR_ROWS, DR_COLS)) && !lt_write(x, xh) && !nncl_model_forward(m, x, y))
    r = nncl_tensor_read(y, yh, DR_ROWS * DR_COLS * sizeof *yh);
  if (r) FAIL("dropout in a context seeded %llu: %s", (unsigned long long)seed, c ? nncl_errmsg(c) : "no context");
  nncl_tensor_destroy(x);
  nncl_tensor_destroy(y);
  nncl_model_destroy(m);
  nncl_ctx_destroy(c);
  return r;
}

static void test_dropout(void) {
  const float p = 0.5f;
  nncl_model *m = NULL;
  nncl_tensor *x = NULL, *y = NULL, *dy = NULL, *dx = NULL;
  float xh[DR_ROWS * DR_COLS], dyh[DR_ROWS * DR_COLS], y1[DR_ROWS * DR_COLS], y2[DR_ROWS * DR_COLS];
  uint64_t s = 99;
  for (int k = 0; k < DR_ROWS * DR_COLS; k++) xh[k] = 0.5f + 0.5f * urand(&s), dyh[k] = 0.5f + 0.5f * urand(&s); /* non-zero */
  const int fails0 = failures;
  if (!ok(nncl_model_parse(ctx, "input shape=4,8,8\ndropout p=0.5\n", "dropout", &m), "parse") || !(x = lt_tensor(ctx, DR_ROWS, DR_COLS)) ||
      !(y = lt_tensor(ctx, DR_ROWS, DR_COLS)) || !(dy = lt_tensor(ctx, DR_ROWS, DR_COLS)) || !(dx = lt_tensor(ctx, DR_ROWS, DR_COLS)) ||
      !ok(lt_compile_dx(m, DR_ROWS, dx), "compile") || !ok(lt_write(x, xh), "write") || !ok(lt_write(dy, dyh), "write"))
    goto done;
  /* two training steps: each mask matches between forward and backward, and they differ */
  int k1 = drop_step(m, x, y, dy, dx, xh, dyh, y1, p), k2 = k1 < 0 ? -1 : drop_step(m, x, y, dy, dx, xh, dyh, y2, p);
  if (k1 < 0 || k2 < 0) goto done;
  int n = DR_ROWS * DR_COLS, same = !memcmp(y1, y2, sizeof y1);
  if (k1 < 0.4 * n || k1 > 0.6 * n || k2 < 0.4 * n || k2 > 0.6 * n) FAIL("dropout p=0.5 kept %d and %d of %d values", k1, k2, n);
  if (same) FAIL("dropout: two training steps drew the same mask");
  /* evaluation: identity, forward and backward */
  float ye[DR_ROWS * DR_COLS];
  if (!ok(nncl_model_set_training(m, 0), "eval mode") || !ok(nncl_model_forward(m, x, y), "eval forward") ||
      !ok(nncl_tensor_read(y, ye, sizeof ye), "read"))
    goto done;
  if (memcmp(ye, xh, sizeof ye)) FAIL("dropout in evaluation mode is not the identity");
  /* the mask follows the context's seed: same seed, same mask; another seed, another */
  float a[DR_ROWS * DR_COLS], b[DR_ROWS * DR_COLS], c[DR_ROWS * DR_COLS];
  if (drop_output(7, xh, a) || drop_output(7, xh, b) || drop_output(8, xh, c)) goto done;
  if (memcmp(a, b, sizeof a)) FAIL("dropout: two contexts seeded 7 drew different masks");
  if (!memcmp(a, c, sizeof a)) FAIL("dropout: contexts seeded 7 and 8 drew the same mask");
  if (failures == fails0)
    printf("ok   dropout p=0.5: kept %d and %d of %d, backward uses the forward's mask, identity in eval, mask follows the seed\n", k1,
           k2, n);
done:
  nncl_tensor_destroy(x);
  nncl_tensor_destroy(y);
  nncl_tensor_destroy(dy);
  nncl_tensor_destroy(dx);
  nncl_model_destroy(m);
}

/* ---- batch norm modes ---------------------------------------------------------------- */

#define BN_N 4
#define BN_C 3
#define BN_P 6 /* 2 x 3 */

static int read_param(nncl_model *m, const char *name, float *h, size_t n) {
  nncl_tensor *v;
  int i = lt_param_index(m, name);
  return i < 0 ? NNCL_EINVAL : nncl_model_param(m, i, NULL, &v, NULL) ? NNCL_EINVAL : nncl_tensor_read(v, h, n * sizeof *h);
}

/* y of batch norm in double, with mean/var given (eval) or from the batch (training). */
static void bn_ref(const float *x, const float *g, const float *b, const double *mean, const double *var, double eps, double *y) {
  for (int n = 0; n < BN_N; n++)
    for (int c = 0; c < BN_C; c++)
      for (int p = 0; p < BN_P; p++) {
        int k = (n * BN_C + c) * BN_P + p;
        y[k] = (x[k] - mean[c]) / sqrt(var[c] + eps) * g[c] + b[c];
      }
}

static void expect_close(const char *what, const float *got, const double *want, int n, double tol) {
  for (int k = 0; k < n; k++)
    if (!(fabs(got[k] - want[k]) <= tol * (1 + fabs(want[k])))) {
      FAIL("%s: element %d: got %.7g, want %.7g", what, k, got[k], want[k]);
      return;
    }
}

static void test_batchnorm_modes(void) {
  const double eps = 1e-5, mom = 0.3;
  nncl_model *m = NULL;
  nncl_tensor *x = NULL, *y = NULL;
  float xh[BN_N * BN_C * BN_P], yh[BN_N * BN_C * BN_P], g[BN_C], b[BN_C], rm0[BN_C], rv0[BN_C], rm[BN_C], rv[BN_C];
  double want[BN_N * BN_C * BN_P], mean[BN_C] = {0}, var[BN_C] = {0}, d0[BN_C], d1[BN_C];
  uint64_t s = 5;
  const int fails0 = failures;
  for (int k = 0; k < BN_N * BN_C * BN_P; k++) xh[k] = 2 * urand(&s) + (float)(k / BN_P % BN_C);
  if (!ok(nncl_model_parse(ctx, "input shape=3,2,3\nbatchnorm momentum=0.3 name=bn\n", "bn", &m), "parse") ||
      !ok(randomize(m, &s), "randomize") || !ok(nncl_model_compile(m, BN_N, NNCL_MODE_TRAIN), "compile") ||
      !(x = lt_tensor(ctx, BN_N, BN_C * BN_P)) || !(y = lt_tensor(ctx, BN_N, BN_C * BN_P)) || !ok(lt_write(x, xh), "write") ||
      !ok(read_param(m, "bn.weight", g, BN_C), "gamma") || !ok(read_param(m, "bn.bias", b, BN_C), "beta") ||
      !ok(read_param(m, "bn.running_mean", rm0, BN_C), "running mean") || !ok(read_param(m, "bn.running_var", rv0, BN_C), "running var"))
    goto done;
  /* evaluation: running statistics, which stay as they are */
  for (int c = 0; c < BN_C; c++) d0[c] = rm0[c], d1[c] = rv0[c];
  bn_ref(xh, g, b, d0, d1, eps, want);
  if (!ok(nncl_model_set_training(m, 0), "eval") || !ok(nncl_model_forward(m, x, y), "eval forward") ||
      !ok(nncl_tensor_read(y, yh, sizeof yh), "read") || !ok(read_param(m, "bn.running_mean", rm, BN_C), "read") ||
      !ok(read_param(m, "bn.running_var", rv, BN_C), "read"))
    goto done;
  expect_close("batchnorm eval output (running statistics)", yh, want, BN_N * BN_C * BN_P, 1e-5);
  if (memcmp(rm, rm0, sizeof rm) || memcmp(rv, rv0, sizeof rv)) FAIL("batchnorm: an evaluation forward changed the running statistics");
  /* training: batch statistics (biased variance), running = (1 - mom) running + mom batch
   * with the unbiased variance */
  for (int n = 0; n < BN_N; n++)
    for (int c = 0; c < BN_C; c++)
      for (int p = 0; p < BN_P; p++) mean[c] += xh[(n * BN_C + c) * BN_P + p] / (double)(BN_N * BN_P);
  for (int n = 0; n < BN_N; n++)
    for (int c = 0; c < BN_C; c++)
      for (int p = 0; p < BN_P; p++) var[c] += pow(xh[(n * BN_C + c) * BN_P + p] - mean[c], 2) / (BN_N * BN_P);
  bn_ref(xh, g, b, mean, var, eps, want);
  if (!ok(nncl_model_set_training(m, 1), "train") || !ok(nncl_model_forward(m, x, y), "train forward") ||
      !ok(nncl_tensor_read(y, yh, sizeof yh), "read") || !ok(read_param(m, "bn.running_mean", rm, BN_C), "read") ||
      !ok(read_param(m, "bn.running_var", rv, BN_C), "read"))
    goto done;
  expect_close("batchnorm training output (batch statistics)", yh, want, BN_N * BN_C * BN_P, 1e-5);
  for (int c = 0; c < BN_C; c++) {
    d0[c] = (1 - mom) * rm0[c] + mom * mean[c];
    d1[c] = (1 - mom) * rv0[c] + mom * var[c] * (BN_N * BN_P) / (BN_N * BN_P - 1);
  }
  float rs[2 * BN_C];
  double rw[2 * BN_C];
  memcpy(rs, rm, sizeof rm), memcpy(rs + BN_C, rv, sizeof rv);
  memcpy(rw, d0, sizeof d0), memcpy(rw + BN_C, d1, sizeof d1);
  expect_close("batchnorm running mean, var after a training step", rs, rw, 2 * BN_C, 1e-5);
  /* nncl_predict runs in evaluation and leaves the statistics and the mode as they were */
  float rm2[BN_C], rv2[BN_C];
  double ypred[BN_N * BN_C * BN_P];
  for (int c = 0; c < BN_C; c++) d0[c] = rm[c], d1[c] = rv[c];
  bn_ref(xh, g, b, d0, d1, eps, ypred);
  if (!ok(nncl_predict(m, BN_N, xh, yh), "predict") || !ok(read_param(m, "bn.running_mean", rm2, BN_C), "read") ||
      !ok(read_param(m, "bn.running_var", rv2, BN_C), "read"))
    goto done;
  expect_close("batchnorm output of nncl_predict (running statistics)", yh, ypred, BN_N * BN_C * BN_P, 1e-5);
  if (memcmp(rm, rm2, sizeof rm) || memcmp(rv, rv2, sizeof rv)) FAIL("batchnorm: nncl_predict changed the running statistics");
  if (!ok(nncl_model_forward(m, x, y), "train forward") || !ok(read_param(m, "bn.running_mean", rm2, BN_C), "read")) goto done;
  if (!memcmp(rm, rm2, sizeof rm)) FAIL("batchnorm: training mode was not restored after nncl_predict");
  /* an inference compile evaluates */
  if (!ok(nncl_model_compile(m, BN_N, NNCL_MODE_INFER), "compile infer") || !ok(read_param(m, "bn.running_mean", rm, BN_C), "read") ||
      !ok(read_param(m, "bn.running_var", rv, BN_C), "read") || !ok(nncl_model_forward(m, x, y), "infer forward") ||
      !ok(nncl_tensor_read(y, yh, sizeof yh), "read") || !ok(read_param(m, "bn.running_mean", rm2, BN_C), "read"))
    goto done;
  for (int c = 0; c < BN_C; c++) d0[c] = rm[c], d1[c] = rv[c];
  bn_ref(xh, g, b, d0, d1, eps, want);
  expect_close("batchnorm after an inference compile (running statistics)", yh, want, BN_N * BN_C * BN_P, 1e-5);
  if (memcmp(rm, rm2, sizeof rm)) FAIL("batchnorm: a forward after an inference compile changed the running statistics");
  if (nncl_model_set_training(m, 1) != NNCL_ESTATE) FAIL("set_training(1) after an inference compile: want NNCL_ESTATE");
  if (failures == fails0)
    printf("ok   batchnorm modes: batch statistics and running update in training, running statistics in evaluation\n");
done:
  nncl_tensor_destroy(x);
  nncl_tensor_destroy(y);
  nncl_model_destroy(m);
}

/* ---- checkpoints -------------------------------------------------------------------- */

#define CK_N 64
#define CK_B 16

static const char ck_text[] =
  "input shape=1,8,8\n"
  "conv2d filters=4 kernel=3 padding=1 bias=0 name=c1\nbatchnorm name=bn1\nrelu name=r1\n"
  "conv2d filters=4 kernel=3 padding=1 bias=0\nbatchnorm name=bn2\nadd from=r1,bn2\nrelu\n"
  "maxpool kernel=2\ndropout p=0.25\nflatten\ndense units=8\nbatchnorm name=bn3\nrelu\ndense units=3\nsoftmax\n";

static void test_checkpoint(const char *dir) {
  char path[512];
  snprintf(path, sizeof path, "%s/bn.safetensors", dir);
  nncl_model *m = NULL, *m2 = NULL;
  nncl_optim *o = NULL;
  nncl_dataset *d = NULL;
  float *x = malloc(CK_N * 64 * sizeof *x), y1[CK_B * 3], y2[CK_B * 3];
  int32_t labels[CK_N];
  uint64_t s = 17;
  const int fails0 = failures;
  const int64_t shape[3] = {1, 8, 8};
  if (!x) return;
  for (int i = 0; i < CK_N * 64; i++) x[i] = urand(&s);
  for (int i = 0; i < CK_N; i++) labels[i] = (x[i * 64] > 0) + (x[i * 64 + 9] > 0.5f);
  nncl_optim_params op;
  nncl_optim_params_init(&op);
  nncl_fit_params fp;
  nncl_fit_params_init(&fp);
  fp.batch = CK_B;
  fp.epochs = 2;
  if (!ok(nncl_model_parse(ctx, ck_text, "ckpt", &m), "parse") || !ok(nncl_model_compile(m, CK_B, NNCL_MODE_TRAIN), "compile") ||
      !ok(nncl_optim_create(m, &op, &o), "optim") || !ok(nncl_dataset_from_arrays(ctx, CK_N, 3, shape, x, labels, 3, &d), "dataset") ||
      !ok(nncl_fit(m, o, d, NULL, &fp), "fit") || !ok(nncl_predict(m, CK_B, x, y1), "predict") || !ok(nncl_save(m, o, 2, path), "save") ||
      !ok(nncl_load(ctx, path, &m2, NULL), "load") || !ok(nncl_model_compile(m2, CK_B, NNCL_MODE_INFER), "compile loaded") ||
      !ok(nncl_predict(m2, CK_B, x, y2), "predict loaded"))
    goto done;
  /* training moved the running statistics off their initial 0 and 1; the loaded model has them */
  int nbuf = 0;
  for (int i = 0; i < nncl_model_param_count(m); i++) {
    const char *n1, *n2;
    nncl_tensor *v1, *v2, *g1;
    if (!ok(nncl_model_param(m, i, &n1, &v1, &g1), "param") || !ok(nncl_model_param(m2, i, &n2, &v2, NULL), "param")) goto done;
    float *a = lt_read(v1), *b = lt_read(v2);
    int64_t n = nncl_tensor_numel(v1);
    if (!a || !b || strcmp(n1, n2) || n != nncl_tensor_numel(v2) || memcmp(a, b, (size_t)n * sizeof *a))
      FAIL("checkpoint: parameter %d '%s' differs after save and load (loaded '%s')", i, n1, n2);
    if (!g1) {
      int moved = 0, var = strstr(n1, "running_var") != NULL;
      for (int64_t k = 0; a && k < n; k++) moved |= a[k] != (var ? 1.0f : 0.0f);
      if (!moved) FAIL("checkpoint: buffer '%s' still at its initial value after training", n1);
      nbuf++;
    }
    free(a);
    free(b);
  }
  if (nbuf != 6) FAIL("checkpoint: %d batch-norm buffers, want 6 (3 layers x running mean, var)", nbuf);
  if (memcmp(y1, y2, sizeof y1)) FAIL("checkpoint: evaluation outputs differ after save and load");
  /* evaluation does not move the running statistics: predicting again gives the same bits */
  double loss, acc;
  if (!ok(nncl_evaluate(m, d, NNCL_LOSS_XENT, &loss, &acc), "evaluate") || !ok(nncl_predict(m, CK_B, x, y2), "predict")) goto done;
  if (memcmp(y1, y2, sizeof y1)) FAIL("checkpoint: evaluation outputs changed after nncl_evaluate");
  if (failures == fails0)
    printf("ok   checkpoint with %d batch-norm buffers: identical parameters and evaluation outputs after save and load\n", nbuf);
done:
  unlink(path);
  free(x);
  nncl_dataset_destroy(d);
  nncl_optim_destroy(o);
  nncl_model_destroy(m);
  nncl_model_destroy(m2);
}

int main(void) {
  char dir[] = "/tmp/nncl-layers-XXXXXX";
  int r = harness_open();
  if (r) return r;
  test_gradcheck();
  test_dropout();
  test_batchnorm_modes();
  if (!mkdtemp(dir)) FAIL("mkdtemp %s", dir);
  else {
    test_checkpoint(dir);
    rmdir(dir);
  }
  text_round_trip("lenet5.txt");
  text_round_trip("resnet_small.txt");
  text_round_trip("densenet_block.txt");
  return harness_close();
}
