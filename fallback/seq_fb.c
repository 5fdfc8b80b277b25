/* seq_fb.c - sequence ops: batched GEMM (attention's per-head products) and the masked
 * attention softmax. */
#include <math.h>
#include <stdatomic.h>
#include <string.h>

#include "fb.h"

/* ---- batched GEMM -------------------------------------------------------------------- */

typedef struct bgemm_job {
  fb_backend *fb;
  fb_gemm_desc g;            /* batch (0, 0) */
  size_t inner, nb;          /* n4, n3 n4 */
  size_t sa[2], sb[2], sc[2];
  atomic_size_t next;        /* next batch to claim */
} bgemm_job;

static fb_gemm_desc batch_desc(const bgemm_job *J, size_t b)
{
  size_t b1 = b / J->inner, b2 = b % J->inner;
  fb_gemm_desc g = J->g;
  g.a += b1 * J->sa[0] + b2 * J->sa[1];
  g.b += b1 * J->sb[0] + b2 * J->sb[1];
  g.c += b1 * J->sc[0] + b2 * J->sc[1];
  return g;
}

/* Threads claim batches from a counter; each packs into its own buffer (on its stack:
 * the micro-kernels' NR is at most BGEMM_NR). */
#define BGEMM_NR 64
static void bgemm_thread(void *p, int t, int nt)
{
  bgemm_job *J = p;
  _Alignas(64) float buf[384 * BGEMM_NR];
  (void)t, (void)nt;
  for (size_t b; (b = atomic_fetch_add(&J->next, 1)) < J->nb;) {
    fb_gemm_desc g = batch_desc(J, b);
    fb_gemm_serial(J->fb->uk, &g, buf);
  }
}

/* Element count a stored matrix of `rows` x `cols` with row stride ld spans. */
static size_t span(size_t rows, size_t cols, size_t ld) { return rows && cols ? fb_mul(rows - 1, ld) + cols : 0; }

/* Highest element + 1 of any batch of a stored matrix. */
static size_t batch_span(size_t n3, size_t n4, int s1, int s2, size_t one)
{
  if (!one || !n3 || !n4) return 0;
  return fb_mul(n3 - 1, (size_t)s1) + fb_mul(n4 - 1, (size_t)s2) + one;
}

int fb_matmul_batched(nncl_backend *be, const nncl_args *a)
{
  fb_backend *fb = fb_of(be);
  size_t m = a->n[0], n = a->n[1], k = a->n[2], n3 = a->n[3], n4 = a->n[4];
  int ta = a->i[0] != 0, tb = a->i[1] != 0;
  for (int j = 2; j < 8; j++)
    if (a->i[j] < 0) return nncl_err(be->ctx, NNCL_EINVAL, "%s: negative batch stride i%d", __func__, j);
  if (!m || !n || !n3 || !n4) return 0;
  const float *A = NULL, *B = NULL;
  float *C;
  size_t sa = batch_span(n3, n4, a->i[2], a->i[3], ta ? span(k, m, a->n[5]) : span(m, k, a->n[5]));
  size_t sb = batch_span(n3, n4, a->i[4], a->i[5], tb ? span(n, k, a->n[6]) : span(k, n, a->n[6]));
  if (k) {
    FB_PTR(A, 0, sa);
    FB_PTR(B, 1, sb);
  }
  FB_PTR(C, 2, batch_span(n3, n4, a->i[6], a->i[7], span(m, n, a->n[7])));
  if ((ta ? a->n[5] < m : a->n[5] < k) || (tb ? a->n[6] < k : a->n[6] < n) || a->n[7] < n)
    return nncl_err(be->ctx, NNCL_EINVAL, "%s: leading dims %zu %zu %zu too small for %zu x %zu x %zu", __func__,
                    a->n[5], a->n[6], a->n[7], m, n, k);
  bgemm_job J = {.fb = fb, .inner = n4, .nb = n3 * n4};
  atomic_init(&J.next, 0);
  J.g = (fb_gemm_desc){ta, tb, m, n, k, a->f[0], a->f[1], A, B, C, a->n[5], a->n[6], a->n[7]};
  J.sa[0] = (size_t)a->i[2], J.sa[1] = (size_t)a->i[3];
  J.sb[0] = (size_t)a->i[4], J.sb[1] = (size_t)a->i[5];
  J.sc[0] = (size_t)a->i[6], J.sc[1] = (size_t)a->i[7];
  size_t nb = J.nb, work = fb_mul(fb_mul(m, n), k);
  /* few large products: thread inside each; many small ones: thread across them */
  if (nb < (size_t)fb->threads || work >= 4 * fb->gemm_grain) {
    for (size_t b = 0; b < nb; b++) {
      fb_gemm_desc g = batch_desc(&J, b);
      int st = fb_gemm_own(fb, &g);
      if (st) return st;
    }
    return 0;
  }
  if (FB_GEMM_SERIAL_WS(fb->uk) > 384 * BGEMM_NR)
    return nncl_err(be->ctx, NNCL_EUNSUPPORTED, "%s: micro-kernel NR %zu > %d", __func__, fb->uk->nr, BGEMM_NR);
  /* no barrier: a second thread pays from far less work than in one GEMM */
  fb_team(fb, fb_threads_for(fb, fb_mul(work, nb), fb->gemm_grain / 8), 0, bgemm_thread, &J);
  return 0;
}

