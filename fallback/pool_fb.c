/* pool_fb.c - 2-D max and average pooling and their gradients over planes (N*C, H, W).
 * Geometry and formulas: ops.def. Threads split planes; within a plane every sum runs in
 * (oh, ow) order, the order of the OpenCL kernels' gathers. */
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fb.h"

typedef struct pool_geom {
  size_t planes, in, out; /* in = H*W, out = OH*OW */
  long h, w, oh, ow, kh, kw, sh, sw, pt, pl;
  int include_pad;
} pool_geom;

static int pool_geom_of(nncl_backend *be, const nncl_args *a, pool_geom *g, const char *fn)
{
  if (a->n[1] > LONG_MAX / 4 || a->n[2] > LONG_MAX / 4 || a->n[3] > LONG_MAX / 4 || a->n[4] > LONG_MAX / 4)
    return nncl_err(be->ctx, NNCL_ELIMIT, "%s: plane size out of range", fn);
  *g = (pool_geom){a->n[0], fb_mul(a->n[1], a->n[2]), fb_mul(a->n[3], a->n[4]), (long)a->n[1], (long)a->n[2], (long)a->n[3], (long)a->n[4], a->i[0],
                   a->i[1], a->i[2], a->i[3], a->i[4], a->i[5], a->i[6] != 0};
  if (g->kh < 1 || g->kw < 1 || g->sh < 1 || g->sw < 1 || g->pt < 0 || g->pl < 0)
    return nncl_err(be->ctx, NNCL_EINVAL, "%s: bad geometry: kernel %ldx%ld, stride %ldx%ld, pad %ld,%ld",
                    fn, g->kh, g->kw, g->sh, g->sw, g->pt, g->pl);
  return 0;
}

/* One output row's (or column's) window: input rows [lo, hi) (empty when lo >= hi) and its
 * factor of the average's divisor: the window clipped to [-pad, n + pad) with
 * count_include_pad, else hi - lo. Windows are separable: divisor = row f * col f. */
typedef struct span {
  long lo, hi;
  float f;
} span;

static void make_spans(span *sp, long nout, long s, long pad, long k, long n, int include_pad)
{
  for (long o = 0; o < nout; o++) {
    long st = o * s - pad, end = st + k < n + pad ? st + k : n + pad;
    sp[o].lo = st < 0 ? 0 : st;
    sp[o].hi = st + k < n ? st + k : n;
    sp[o].f = (float)(include_pad ? end - st : sp[o].hi - sp[o].lo);
  }
}

typedef struct pool_job {
  pool_geom g;
  const span *rs, *cs; /* OH row spans, OW column spans */
  const float *x;
  const int32_t *arg;
  float *y;
  int32_t *idx;
} pool_job;

/* Fills j's spans (malloc'd; free j->rs). */
static int pool_spans(nncl_backend *be, pool_job *j, const char *fn)
{
  span *sp = malloc(((size_t)j->g.oh + (size_t)j->g.ow + 1) * sizeof *sp);
  if (!sp) return nncl_err(be->ctx, NNCL_ENOMEM, "%s: out of memory", fn);
  const pool_geom *g = &j->g;
  make_spans(sp, g->oh, g->sh, g->pt, g->kh, g->h, g->include_pad);
  make_spans(sp + g->oh, g->ow, g->sw, g->pl, g->kw, g->w, g->include_pad);
  j->rs = sp;
  j->cs = sp + g->oh;
  return 0;
}

static size_t pool_grain(const pool_geom *g)
{
  return FB_GRAIN_MEM / (fb_mul(g->out, fb_mul((size_t)g->kh, (size_t)g->kw)) / 2 + g->in / 2 + 1) + 1;
}

/* Runs fn over the planes of j with its spans. */
static int pool_run(nncl_backend *be, pool_job *j, fb_range_fn fn, const char *fn_name)
{
  int st = pool_spans(be, j, fn_name);
  if (st) return st;
  fb_parallel(fb_of(be), j->g.planes, pool_grain(&j->g), 1, fn, j);
  free((void *)j->rs);
  return 0;
}

