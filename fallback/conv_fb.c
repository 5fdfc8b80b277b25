/* conv_fb.c - the ops a convolution is lowered to: im2col, col2im, transpose_ab,
 * ch_bias_add, ch_sum, and copy2d (channel concat); the direct convolution conv2d and its
 * gradients. Geometry and formulas: ops.def. Every output element is computed by one
 * thread in a fixed order, so results do not depend on the thread count. */
#include <limits.h>
#include <stdatomic.h>
#include <string.h>

#include "fb.h"

/* ---- convolution geometry ----------------------------------------------------------- */

typedef struct conv_geom {
  size_t n, c, h, w, oh, ow, cx; /* cx: channels of the whole image tensor */
  long kh, kw, sh, sw, pt, pl, dh, dw;
} conv_geom;

static int conv_geom_of(nncl_backend *be, const nncl_args *a, conv_geom *g, const char *fn)
{
  *g = (conv_geom){a->n[0], a->n[1], a->n[2], a->n[3], a->n[4], a->n[5], a->n[6] ? a->n[6] : a->n[1],
                   a->i[0], a->i[1], a->i[2], a->i[3], a->i[4], a->i[5], a->i[6], a->i[7]};
  if (g->kh < 1 || g->kw < 1 || g->sh < 1 || g->sw < 1 || g->dh < 1 || g->dw < 1 || g->pt < 0 ||
      g->pl < 0 || g->cx < g->c)
    return nncl_err(be->ctx, NNCL_EINVAL,
                    "%s: bad geometry: kernel %ldx%ld, stride %ldx%ld, dilation %ldx%ld, pad %ld,%ld, "
                    "%zu of %zu channels",
                    fn, g->kh, g->kw, g->sh, g->sw, g->dh, g->dw, g->pt, g->pl, g->c, g->cx);
  if (g->h > LONG_MAX / 4 || g->w > LONG_MAX / 4 || g->oh > LONG_MAX / 4 || g->ow > LONG_MAX / 4)
    return nncl_err(be->ctx, NNCL_ELIMIT, "%s: image size out of range", fn);
  return 0;
}

/* Elements an image tensor view spans: images of cx channels, the last one's c used. */
static size_t image_span(const conv_geom *g)
{
  if (!g->n || !g->c) return 0;
  size_t plane = fb_mul(g->h, g->w);
  return fb_mul(fb_mul(g->n - 1, g->cx) + g->c, plane);
}

/* Outputs o in [*lo, *hi) are those with 0 <= o s + off < n, clipped to [0, out). */
static void valid_range(long off, long s, long n, long out, long *lo, long *hi)
{
  *lo = off >= 0 ? 0 : (-off + s - 1) / s;
  *hi = n - off <= 0 ? 0 : (n - off - 1) / s + 1;
  if (*hi > out) *hi = out;
  if (*lo > *hi) *lo = *hi;
}

typedef struct conv_job {
  conv_geom g;
  const float *x;
  float *y;
} conv_job;

/* ---- im2col ------------------------------------------------------------------------- */

/* Rows are short (OW is often 5-30): GCC would turn their copy and zero loops into memcpy
 * and memset calls, which cost more than the copying (measured: 8% of LeNet training). */
#if defined(__GNUC__) && !defined(__clang__)
#define FB_INLINE_LOOPS __attribute__((optimize("no-tree-loop-distribute-patterns")))
#else
#define FB_INLINE_LOOPS
#endif

/* What a col row (c, ki, kj) reads, the same for every c: input column ow SW + off and
 * row oh SH + hoff; ow in [w0, w1) and oh in [h0, h1) are inside the image. */
typedef struct row_geom {
  long off, hoff, w0, w1, h0, h1;
} row_geom;

static row_geom row_geom_of(const conv_geom *g, long ki, long kj)
{
  row_geom r = {kj * g->dw - g->pl, ki * g->dh - g->pt, 0, 0, 0, 0};
  valid_range(r.off, g->sw, (long)g->w, (long)g->ow, &r.w0, &r.w1);
  valid_range(r.hoff, g->sh, (long)g->h, (long)g->oh, &r.h0, &r.h1);
  return r;
}

/* Entries [p0, p1) of one col row of one image (entry p = oh OW + ow):
 * dst[p - p0] = x[oh SH + hoff, ow SW + off] with x the plane of its channel, 0 outside. */
FB_INLINE_LOOPS static void im2col_span(const conv_geom *g, const row_geom *rg, const float *restrict x, size_t p0,
                                        size_t p1, float *restrict dst)
{
  long OW = (long)g->ow, oh = (long)(p0 / (size_t)OW), o0 = (long)p0 - oh * OW;
  for (size_t p = p0; p < p1; oh++, o0 = 0) {
    long o1 = OW < o0 + (long)(p1 - p) ? OW : o0 + (long)(p1 - p);
    float *restrict d = dst + (p - p0) - o0; /* d[o] is entry (oh, o) */
    if (oh < rg->h0 || oh >= rg->h1) {
      for (long o = o0; o < o1; o++) d[o] = 0.0f;
    } else {
      const float *restrict xr = x + (size_t)(oh * g->sh + rg->hoff) * g->w + rg->off;
      long a = o0 > rg->w0 ? o0 : rg->w0, b = o1 < rg->w1 ? o1 : rg->w1;
      for (long o = o0; o < o1 && o < rg->w0; o++) d[o] = 0.0f;
      if (g->sw == 1)
        for (long o = a; o < b; o++) d[o] = xr[o];
      else
        for (long o = a; o < b; o++) d[o] = xr[o * g->sw];
      for (long o = o0 > rg->w1 ? o0 : rg->w1; o < o1; o++) d[o] = 0.0f;
    }
    p += (size_t)(o1 - o0);
  }
}

