/* focal_fb.c - softmax focal loss with class weights and its gradient (ops.def FOCAL).
 * Rows are independent: threads split rows; each row is computed in double. */
#include <math.h>

#include "fb.h"

typedef struct focal_job {
  const float *x, *w;
  const int32_t *label;
  float *out;
  size_t cols;
  double gamma, scale;
} focal_job;

/* l = x[y] - lse(x) of one row; NaN for a bad label. */
static double row_logp(const float *x, size_t n, int32_t y, double *mx, double *sum)
{
  double m = x[0], s = 0;
  for (size_t c = 1; c < n; c++) m = x[c] > m ? x[c] : m;
  for (size_t c = 0; c < n; c++) s += exp((double)x[c] - m);
  *mx = m, *sum = s;
  return y >= 0 && (size_t)y < n ? (double)x[y] - m - log(s) : NAN;
}

/* loss_r = -w[y] q^gamma l */
static void focal_range(void *p, size_t lo, size_t hi)
{
  const focal_job *j = p;
  for (size_t r = lo; r < hi; r++) {
    double m, s;
    int32_t y = j->label[r];
    double l = row_logp(j->x + r * j->cols, j->cols, y, &m, &s);
    if (isnan(l)) {
      j->out[r] = NAN;
      continue;
    }
    double q = -expm1(l);
    j->out[r] = (float)(-(double)j->w[y] * pow(q, j->gamma) * l);
  }
}

/* dx_c = scale w[y] k (p_c - [c == y]) */
static void focal_grad_range(void *p, size_t lo, size_t hi)
{
  const focal_job *j = p;
  size_t n = j->cols;
  for (size_t r = lo; r < hi; r++) {
    const float *x = j->x + r * n;
    float *dx = j->out + r * n;
    double m, s;
    int32_t y = j->label[r];
    double l = row_logp(x, n, y, &m, &s);
    if (isnan(l)) {
      for (size_t c = 0; c < n; c++) dx[c] = NAN;
      continue;
    }
    double pt = exp(l), q = -expm1(l), g = j->gamma;
    double k = pow(q, g) - (g > 0 && q > 0 ? g * pow(q, g - 1) * pt * l : 0);
    double f = j->scale * (double)j->w[y] * k;
    for (size_t c = 0; c < n; c++) dx[c] = (float)(f * (exp((double)x[c] - m) / s - (c == (size_t)y)));
  }
}

static int focal_op(nncl_backend *be, const nncl_args *a, int grad, const char *name)
{
  size_t rows = a->n[0], cols = a->n[1], total = fb_mul(rows, cols);
  const float *x, *w;
  const int32_t *label;
  float *out;
  if (!(x = fb_ptr(be, a, 0, total, name)) || !(label = fb_ptr(be, a, 1, rows, name)) ||
      !(w = fb_ptr(be, a, 2, cols, name)) || !(out = fb_ptr(be, a, 3, grad ? total : rows, name)))
    return NNCL_EINVAL;
  if (!(a->f[0] >= 0)) return nncl_err(be->ctx, NNCL_EINVAL, "%s: gamma %g must be >= 0", name, (double)a->f[0]);
  if (!rows) return 0;
  if (!cols) return nncl_err(be->ctx, NNCL_EINVAL, "%s: zero columns", name);
  focal_job j = {.x = x, .w = w, .label = label, .out = out, .cols = cols, .gamma = a->f[0], .scale = a->f[1]};
  fb_parallel(fb_of(be), rows, FB_GRAIN_MATH / cols + 1, 1, grad ? focal_grad_range : focal_range, &j);
  return 0;
}

int fb_focal(nncl_backend *be, const nncl_args *a) { return focal_op(be, a, 0, "fb_focal"); }
int fb_focal_grad(nncl_backend *be, const nncl_args *a) { return focal_op(be, a, 1, "fb_focal_grad"); }
