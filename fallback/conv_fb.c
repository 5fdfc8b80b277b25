/* conv_fb.c - the ops a convolution is lowered to: im2col, col2im, transpose_ab,
 * ch_bias_add, ch_sum, and copy2d (channel concat). Geometry and formulas: ops.def.
 * Every output element is computed by one thread in a fixed order, so results do not
 * depend on the thread count. */
#include <limits.h>
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

/* Units u = row * N + n: the OH*OW entries of col row `row` for image n. */
static void im2col_range(void *p, size_t lo, size_t hi)
{
  const conv_job *j = p;
  const conv_geom *g = &j->g;
  size_t ohw = g->oh * g->ow, plane = g->h * g->w;
  long ow = (long)g->ow;
  for (size_t u = lo; u < hi; u++) {
    size_t row = u / g->n, n = u % g->n;
    long kj = (long)(row % (size_t)g->kw), ki = (long)(row / (size_t)g->kw % (size_t)g->kh);
    size_t c = row / (size_t)(g->kh * g->kw);
    const float *restrict x = j->x + (n * g->cx + c) * plane;
    float *restrict dst = j->y + row * g->n * ohw + n * ohw;
    long off = kj * g->dw - g->pl, w0, w1, h0, h1;
    valid_range(off, g->sw, (long)g->w, ow, &w0, &w1);
    valid_range(ki * g->dh - g->pt, g->sh, (long)g->h, (long)g->oh, &h0, &h1);
    memset(dst, 0, (size_t)h0 * g->ow * sizeof *dst);
    /* rows are short (OW is often 5-30): plain loops beat memcpy calls */
    for (long oh = h0; oh < h1; oh++) {
      const float *restrict xr = x + (size_t)(oh * g->sh + ki * g->dh - g->pt) * g->w + off;
      float *restrict d = dst + (size_t)oh * g->ow;
      for (long o = 0; o < w0; o++) d[o] = 0.0f;
      if (g->sw == 1)
        for (long o = w0; o < w1; o++) d[o] = xr[o];
      else
        for (long o = w0; o < w1; o++) d[o] = xr[o * g->sw];
      for (long o = w1; o < ow; o++) d[o] = 0.0f;
    }
    memset(dst + (size_t)h1 * g->ow, 0, ((size_t)g->oh - (size_t)h1) * g->ow * sizeof *dst);
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

/* Units: planes (n, c) of dx; each plane sums its col entries in (ki, kj) order. */
static void col2im_range(void *p, size_t lo, size_t hi)
{
  const conv_job *j = p;
  const conv_geom *g = &j->g;
  size_t ohw = g->oh * g->ow, plane = g->h * g->w, np = g->n * ohw;
  for (size_t u = lo; u < hi; u++) {
    size_t n = u / g->c, c = u % g->c;
    float *restrict d = j->y + (n * g->cx + c) * plane;
    memset(d, 0, plane * sizeof *d);
    for (long ki = 0; ki < g->kh; ki++)
      for (long kj = 0; kj < g->kw; kj++) {
        const float *restrict src = j->x + ((c * (size_t)g->kh + (size_t)ki) * (size_t)g->kw + (size_t)kj) * np + n * ohw;
        long off = kj * g->dw - g->pl, hoff = ki * g->dh - g->pt, w0, w1, h0, h1;
        valid_range(off, g->sw, (long)g->w, (long)g->ow, &w0, &w1);
        valid_range(hoff, g->sh, (long)g->h, (long)g->oh, &h0, &h1);
        for (long oh = h0; oh < h1; oh++) {
          float *restrict dr = d + (size_t)(oh * g->sh + hoff) * g->w;
          const float *restrict sr = src + (size_t)oh * g->ow;
          if (g->sw == 1)
            for (long o = w0; o < w1; o++) dr[o + off] += sr[o];
          else
            for (long o = w0; o < w1; o++) dr[o * g->sw + off] += sr[o];
        }
      }
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