/* Units u = row * N + n: the OH*OW entries of col row `row` for image n. */
static void im2col_range(void *p, size_t lo, size_t hi)
{
  const conv_job *j = p;
  const conv_geom *g = &j->g;
  size_t ohw = g->oh * g->ow, plane = g->h * g->w;
  for (size_t u = lo; u < hi; u++) {
    size_t row = u / g->n, n = u % g->n;
    row_geom rg = row_geom_of(g, (long)(row / (size_t)g->kw % (size_t)g->kh), (long)(row % (size_t)g->kw));
    size_t c = row / (size_t)(g->kh * g->kw);
    im2col_span(g, &rg, j->x + (n * g->cx + c) * plane, 0, ohw, j->y + row * g->n * ohw + n * ohw);
  }
}

int fb_im2col(nncl_backend *be, const nncl_args *a)
{
  conv_job j;
  int st = conv_geom_of(be, a, &j.g, __func__);
  if (st) return st;
  const conv_geom *g = &j.g;
  size_t rows = fb_mul(g->c, (size_t)(g->kh * g->kw)), ohw = fb_mul(g->oh, g->ow);
  FB_PTR(j.x, 0, image_span(g));
  FB_PTR(j.y, 1, fb_mul(fb_mul(rows, g->n), ohw));
  fb_parallel(fb_of(be), rows * g->n, FB_GRAIN_MEM / (ohw + 1) + 1, 1, im2col_range, &j);
  return 0;
}

/* ---- col2im ------------------------------------------------------------------------- */

/* One plane d of dx from its KH*KW col rows, row (ki, kj) at src + (ki KW + kj) rs, summed
 * in (ki, kj) order. */
FB_INLINE_LOOPS static void col2im_plane(const conv_geom *g, const float *src, size_t rs, float *restrict d)
{
  memset(d, 0, g->h * g->w * sizeof *d);
  for (long ki = 0; ki < g->kh; ki++)
    for (long kj = 0; kj < g->kw; kj++) {
      const float *restrict s = src + (size_t)(ki * g->kw + kj) * rs;
      long off = kj * g->dw - g->pl, hoff = ki * g->dh - g->pt, w0, w1, h0, h1;
      valid_range(off, g->sw, (long)g->w, (long)g->ow, &w0, &w1);
      valid_range(hoff, g->sh, (long)g->h, (long)g->oh, &h0, &h1);
      for (long oh = h0; oh < h1; oh++) {
        float *restrict dr = d + (size_t)(oh * g->sh + hoff) * g->w;
        const float *restrict sr = s + (size_t)oh * g->ow;
        if (g->sw == 1)
          for (long o = w0; o < w1; o++) dr[o + off] += sr[o];
        else
          for (long o = w0; o < w1; o++) dr[o * g->sw + off] += sr[o];
      }
    }
}

/* Units: planes (n, c) of dx. */
static void col2im_range(void *p, size_t lo, size_t hi)
{
  const conv_job *j = p;
  const conv_geom *g = &j->g;
  size_t ohw = g->oh * g->ow, plane = g->h * g->w, np = g->n * ohw, kk = (size_t)(g->kh * g->kw);
  for (size_t u = lo; u < hi; u++) {
    size_t n = u / g->c, c = u % g->c;
    col2im_plane(g, j->x + c * kk * np + n * ohw, np, j->y + (n * g->cx + c) * plane);
  }
}

int fb_col2im(nncl_backend *be, const nncl_args *a)
{
  conv_job j;
  int st = conv_geom_of(be, a, &j.g, __func__);
  if (st) return st;
  const conv_geom *g = &j.g;
  size_t rows = fb_mul(g->c, (size_t)(g->kh * g->kw)), ohw = fb_mul(g->oh, g->ow);
  FB_PTR(j.x, 0, fb_mul(fb_mul(rows, g->n), ohw));
  FB_PTR(j.y, 1, image_span(g));
  size_t work = fb_mul(ohw, (size_t)(g->kh * g->kw)) + g->h * g->w + 1;
  fb_parallel(fb_of(be), g->n * g->c, FB_GRAIN_MEM / work + 1, 1, col2im_range, &j);
  return 0;
}

/* ---- transpose_ab: t1[b, a, c] = t0[a, b, c] ---------------------------------------- */

typedef struct tr_job {
  const float *x, *bias;
  float *y;
  size_t a, b, c;
  float beta;
} tr_job;

