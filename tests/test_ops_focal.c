/* test_ops_focal.c - the FOCAL / FOCAL_GRAD ops (softmax focal loss with class weights):
 * the device under test against a naive double reference and against the C backend on
 * random and awkward shapes at non-zero offsets between guards, the gradient against
 * central finite differences of the reference loss, a bad label, and golden values from
 * PyTorch (tests/gen_golden_focal.py). */
#include "nncl_config.h"
#include "safetensors.h"
#include "testutil.h"

static int failures;

/* loss_r = -w[y] (1 - p_y)^gamma log p_y in double, from double logits. */
static double ref_row(const double *x, size_t cols, int y, const float *w, double gamma)
{
  double m = x[0], s = 0;
  for (size_t c = 1; c < cols; c++) m = fmax(m, x[c]);
  for (size_t c = 0; c < cols; c++) s += exp(x[c] - m);
  double l = x[y] - m - log(s);
  return -(double)w[y] * pow(-expm1(l), gamma) * l;
}

typedef struct run_out {
  float *loss, *grad;
} run_out;

/* Runs FOCAL and FOCAL_GRAD on be with inputs at offset pad; checks guards. */
static int run_ops(nncl_backend *be, size_t rows, size_t cols, size_t pad, const float *x, const int32_t *y,
                   const float *w, float gamma, float scale, run_out *o)
{
  tu_tensor tx = {0}, ty = {0}, tw = {0}, tl = {0}, tg = {0};
  int ok = 0;
  size_t n = rows * cols;
  o->loss = malloc(rows * 4), o->grad = malloc(n * 4);
  if (!o->loss || !o->grad || tu_alloc(be, n, pad, &tx) || tu_alloc(be, rows, pad + 1, &ty) ||
      tu_alloc(be, cols, pad + 2, &tw) || tu_alloc(be, rows, pad + 3, &tl) || tu_alloc(be, n, pad, &tg) ||
      tu_write(be, &tx, x) || tu_write(be, &ty, y) || tu_write(be, &tw, w))
    goto done;
  nncl_args a = {0};
  a.t[0] = tu_ref(&tx), a.t[1] = tu_ref(&ty), a.t[2] = tu_ref(&tw), a.t[3] = tu_ref(&tl);
  a.n[0] = rows, a.n[1] = cols, a.f[0] = gamma;
  if (nncl_run(be, NNCL_OP_FOCAL, &a)) goto done;
  a.t[3] = tu_ref(&tg), a.f[1] = scale;
  if (nncl_run(be, NNCL_OP_FOCAL_GRAD, &a) || tu_read(be, &tl, o->loss) || tu_read(be, &tg, o->grad)) goto done;
  ok = tu_guards_ok(be, &tl, "focal loss") && tu_guards_ok(be, &tg, "focal_grad dx");
done:
  tu_free(be, &tx), tu_free(be, &ty), tu_free(be, &tw), tu_free(be, &tl), tu_free(be, &tg);
  return ok ? 0 : 1;
}

static void report(const char *what, size_t rows, size_t cols, float gamma, uint64_t seed, size_t i, double got,
                   double want)
{
  printf("FAIL %s rows %zu cols %zu gamma %g seed %llu: first bad index %zu: got %.9g want %.9g\n", what, rows, cols,
         (double)gamma, (unsigned long long)seed, i, got, want);
  failures++;
}