/* ---- max ---------------------------------------------------------------------------- */

/* v > m or v is NaN, branch-free: on random data a branch mispredicts */
static inline void max_take(float v, long at, float *m, long *best)
{
  uint32_t b;
  memcpy(&b, &v, 4);
  int take = (v > *m) | ((b & 0x7fffffffu) > 0x7f800000u);
  *m = take ? v : *m;
  *best = take ? at : *best;
}

/* 2x2 windows, stride 2, no padding, all inside the plane (LeNet's, VGG's): the generic
 * loop's spans and two-trip inner loops cost 4x the compares. */
static int maxpool_is_2x2(const pool_geom *g)
{
  return g->kh == 2 && g->kw == 2 && g->sh == 2 && g->sw == 2 && g->pt == 0 && g->pl == 0 &&
         2 * g->oh <= g->h && 2 * g->ow <= g->w;
}

/* Written for the vectorizer: window element k in 0..3 (row-major) as a code, the take
 * rule of max_take as selects. */
static void maxpool_2x2(const pool_job *j, size_t lo, size_t hi)
{
  const pool_geom *g = &j->g;
  long W = g->w, OW = g->ow;
  for (size_t pl = lo; pl < hi; pl++)
    for (long oh = 0; oh < g->oh; oh++) {
      const float *restrict r0 = j->x + pl * g->in + 2 * oh * W, *restrict r1 = r0 + W;
      float *restrict y = j->y + pl * g->out + oh * OW;
      int32_t *restrict idx = j->idx + pl * g->out + oh * OW;
      int32_t base = (int32_t)(2 * oh * W);
      for (long ow = 0; ow < OW; ow++) {
        float a = r0[2 * ow], b = r0[2 * ow + 1], c = r1[2 * ow], d = r1[2 * ow + 1], m = a;
        int32_t k = 0;
        int t = (b > m) | (b != b);
        m = t ? b : m, k = t ? 1 : k;
        t = (c > m) | (c != c);
        m = t ? c : m, k = t ? (int32_t)W : k;
        t = (d > m) | (d != d);
        m = t ? d : m, k = t ? (int32_t)W + 1 : k;
        y[ow] = m;
        idx[ow] = base + 2 * (int32_t)ow + k;
      }
    }
}

static void maxpool_range(void *p, size_t lo, size_t hi)
{
  const pool_job *j = p;
  const pool_geom *g = &j->g;
  size_t in = g->in, out = g->out;
  long W = g->w;
  if (maxpool_is_2x2(g)) {
    maxpool_2x2(j, lo, hi);
    return;
  }
  for (size_t pl = lo; pl < hi; pl++) {
    const float *restrict x = j->x + pl * in;
    float *restrict y = j->y + pl * out;
    int32_t *restrict idx = j->idx + pl * out;
    for (long oh = 0; oh < g->oh; oh++) {
      span r = j->rs[oh];
      for (long ow = 0; ow < g->ow; ow++) {
        span c = j->cs[ow];
        float m = -INFINITY;
        long best = r.lo < r.hi && c.lo < c.hi ? r.lo * W + c.lo : -1;
        for (long h = r.lo; h < r.hi; h++)
          for (long w = c.lo; w < c.hi; w++) max_take(x[h * W + w], h * W + w, &m, &best);
        y[oh * g->ow + ow] = m;
        idx[oh * g->ow + ow] = (int32_t)best;
      }
    }
  }
}

int fb_maxpool2d(nncl_backend *be, const nncl_args *a)
{
  pool_job j = {0};
  int st = pool_geom_of(be, a, &j.g, __func__);
  if (st) return st;
  if (j.g.in > INT32_MAX)
    return nncl_err(be->ctx, NNCL_ELIMIT, "%s: a plane of %zu elements overflows the i32 argmax",
                    __func__, j.g.in);
  size_t out = fb_mul(j.g.planes, j.g.out);
  FB_PTR(j.x, 0, fb_mul(j.g.planes, j.g.in));
  FB_PTR(j.y, 1, out);
  FB_PTR(j.idx, 2, out);
  return pool_run(be, &j, maxpool_range, __func__);
}