/* Output rows b in [lo, hi). */
static void transpose_range(void *p, size_t lo, size_t hi)
{
  const tr_job *j = p;
  size_t A = j->a, B = j->b, C = j->c;
  for (size_t b = lo; b < hi; b++)
    for (size_t i = 0; i < A; i++) {
      const float *restrict s = j->x + (i * B + b) * C;
      float *restrict d = j->y + (b * A + i) * C;
      if (C == 1)
        *d = *s;
      else
        memcpy(d, s, C * sizeof *d);
    }
}

int fb_transpose_ab(nncl_backend *be, const nncl_args *a)
{
  tr_job j = {.a = a->n[0], .b = a->n[1], .c = a->n[2]};
  size_t total = fb_mul(fb_mul(j.a, j.b), j.c);
  FB_PTR(j.x, 0, total);
  FB_PTR(j.y, 1, total);
  fb_parallel(fb_of(be), j.b, FB_GRAIN_MEM / (j.a * j.c + 1) + 1, 1, transpose_range, &j);
  return 0;
}

/* ---- ch_bias_add: t1[n, c, p] = t0[n, c, p] + t2[c] (in place ok) -------------------- */

/* Rows (n, c) in [lo, hi). */
static void ch_bias_add_range(void *p, size_t lo, size_t hi)
{
  const tr_job *j = p;
  size_t P = j->c;
  for (size_t r = lo; r < hi; r++) {
    const float *x = j->x + r * P;
    float *y = j->y + r * P, bv = j->bias[r % j->b];
    for (size_t k = 0; k < P; k++) y[k] = x[k] + bv;
  }
}

int fb_ch_bias_add(nncl_backend *be, const nncl_args *a)
{
  tr_job j = {.a = a->n[0], .b = a->n[1], .c = a->n[2]};
  size_t total = fb_mul(fb_mul(j.a, j.b), j.c);
  FB_PTR(j.x, 0, total);
  FB_PTR(j.y, 1, total);
  FB_PTR(j.bias, 2, j.b);
  fb_parallel(fb_of(be), j.a * j.b, FB_GRAIN_MEM / (j.c + 1) + 1, 1, ch_bias_add_range, &j);
  return 0;
}

/* ---- ch_sum: t1[c] = f1 t1[c] + sum_{n,p} t0[n, c, p] -------------------------------- */

/* Channels [lo, hi): 8 double lanes per plane row, n in order. */
static void ch_sum_range(void *p, size_t lo, size_t hi)
{
  const tr_job *j = p;
  size_t N = j->a, C = j->b, P = j->c;
  for (size_t c = lo; c < hi; c++) {
    double l[8] = {0};
    for (size_t n = 0; n < N; n++) {
      const float *restrict x = j->x + (n * C + c) * P;
      size_t k = 0;
      for (; k + 8 <= P; k += 8)
        for (int i = 0; i < 8; i++) l[i] += x[k + i];
      for (; k < P; k++) l[k % 8] += x[k];
    }
    double s = ((l[0] + l[1]) + (l[2] + l[3])) + ((l[4] + l[5]) + (l[6] + l[7]));
    j->y[c] = j->beta == 0.0f ? (float)s : (float)((double)j->beta * j->y[c] + s);
  }
}

int fb_ch_sum(nncl_backend *be, const nncl_args *a)
{
  tr_job j = {.a = a->n[0], .b = a->n[1], .c = a->n[2], .beta = a->f[1]};
  FB_PTR(j.x, 0, fb_mul(fb_mul(j.a, j.b), j.c));
  FB_PTR(j.y, 1, j.b);
  fb_parallel(fb_of(be), j.b, FB_GRAIN_MEM / (j.a * j.c + 1) + 1, 1, ch_sum_range, &j);
  return 0;
}

/* ---- copy2d: t1[r n3 + c] = t0[r n2 + c], r < n0, c < n1 ----------------------------- */

static void copy2d_range(void *p, size_t lo, size_t hi)
{
  const tr_job *j = p;
  for (size_t r = lo; r < hi; r++) memcpy(j->y + r * j->b, j->x + r * j->a, j->c * sizeof(float));
}

/* Elements a strided view of rows x cols with row stride ld spans. */
static size_t strided_span(size_t rows, size_t cols, size_t ld)
{
  return rows && cols ? fb_mul(rows - 1, ld) + cols : 0;
}

int fb_copy2d(nncl_backend *be, const nncl_args *a)
{
  size_t rows = a->n[0], cols = a->n[1];
  tr_job j = {.a = a->n[2], .b = a->n[3], .c = cols};
  if (rows > 1 && (j.a < cols || j.b < cols))
    return nncl_err(be->ctx, NNCL_EINVAL, "%s: row strides %zu, %zu below the row length %zu",
                    __func__, j.a, j.b, cols);
  FB_PTR(j.x, 0, strided_span(rows, cols, j.a));
  FB_PTR(j.y, 1, strided_span(rows, cols, j.b));
  if (!cols) return 0;
  fb_parallel(fb_of(be), rows, FB_GRAIN_MEM / cols + 1, 1, copy2d_range, &j);
  return 0;
}

