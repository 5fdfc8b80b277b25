/* norm_fb.c - batch norm (per channel over (N, P)), layer norm (per row), their gradients
 * and the running-statistics update. Formulas: ops.def. Statistics are summed in double,
 * in an order fixed by the shapes alone (8 lanes, then the lanes pairwise); threads split
 * channels, rows or columns. */
#include <math.h>
#include <string.h>

#include "fb.h"

/* 8-lane double accumulator. */
typedef struct acc8 {
  double l[8];
} acc8;

static double acc8_total(const acc8 *a)
{
  return ((a->l[0] + a->l[1]) + (a->l[2] + a->l[3])) + ((a->l[4] + a->l[5]) + (a->l[6] + a->l[7]));
}

/* a += x[0..n) */
static void acc8_sum(acc8 *a, const float *restrict x, size_t n)
{
  size_t k = 0;
  for (; k + 8 <= n; k += 8)
    for (int i = 0; i < 8; i++) a->l[i] += x[k + i];
  for (; k < n; k++) a->l[k % 8] += x[k];
}

/* a += (x - m)^2 over x[0..n) */
static void acc8_sqdev(acc8 *a, const float *restrict x, size_t n, double m)
{
  size_t k = 0;
  for (; k + 8 <= n; k += 8)
    for (int i = 0; i < 8; i++) {
      double d = x[k + i] - m;
      a->l[i] += d * d;
    }
  for (; k < n; k++) {
    double d = x[k] - m;
    a->l[k % 8] += d * d;
  }
}

/* s += dy, t += dy (x - m) inv over [0, n) */
static void acc8_dot(acc8 *s, acc8 *t, const float *restrict dy, const float *restrict x, size_t n,
                     double m, double inv)
{
  size_t k = 0;
  for (; k + 8 <= n; k += 8)
    for (int i = 0; i < 8; i++) {
      s->l[i] += dy[k + i];
      t->l[i] += dy[k + i] * ((x[k + i] - m) * inv);
    }
  for (; k < n; k++) {
    s->l[k % 8] += dy[k];
    t->l[k % 8] += dy[k] * ((x[k] - m) * inv);
  }
}

typedef struct norm_job {
  const float *x, *dy, *gamma, *beta;
  float *y, *mean, *inv, *var, *dgamma, *dbeta; /* y: dx in the gradients; inv: the running
                                                   var in eval batch norm */
  size_t n, c, p; /* batch norm (N, C, P); layer norm rows n, width p */
  float eps;
} norm_job;

/* ---- batch norm ------------------------------------------------------------------------ */

/* y = (x - m) k + beta over the N planes of channel c, k = invstd * gamma. */
static void bn_apply(const norm_job *j, size_t c, float m, float k)
{
  float b = j->beta[c];
  for (size_t n = 0; n < j->n; n++) {
    const float *restrict x = j->x + (n * j->c + c) * j->p;
    float *restrict y = j->y + (n * j->c + c) * j->p;
    for (size_t q = 0; q < j->p; q++) y[q] = (x[q] - m) * k + b;
  }
}

/* Training: batch statistics of channels [lo, hi), then y. */
static void bn_train_range(void *p, size_t lo, size_t hi)
{
  const norm_job *j = p;
  double cnt = (double)j->n * (double)j->p;
  for (size_t c = lo; c < hi; c++) {
    acc8 s = {{0}}, v = {{0}};
    for (size_t n = 0; n < j->n; n++) acc8_sum(&s, j->x + (n * j->c + c) * j->p, j->p);
    double m = acc8_total(&s) / cnt;
    for (size_t n = 0; n < j->n; n++) acc8_sqdev(&v, j->x + (n * j->c + c) * j->p, j->p, m);
    double var = acc8_total(&v) / cnt;
    float inv = (float)(1.0 / sqrt(var + (double)j->eps));
    j->mean[c] = (float)m;
    j->inv[c] = inv;
    if (j->var) j->var[c] = (float)var;
    bn_apply(j, c, (float)m, inv * j->gamma[c]);
  }
}

/* Eval: running mean and var of channels [lo, hi). */
static void bn_eval_range(void *p, size_t lo, size_t hi)
{
  const norm_job *j = p;
  for (size_t c = lo; c < hi; c++)
    bn_apply(j, c, j->mean[c], j->gamma[c] / sqrtf(j->inv[c] + j->eps));
}

static size_t channel_grain(size_t n, size_t p) { return FB_GRAIN_MEM / (fb_mul(n, p) + 1) + 1; }