/* One shape: reference, finite differences, and (on OpenCL) the C backend. */
static void check_shape(nncl_backend *dut, nncl_backend *cref, size_t rows, size_t cols, float gamma, uint64_t seed)
{
  tu_rng g = {seed};
  size_t n = rows * cols;
  float *x = malloc(n * 4), *w = malloc(cols * 4);
  int32_t *y = malloc(rows * 4);
  double *xd = malloc(cols * 8);
  run_out o = {0}, oc = {0};
  if (!x || !w || !y || !xd) goto done;
  for (size_t k = 0; k < n; k++) x[k] = (float)tu_uniform(&g, -4, 4);
  for (size_t c = 0; c < cols; c++) w[c] = (float)tu_uniform(&g, 0.2, 2);
  for (size_t r = 0; r < rows; r++) y[r] = (int32_t)tu_below(&g, cols);
  if (rows > 1 && cols > 1) x[y[1] + cols] = 40; /* p_y ~ 1: the q = 0 branch */
  double sumw = 0;
  for (size_t r = 0; r < rows; r++) sumw += w[y[r]];
  float scale = (float)(1 / sumw);
  if (run_ops(dut, rows, cols, 3, x, y, w, gamma, scale, &o)) {
    printf("FAIL focal run on %s rows %zu cols %zu seed %llu\n", dut->name, rows, cols, (unsigned long long)seed);
    failures++;
    goto done;
  }
  for (size_t r = 0; r < rows; r++) {
    for (size_t c = 0; c < cols; c++) xd[c] = x[r * cols + c];
    double want = ref_row(xd, cols, y[r], w, gamma);
    if (!tu_close(o.loss[r], want, want, 1e-5, 1e-6)) {
      report("focal vs reference", rows, cols, gamma, seed, r, o.loss[r], want);
      goto done;
    }
    /* d(scale loss_r)/dx_c by central differences of the double reference */
    for (size_t c = 0; c < cols; c++) {
      double h = 1e-4, v = xd[c];
      xd[c] = v + h;
      double lp = ref_row(xd, cols, y[r], w, gamma);
      xd[c] = v - h;
      double lm = ref_row(xd, cols, y[r], w, gamma);
      xd[c] = v;
      double fd = scale * (lp - lm) / (2 * h);
      if (!tu_close(o.grad[r * cols + c], fd, fd, 1e-3, 1e-5 * scale)) {
        report("focal_grad vs finite differences", rows, cols, gamma, seed, r * cols + c, o.grad[r * cols + c], fd);
        goto done;
      }
    }
  }
  if (cref != dut) {
    if (run_ops(cref, rows, cols, 1, x, y, w, gamma, scale, &oc)) {
      printf("FAIL focal run on the C backend\n");
      failures++;
      goto done;
    }
    for (size_t r = 0; r < rows; r++)
      if (!tu_close(o.loss[r], oc.loss[r], oc.loss[r], 1e-5, 1e-6)) {
        report("focal OpenCL vs C", rows, cols, gamma, seed, r, o.loss[r], oc.loss[r]);
        goto done;
      }
    for (size_t k = 0; k < n; k++)
      if (!tu_close(o.grad[k], oc.grad[k], oc.grad[k], 1e-4, 1e-6 * scale)) {
        report("focal_grad OpenCL vs C", rows, cols, gamma, seed, k, o.grad[k], oc.grad[k]);
        goto done;
      }
  }
done:
  free(x), free(w), free(y), free(xd), free(o.loss), free(o.grad), free(oc.loss), free(oc.grad);
}

/* A label outside 0..cols-1 gives NaN rows, never a read out of bounds. */
static void check_bad_label(nncl_backend *be)
{
  float x[6] = {1, 2, 3, 4, 5, 6}, w[3] = {1, 1, 1};
  int32_t y[2] = {3, 1};
  run_out o = {0};
  if (run_ops(be, 2, 3, 2, x, y, w, 2, 1, &o) || !isnan(o.loss[0]) || isnan(o.loss[1]) || !isnan(o.grad[0]) ||
      isnan(o.grad[3])) {
    printf("FAIL focal with label 3 of 3 classes: expected NaN in row 0 only\n");
    failures++;
  }
  free(o.loss), free(o.grad);
}

static float *golden_f32(nncl_st_file *f, const char *name, size_t n, const char *dtype)
{
  nncl_st_tensor t;
  if (nncl_st_find(f, name, &t) || strcmp(t.dtype, dtype) || t.bytes != n * 4) return NULL;
  return (float *)t.data;
}