/* ---- conv2d, conv2d_grad_x, conv2d_grad_w -------------------------------------------
 * One image at a time on each thread, its col (C KH KW x P, P = OH OW) built a block of
 * whole output rows at a time in the thread's scratch, where it stays in cache (forward:
 * L1; dW, with its packed transpose: L2); the GEMM micro-kernel
 * multiplies it in place and writes y in NCHW: no col tensor of the whole batch, no
 * transposes, one thread wake-up per op.
 *   y_n = W col_n (+ b)          dcol_n = W^T dy_n -> col2im     dW = sum_n dy_n col_n^T
 * dW sums over fixed chunks of images (partials summed in chunk order), so it does not
 * depend on the thread count. */

#define CV_CHUNKS 8
#define CV_BLOCK 8192 /* floats of col per block (32 KiB: L1) */

typedef struct cv_job {
  conv_geom g;
  const fb_ukernel *uk;
  size_t oc, ckk, p, ld, kk; /* ld: row stride of col blocks (grad_x: P), a multiple of NR */
  size_t bp;                 /* columns per col block: whole output rows */
  size_t stride;     /* scratch floats per thread */
  size_t chunk;      /* grad_w: images per chunk */
  const float *x, *w, *b, *dy;
  float *y, *ws, *part;
  atomic_size_t next;
} cv_job;

static size_t ceil_to(size_t a, size_t b) { return (a + b - 1) / b * b; }
static size_t min_sz(size_t a, size_t b) { return a < b ? a : b; }

static int cv_setup(nncl_backend *be, const nncl_args *a, cv_job *j, const char *fn)
{
  nncl_args ga = *a;
  ga.n[6] = 0; /* images are C channels apart; n6 is OC */
  int st = conv_geom_of(be, &ga, &j->g, fn);
  if (st) return st;
  fb_backend *fb = fb_of(be);
  j->uk = fb->uk;
  j->oc = a->n[6];
  j->kk = (size_t)(j->g.kh * j->g.kw);
  j->ckk = fb_mul(j->g.c, j->kk);
  j->p = fb_mul(j->g.oh, j->g.ow);
  j->ld = ceil_to(j->p, j->uk->nr);
  atomic_init(&j->next, 0);
  return 0;
}

/* Columns [p0, p1) of the col of image x (C, H, W) into col (ckk rows, ld apart); the
 * columns from p1 - p0 to ld are zeroed. */
static void cv_im2col(const cv_job *j, const float *x, size_t p0, size_t p1, float *col, size_t ld)
{
  const conv_geom *g = &j->g;
  size_t plane = g->h * g->w;
  for (size_t q = 0; q < j->kk; q++) { /* (ki, kj), then the channels */
    row_geom rg = row_geom_of(g, (long)(q / (size_t)g->kw), (long)(q % (size_t)g->kw));
    for (size_t c = 0; c < g->c; c++) {
      float *d = col + (c * j->kk + q) * ld;
      im2col_span(g, &rg, x + c * plane, p0, p1, d);
      for (size_t e = p1 - p0; e < ld; e++) d[e] = 0.0f;
    }
  }
}

/* Threads for a job of `units` images or chunks over `macs` multiply-adds; grows the
 * scratch to `stride` floats per thread plus `extra`. Returns the count or a status. */
static int cv_threads(nncl_backend *be, cv_job *j, size_t units, size_t macs, size_t stride, size_t extra)
{
  fb_backend *fb = fb_of(be);
  int nt = fb_threads_for(fb, macs, fb->gemm_grain);
  if ((size_t)nt > units) nt = (int)units;
  if (nt < 1) nt = 1;
  j->stride = ceil_to(stride, 16);
  int st = fb_workspace(fb, fb_mul(j->stride, (size_t)nt) + extra);
  if (st) return st;
  j->ws = fb->ws;
  j->part = fb->ws + j->stride * (size_t)nt;
  return nt;
}

static void conv2d_thread(void *arg, int t, int nt)
{
  cv_job *j = arg;
  const fb_ukernel *uk = j->uk;
  size_t P = j->p, C = j->g.c, plane = j->g.h * j->g.w;
  float *col = j->ws + (size_t)t * j->stride;
  (void)nt;
  for (size_t n; (n = atomic_fetch_add(&j->next, 1)) < j->g.n;) {
    float *y = j->y + n * j->oc * P;
    for (size_t b0 = 0; b0 < P; b0 += j->bp) {
      size_t bw = min_sz(j->bp, P - b0);
      cv_im2col(j, j->x + n * C * plane, b0, b0 + bw, col, j->ld);
      for (size_t q = 0; q < bw; q += uk->nr)
        for (size_t i = 0; i < j->oc; i += uk->mr)
          uk->fn(j->ckk, j->w + i * j->ckk, j->ckk, 1, col + q, j->ld, y + i * P + b0 + q, P, 1.0f, 0.0f,
                 min_sz(uk->mr, j->oc - i), min_sz(uk->nr, bw - q));
    }
    if (j->b)
      for (size_t o = 0; o < j->oc; o++)
        for (size_t q = 0; q < P; q++) y[o * P + q] += j->b[o];
  }
}

