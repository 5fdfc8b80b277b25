/* clip_fb.c - gradient clipping (sum of squares, global-norm scale, clamp) and the
 * finite check of the NaN/Inf guard. Reductions run over fixed blocks in a fixed order:
 * the result does not depend on the thread count. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fb.h"

#define BLOCK ((size_t)1 << 14)

typedef struct block_job {
  const float *x;
  size_t n;
  double *part;
} block_job;

/* part[b] = sum of squares of block b, in double over 8 lanes */
static void sumsq_range(void *p, size_t lo, size_t hi)
{
  const block_job *j = p;
  for (size_t b = lo; b < hi; b++) {
    size_t k0 = b * BLOCK, k1 = k0 + BLOCK < j->n ? k0 + BLOCK : j->n, k = k0;
    const float *restrict x = j->x;
    double l[8] = {0};
    for (; k + 8 <= k1; k += 8)
      for (int i = 0; i < 8; i++) l[i] += (double)x[k + i] * x[k + i];
    for (; k < k1; k++) l[0] += (double)x[k] * x[k];
    j->part[b] = ((l[0] + l[1]) + (l[2] + l[3])) + ((l[4] + l[5]) + (l[6] + l[7]));
  }
}

/* part[b] = 1 when block b holds a NaN or an infinity: with the sign cleared, adding one
 * to the exponent field carries into bit 31 exactly when the field is all ones; the
 * bits are ORed over 16 lanes (integer ops: vectorizes, one-cycle latency) */
static void nonfinite_range(void *p, size_t lo, size_t hi)
{
  const block_job *j = p;
  for (size_t b = lo; b < hi; b++) {
    size_t k0 = b * BLOCK, k1 = k0 + BLOCK < j->n ? k0 + BLOCK : j->n, k = k0;
    uint32_t acc[16] = {0}, u[16];
    for (; k + 16 <= k1; k += 16) {
      memcpy(u, j->x + k, sizeof u);
      for (int i = 0; i < 16; i++) acc[i] |= (u[i] & 0x7fffffffu) + 0x00800000u;
    }
    for (; k < k1; k++) {
      memcpy(u, j->x + k, 4);
      acc[0] |= (u[0] & 0x7fffffffu) + 0x00800000u;
    }
    uint32_t all = 0;
    for (int i = 0; i < 16; i++) all |= acc[i];
    j->part[b] = all >> 31;
  }
}

/* Runs fn over the blocks of t0[0..n0); *out = the sum of the block results. */
static int blocks(nncl_backend *be, const nncl_args *a, fb_range_fn fn, double *out)
{
  size_t n = a->n[0];
  const float *x;
  FB_PTR(x, 0, n);
  size_t nb = (n + BLOCK - 1) / BLOCK;
  double stack[64], *part = nb <= 64 ? stack : malloc(nb * sizeof *part);
  if (!part) return nncl_err(be->ctx, NNCL_ENOMEM, "%s: out of memory", nncl_op_name(NNCL_OP_SUMSQ));
  block_job j = {x, n, part};
  fb_parallel(fb_of(be), nb, (FB_GRAIN_MEM + BLOCK - 1) / BLOCK, 1, fn, &j); /* a thread per 4 blocks */
  double s = 0;
  for (size_t b = 0; b < nb; b++) s += part[b];
  if (part != stack) free(part);
  *out = s;
  return 0;
}

/* t1[0] = f1 t1[0] + sum_k t0[k]^2 */
int fb_sumsq(nncl_backend *be, const nncl_args *a)
{
  float *out;
  double s;
  FB_PTR(out, 1, 1);
  int st = blocks(be, a, sumsq_range, &s);
  if (st) return st;
  *out = a->f[1] == 0.0f ? (float)s : (float)(a->f[1] * *out + s);
  return 0;
}

/* t1[0] = 1 when t0 holds a non-finite value */
int fb_nonfinite(nncl_backend *be, const nncl_args *a)
{
  float *out;
  double s;
  FB_PTR(out, 1, 1);
  int st = blocks(be, a, nonfinite_range, &s);
  if (!st && s > 0) *out = 1.0f;
  return st;
}

typedef struct ew_job {
  const float *x;
  float *y;
  float a, b;
} ew_job;

static void scale_range(void *p, size_t lo, size_t hi)
{
  const ew_job *j = p;
  float *y = j->y;
  for (size_t k = lo; k < hi; k++) y[k] *= j->a;
}

/* g *= min(1, f0 / (sqrt(t1[0]) + 1e-6)) */
int fb_clip_scale(nncl_backend *be, const nncl_args *a)
{
  size_t n = a->n[0];
  float *g;
  const float *ss;
  FB_PTR(g, 0, n);
  FB_PTR(ss, 1, 1);
  float c = a->f[0] / (sqrtf(*ss) + 1e-6f);
  ew_job j = {.y = g, .a = c > 1.0f ? 1.0f : c};
  if (j.a == 1.0f) return 0; /* NaN (a NaN norm) still scales, as PyTorch */
  fb_parallel(fb_of(be), n, FB_GRAIN_MEM, 16, scale_range, &j);
  return 0;
}

/* y = x < lo ? lo : x > hi ? hi : x (NaN stays NaN) */
static void clamp_range(void *p, size_t lo, size_t hi)
{
  const ew_job *j = p;
  const float *x = j->x;
  float *y = j->y;
  for (size_t k = lo; k < hi; k++) y[k] = x[k] < j->a ? j->a : x[k] > j->b ? j->b : x[k];
}

int fb_clamp(nncl_backend *be, const nncl_args *a)
{
  size_t n = a->n[0];
  const float *x;
  float *y;
  FB_PTR(x, 0, n);
  FB_PTR(y, 1, n);
  ew_job j = {.x = x, .y = y, .a = a->f[0], .b = a->f[1]};
  fb_parallel(fb_of(be), n, FB_GRAIN_MEM, 16, clamp_range, &j);
  return 0;
}