int fb_batchnorm(nncl_backend *be, const nncl_args *a)
{
  norm_job j = {.n = a->n[0], .c = a->n[1], .p = a->n[2], .eps = a->f[0]};
  size_t total = fb_mul(fb_mul(j.n, j.c), j.p);
  FB_PTR(j.x, 0, total);
  FB_PTR(j.y, 1, total);
  FB_PTR(j.gamma, 2, j.c);
  FB_PTR(j.beta, 3, j.c);
  FB_PTR(j.mean, 4, j.c);
  FB_PTR(j.inv, 5, j.c);
  int train = a->i[0] != 0;
  if (train && a->t[6].buf) FB_PTR(j.var, 6, j.c);
  if (train && !total) return 0;
  fb_parallel(fb_of(be), j.c, channel_grain(j.n, j.p), 1, train ? bn_train_range : bn_eval_range, &j);
  return 0;
}

/* dbeta = sum dy, dgamma = sum dy xhat; dx = gamma invstd (dy - dbeta/M - xhat dgamma/M) */
static void bn_grad_range(void *p, size_t lo, size_t hi)
{
  const norm_job *j = p;
  double cnt = (double)j->n * (double)j->p;
  for (size_t c = lo; c < hi; c++) {
    acc8 s = {{0}}, t = {{0}};
    float m = j->mean[c], inv = j->inv[c];
    for (size_t n = 0; n < j->n; n++) {
      size_t o = (n * j->c + c) * j->p;
      acc8_dot(&s, &t, j->dy + o, j->x + o, j->p, m, inv);
    }
    double db = acc8_total(&s), dg = acc8_total(&t);
    j->dbeta[c] = (float)db;
    j->dgamma[c] = (float)dg;
    float k = j->gamma[c] * inv, mdb = (float)(db / cnt), mdg = (float)(dg / cnt);
    for (size_t n = 0; n < j->n; n++) {
      size_t o = (n * j->c + c) * j->p;
      const float *restrict x = j->x + o, *restrict dy = j->dy + o;
      float *restrict dx = j->y + o;
      for (size_t q = 0; q < j->p; q++) dx[q] = k * (dy[q] - mdb - (x[q] - m) * inv * mdg);
    }
  }
}

int fb_batchnorm_grad(nncl_backend *be, const nncl_args *a)
{
  norm_job j = {.n = a->n[0], .c = a->n[1], .p = a->n[2]};
  size_t total = fb_mul(fb_mul(j.n, j.c), j.p);
  FB_PTR(j.x, 0, total);
  FB_PTR(j.dy, 1, total);
  FB_PTR(j.gamma, 2, j.c);
  FB_PTR(j.mean, 3, j.c);
  FB_PTR(j.inv, 4, j.c);
  FB_PTR(j.y, 5, total);
  FB_PTR(j.dgamma, 6, j.c);
  FB_PTR(j.dbeta, 7, j.c);
  fb_parallel(fb_of(be), j.c, channel_grain(j.n, j.p), 1, bn_grad_range, &j);
  return 0;
}

/* ---- running_update: t0 = (1 - f0) t0 + f0 f1 t1 ---------------------------------------- */

int fb_running_update(nncl_backend *be, const nncl_args *a)
{
  size_t n = a->n[0];
  float *r;
  const float *v;
  FB_PTR(r, 0, n);
  FB_PTR(v, 1, n);
  float keep = 1.0f - a->f[0], mix = a->f[0] * a->f[1];
  for (size_t k = 0; k < n; k++) r[k] = keep * r[k] + mix * v[k];
  return 0;
}

/* ---- layer norm -------------------------------------------------------------------------- */

/* Rows [lo, hi): statistics in double, y in float. */
static void ln_range(void *p, size_t lo, size_t hi)
{
  const norm_job *j = p;
  size_t d = j->p;
  const float *restrict g = j->gamma, *restrict b = j->beta;
  for (size_t r = lo; r < hi; r++) {
    const float *restrict x = j->x + r * d;
    float *restrict y = j->y + r * d;
    acc8 s = {{0}}, v = {{0}};
    acc8_sum(&s, x, d);
    double m = acc8_total(&s) / (double)d;
    acc8_sqdev(&v, x, d, m);
    float inv = (float)(1.0 / sqrt(acc8_total(&v) / (double)d + (double)j->eps)), mf = (float)m;
    j->mean[r] = mf;
    j->inv[r] = inv;
    for (size_t q = 0; q < d; q++) y[q] = (x[q] - mf) * inv * g[q] + b[q];
  }
}