/* Stride 1: each image is padded once into planes with rows of WP = OW + (KW-1) DW, so
 * that col row (c, ki, kj) of a block of output rows is one contiguous run of its padded
 * plane (one copy, no per-row bounds). The block is computed over rows of WP outputs, of
 * which the first OW are kept: (WP - OW) / WP of the multiply-adds are spent on columns
 * that are dropped, cheaper than im2col's short row copies for LeNet-sized images. */
typedef struct s1_geom {
  size_t wp, hp, plane; /* padded width, height, plane */
} s1_geom;

static s1_geom s1_geom_of(const conv_geom *g)
{
  s1_geom s = {g->ow + (size_t)((g->kw - 1) * g->dw), g->oh + (size_t)((g->kh - 1) * g->dh), 0};
  s.plane = s.wp * s.hp;
  return s;
}

/* x (C planes of H x W) into xp (C planes of HP x WP, zero outside the image), followed by
 * (KW-1) DW zeros: the last plane's last col row reads that far past it. */
static void s1_pad(const conv_geom *g, const s1_geom *sg, const float *x, float *xp)
{
  size_t tail = (size_t)((g->kw - 1) * g->dw);
  memset(xp, 0, (g->c * sg->plane + tail) * sizeof *xp);
  for (size_t c = 0; c < g->c; c++)
    for (size_t r = 0; r < g->h; r++) {
      long pr = (long)r + g->pt, lo = g->pl, hi = g->pl + (long)g->w; /* padded row, columns */
      if (pr >= (long)sg->hp || lo >= (long)sg->wp) continue;
      if (hi > (long)sg->wp) hi = (long)sg->wp;
      memcpy(xp + c * sg->plane + (size_t)pr * sg->wp + (size_t)lo, x + (c * g->h + r) * g->w,
             (size_t)(hi - lo) * sizeof *xp);
    }
}

/* The col block of output rows from oh0, bw = rows WP columns, out of the padded image xp
 * into col (rows ld >= bw apart, zero from bw to ld): row k = (c, ki, kj) is one run. */
static void s1_col(const cv_job *j, const s1_geom *sg, const float *xp, size_t oh0, size_t bw, float *col, size_t ld)
{
  const conv_geom *g = &j->g;
  for (size_t k = 0; k < j->ckk; k++) {
    size_t c = k / j->kk, ki = k % j->kk / (size_t)g->kw, kj = k % (size_t)g->kw;
    memcpy(col + k * ld, xp + c * sg->plane + (oh0 + ki * (size_t)g->dh) * sg->wp + kj * (size_t)g->dw, bw * sizeof *col);
    memset(col + k * ld + bw, 0, (ld - bw) * sizeof *col);
  }
}

static void conv2d_s1_thread(void *arg, int t, int nt)
{
  cv_job *j = arg;
  const conv_geom *g = &j->g;
  const fb_ukernel *uk = j->uk;
  const s1_geom sg = s1_geom_of(g);
  size_t P = j->p, rows_per = j->bp / sg.wp;
  float *xp = j->ws + (size_t)t * j->stride, *col = xp + ceil_to(g->c * sg.plane + sg.wp, 16), *yb = col + j->ckk * j->ld;
  (void)nt;
  for (size_t n; (n = atomic_fetch_add(&j->next, 1)) < g->n;) {
    s1_pad(g, &sg, j->x + n * g->c * g->h * g->w, xp);
    float *y = j->y + n * j->oc * P;
    for (size_t oh0 = 0; oh0 < g->oh; oh0 += rows_per) {
      size_t rows = min_sz(rows_per, g->oh - oh0), bw = rows * sg.wp;
      s1_col(j, &sg, xp, oh0, bw, col, j->ld);
      for (size_t q = 0; q < bw; q += uk->nr)
        for (size_t i = 0; i < j->oc; i += uk->mr)
          uk->fn(j->ckk, j->w + i * j->ckk, j->ckk, 1, col + q, j->ld, yb + i * j->ld + q, j->ld, 1.0f, 0.0f,
                 min_sz(uk->mr, j->oc - i), min_sz(uk->nr, bw - q));
      for (size_t o = 0; o < j->oc; o++) {
        float bias = j->b ? j->b[o] : 0.0f;
        for (size_t r = 0; r < rows; r++) {
          float *restrict dst = y + o * P + (oh0 + r) * g->ow;
          const float *restrict src = yb + o * j->ld + r * sg.wp;
          for (size_t q = 0; q < g->ow; q++) dst[q] = src[q] + bias;
        }
      }
    }
  }
}

/* Whether conv2d_s1_thread takes g: stride 1, rows of outputs shorter than 2 NR. */
static int s1_fits(const conv_geom *g, const fb_ukernel *uk) { return g->sh == 1 && g->sw == 1 && g->ow < 2 * uk->nr; }

/* Blocks, scratch and threads of conv2d_s1_thread for j, with `extra` more floats at
 * j->part for the caller. Returns the thread count or a status. */
