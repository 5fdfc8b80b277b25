/* rnn_fb.c - embedding lookup and its gradient, fused RNN / LSTM / GRU cells and their
 * gradients. Formulas: ops.def. Cells split rows over threads (row_grain). exp and tanh
 * are branch-free polynomials (Cephes expf and tanhf: relative error below 2 ulp) so the
 * loops vectorize; each loop has AVX-512 and AVX2 clones chosen at run time. */
#include <math.h>
#include <string.h>

#include "fb.h"

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define FB_CLONES __attribute__((target_clones("avx512f", "arch=haswell", "default")))
#else
#define FB_CLONES
#endif
/* Row loops are inlined into each clone, so each is compiled for the clone's ISA. */
#define FB_INLINE inline __attribute__((always_inline))

/* e^x for x clamped to [-87, 88]: 2^n p(r), n = round(x / ln 2), r = x - n ln 2. NaN
 * gives NaN (the training loop's guard looks for it); the integer part is computed from a
 * finite stand-in, as converting NaN to an integer is undefined. */
static inline float vexp(float in)
{
  float x = in > -87.0f ? in : -87.0f; /* ternaries, not fminf: GCC vectorizes these without fast-math */
  x = x > 88.0f ? 88.0f : x;
  float n = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f; /* round to nearest */
  float r = x - n * 0.693359375f;
  r = r + n * 2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  union {
    int32_t i;
    float f;
  } s; /* a union, not memcpy: GCC vectorizes this form */
  s.i = ((int32_t)n + 127) * (1 << 23); /* n + 127 in [2, 255]: a product, not a shift of an int */
  return in == in ? p * s.f : in;
}

static inline float vsigmoid(float x) { return 1.0f / (1.0f + vexp(-x)); }

/* tanh as Cephes tanhf (within 2 ulp): for |x| < 0.625 the odd polynomial
 * x + x^3 P(x^2), else sign(x) (1 - e) / (1 + e), e = exp(-2|x|). The second alone loses
 * most of its digits to the cancellation in 1 - e near 0 (10^5 ulp at |x| = 1e-6, 10^2 at
 * 1e-3); both are computed and one is selected, so the loop still vectorizes. */
static inline float vtanh(float x)
{
  float z = x * x, ax = fabsf(x);
  float p = -5.70498872745e-3f;
  p = p * z + 2.06390887954e-2f;
  p = p * z - 5.37397155531e-2f;
  p = p * z + 1.33314422036e-1f;
  p = p * z - 3.33332819422e-1f;
  float e = vexp(-2.0f * ax), big = copysignf((1.0f - e) / (1.0f + e), x);
  return ax < 0.625f ? x + x * z * p : big;
}

/* Rows per thread below which a second thread does not pay, for rows of w floats each
 * costing about `cost` transcendentals: some 8K of those per thread (a few microseconds;
 * the pool's workers still spin from the step's GEMM, so waking them costs less). */
static size_t row_grain(size_t w, size_t cost) { return ((size_t)1 << 13) / (w * cost + 1) + 1; }

/* ---- embedding ------------------------------------------------------------------------ */

/* The row of id, or -1 for invalid ids (*bad set) and, when pad >= 0, for id == pad. */
static inline long emb_row(float id, size_t vocab, int pad, int *bad)
{
  if (!(id >= 0.0f && id < (float)vocab) || id != floorf(id)) {
    *bad = 1;
    return -1;
  }
  long v = (long)id;
  return v == pad ? -1 : v;
}

typedef struct emb_job {
  const float *ids, *w, *dy;
  float *y;
  size_t n, vocab, dim;
  int pad, bad;
} emb_job;

static void emb_range(void *p, size_t lo, size_t hi)
{
  emb_job *j = p;
  int bad = 0;
  for (size_t k = lo; k < hi; k++) {
    long v = emb_row(j->ids[k], j->vocab, -1, &bad);
    float *y = j->y + k * j->dim;
    if (v < 0)
      for (size_t c = 0; c < j->dim; c++) y[c] = NAN;
    else memcpy(y, j->w + (size_t)v * j->dim, j->dim * sizeof *y);
  }
  if (bad) __atomic_store_n(&j->bad, 1, __ATOMIC_RELAXED);
}

