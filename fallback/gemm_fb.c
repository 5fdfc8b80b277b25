/* gemm_fb.c - own SGEMM (GotoBLAS/BLIS structure) and the MATMUL op.
 *
 * for jc (NC columns of C):  for pc (KC of depth):
 *   pack the B panel (kc x nc) into NR-wide slivers (or read B's rows in place)
 *   for ir (MR rows):  for jr (NR columns):  micro-kernel on an MR x NR tile of C
 * A is read in place by the micro-kernel's broadcasts (packing it measured no faster here).
 * Threads pack the panel together and split the tiles; every element of C is computed by
 * the same sequence of operations whatever the thread count, so results are identical. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "fb.h"

/* Blocking (floats): an A sliver (MR x KC) stays in L1, the B panel (KC x NC) in L2. */
#define GEMM_KC 384
#define GEMM_NC 1024
/* Below this many rows of C the B panel is read in place: packing would not pay. */
#define GEMM_PACK_ROWS 256

typedef struct gemm_job {
  const fb_gemm_desc *g;
  const fb_ukernel *uk;
  float *bp;
  size_t kc, nc;
  int pack_b;   /* else B's rows are read in place (a partial last sliver is still packed) */
} gemm_job;

static size_t min_sz(size_t a, size_t b) { return a < b ? a : b; }
static size_t ceil_div(size_t a, size_t b) { return (a + b - 1) / b; }

/* Packs slivers [s0, s1) of op(B)[pc..pc+kc, jc..) from bp on: sliver s holds columns
 * jc + s*nr .. as Bp[p][j], zero-padded to nr columns. */
static void pack_b(const fb_gemm_desc *g, size_t nr, size_t jc, size_t ncur, size_t pc,
                   size_t kc, float *bp, size_t s0, size_t s1)
{
  for (size_t s = s0; s < s1; s++) {
    float *restrict dst = bp + (s - s0) * nr * kc;
    size_t j0 = jc + s * nr, cols = min_sz(nr, jc + ncur - j0);
    if (!g->tb) {
      for (size_t p = 0; p < kc; p++) {
        const float *restrict src = g->b + (pc + p) * g->ldb + j0;
        float *restrict d = dst + p * nr;
        for (size_t j = 0; j < cols; j++) d[j] = src[j];
        for (size_t j = cols; j < nr; j++) d[j] = 0.0f;
      }
    } else {
      /* Transpose in chunks of 64 rows of the sliver so the writes stay in L1. */
      for (size_t p0 = 0; p0 < kc; p0 += 64) {
        size_t p1 = min_sz(p0 + 64, kc);
        for (size_t j = 0; j < cols; j++) {
          const float *restrict src = g->b + (j0 + j) * g->ldb + pc;
          for (size_t p = p0; p < p1; p++) dst[p * nr + j] = src[p];
        }
        for (size_t j = cols; j < nr; j++)
          for (size_t p = p0; p < p1; p++) dst[p * nr + j] = 0.0f;
      }
    }
  }
}

static void gemm_thread(void *arg, int t, int nt)
{
  const gemm_job *J = arg;
  const fb_gemm_desc *g = J->g;
  const size_t mr = J->uk->mr, nr = J->uk->nr, T = (size_t)t, NT = (size_t)nt;
  const size_t mi = ceil_div(g->m, mr);
  /* A(i, p) = a[i rsa + p csa] */
  const size_t rsa = g->ta ? 1 : g->lda, csa = g->ta ? g->lda : 1;
  for (size_t jc = 0; jc < g->n; jc += J->nc) {
    size_t ncur = min_sz(J->nc, g->n - jc), nj = ceil_div(ncur, nr);
    /* Slivers from `edge` on come from the packed panel. */
    size_t edge = J->pack_b ? 0 : ncur % nr ? nj - 1 : nj;
    for (size_t pc = 0; pc < g->k; pc += J->kc) {
      size_t kc = min_sz(J->kc, g->k - pc);
      float beta = pc ? 1.0f : g->beta;
      size_t s0 = edge + (nj - edge) * T / NT, s1 = edge + (nj - edge) * (T + 1) / NT;
      pack_b(g, nr, jc, ncur, pc, kc, J->bp + (s0 - edge) * nr * kc, s0, s1);
      if (NT > 1) fb_barrier();
      /* Split the tile grid along columns when there are enough, else along rows. */
      size_t i0 = 0, i1 = mi, j0 = 0, j1 = nj;
      if (nj >= NT * 2 || nj >= mi) {
        j0 = nj * T / NT;
        j1 = nj * (T + 1) / NT;
      } else {
        i0 = mi * T / NT;
        i1 = mi * (T + 1) / NT;
      }
      for (size_t ir = i0; ir < i1; ir++) {
        size_t i = ir * mr;
        const float *a = g->ta ? g->a + pc * g->lda + i : g->a + i * g->lda + pc;
        for (size_t jr = j0; jr < j1; jr++) {
          size_t j = jc + jr * nr;
          const float *b = jr >= edge ? J->bp + (jr - edge) * nr * kc : g->b + pc * g->ldb + j;
          J->uk->fn(kc, a, rsa, csa, b, jr >= edge ? nr : g->ldb, g->c + i * g->ldc + j, g->ldc,
                    g->alpha, beta, min_sz(mr, g->m - i), min_sz(nr, g->n - j));
        }
      }
      if (NT > 1) fb_barrier();
    }
  }
}