static int s1_setup(nncl_backend *be, cv_job *j, size_t extra)
{
  s1_geom sg = s1_geom_of(&j->g);
  size_t rows = 4 * CV_BLOCK / fb_mul(j->ckk, sg.wp);
  j->bp = fb_mul(rows ? min_sz(rows, j->g.oh) : 1, sg.wp);
  j->ld = ceil_to(j->bp, j->uk->nr);
  return cv_threads(be, j, j->g.n, fb_mul(fb_mul(j->g.n, j->oc), fb_mul(j->ckk, j->p)),
                    ceil_to(fb_mul(j->g.c, sg.plane) + sg.wp, 16) + fb_mul(j->ckk + j->oc, j->ld), extra);
}

int fb_conv2d(nncl_backend *be, const nncl_args *a)
{
  cv_job j;
  int st = cv_setup(be, a, &j, __func__);
  if (st) return st;
  FB_PTR(j.x, 0, fb_mul(fb_mul(j.g.n, j.g.c), j.g.h * j.g.w));
  FB_PTR(j.w, 1, fb_mul(j.oc, j.ckk));
  FB_PTR(j.y, 2, fb_mul(fb_mul(j.g.n, j.oc), j.p));
  j.b = NULL;
  if (a->t[3].buf) FB_PTR(j.b, 3, j.oc);
  if (!j.g.n || !j.oc || !j.p) return 0;
  int nt;
  if (s1_fits(&j.g, j.uk)) { /* short rows: see conv2d_s1_thread */
    if ((nt = s1_setup(be, &j, 0)) < 0) return nt;
    fb_team(fb_of(be), nt, 0, conv2d_s1_thread, &j);
    return 0;
  }
  size_t rows = CV_BLOCK / fb_mul(j.ckk, j.g.ow);
  j.bp = fb_mul(rows ? min_sz(rows, j.g.oh) : 1, j.g.ow);
  j.ld = ceil_to(j.bp, j.uk->nr); /* the micro-kernel reads NR columns */
  nt = cv_threads(be, &j, j.g.n, fb_mul(fb_mul(j.g.n, j.oc), fb_mul(j.ckk, j.p)), fb_mul(j.ckk, j.ld), 0);
  if (nt < 0) return nt;
  fb_team(fb_of(be), nt, 0, conv2d_thread, &j);
  return 0;
}

static void conv2d_grad_x_thread(void *arg, int t, int nt)
{
  cv_job *j = arg;
  const fb_ukernel *uk = j->uk;
  size_t P = j->p, ld = j->ld, C = j->g.c, plane = j->g.h * j->g.w;
  float *dyb = j->ws + (size_t)t * j->stride, *dcol = dyb + j->oc * ld;
  (void)nt;
  for (size_t n; (n = atomic_fetch_add(&j->next, 1)) < j->g.n;) {
    const float *dy = j->dy + n * j->oc * P;
    for (size_t o = 0; o < j->oc; o++) { /* rows padded to ld: the micro-kernel reads NR */
      memcpy(dyb + o * ld, dy + o * P, P * sizeof *dyb);
      for (size_t q = P; q < ld; q++) dyb[o * ld + q] = 0.0f;
    }
    /* dcol (ckk x P) = W^T dy_n: A(i, p) = w[p ckk + i] */
    for (size_t q = 0; q < P; q += uk->nr)
      for (size_t i = 0; i < j->ckk; i += uk->mr)
        uk->fn(j->oc, j->w + i, 1, j->ckk, dyb + q, ld, dcol + i * ld + q, ld, 1.0f, 0.0f,
               min_sz(uk->mr, j->ckk - i), min_sz(uk->nr, P - q));
    for (size_t c = 0; c < C; c++) col2im_plane(&j->g, dcol + c * j->kk * ld, ld, j->y + (n * C + c) * plane);
  }
}

/* Stride 1: dx is the convolution of dy, padded by (K-1) D - P, with the filters swapped
 * (C of OC channels) and turned by 180 degrees, run by conv2d_s1_thread: no col2im. Only
 * with C >= MR, as its C output rows are the micro-kernel's rows (measured: 16 -> 16 3x3
 * on 14 x 14 1.7x; LeNet's convolutions, C = 1 and 6, 0.5x). Returns 1 when it does not
 * apply (that, padding beyond (K-1) D, long rows), else 0 or a status. */
static int grad_x_s1(nncl_backend *be, const cv_job *j)
{
  const conv_geom *g = &j->g;
  cv_job t = *j;
  t.g.c = t.g.cx = j->oc, t.g.h = g->oh, t.g.w = g->ow, t.g.oh = g->h, t.g.ow = g->w;
  t.g.pt = (g->kh - 1) * g->dh - g->pt, t.g.pl = (g->kw - 1) * g->dw - g->pl;
  if (g->c < j->uk->mr || t.g.pt < 0 || t.g.pl < 0 || !s1_fits(&t.g, j->uk)) return 1;
  t.oc = g->c, t.ckk = j->oc * j->kk, t.p = g->h * g->w;
  t.x = j->dy, t.b = NULL; /* t.y: dx */
  int nt = s1_setup(be, &t, fb_mul(t.oc, t.ckk));
  if (nt < 0) return nt;
  float *wt = t.part; /* wt[c][o][ki][kj] = w[o][c][KH-1-ki][KW-1-kj] */
  size_t kk = j->kk;
  for (size_t c = 0; c < g->c; c++) /* tap q = ki KW + kj turned: KK - 1 - q */
    for (size_t o = 0; o < j->oc; o++)
      for (size_t q = 0; q < kk; q++) wt[(c * j->oc + o) * kk + q] = j->w[(o * g->c + c) * kk + (kk - 1 - q)];
  t.w = wt;
  atomic_init(&t.next, 0);
  fb_team(fb_of(be), nt, 0, conv2d_s1_thread, &t);
  return 0;
}