int fb_embedding(nncl_backend *be, const nncl_args *a)
{
  emb_job j = {.n = a->n[0], .vocab = a->n[1], .dim = a->n[2], .pad = a->i[0]};
  float *flag;
  FB_PTR(j.ids, 0, j.n);
  FB_PTR(j.w, 1, fb_mul(j.vocab, j.dim));
  FB_PTR(j.y, 2, fb_mul(j.n, j.dim));
  FB_PTR(flag, 3, 1);
  fb_parallel(fb_of(be), j.n, FB_GRAIN_MEM / (j.dim + 1) + 1, 1, emb_range, &j);
  if (j.bad) *flag = 1.0f;
  return 0;
}

/* dW columns [lo, hi) over all tokens in order: every thread owns whole columns. */
static void emb_grad_range(void *p, size_t lo, size_t hi)
{
  emb_job *j = p;
  int bad = 0;
  for (size_t v = 0; v < j->vocab; v++) memset(j->y + v * j->dim + lo, 0, (hi - lo) * sizeof(float));
  for (size_t k = 0; k < j->n; k++) {
    long v = emb_row(j->ids[k], j->vocab, j->pad, &bad);
    if (v < 0) continue;
    float *restrict dw = j->y + (size_t)v * j->dim;
    const float *restrict dy = j->dy + k * j->dim;
    for (size_t c = lo; c < hi; c++) dw[c] += dy[c];
  }
}

int fb_embedding_grad(nncl_backend *be, const nncl_args *a)
{
  emb_job j = {.n = a->n[0], .vocab = a->n[1], .dim = a->n[2], .pad = a->i[0]};
  FB_PTR(j.ids, 0, j.n);
  FB_PTR(j.dy, 1, fb_mul(j.n, j.dim));
  FB_PTR(j.y, 2, fb_mul(j.vocab, j.dim));
  fb_parallel(fb_of(be), j.dim, FB_GRAIN_MEM / (j.n + j.vocab + 1) + 1, 16, emb_grad_range, &j);
  return 0;
}

/* ---- cells ------------------------------------------------------------------------------ */

typedef struct cell_job {
  const float *t[8];
  float *o[8];
  size_t h;
  int act;
} cell_job;

/* h = act(pre + b_ih + b_hh) */
FB_CLONES static void rnn_rows(void *p, size_t lo, size_t hi)
{
  const cell_job *j = p;
  size_t H = j->h;
  const float *bi = j->t[1], *bh = j->t[2];
  for (size_t r = lo; r < hi; r++) {
    const float *pre = j->t[0] + r * H;
    float *h = j->o[3] + r * H;
    if (j->act)
      for (size_t c = 0; c < H; c++) {
        float v = pre[c] + bi[c] + bh[c];
        h[c] = v > 0.0f ? v : 0.0f;
      }
    else
      for (size_t c = 0; c < H; c++) h[c] = vtanh(pre[c] + bi[c] + bh[c]);
  }
}

int fb_rnn_cell(nncl_backend *be, const nncl_args *a)
{
  size_t N = a->n[0], H = a->n[1], n = fb_mul(N, H);
  cell_job j = {.h = H, .act = a->i[0]};
  FB_PTR(j.t[0], 0, n);
  FB_PTR(j.t[1], 1, H);
  FB_PTR(j.t[2], 2, H);
  FB_PTR(j.o[3], 3, n);
  fb_parallel(fb_of(be), N, row_grain(H, 1), 1, rnn_rows, &j);
  return 0;
}

/* The row functions take every array as its own restrict pointer (gate blocks
 * included): GCC vectorizes these loops only in that form. */
FB_INLINE static void lstm_row(size_t H, float *restrict gi, float *restrict gf, float *restrict gg, float *restrict go,
                            const float *restrict b1, const float *restrict b2, const float *restrict cp, float *restrict c,
                            float *restrict h)
{
  const float *restrict b1f = b1 + H, *restrict b1g = b1 + 2 * H, *restrict b1o = b1 + 3 * H;
  const float *restrict b2f = b2 + H, *restrict b2g = b2 + 2 * H, *restrict b2o = b2 + 3 * H;
  for (size_t k = 0; k < H; k++) {
    float i = vsigmoid(gi[k] + b1[k] + b2[k]);
    float f = vsigmoid(gf[k] + b1f[k] + b2f[k]);
    float g = vtanh(gg[k] + b1g[k] + b2g[k]);
    float o = vsigmoid(go[k] + b1o[k] + b2o[k]);
    float cn = f * cp[k] + i * g;
    gi[k] = i, gf[k] = f, gg[k] = g, go[k] = o;
    c[k] = cn;
    h[k] = o * vtanh(cn);
  }
}

