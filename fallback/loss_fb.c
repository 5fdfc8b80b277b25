/* loss_fb.c - mean squared error and binary cross-entropy on logits, with gradients.
 * Losses are per row (n0 rows, n1 cols), averaged over the columns in double. */
#include <math.h>

#include "fb.h"

typedef struct loss_job {
  const float *x, *t;
  float *out;
  size_t cols;
  float f;
} loss_job;

/* loss_r = mean_c (p - t)^2 */
static void mse_range(void *p, size_t lo, size_t hi)
{
  const loss_job *j = p;
  size_t n = j->cols;
  for (size_t r = lo; r < hi; r++) {
    const float *restrict x = j->x + r * n, *restrict t = j->t + r * n;
    double s = 0;
    for (size_t c = 0; c < n; c++) {
      double d = (double)x[c] - t[c];
      s += d * d;
    }
    j->out[r] = (float)(s / (double)n);
  }
}

/* loss_r = mean_c max(x,0) - x t + log(1 + exp(-|x|)) */
static void bce_range(void *p, size_t lo, size_t hi)
{
  const loss_job *j = p;
  size_t n = j->cols;
  for (size_t r = lo; r < hi; r++) {
    const float *restrict x = j->x + r * n, *restrict t = j->t + r * n;
    double s = 0;
    for (size_t c = 0; c < n; c++)
      s += (x[c] > 0 ? (double)x[c] : 0.0) - (double)x[c] * t[c] + log1pf(expf(-fabsf(x[c])));
    j->out[r] = (float)(s / (double)n);
  }
}

static int loss_rows(nncl_backend *be, const nncl_args *a, fb_range_fn fn, const char *name)
{
  size_t rows = a->n[0], cols = a->n[1], total = fb_mul(rows, cols);
  const float *x, *t;
  float *out;
  if (!(x = fb_ptr(be, a, 0, total, name)) || !(t = fb_ptr(be, a, 1, total, name)) ||
      !(out = fb_ptr(be, a, 2, rows, name)))
    return NNCL_EINVAL;
  if (!cols) return nncl_err(be->ctx, NNCL_EINVAL, "%s: zero columns", name);
  loss_job j = {.x = x, .t = t, .out = out, .cols = cols};
  fb_parallel(fb_of(be), rows, FB_GRAIN_MATH / cols + 1, 1, fn, &j);
  return 0;
}

int fb_mse(nncl_backend *be, const nncl_args *a) { return loss_rows(be, a, mse_range, "fb_mse"); }
int fb_bce(nncl_backend *be, const nncl_args *a) { return loss_rows(be, a, bce_range, "fb_bce"); }

/* dpred = f0 2 (p - t) */
static void mse_grad_range(void *p, size_t lo, size_t hi)
{
  const loss_job *j = p;
  const float *restrict x = j->x, *restrict t = j->t;
  float *restrict out = j->out;
  const float f2 = j->f * 2.0f;
  for (size_t k = lo; k < hi; k++) out[k] = f2 * (x[k] - t[k]);
}

/* dlogits = f0 (sigmoid(x) - t) */
static void bce_grad_range(void *p, size_t lo, size_t hi)
{
  const loss_job *j = p;
  const float *restrict x = j->x, *restrict t = j->t;
  float *restrict out = j->out;
  const float f = j->f;
  for (size_t k = lo; k < hi; k++) {
    float s = x[k] >= 0 ? 1.0f / (1.0f + expf(-x[k])) : expf(x[k]) / (1.0f + expf(x[k]));
    out[k] = f * (s - t[k]);
  }
}

static int loss_grad(nncl_backend *be, const nncl_args *a, fb_range_fn fn, size_t grain,
                     const char *name)
{
  size_t total = fb_mul(a->n[0], a->n[1]);
  const float *x, *t;
  float *out;
  if (!(x = fb_ptr(be, a, 0, total, name)) || !(t = fb_ptr(be, a, 1, total, name)) ||
      !(out = fb_ptr(be, a, 2, total, name)))
    return NNCL_EINVAL;
  loss_job j = {.x = x, .t = t, .out = out, .f = a->f[0]};
  fb_parallel(fb_of(be), total, grain, 16, fn, &j);
  return 0;
}

int fb_mse_grad(nncl_backend *be, const nncl_args *a)
{
  return loss_grad(be, a, mse_grad_range, FB_GRAIN_MEM, "fb_mse_grad");
}

int fb_bce_grad(nncl_backend *be, const nncl_args *a)
{
  return loss_grad(be, a, bce_grad_range, FB_GRAIN_MATH, "fb_bce_grad");
}
