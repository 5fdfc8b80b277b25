/* gemm_fb.c - own SGEMM (GotoBLAS/BLIS structure) and the MATMUL op.
 *
 * A is never packed: the micro-kernel broadcasts its elements in place (packing A measured
 * no faster here). Two drivers:
 *  - panel (m >= GEMM_PANEL_ROWS): for jc (NC columns): for pc (KC deep): the threads pack
 *    the B panel (kc x nc) into NR-wide slivers together, then split the MR x NR tiles
 *    statically; a barrier before and after the tiles.
 *  - slivers (smaller m, the training shapes): threads claim NR-wide column slivers of C
 *    from an atomic counter and run all of its rows and depth blocks; B's rows are read in
 *    place (packed into a per-thread buffer only when transposed or a partial sliver).
 *    No barrier: a thread that loses its core to another process does not stall the rest.
 * Every element of C is computed by the same operations in the same order whichever thread
 * runs it, so results do not depend on the thread count or the scheduling. */
#include <limits.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "fb.h"

/* Blocking (floats): an A sliver (MR x KC) stays in L1, the B panel (KC x NC) in L2. */
#define GEMM_KC 384
#define GEMM_NC 1024
#define GEMM_PANEL_ROWS 256

typedef struct gemm_job {
  fb_backend *fb;
  const fb_gemm_desc *g;
  const fb_ukernel *uk;
  float *bp;           /* panel: the packed B panel; slivers: one kc x NR buffer per thread */
  size_t kc, nc;
  atomic_size_t next;  /* slivers: next column sliver to claim */
} gemm_job;

static size_t min_sz(size_t a, size_t b) { return a < b ? a : b; }
static size_t ceil_div(size_t a, size_t b) { return (a + b - 1) / b; }
static size_t block_size(size_t total, size_t most, size_t unit);

/* Packs slivers [s0, s1) of op(B)[pc..pc+kc, jc..) from bp on: sliver s holds columns
 * jc + s*nr .. as Bp[p][j], zero-padded to nr columns. */
static void pack_b(const fb_gemm_desc *g, const fb_ukernel *uk, size_t jc, size_t ncur,
                   size_t pc, size_t kc, float *bp, size_t s0, size_t s1)
{
  const size_t nr = uk->nr;
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
    } else if (uk->pack_bt) {
      uk->pack_bt(g->b + j0 * g->ldb + pc, g->ldb, cols, kc, nr, dst);
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

static void gemm_panel_thread(void *arg, int t, int nt)
{
  gemm_job *J = arg;
  const fb_gemm_desc *g = J->g;
  const size_t mr = J->uk->mr, nr = J->uk->nr, T = (size_t)t, NT = (size_t)nt;
  const size_t mi = ceil_div(g->m, mr);
  /* A(i, p) = a[i rsa + p csa] */
  const size_t rsa = g->ta ? 1 : g->lda, csa = g->ta ? g->lda : 1;
  for (size_t jc = 0; jc < g->n; jc += J->nc) {
    size_t ncur = min_sz(J->nc, g->n - jc), nj = ceil_div(ncur, nr);
    for (size_t pc = 0; pc < g->k; pc += J->kc) {
      size_t kc = min_sz(J->kc, g->k - pc);
      float beta = pc ? 1.0f : g->beta;
      size_t s0 = nj * T / NT;
      pack_b(g, J->uk, jc, ncur, pc, kc, J->bp + s0 * nr * kc, s0, nj * (T + 1) / NT);
      if (NT > 1) fb_barrier(J->fb);
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
          J->uk->fn(kc, a, rsa, csa, J->bp + jr * nr * kc, nr, g->c + i * g->ldc + j, g->ldc,
                    g->alpha, beta, min_sz(mr, g->m - i), min_sz(nr, g->n - j));
        }
      }
      if (NT > 1) fb_barrier(J->fb);
    }
  }
}

static void gemm_sliver_thread(void *arg, int t, int nt)
{
  gemm_job *J = arg;
  const fb_gemm_desc *g = J->g;
  const size_t mr = J->uk->mr, nr = J->uk->nr, nj = ceil_div(g->n, nr);
  const size_t rsa = g->ta ? 1 : g->lda, csa = g->ta ? g->lda : 1;
  float *buf = J->bp + (size_t)t * J->kc * nr;
  (void)nt;
  for (;;) {
    size_t jr = atomic_fetch_add(&J->next, 1);
    if (jr >= nj) break;
    size_t j = jr * nr;
    int packed = g->tb || g->n - j < nr;
    for (size_t pc = 0; pc < g->k; pc += J->kc) {
      size_t kc = min_sz(J->kc, g->k - pc);
      if (packed) pack_b(g, J->uk, 0, g->n, pc, kc, buf, jr, jr + 1);
      const float *b = packed ? buf : g->b + pc * g->ldb + j;
      for (size_t i = 0; i < g->m; i += mr) {
        const float *a = g->ta ? g->a + pc * g->lda + i : g->a + i * g->lda + pc;
        J->uk->fn(kc, a, rsa, csa, b, packed ? nr : g->ldb, g->c + i * g->ldc + j, g->ldc,
                  g->alpha, pc ? 1.0f : g->beta, min_sz(mr, g->m - i), min_sz(nr, g->n - j));
      }
    }
  }
}

void fb_gemm_serial(const fb_ukernel *uk, const fb_gemm_desc *g, float *buf)
{
  if (fb_gemm_trivial(g)) return;
  gemm_job J = {.g = g, .uk = uk, .bp = buf, .kc = block_size(g->k, GEMM_KC, 1)};
  atomic_init(&J.next, 0);
  gemm_sliver_thread(&J, 0, 1);
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

int fb_workspace(fb_backend *fb, size_t floats)
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
  gemm_job J = {.fb = fb, .g = g, .uk = uk};
  atomic_init(&J.next, 0);
  int panel = fb->gemm_panel < 0 ? g->m >= GEMM_PANEL_ROWS : fb->gemm_panel;
  J.kc = block_size(g->k, GEMM_KC, 1);
  J.nc = block_size(g->n, GEMM_NC, uk->nr);
  int nt = fb_threads_for(fb, fb_mul(fb_mul(g->m, g->n), g->k), fb->gemm_grain);
  size_t nj = ceil_div(g->n, uk->nr);
  if (!panel && (size_t)nt > nj) nt = (int)nj;
  int st = fb_workspace(fb, panel ? J.kc * J.nc : (size_t)nt * J.kc * uk->nr);
  if (st) return st;
  J.bp = fb->ws;
  fb_team(fb, nt, panel, panel ? gemm_panel_thread : gemm_sliver_thread, &J);
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