FB_CLONES static void lstm_rows(void *p, size_t lo, size_t hi)
{
  const cell_job *j = p;
  size_t H = j->h;
  for (size_t r = lo; r < hi; r++) {
    float *g = j->o[0] + r * 4 * H;
    lstm_row(H, g, g + H, g + 2 * H, g + 3 * H, j->t[1], j->t[2], j->t[3] + r * H, j->o[4] + r * H, j->o[5] + r * H);
  }
}

int fb_lstm_cell(nncl_backend *be, const nncl_args *a)
{
  size_t N = a->n[0], H = a->n[1], n = fb_mul(N, H);
  cell_job j = {.h = H};
  FB_PTR(j.o[0], 0, fb_mul(n, 4));
  FB_PTR(j.t[1], 1, fb_mul(H, 4));
  FB_PTR(j.t[2], 2, fb_mul(H, 4));
  FB_PTR(j.t[3], 3, n);
  FB_PTR(j.o[4], 4, n);
  FB_PTR(j.o[5], 5, n);
  fb_parallel(fb_of(be), N, row_grain(H, 5), 1, lstm_rows, &j);
  return 0;
}

/* dg may alias g: each element is read before its slot is written, and the pointers to
 * the two are never both dereferenced for the same slot in one iteration out of order. */
FB_INLINE static void lstm_grad_row(size_t H, const float *restrict gi, const float *restrict gf, const float *restrict gg,
                                 const float *restrict go, const float *restrict cp, const float *restrict c,
                                 const float *restrict dh, float *restrict dc, float *restrict di, float *restrict df,
                                 float *restrict dg, float *restrict dout)
{
  for (size_t k = 0; k < H; k++) {
    float i = gi[k], f = gf[k], g = gg[k], o = go[k];
    float tc = vtanh(c[k]), dct = dc[k] + dh[k] * o * (1.0f - tc * tc);
    di[k] = dct * g * i * (1.0f - i);
    df[k] = dct * cp[k] * f * (1.0f - f);
    dg[k] = dct * i * (1.0f - g * g);
    dout[k] = dh[k] * tc * o * (1.0f - o);
    dc[k] = dct * f;
  }
}

FB_CLONES static void lstm_grad_rows(void *p, size_t lo, size_t hi)
{
  const cell_job *j = p;
  size_t H = j->h;
  for (size_t r = lo; r < hi; r++) {
    const float *g = j->t[0] + r * 4 * H;
    float *d = j->o[5] + r * 4 * H;
    lstm_grad_row(H, g, g + H, g + 2 * H, g + 3 * H, j->t[1] + r * H, j->t[2] + r * H, j->t[3] + r * H, j->o[4] + r * H, d,
                  d + H, d + 2 * H, d + 3 * H);
  }
}

int fb_lstm_cell_grad(nncl_backend *be, const nncl_args *a)
{
  size_t N = a->n[0], H = a->n[1], n = fb_mul(N, H);
  cell_job j = {.h = H};
  FB_PTR(j.t[0], 0, fb_mul(n, 4));
  FB_PTR(j.t[1], 1, n);
  FB_PTR(j.t[2], 2, n);
  FB_PTR(j.t[3], 3, n);
  FB_PTR(j.o[4], 4, n);
  FB_PTR(j.o[5], 5, fb_mul(n, 4));
  fb_parallel(fb_of(be), N, row_grain(H, 2), 1, lstm_grad_rows, &j);
  return 0;
}

