/* rnn_fb.c - embedding lookup and its gradient, fused RNN / LSTM / GRU cells and their
 * gradients. Formulas: ops.def. Cells split rows over threads only when a step is large:
 * a recurrent layer runs them once per time step on small batches, where waking a
 * second thread costs more than the step. exp is a branch-free polynomial (Cephes
 * expf: relative error below 2 ulp over the clamped range) so the loops vectorize; each
 * loop has AVX-512 and AVX2 clones chosen at run time. */
#include <math.h>
#include <string.h>

#include "fb.h"

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define FB_CLONES __attribute__((target_clones("avx512f", "arch=haswell", "default")))
#else
#define FB_CLONES
#endif

/* e^x for x clamped to [-87, 88]: 2^n p(r), n = round(x / ln 2), r = x - n ln 2. */
static inline float vexp(float x)
{
  x = fminf(fmaxf(x, -87.0f), 88.0f);
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
  int32_t e = ((int32_t)n + 127) << 23;
  float s;
  memcpy(&s, &e, sizeof s);
  return p * s;
}

static inline float vsigmoid(float x) { return 1.0f / (1.0f + vexp(-x)); }

/* tanh(x) = sign(x) (1 - e) / (1 + e), e = exp(-2|x|) */
static inline float vtanh(float x)
{
  float e = vexp(-2.0f * fabsf(x)), t = (1.0f - e) / (1.0f + e);
  return x < 0 ? -t : t;
}

/* Rows per thread below which a second thread does not pay, for rows of w floats each
 * costing about `cost` transcendentals. */
static size_t row_grain(size_t w, size_t cost) { return ((size_t)1 << 15) / (w * cost + 1) + 1; }

/* ---- embedding ------------------------------------------------------------------------ */

/* The row of id, or -1 for padding and invalid ids (*bad set for invalid ones). */
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
    long v = emb_row(j->ids[k], j->vocab, j->pad, &bad);
    float *y = j->y + k * j->dim;
    if (v < 0) memset(y, 0, j->dim * sizeof *y);
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
      for (size_t c = 0; c < H; c++) h[c] = fmaxf(pre[c] + bi[c] + bh[c], 0.0f);
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

FB_CLONES static void lstm_rows(void *p, size_t lo, size_t hi)
{
  const cell_job *j = p;
  size_t H = j->h;
  const float *bi = j->t[1], *bh = j->t[2];
  for (size_t r = lo; r < hi; r++) {
    float *g = j->o[0] + r * 4 * H, *c = j->o[4] + r * H, *h = j->o[5] + r * H;
    const float *cp = j->t[3] + r * H;
    for (size_t k = 0; k < H; k++) {
      float ig = vsigmoid(g[k] + bi[k] + bh[k]);
      float fg = vsigmoid(g[H + k] + bi[H + k] + bh[H + k]);
      float gg = vtanh(g[2 * H + k] + bi[2 * H + k] + bh[2 * H + k]);
      float og = vsigmoid(g[3 * H + k] + bi[3 * H + k] + bh[3 * H + k]);
      float cn = fg * cp[k] + ig * gg;
      g[k] = ig, g[H + k] = fg, g[2 * H + k] = gg, g[3 * H + k] = og;
      c[k] = cn;
      h[k] = og * vtanh(cn);
    }
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

FB_CLONES static void lstm_grad_rows(void *p, size_t lo, size_t hi)
{
  const cell_job *j = p;
  size_t H = j->h;
  for (size_t r = lo; r < hi; r++) {
    const float *g = j->t[0] + r * 4 * H, *cp = j->t[1] + r * H, *c = j->t[2] + r * H, *dh = j->t[3] + r * H;
    float *dc = j->o[4] + r * H, *dg = j->o[5] + r * 4 * H;
    for (size_t k = 0; k < H; k++) {
      float ig = g[k], fg = g[H + k], gg = g[2 * H + k], og = g[3 * H + k];
      float tc = vtanh(c[k]), dct = dc[k] + dh[k] * og * (1.0f - tc * tc);
      dg[k] = dct * gg * ig * (1.0f - ig);
      dg[H + k] = dct * cp[k] * fg * (1.0f - fg);
      dg[2 * H + k] = dct * ig * (1.0f - gg * gg);
      dg[3 * H + k] = dh[k] * tc * og * (1.0f - og);
      dc[k] = dct * fg;
    }
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
  fb_parallel(fb_of(be), N, row_grain(H, 1), 1, lstm_grad_rows, &j);
  return 0;
}

FB_CLONES static void gru_rows(void *p, size_t lo, size_t hi)
{
  const cell_job *j = p;
  size_t H = j->h;
  const float *bi = j->t[2], *bh = j->t[3];
  for (size_t r = lo; r < hi; r++) {
    float *xg = j->o[0] + r * 3 * H, *h = j->o[5] + r * H, *hn = j->o[6] + r * H;
    const float *hg = j->t[1] + r * 3 * H, *hp = j->t[4] + r * H;
    for (size_t k = 0; k < H; k++) {
      float rg = vsigmoid(xg[k] + bi[k] + hg[k] + bh[k]);
      float zg = vsigmoid(xg[H + k] + bi[H + k] + hg[H + k] + bh[H + k]);
      float hnk = hg[2 * H + k] + bh[2 * H + k];
      float ng = vtanh(xg[2 * H + k] + bi[2 * H + k] + rg * hnk);
      xg[k] = rg, xg[H + k] = zg, xg[2 * H + k] = ng;
      hn[k] = hnk;
      h[k] = (1.0f - zg) * ng + zg * hp[k];
    }
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

FB_CLONES static void gru_grad_rows(void *p, size_t lo, size_t hi)
{
  const cell_job *j = p;
  size_t H = j->h;
  for (size_t r = lo; r < hi; r++) {
    const float *g = j->t[0] + r * 3 * H, *hn = j->t[1] + r * H, *hp = j->t[2] + r * H, *dh = j->t[3] + r * H;
    float *dx = j->o[4] + r * 3 * H, *dhg = j->o[5] + r * 3 * H, *dhp = j->o[6] + r * H;
    for (size_t k = 0; k < H; k++) {
      float rg = g[k], zg = g[H + k], ng = g[2 * H + k], d = dh[k];
      float dn = d * (1.0f - zg) * (1.0f - ng * ng);
      float dr = dn * hn[k] * rg * (1.0f - rg);
      float dz = d * (hp[k] - ng) * zg * (1.0f - zg);
      dx[k] = dr, dx[H + k] = dz, dx[2 * H + k] = dn;
      dhg[k] = dr, dhg[H + k] = dz, dhg[2 * H + k] = dn * rg;
      dhp[k] = d * zg;
    }
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