/* dx[argmax] += dy per window in (oh, ow) order; argmax outside the plane is skipped. */
static void maxpool_grad_range(void *p, size_t lo, size_t hi)
{
  const pool_job *j = p;
  const pool_geom *g = &j->g;
  size_t in = g->in, out = g->out;
  for (size_t pl = lo; pl < hi; pl++) {
    const int32_t *restrict idx = j->arg + pl * out;
    const float *restrict dy = j->x + pl * out;
    float *restrict dx = j->y + pl * in;
    memset(dx, 0, in * sizeof *dx);
    for (size_t o = 0; o < out; o++)
      if (idx[o] >= 0 && (size_t)idx[o] < in) dx[idx[o]] += dy[o];
  }
}

int fb_maxpool2d_grad(nncl_backend *be, const nncl_args *a)
{
  pool_job j = {0};
  int st = pool_geom_of(be, a, &j.g, __func__);
  if (st) return st;
  size_t out = fb_mul(j.g.planes, j.g.out);
  FB_PTR(j.arg, 0, out);
  FB_PTR(j.x, 1, out);
  FB_PTR(j.y, 2, fb_mul(j.g.planes, j.g.in));
  fb_parallel(fb_of(be), j.g.planes, pool_grain(&j.g), 1, maxpool_grad_range, &j);
  return 0;
}

/* ---- average ------------------------------------------------------------------------ */

static void avgpool_range(void *p, size_t lo, size_t hi)
{
  const pool_job *j = p;
  const pool_geom *g = &j->g;
  size_t in = g->in, out = g->out;
  long W = g->w;
  for (size_t pl = lo; pl < hi; pl++) {
    const float *restrict x = j->x + pl * in;
    float *restrict y = j->y + pl * out;
    for (long oh = 0; oh < g->oh; oh++) {
      span r = j->rs[oh];
      for (long ow = 0; ow < g->ow; ow++) {
        span c = j->cs[ow];
        float s = 0.0f;
        for (long h = r.lo; h < r.hi; h++)
          for (long w = c.lo; w < c.hi; w++) s += x[h * W + w];
        y[oh * g->ow + ow] = r.lo < r.hi && c.lo < c.hi ? s / (r.f * c.f) : 0.0f;
      }
    }
  }
}

int fb_avgpool2d(nncl_backend *be, const nncl_args *a)
{
  pool_job j = {0};
  int st = pool_geom_of(be, a, &j.g, __func__);
  if (st) return st;
  FB_PTR(j.x, 0, fb_mul(j.g.planes, j.g.in));
  FB_PTR(j.y, 1, fb_mul(j.g.planes, j.g.out));
  return pool_run(be, &j, avgpool_range, __func__);
}

static void avgpool_grad_range(void *p, size_t lo, size_t hi)
{
  const pool_job *j = p;
  const pool_geom *g = &j->g;
  size_t in = g->in, out = g->out;
  long W = g->w;
  for (size_t pl = lo; pl < hi; pl++) {
    const float *restrict dy = j->x + pl * out;
    float *restrict dx = j->y + pl * in;
    memset(dx, 0, in * sizeof *dx);
    for (long oh = 0; oh < g->oh; oh++) {
      span r = j->rs[oh];
      for (long ow = 0; ow < g->ow; ow++) {
        span c = j->cs[ow];
        if (r.lo >= r.hi || c.lo >= c.hi) continue;
        float v = dy[oh * g->ow + ow] / (r.f * c.f);
        for (long h = r.lo; h < r.hi; h++)
          for (long w = c.lo; w < c.hi; w++) dx[h * W + w] += v;
      }
    }
  }
}

int fb_avgpool2d_grad(nncl_backend *be, const nncl_args *a)
{
  pool_job j = {0};
  int st = pool_geom_of(be, a, &j.g, __func__);
  if (st) return st;
  FB_PTR(j.x, 0, fb_mul(j.g.planes, j.g.out));
  FB_PTR(j.y, 1, fb_mul(j.g.planes, j.g.in));
  return pool_run(be, &j, avgpool_grad_range, __func__);
}