FB_INLINE static void gru_row(size_t H, float *restrict xr, float *restrict xz, float *restrict xn, const float *restrict hr,
                           const float *restrict hz, const float *restrict hh, const float *restrict b1, const float *restrict b2,
                           const float *restrict hp, float *restrict h, float *restrict hn)
{
  const float *restrict b1z = b1 + H, *restrict b1n = b1 + 2 * H, *restrict b2z = b2 + H, *restrict b2n = b2 + 2 * H;
  for (size_t k = 0; k < H; k++) {
    float rg = vsigmoid(xr[k] + b1[k] + hr[k] + b2[k]);
    float zg = vsigmoid(xz[k] + b1z[k] + hz[k] + b2z[k]);
    float hnk = hh[k] + b2n[k];
    float ng = vtanh(xn[k] + b1n[k] + rg * hnk);
    xr[k] = rg, xz[k] = zg, xn[k] = ng;
    hn[k] = hnk;
    h[k] = (1.0f - zg) * ng + zg * hp[k];
  }
}

FB_CLONES static void gru_rows(void *p, size_t lo, size_t hi)
{
  const cell_job *j = p;
  size_t H = j->h;
  for (size_t r = lo; r < hi; r++) {
    float *x = j->o[0] + r * 3 * H;
    const float *hg = j->t[1] + r * 3 * H;
    gru_row(H, x, x + H, x + 2 * H, hg, hg + H, hg + 2 * H, j->t[2], j->t[3], j->t[4] + r * H, j->o[5] + r * H, j->o[6] + r * H);
  }
}

int fb_gru_cell(nncl_backend *be, const nncl_args *a)
{
  size_t N = a->n[0], H = a->n[1], n = fb_mul(N, H);
  cell_job j = {.h = H};
  FB_PTR(j.o[0], 0, fb_mul(n, 3));
  FB_PTR(j.t[1], 1, fb_mul(n, 3));
  FB_PTR(j.t[2], 2, fb_mul(H, 3));
  FB_PTR(j.t[3], 3, fb_mul(H, 3));
  FB_PTR(j.t[4], 4, n);
  FB_PTR(j.o[5], 5, n);
  FB_PTR(j.o[6], 6, n);
  fb_parallel(fb_of(be), N, row_grain(H, 3), 1, gru_rows, &j);
  return 0;
}

FB_INLINE static void gru_grad_row(size_t H, const float *restrict gr, const float *restrict gz, const float *restrict gn,
                                const float *restrict hn, const float *restrict hp, const float *restrict dh,
                                float *restrict dxr, float *restrict dxz, float *restrict dxn,
                                float *restrict hr, float *restrict hz, float *restrict hh, float *restrict dhp)
{
  for (size_t k = 0; k < H; k++) {
    float rg = gr[k], zg = gz[k], ng = gn[k], d = dh[k];
    float dn = d * (1.0f - zg) * (1.0f - ng * ng);
    float dr = dn * hn[k] * rg * (1.0f - rg);
    float dz = d * (hp[k] - ng) * zg * (1.0f - zg);
    dxr[k] = dr, dxz[k] = dz, dxn[k] = dn;
    hr[k] = dr, hz[k] = dz, hh[k] = dn * rg;
    dhp[k] = d * zg;
  }
}

FB_CLONES static void gru_grad_rows(void *p, size_t lo, size_t hi)
{
  const cell_job *j = p;
  size_t H = j->h;
  for (size_t r = lo; r < hi; r++) {
    const float *g = j->t[0] + r * 3 * H;
    float *dx = j->o[4] + r * 3 * H, *dhg = j->o[5] + r * 3 * H;
    gru_grad_row(H, g, g + H, g + 2 * H, j->t[1] + r * H, j->t[2] + r * H, j->t[3] + r * H, dx, dx + H, dx + 2 * H, dhg, dhg + H,
                 dhg + 2 * H, j->o[6] + r * H);
  }
}

int fb_gru_cell_grad(nncl_backend *be, const nncl_args *a)
{
  size_t N = a->n[0], H = a->n[1], n = fb_mul(N, H);
  cell_job j = {.h = H};
  FB_PTR(j.t[0], 0, fb_mul(n, 3));
  FB_PTR(j.t[1], 1, n);
  FB_PTR(j.t[2], 2, n);
  FB_PTR(j.t[3], 3, n);
  FB_PTR(j.o[4], 4, fb_mul(n, 3));
  FB_PTR(j.o[5], 5, fb_mul(n, 3));
  FB_PTR(j.o[6], 6, n);
  fb_parallel(fb_of(be), N, row_grain(H, 1), 1, gru_grad_rows, &j);
  return 0;
}