/* PyTorch's per-row losses, weighted mean and its gradient. */
static void check_golden(nncl_backend *be, nncl_ctx *ctx)
{
  const char *dir = getenv("NNCL_TEST_DATA");
  char path[4096];
  snprintf(path, sizeof path, "%s/golden_focal.safetensors", dir ? dir : NNCL_SOURCE_DIR "/tests/data");
  nncl_st_file *f;
  if (nncl_st_open(ctx, path, &f)) {
    printf("FAIL cannot open %s: %s\n", path, nncl_errmsg(ctx));
    failures++;
    return;
  }
  static const size_t shapes[][2] = {{7, 5}, {13, 3}, {1, 1}, {6, 11}, {9, 4}};
  for (int k = 0; k < 5; k++) {
    size_t rows = shapes[k][0], cols = shapes[k][1];
    char nm[6][32];
    const char *sfx[6] = {"x", "y", "w", "gamma", "loss", "grad"};
    for (int i = 0; i < 6; i++) snprintf(nm[i], sizeof nm[i], "%d.%s", k, sfx[i]);
    const float *x = golden_f32(f, nm[0], rows * cols, "F32"), *w = golden_f32(f, nm[2], cols, "F32");
    const float *gm = golden_f32(f, nm[3], 1, "F32"), *loss = golden_f32(f, nm[4], rows, "F32");
    const float *grad = golden_f32(f, nm[5], rows * cols, "F32");
    const int32_t *y = (const int32_t *)golden_f32(f, nm[1], rows, "I32");
    snprintf(nm[0], sizeof nm[0], "%d.mean", k);
    const float *mean = golden_f32(f, nm[0], 1, "F32");
    if (!x || !y || !w || !gm || !loss || !grad || !mean) {
      printf("FAIL golden case %d: tensors missing or of the wrong shape\n", k);
      failures++;
      continue;
    }
    double sumw = 0;
    for (size_t r = 0; r < rows; r++) sumw += w[y[r]];
    run_out o = {0};
    if (run_ops(be, rows, cols, 5, x, y, w, gm[0], (float)(1 / sumw), &o)) {
      printf("FAIL golden case %d: run\n", k);
      failures++;
    } else {
      double s = 0;
      for (size_t r = 0; r < rows; r++) {
        s += o.loss[r];
        if (!tu_close(o.loss[r], loss[r], loss[r], 1e-5, 1e-6)) {
          report("focal vs PyTorch", rows, cols, gm[0], (uint64_t)k, r, o.loss[r], loss[r]);
          break;
        }
      }
      if (!tu_close(s / sumw, mean[0], mean[0], 1e-5, 1e-6)) report("focal mean vs PyTorch", rows, cols, gm[0], (uint64_t)k, 0, s / sumw, mean[0]);
      for (size_t i = 0; i < rows * cols; i++)
        if (!tu_close(o.grad[i], grad[i], grad[i], 1e-4, 1e-6)) {
          report("focal_grad vs PyTorch", rows, cols, gm[0], (uint64_t)k, i, o.grad[i], grad[i]);
          break;
        }
    }
    free(o.loss), free(o.grad);
  }
  nncl_st_close(f);
}

int main(void)
{
  nncl_ctx *ctx = NULL, *cctx = NULL;
  int st = tu_open(tu_device(), 2, &ctx);
  if (st) return st;
  if ((st = tu_open("c", 2, &cctx))) return st;
  nncl_backend *dut = nncl_ctx_be(ctx), *cref = nncl_ctx_be(cctx);
  static const size_t rows[] = {1, 2, 7, 64, 67, 131}, cols[] = {1, 2, 3, 10, 31, 130};
  static const float gammas[] = {0, 0.5f, 2};
  uint64_t seed = 1;
  for (size_t i = 0; i < sizeof rows / sizeof *rows; i++)
    for (size_t j = 0; j < sizeof cols / sizeof *cols; j++)
      for (size_t k = 0; k < 3; k++) check_shape(dut, cref, rows[i], cols[j], gammas[k], seed++);
  check_bad_label(dut);
  check_golden(dut, ctx);
  if (!failures) printf("PASS focal ops on %s\n", nncl_ctx_device(ctx));
  nncl_ctx_destroy(cctx);
  nncl_ctx_destroy(ctx);
  return failures ? 1 : 0;
}