int fb_layernorm(nncl_backend *be, const nncl_args *a)
{
  norm_job j = {.n = a->n[0], .p = a->n[1], .eps = a->f[0]};
  size_t total = fb_mul(j.n, j.p);
  FB_PTR(j.x, 0, total);
  FB_PTR(j.y, 1, total);
  FB_PTR(j.gamma, 2, j.p);
  FB_PTR(j.beta, 3, j.p);
  FB_PTR(j.mean, 4, j.n);
  FB_PTR(j.inv, 5, j.n);
  if (!j.p) return 0;
  fb_parallel(fb_of(be), j.n, FB_GRAIN_MEM / j.p + 1, 1, ln_range, &j);
  return 0;
}

/* dx rows [lo, hi): g = dy gamma; dx = invstd (g - mean(g) - xhat mean(g xhat)) */
static void ln_grad_rows(void *p, size_t lo, size_t hi)
{
  const norm_job *j = p;
  size_t d = j->p;
  const float *restrict gm = j->gamma;
  for (size_t r = lo; r < hi; r++) {
    const float *restrict x = j->x + r * d, *restrict dy = j->dy + r * d;
    float *restrict dx = j->y + r * d;
    float m = j->mean[r], inv = j->inv[r];
    acc8 s = {{0}}, t = {{0}};
    size_t q = 0;
    for (; q + 8 <= d; q += 8)
      for (int i = 0; i < 8; i++) {
        double g = (double)dy[q + i] * gm[q + i];
        s.l[i] += g;
        t.l[i] += g * ((x[q + i] - (double)m) * inv);
      }
    for (; q < d; q++) {
      double g = (double)dy[q] * gm[q];
      s.l[q % 8] += g;
      t.l[q % 8] += g * ((x[q] - (double)m) * inv);
    }
    float mg = (float)(acc8_total(&s) / (double)d), mgx = (float)(acc8_total(&t) / (double)d);
    for (q = 0; q < d; q++) dx[q] = inv * (dy[q] * gm[q] - mg - (x[q] - m) * inv * mgx);
  }
}

#define LN_COLS 256
#define LN_ROWS 32

/* dgamma, dbeta over columns [lo, hi): blocks of LN_ROWS rows summed in float (vector
 * lanes), the block sums in order in double. */
static void ln_grad_cols(void *p, size_t lo, size_t hi)
{
  const norm_job *j = p;
  size_t d = j->p;
  double sg[LN_COLS], sb[LN_COLS];
  float pg[LN_COLS], pb[LN_COLS];
  for (size_t c0 = lo; c0 < hi; c0 += LN_COLS) {
    size_t w = hi - c0 < LN_COLS ? hi - c0 : LN_COLS;
    for (size_t c = 0; c < w; c++) sg[c] = sb[c] = 0.0;
    for (size_t r0 = 0; r0 < j->n; r0 += LN_ROWS) {
      size_t r1 = j->n - r0 < LN_ROWS ? j->n : r0 + LN_ROWS;
      for (size_t c = 0; c < w; c++) pg[c] = pb[c] = 0.0f;
      for (size_t r = r0; r < r1; r++) {
        const float *restrict x = j->x + r * d + c0, *restrict dy = j->dy + r * d + c0;
        float m = j->mean[r], inv = j->inv[r];
        for (size_t c = 0; c < w; c++) {
          pb[c] += dy[c];
          pg[c] += dy[c] * ((x[c] - m) * inv);
        }
      }
      for (size_t c = 0; c < w; c++) {
        sg[c] += pg[c];
        sb[c] += pb[c];
      }
    }
    for (size_t c = 0; c < w; c++) {
      j->dgamma[c0 + c] = (float)sg[c];
      j->dbeta[c0 + c] = (float)sb[c];
    }
  }
}

int fb_layernorm_grad(nncl_backend *be, const nncl_args *a)
{
  norm_job j = {.n = a->n[0], .p = a->n[1]};
  size_t total = fb_mul(j.n, j.p);
  FB_PTR(j.x, 0, total);
  FB_PTR(j.dy, 1, total);
  FB_PTR(j.gamma, 2, j.p);
  FB_PTR(j.mean, 3, j.n);
  FB_PTR(j.inv, 4, j.n);
  FB_PTR(j.y, 5, total);
  FB_PTR(j.dgamma, 6, j.p);
  FB_PTR(j.dbeta, 7, j.p);
  if (!j.p) return 0;
  fb_parallel(fb_of(be), j.n, FB_GRAIN_MEM / j.p + 1, 1, ln_grad_rows, &j);
  fb_parallel(fb_of(be), j.p, FB_GRAIN_MEM / (j.n + 1) + 1, 16, ln_grad_cols, &j);
  return 0;
}