int fb_gemm_trivial(const fb_gemm_desc *g)
{
  if (g->m == 0 || g->n == 0) return 1;
  if (g->k != 0 && g->alpha != 0.0f) return 0;
  for (size_t i = 0; i < g->m; i++) {
    float *c = g->c + i * g->ldc;
    if (g->beta == 0.0f)
      memset(c, 0, g->n * sizeof *c);
    else
      for (size_t j = 0; j < g->n; j++) c[j] *= g->beta;
  }
  return 1;
}

/* Grows fb's workspace to hold `floats` (64-byte aligned). */
static int gemm_ws(fb_backend *fb, size_t floats)
{
  if (fb->ws_floats >= floats) return 0;
  free(fb->ws);
  fb->ws_floats = 0;
  fb->ws = aligned_alloc(64, (floats * sizeof(float) + 63) / 64 * 64);
  if (!fb->ws)
    return nncl_err(fb->base.ctx, NNCL_ENOMEM, "c: out of memory for a %zu-float GEMM workspace",
                    floats);
  fb->ws_floats = floats;
  return 0;
}

/* Splits `total` into equal blocks of at most `most`, rounded up to a multiple of `unit`. */
static size_t block_size(size_t total, size_t most, size_t unit)
{
  size_t b = ceil_div(total, ceil_div(total, most));
  return ceil_div(b, unit) * unit;
}

int fb_gemm_own(fb_backend *fb, const fb_gemm_desc *g)
{
  if (fb_gemm_trivial(g)) return 0;
  const fb_ukernel *uk = fb->uk;
  gemm_job J = {.g = g, .uk = uk};
  J.pack_b = g->tb || (fb->gemm_pack_b < 0 ? g->m >= GEMM_PACK_ROWS : fb->gemm_pack_b);
  J.kc = block_size(g->k, GEMM_KC, 1);
  J.nc = block_size(g->n, GEMM_NC, uk->nr);
  int st = gemm_ws(fb, J.kc * J.nc);
  if (st) return st;
  J.bp = fb->ws;
  int nt = fb_threads_for(fb, fb_mul(fb_mul(g->m, g->n), g->k), fb->gemm_grain);
  fb_team(nt, gemm_thread, &J);
  return 0;
}

int fb_gemm(fb_backend *fb, int path, const fb_gemm_desc *g)
{
  const size_t lim = INT_MAX;
  if (path == FB_GEMM_CBLAS && NNCL_HAVE_CBLAS && g->m <= lim && g->n <= lim && g->k <= lim &&
      g->lda <= lim && g->ldb <= lim && g->ldc <= lim)
    return fb_gemm_cblas(fb, g);
  return fb_gemm_own(fb, g);
}

/* t2 = f0 op(t0) op(t1) + f1 t2; op(A) (n0 x n2), op(B) (n2 x n1); i0, i1 transpose. */
int fb_matmul(nncl_backend *be, const nncl_args *a)
{
  size_t m = a->n[0], n = a->n[1], k = a->n[2];
  const float *A, *B;
  float *C;
  FB_PTR(A, 0, fb_mul(m, k));
  FB_PTR(B, 1, fb_mul(k, n));
  FB_PTR(C, 2, fb_mul(m, n));
  int ta = a->i[0] != 0, tb = a->i[1] != 0;
  fb_gemm_desc g = {ta, tb, m, n, k, a->f[0], a->f[1], A, B, C, ta ? m : k, tb ? k : n, n};
  return fb_gemm(fb_of(be), fb_of(be)->gemm, &g);
}
