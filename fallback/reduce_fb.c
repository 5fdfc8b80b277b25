/* reduce_fb.c - sum_rows, sum, mean, argmax, accuracy. Sums run in a fixed order that
 * does not depend on the thread count. */
#include <stdlib.h>

#include "fb.h"

/* ---- sum_rows: t1[c] = f1 t1[c] + sum_r t0[r,c] ------------------------------------- */

typedef struct sum_rows_job {
  const float *x;
  float *out;
  size_t rows, cols;
  float beta;
} sum_rows_job;

#define SUM_ROWS_BLOCK 256

/* Columns [lo, hi), rows summed in order into a register-sized block of columns. */
static void sum_rows_range(void *p, size_t lo, size_t hi)
{
  const sum_rows_job *j = p;
  float acc[SUM_ROWS_BLOCK];
  for (size_t c0 = lo; c0 < hi; c0 += SUM_ROWS_BLOCK) {
    size_t w = hi - c0 < SUM_ROWS_BLOCK ? hi - c0 : SUM_ROWS_BLOCK;
    for (size_t c = 0; c < w; c++) acc[c] = 0.0f;
    for (size_t r = 0; r < j->rows; r++) {
      const float *restrict x = j->x + r * j->cols + c0;
      for (size_t c = 0; c < w; c++) acc[c] += x[c];
    }
    float *restrict out = j->out + c0;
    if (j->beta == 0.0f)
      for (size_t c = 0; c < w; c++) out[c] = acc[c];
    else
      for (size_t c = 0; c < w; c++) out[c] = j->beta * out[c] + acc[c];
  }
}

int fb_sum_rows(nncl_backend *be, const nncl_args *a)
{
  size_t rows = a->n[0], cols = a->n[1];
  const float *x;
  float *out;
  FB_PTR(x, 0, fb_mul(rows, cols));
  FB_PTR(out, 1, cols);
  sum_rows_job j = {x, out, rows, cols, a->f[1]};
  size_t grain = rows ? FB_GRAIN_MEM / rows + 1 : 1;
  fb_parallel(fb_of(be), cols, grain, 16, sum_rows_range, &j);
  return 0;
}

/* ---- sum, mean ---------------------------------------------------------------------- */

/* Blocks of SUM_BLOCK elements are summed in double (8 lanes), then the block sums in
 * order: the result is the same for every thread count. */
#define SUM_BLOCK ((size_t)1 << 14)

typedef struct sum_job {
  const float *x;
  size_t n;
  double *part;
} sum_job;

static void sum_range(void *p, size_t lo, size_t hi)
{
  const sum_job *j = p;
  for (size_t b = lo; b < hi; b++) {
    size_t k0 = b * SUM_BLOCK, k1 = k0 + SUM_BLOCK < j->n ? k0 + SUM_BLOCK : j->n, k = k0;
    const float *restrict x = j->x;
    double l[8] = {0};
    for (; k + 8 <= k1; k += 8)
      for (int i = 0; i < 8; i++) l[i] += x[k + i];
    for (; k < k1; k++) l[0] += x[k];
    j->part[b] = ((l[0] + l[1]) + (l[2] + l[3])) + ((l[4] + l[5]) + (l[6] + l[7]));
  }
}

static int sum_all(nncl_backend *be, const nncl_args *a, int mean, const char *fn)
{
  size_t n = a->n[0];
  const float *x;
  float *out;
  if (!(x = fb_ptr(be, a, 0, n, fn)) || !(out = fb_ptr(be, a, 1, 1, fn))) return NNCL_EINVAL;
  size_t nb = (n + SUM_BLOCK - 1) / SUM_BLOCK;
  double stack[64], *part = nb <= 64 ? stack : malloc(nb * sizeof *part);
  if (!part) return nncl_err(be->ctx, NNCL_ENOMEM, "%s: out of memory", fn);
  sum_job j = {x, n, part};
  fb_parallel(fb_of(be), nb, 1, 1, sum_range, &j);
  double s = 0;
  for (size_t b = 0; b < nb; b++) s += part[b];
  if (part != stack) free(part);
  *out = (float)(mean && n ? s / (double)n : s);
  return 0;
}

/* t1[0] = sum_k t0[k] */
int fb_sum(nncl_backend *be, const nncl_args *a) { return sum_all(be, a, 0, "fb_sum"); }
/* t1[0] = sum_k t0[k] / n0 */
int fb_mean(nncl_backend *be, const nncl_args *a) { return sum_all(be, a, 1, "fb_mean"); }

/* ---- argmax, accuracy --------------------------------------------------------------- */

/* First index of the max of x[0..n). */
static size_t row_argmax(const float *x, size_t n)
{
  size_t best = 0;
  for (size_t c = 1; c < n; c++)
    if (x[c] > x[best]) best = c;
  return best;
}

/* t1[r] (i32) = argmax_c t0[r,c] */
int fb_argmax(nncl_backend *be, const nncl_args *a)
{
  size_t rows = a->n[0], cols = a->n[1];
  const float *x;
  int32_t *out;
  FB_PTR(x, 0, fb_mul(rows, cols));
  FB_PTR(out, 1, rows);
  for (size_t r = 0; r < rows; r++) out[r] = (int32_t)row_argmax(x + r * cols, cols);
  return 0;
}

/* t2[0] = #{r : argmax_c t0[r,c] == t1[r]} */
int fb_accuracy(nncl_backend *be, const nncl_args *a)
{
  size_t rows = a->n[0], cols = a->n[1], hits = 0;
  const float *x;
  const int32_t *label;
  float *out;
  FB_PTR(x, 0, fb_mul(rows, cols));
  FB_PTR(label, 1, rows);
  FB_PTR(out, 2, 1);
  for (size_t r = 0; r < rows; r++) hits += (int64_t)row_argmax(x + r * cols, cols) == label[r];
  *out = (float)hits;
  return 0;
}