/* ---- attention softmax ---------------------------------------------------------------- */

typedef struct asm_job {
  const float *x, *mask;
  float *y;
  size_t tk, tq, per, ms_k, ms_s;
  float scale, pad;
  int causal, mode;
} asm_job;

/* Keys [0, lim) are candidates (causal: k <= q); a padded one is masked too. */
static int key_padded(const asm_job *j, size_t s, size_t k)
{
  if (!j->mode) return 0;
  float v = j->mask[s * j->ms_s + k * j->ms_k];
  return j->mode == 1 ? v != 0.0f : v == j->pad;
}

/* exp(x) for x <= 0 (Cephes' expf: x = n ln2 + r, |r| <= ln2/2, degree-5 polynomial,
 * within 2 ulp; about 1e-38 below -87.3): plain arithmetic, so the loops below vectorize,
 * where libm's expf is a call per element. The clamp to -87.3 is an unsigned min on the
 * bits (for x <= 0 a larger pattern is a larger magnitude): GCC does not if-convert float
 * selects. */
static inline float exp_nonpos(float in)
{
  uint32_t bx, lo = 0xc2ae999au; /* -87.3f */
  memcpy(&bx, &in, 4);
  /* NaN: computed from 0 (converting NaN to an integer is undefined), then NaN out */
  uint32_t nan = (bx & 0x7fffffffu) > 0x7f800000u ? 0xffffffffu : 0u, cx = bx & ~nan;
  cx = cx < lo ? cx : lo;
  float x;
  memcpy(&x, &cx, 4);
  int32_t ni = (int32_t)(x * 1.44269504088896341f - 0.5f); /* nearest, as x <= 0 */
  float n = (float)ni;
  float r = x - n * 0.693359375f + n * 2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  int32_t e = (ni + 127) * (1 << 23);
  float s;
  memcpy(&s, &e, 4);
  float y = p * s;
  uint32_t by;
  memcpy(&by, &y, 4);
  by = (by & ~nan) | (bx & nan);
  memcpy(&y, &by, 4);
  return y;
}

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
__attribute__((target_clones("avx512f", "avx2", "default")))
#endif
static void attn_softmax_range(void *p, size_t lo, size_t hi)
{
  const asm_job *j = p;
  const size_t n = j->tk, per = j->per, tq = j->tq;
  const float sc = j->scale;
  const int causal = j->causal, mode = j->mode;
  for (size_t r = lo; r < hi; r++) {
    const float *restrict x = j->x + r * n;
    float *restrict y = j->y + r * n;
    size_t s = r / per, q = r % tq, lim = causal && q + 1 < n ? q + 1 : n;
    float mx = -INFINITY;
    if (mode) {
      for (size_t c = 0; c < lim; c++)
        if (!key_padded(j, s, c) && sc * x[c] > mx) mx = sc * x[c];
    } else {
      for (size_t c = 0; c < lim; c++) mx = sc * x[c] > mx ? sc * x[c] : mx;
    }
    if (mx == -INFINITY) lim = 0; /* every key masked: the row is 0 */
    for (size_t c = 0; c < lim; c++) y[c] = exp_nonpos(sc * x[c] - mx);
    for (size_t c = 0; mode && c < lim; c++)
      if (key_padded(j, s, c)) y[c] = 0.0f;
    float sum = 0;
    for (size_t c = 0; c < lim; c++) sum += y[c];
    for (size_t c = lim; c < n; c++) y[c] = 0.0f;
    float inv = sum > 0 ? 1.0f / sum : 0.0f;
    for (size_t c = 0; c < lim; c++) y[c] *= inv;
  }
}

int fb_attn_softmax(nncl_backend *be, const nncl_args *a)
{
  size_t rows = a->n[0], cols = a->n[1], total = fb_mul(rows, cols);
  asm_job j = {.tk = cols, .tq = a->n[2], .per = a->n[3], .ms_k = a->n[4], .ms_s = a->n[5],
               .scale = a->f[0], .pad = a->f[1], .causal = a->i[0] != 0, .mode = a->i[1]};
  if (!rows || !cols) return 0;
  if (!j.tq || !j.per || j.per % j.tq || j.mode < 0 || j.mode > 2)
    return nncl_err(be->ctx, NNCL_EINVAL, "%s: Tq %zu, rows per sample %zu, mask mode %d", __func__, j.tq, j.per, j.mode);
  FB_PTR(j.x, 0, total);
  FB_PTR(j.y, 1, total);
  if (j.mode) FB_PTR(j.mask, 2, fb_mul((rows - 1) / j.per, j.ms_s) + fb_mul(cols - 1, j.ms_k) + 1);
  fb_parallel(fb_of(be), rows, FB_GRAIN_MATH / cols + 1, 1, attn_softmax_range, &j);
  return 0;
}