int fb_conv2d_grad_x(nncl_backend *be, const nncl_args *a)
{
  cv_job j;
  int st = cv_setup(be, a, &j, __func__);
  if (st) return st;
  FB_PTR(j.dy, 0, fb_mul(fb_mul(j.g.n, j.oc), j.p));
  FB_PTR(j.w, 1, fb_mul(j.oc, j.ckk));
  FB_PTR(j.y, 2, fb_mul(fb_mul(j.g.n, j.g.c), j.g.h * j.g.w));
  if (!j.g.n || !j.g.c) return 0;
  if (!j.oc || !j.p) {
    memset(j.y, 0, fb_mul(fb_mul(j.g.n, j.g.c), j.g.h * j.g.w) * sizeof *j.y);
    return 0;
  }
  if (j.g.sh == 1 && j.g.sw == 1 && (st = grad_x_s1(be, &j)) <= 0) return st;
  int nt = cv_threads(be, &j, j.g.n, fb_mul(fb_mul(j.g.n, j.oc), fb_mul(j.ckk, j.p)), fb_mul(j.oc + j.ckk, j.ld), 0);
  if (nt < 0) return nt;
  fb_team(fb_of(be), nt, 0, conv2d_grad_x_thread, &j);
  return 0;
}

/* dst (kc x nr) = the transpose of rows [0, cols) of b (row stride ldb), 0 past cols. */
static void cv_pack_bt(const fb_ukernel *uk, const float *b, size_t ldb, size_t cols, size_t kc, float *dst)
{
  if (uk->pack_bt) {
    uk->pack_bt(b, ldb, cols, kc, uk->nr, dst);
    return;
  }
  for (size_t p = 0; p < kc; p++)
    for (size_t c = 0; c < uk->nr; c++) dst[p * uk->nr + c] = c < cols ? b[c * ldb + p] : 0.0f;
}

/* Chunk k: part_k (OC x ckk) = sum over its images of dy_n col_n^T, over blocks of bp
 * columns of col_n: the block (ckk x bp), then its transpose packed in NR-wide slivers
 * (bp x NR each), both in L1. */
static void conv2d_grad_w_thread(void *arg, int t, int nt)
{
  cv_job *j = arg;
  const fb_ukernel *uk = j->uk;
  size_t P = j->p, C = j->g.c, plane = j->g.h * j->g.w, nr = uk->nr;
  size_t chunks = (j->g.n + j->chunk - 1) / j->chunk;
  float *col = j->ws + (size_t)t * j->stride, *bt = col + j->ckk * j->bp;
  (void)nt;
  for (size_t k; (k = atomic_fetch_add(&j->next, 1)) < chunks;) {
    float *part = j->part + k * j->oc * j->ckk;
    size_t n0 = k * j->chunk, n1 = min_sz(n0 + j->chunk, j->g.n);
    for (size_t n = n0; n < n1; n++)
      for (size_t b0 = 0; b0 < P; b0 += j->bp) {
        size_t bw = min_sz(j->bp, P - b0);
        cv_im2col(j, j->x + n * C * plane, b0, b0 + bw, col, j->bp);
        for (size_t s = 0; s * nr < j->ckk; s++)
          cv_pack_bt(uk, col + s * nr * j->bp, j->bp, min_sz(nr, j->ckk - s * nr), bw, bt + s * bw * nr);
        const float *dy = j->dy + n * j->oc * P + b0;
        for (size_t s = 0; s * nr < j->ckk; s++)
          for (size_t i = 0; i < j->oc; i += uk->mr)
            uk->fn(bw, dy + i * P, P, 1, bt + s * bw * nr, nr, part + i * j->ckk + s * nr, j->ckk, 1.0f,
                   n == n0 && b0 == 0 ? 0.0f : 1.0f, min_sz(uk->mr, j->oc - i), min_sz(nr, j->ckk - s * nr));
      }
  }
}

/* conv2d_grad_w_thread over conv2d_s1_thread's padded rows: the col block (ckk x bw, bw =
 * rows WP) copied from the padded image, dy's block spread to rows of WP with zeros in the
 * extra columns (they add nothing to dW). */
