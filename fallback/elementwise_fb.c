/* elementwise_fb.c - fill, copy, bias_add, add, scale. No restrict where ops.def allows
 * in-place use; GCC versions the loops on a run-time overlap test. */
#include <string.h>

#include "fb.h"

typedef struct ew_job {
  const float *x, *y, *bias;
  float *z;
  float f;
  size_t cols;
} ew_job;

/* t0[k] = f0 */
static void fill_range(void *p, size_t lo, size_t hi)
{
  const ew_job *j = p;
  float *restrict z = j->z;
  for (size_t k = lo; k < hi; k++) z[k] = j->f;
}

int fb_fill(nncl_backend *be, const nncl_args *a)
{
  float *z;
  FB_PTR(z, 0, a->n[0]);
  ew_job j = {.z = z, .f = a->f[0]};
  fb_parallel(fb_of(be), a->n[0], FB_GRAIN_MEM, 16, fill_range, &j);
  return 0;
}

/* t1[k] = t0[k] */
static void copy_range(void *p, size_t lo, size_t hi)
{
  const ew_job *j = p;
  memcpy(j->z + lo, j->x + lo, (hi - lo) * sizeof(float));
}

int fb_copy(nncl_backend *be, const nncl_args *a)
{
  const float *x;
  float *z;
  FB_PTR(x, 0, a->n[0]);
  FB_PTR(z, 1, a->n[0]);
  if (x == z) return 0;
  ew_job j = {.x = x, .z = z};
  fb_parallel(fb_of(be), a->n[0], FB_GRAIN_MEM, 16, copy_range, &j);
  return 0;
}

/* t1[r,c] = t0[r,c] + t2[c] over rows [lo, hi) */
static void bias_add_range(void *p, size_t lo, size_t hi)
{
  const ew_job *j = p;
  const float *restrict b = j->bias;
  size_t n = j->cols;
  for (size_t r = lo; r < hi; r++) {
    const float *x = j->x + r * n;
    float *z = j->z + r * n;
    for (size_t c = 0; c < n; c++) z[c] = x[c] + b[c];
  }
}

int fb_bias_add(nncl_backend *be, const nncl_args *a)
{
  size_t rows = a->n[0], cols = a->n[1], total = fb_mul(rows, cols);
  const float *x, *b;
  float *z;
  FB_PTR(x, 0, total);
  FB_PTR(z, 1, total);
  FB_PTR(b, 2, cols);
  ew_job j = {.x = x, .bias = b, .z = z, .cols = cols};
  size_t grain = cols ? FB_GRAIN_MEM / cols + 1 : 1;
  fb_parallel(fb_of(be), rows, grain, 1, bias_add_range, &j);
  return 0;
}

/* t2 = t0 + t1 */
static void add_range(void *p, size_t lo, size_t hi)
{
  const ew_job *j = p;
  const float *x = j->x, *y = j->y;
  float *z = j->z;
  for (size_t k = lo; k < hi; k++) z[k] = x[k] + y[k];
}

int fb_add(nncl_backend *be, const nncl_args *a)
{
  const float *x, *y;
  float *z;
  FB_PTR(x, 0, a->n[0]);
  FB_PTR(y, 1, a->n[0]);
  FB_PTR(z, 2, a->n[0]);
  ew_job j = {.x = x, .y = y, .z = z};
  fb_parallel(fb_of(be), a->n[0], FB_GRAIN_MEM, 16, add_range, &j);
  return 0;
}

/* t1 = f0 * t0 */
static void scale_range(void *p, size_t lo, size_t hi)
{
  const ew_job *j = p;
  const float *x = j->x;
  float *z = j->z, f = j->f;
  for (size_t k = lo; k < hi; k++) z[k] = f * x[k];
}

int fb_scale(nncl_backend *be, const nncl_args *a)
{
  const float *x;
  float *z;
  FB_PTR(x, 0, a->n[0]);
  FB_PTR(z, 1, a->n[0]);
  ew_job j = {.x = x, .z = z, .f = a->f[0]};
  fb_parallel(fb_of(be), a->n[0], FB_GRAIN_MEM, 16, scale_range, &j);
  return 0;
}
