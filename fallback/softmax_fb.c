/* softmax_fb.c - row-wise softmax, its gradient, and the fused softmax + cross-entropy.
 * Rows are independent: threads split rows, each row is computed in one fixed order. */
#include <math.h>

#include "fb.h"

typedef struct sm_job {
  const float *x, *dy;
  const int32_t *label;
  float *y, *loss;
  size_t cols;
  float f;
} sm_job;

static size_t rows_grain(size_t cols) { return cols ? FB_GRAIN_MATH / cols + 1 : 1; }

/* y[c] = exp(x[c] - max) / sum; returns log(sum) + max (the log-sum-exp). */
static double softmax_row(const float *restrict x, float *restrict y, size_t n)
{
  float mx = x[0];
  for (size_t c = 1; c < n; c++) mx = x[c] > mx ? x[c] : mx;
  double s = 0;
  for (size_t c = 0; c < n; c++) {
    y[c] = expf(x[c] - mx);
    s += y[c];
  }
  float inv = (float)(1.0 / s);
  for (size_t c = 0; c < n; c++) y[c] *= inv;
  return log(s) + mx;
}

/* t1[r,:] = exp(t0[r,:] - max) / sum */
static void softmax_range(void *p, size_t lo, size_t hi)
{
  const sm_job *j = p;
  for (size_t r = lo; r < hi; r++) softmax_row(j->x + r * j->cols, j->y + r * j->cols, j->cols);
}

int fb_softmax(nncl_backend *be, const nncl_args *a)
{
  size_t rows = a->n[0], cols = a->n[1], total = fb_mul(rows, cols);
  const float *x;
  float *y;
  FB_PTR(x, 0, total);
  FB_PTR(y, 1, total);
  if (!cols) return 0;
  sm_job j = {.x = x, .y = y, .cols = cols};
  fb_parallel(fb_of(be), rows, rows_grain(cols), 1, softmax_range, &j);
  return 0;
}

/* dx = y (dy - sum_c dy y);  t0 = y, t1 = dy, t2 = dx */
static void softmax_grad_range(void *p, size_t lo, size_t hi)
{
  const sm_job *j = p;
  size_t n = j->cols;
  for (size_t r = lo; r < hi; r++) {
    const float *restrict y = j->x + r * n, *restrict dy = j->dy + r * n;
    float *restrict dx = j->y + r * n;
    double s = 0;
    for (size_t c = 0; c < n; c++) s += (double)dy[c] * y[c];
    float dot = (float)s;
    for (size_t c = 0; c < n; c++) dx[c] = y[c] * (dy[c] - dot);
  }
}

int fb_softmax_grad(nncl_backend *be, const nncl_args *a)
{
  size_t rows = a->n[0], cols = a->n[1], total = fb_mul(rows, cols);
  const float *y, *dy;
  float *dx;
  FB_PTR(y, 0, total);
  FB_PTR(dy, 1, total);
  FB_PTR(dx, 2, total);
  sm_job j = {.x = y, .dy = dy, .y = dx, .cols = cols};
  fb_parallel(fb_of(be), rows, rows_grain(cols), 1, softmax_grad_range, &j);
  return 0;
}

/* Labels must index a column. */
static int check_labels(nncl_backend *be, const int32_t *label, size_t rows, size_t cols,
                        const char *fn)
{
  for (size_t r = 0; r < rows; r++)
    if (label[r] < 0 || (size_t)label[r] >= cols)
      return nncl_err(be->ctx, NNCL_EINVAL, "%s: label %d of row %zu outside [0, %zu)", fn,
                      (int)label[r], r, cols);
  return 0;
}

/* p = softmax(x); loss_r = lse_r - x[r, label_r] */
static void softmax_xent_range(void *p, size_t lo, size_t hi)
{
  const sm_job *j = p;
  size_t n = j->cols;
  for (size_t r = lo; r < hi; r++) {
    const float *x = j->x + r * n;
    double lse = softmax_row(x, j->y + r * n, n);
    j->loss[r] = (float)(lse - x[j->label[r]]);
  }
}

int fb_softmax_xent(nncl_backend *be, const nncl_args *a)
{
  size_t rows = a->n[0], cols = a->n[1], total = fb_mul(rows, cols);
  const float *x;
  const int32_t *label;
  float *prob, *loss;
  FB_PTR(x, 0, total);
  FB_PTR(label, 1, rows);
  FB_PTR(prob, 2, total);
  FB_PTR(loss, 3, rows);
  int st = check_labels(be, label, rows, cols, __func__);
  if (st) return st;
  sm_job j = {.x = x, .label = label, .y = prob, .loss = loss, .cols = cols};
  fb_parallel(fb_of(be), rows, rows_grain(cols), 1, softmax_xent_range, &j);
  return 0;
}

/* dlogits = f0 (p - onehot(label)) */
static void softmax_xent_grad_range(void *p, size_t lo, size_t hi)
{
  const sm_job *j = p;
  size_t n = j->cols;
  const float f = j->f;
  for (size_t r = lo; r < hi; r++) {
    const float *restrict prob = j->x + r * n;
    float *restrict dx = j->y + r * n;
    for (size_t c = 0; c < n; c++) dx[c] = f * prob[c];
    size_t l = (size_t)j->label[r];
    dx[l] = f * (prob[l] - 1.0f);
  }
}

int fb_softmax_xent_grad(nncl_backend *be, const nncl_args *a)
{
  size_t rows = a->n[0], cols = a->n[1], total = fb_mul(rows, cols);
  const float *prob;
  const int32_t *label;
  float *dx;
  FB_PTR(prob, 0, total);
  FB_PTR(label, 1, rows);
  FB_PTR(dx, 2, total);
  int st = check_labels(be, label, rows, cols, __func__);
  if (st) return st;
  sm_job j = {.x = prob, .label = label, .y = dx, .cols = cols, .f = a->f[0]};
  fb_parallel(fb_of(be), rows, FB_GRAIN_MEM / (cols ? cols : 1) + 1, 1, softmax_xent_grad_range, &j);
  return 0;
}