static void conv2d_grad_w_s1_thread(void *arg, int t, int nt)
{
  cv_job *j = arg;
  const conv_geom *g = &j->g;
  const fb_ukernel *uk = j->uk;
  const s1_geom sg = s1_geom_of(g);
  size_t P = j->p, nr = uk->nr, rows_per = j->bp / sg.wp;
  size_t chunks = (g->n + j->chunk - 1) / j->chunk;
  float *xp = j->ws + (size_t)t * j->stride, *col = xp + ceil_to(g->c * sg.plane + sg.wp, 16);
  float *bt = col + j->ckk * j->bp, *dyb = bt + ceil_to(j->ckk, nr) * j->bp;
  (void)nt;
  for (size_t k; (k = atomic_fetch_add(&j->next, 1)) < chunks;) {
    float *part = j->part + k * j->oc * j->ckk;
    size_t n0 = k * j->chunk, n1 = min_sz(n0 + j->chunk, g->n);
    for (size_t n = n0; n < n1; n++) {
      s1_pad(g, &sg, j->x + n * g->c * g->h * g->w, xp);
      for (size_t oh0 = 0; oh0 < g->oh; oh0 += rows_per) {
        size_t rows = min_sz(rows_per, g->oh - oh0), bw = rows * sg.wp;
        s1_col(j, &sg, xp, oh0, bw, col, bw);
        for (size_t s = 0; s * nr < j->ckk; s++)
          cv_pack_bt(uk, col + s * nr * bw, bw, min_sz(nr, j->ckk - s * nr), bw, bt + s * bw * nr);
        const float *dy = j->dy + n * j->oc * P + oh0 * g->ow;
        for (size_t o = 0; o < j->oc; o++)
          for (size_t r = 0; r < rows; r++) {
            float *restrict d = dyb + o * bw + r * sg.wp;
            memcpy(d, dy + o * P + r * g->ow, g->ow * sizeof *d);
            memset(d + g->ow, 0, (sg.wp - g->ow) * sizeof *d);
          }
        for (size_t s = 0; s * nr < j->ckk; s++)
          for (size_t i = 0; i < j->oc; i += uk->mr)
            uk->fn(bw, dyb + i * bw, bw, 1, bt + s * bw * nr, nr, part + i * j->ckk + s * nr, j->ckk, 1.0f,
                   n == n0 && oh0 == 0 ? 0.0f : 1.0f, min_sz(uk->mr, j->oc - i), min_sz(nr, j->ckk - s * nr));
      }
    }
  }
}

int fb_conv2d_grad_w(nncl_backend *be, const nncl_args *a)
{
  cv_job j;
  int st = cv_setup(be, a, &j, __func__);
  if (st) return st;
  size_t nw = fb_mul(j.oc, j.ckk);
  FB_PTR(j.x, 0, fb_mul(fb_mul(j.g.n, j.g.c), j.g.h * j.g.w));
  FB_PTR(j.dy, 1, fb_mul(fb_mul(j.g.n, j.oc), j.p));
  FB_PTR(j.y, 2, nw);
  if (!nw) return 0;
  if (!j.g.n || !j.p) {
    memset(j.y, 0, nw * sizeof *j.y);
    return 0;
  }
  size_t chunks = j.g.n < CV_CHUNKS ? j.g.n : CV_CHUNKS;
  j.chunk = (j.g.n + chunks - 1) / chunks;
  chunks = (j.g.n + j.chunk - 1) / j.chunk;
  size_t slivers = (j.ckk + j.uk->nr - 1) / j.uk->nr, macs = fb_mul(fb_mul(j.g.n, j.oc), fb_mul(j.ckk, j.p));
  /* padded rows as fb_conv2d where they add at most 1/8 to the columns (measured: LeNet
   * conv1, 28 of 32, and 3x3 on 14 x 14, 14 of 16, 1.4-1.7x; LeNet conv2, 10 of 14, 0.7x) */
  s1_geom sg = s1_geom_of(&j.g);
  int nt, s1 = j.g.sh == 1 && j.g.sw == 1 && j.g.ow < 2 * j.uk->nr && 8 * j.g.ow >= 7 * sg.wp;
  /* the block and its packed transpose: in L2 (blocks of one or two rows in L1 cost more
   * in calls than they save) */
  if (s1) {
    size_t rows = 4 * CV_BLOCK / 2 / fb_mul(fb_mul(slivers, j.uk->nr), sg.wp);
    j.bp = fb_mul(rows ? min_sz(rows, j.g.oh) : 1, sg.wp);
    nt = cv_threads(be, &j, chunks, macs,
                    ceil_to(fb_mul(j.g.c, sg.plane) + sg.wp, 16) +
                        fb_mul(j.ckk + fb_mul(slivers, j.uk->nr) + j.oc, j.bp),
                    fb_mul(chunks, nw));
  } else {
    size_t rows = 4 * CV_BLOCK / 2 / fb_mul(fb_mul(slivers, j.uk->nr), j.g.ow);
    j.bp = fb_mul(rows ? min_sz(rows, j.g.oh) : 1, j.g.ow);
    nt = cv_threads(be, &j, chunks, macs, fb_mul(j.ckk, j.bp) + fb_mul(fb_mul(slivers, j.uk->nr), j.bp), fb_mul(chunks, nw));
  }
  if (nt < 0) return nt;
  fb_team(fb_of(be), nt, 0, s1 ? conv2d_grad_w_s1_thread : conv2d_grad_w_thread, &j);
  for (size_t e = 0; e < nw; e++) {
    float s = j.part[e];
    for (size_t k = 1; k < chunks; k++) s += j.part[k * nw + e];
    j.y[e] = s;
  }
  return 0;
}
