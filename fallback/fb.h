/* fb.h - internals of the native C backend: buffers, the backend struct, threading,
 * floating-point mode and the GEMM interface shared by fallback/ files, tests and bench. */
#ifndef NNCL_FB_H
#define NNCL_FB_H

#include <stddef.h>
#include <stdint.h>

#include "internal.h"
#include "nncl_config.h"

/* Host memory, 64-byte aligned, `bytes` usable. */
struct nncl_buf {
  unsigned char *p;
  size_t bytes;
};

enum fb_gemm_path { FB_GEMM_OWN = 0, FB_GEMM_CBLAS = 1 };

/* Register-blocked micro-kernel: C[mr x nr] (row stride ldc) = alpha A B + beta C over
 * depth kc, A(i,p) = a[i rsa + p csa] (A in place, either layout), B row p = NR floats at
 * b + p rsb (a packed sliver: rsb NR; B in place: rsb ldb). mr <= MR and nr <= NR give the
 * valid part of the tile; beta == 0 does not read C. */
typedef void (*fb_ukernel_fn)(size_t kc, const float *a, size_t rsa, size_t csa, const float *b,
                              size_t rsb, float *c, size_t ldc, float alpha, float beta,
                              size_t mr, size_t nr);
/* Packs a sliver of a transposed B: dst[p nr + j] = b[j ldb + p] (j < cols, p < kc), zero
 * for cols <= j < nr. */
typedef void (*fb_packbt_fn)(const float *b, size_t ldb, size_t cols, size_t kc, size_t nr,
                             float *dst);
typedef struct fb_ukernel {
  const char *isa;    /* "avx512f", "avx2+fma", "generic" */
  size_t mr, nr;
  fb_ukernel_fn fn;
  fb_packbt_fn pack_bt; /* NULL: plain C */
} fb_ukernel;

/* The best micro-kernel this CPU runs (chosen at run time); fb_ukernel_runnable(i) is the
 * i-th one it can run, best first, NULL past the end (tests cover them all). */
const fb_ukernel *fb_ukernel_best(void);
const fb_ukernel *fb_ukernel_runnable(int i);

#if !NNCL_HAVE_OPENMP
typedef struct fb_pool fb_pool;
#endif

/* The backend; tests and bench may change the GEMM fields between calls. */
typedef struct fb_backend {
  nncl_backend base;
  int threads;               /* >= 1 */
#if !NNCL_HAVE_OPENMP
  fb_pool *pool;             /* threads - 1 workers, created on first parallel call */
#endif
  int gemm;                  /* fb_gemm_path MATMUL uses ($NNCL_GEMM=own|cblas) */
  const fb_ukernel *uk;      /* own GEMM micro-kernel */
  int gemm_panel;            /* own GEMM driver: -1 by size, 0 column slivers, 1 packed panels */
  size_t gemm_grain;         /* own GEMM multiply-adds per thread before a second pays */
  float *ws;                 /* own GEMM packing workspace, grown on demand */
  size_t ws_floats;
  size_t allocated;          /* bytes of live buffers */
  size_t mem_limit;          /* 3/4 of physical memory: beyond it Linux would overcommit
                                and the OOM killer, not an error, would end the process */
} fb_backend;

static inline fb_backend *fb_of(nncl_backend *be) { return (fb_backend *)be; }

/* ---- argument access ---------------------------------------------------------------- */

/* Pointer to a->t[i] after checking it holds `count` 4-byte elements at a 4-byte aligned
 * offset; NULL (context message names fn and the ref) otherwise. */
void *fb_ptr(nncl_backend *be, const nncl_args *a, int i, size_t count, const char *fn);
/* n0 * n1 saturated to SIZE_MAX on overflow (then fb_ptr refuses it). */
size_t fb_mul(size_t n0, size_t n1);

#define FB_PTR(p, i, count)                                                 \
  do {                                                                      \
    if (!((p) = fb_ptr(be, a, (i), (count), __func__))) return NNCL_EINVAL; \
  } while (0)

/* ---- threads and floating-point mode ------------------------------------------------ */

/* Sets flush-to-zero and denormals-are-zero on the calling thread; returns the previous
 * mode for fb_fpmode_restore (x86-64 MXCSR, aarch64 FPCR; a no-op elsewhere). */
unsigned long fb_fpmode_ftz(void);
void fb_fpmode_restore(unsigned long mode);

/* Work per thread (elements) below which a second thread does not pay: memory-bound
 * loops, and loops calling libm transcendentals. */
#define FB_GRAIN_MEM ((size_t)1 << 16)
#define FB_GRAIN_MATH ((size_t)1 << 12)

/* Threads worth using for `work` units when one thread should get at least `grain`. */
int fb_threads_for(const fb_backend *fb, size_t work, size_t grain);
/* Online processor count (>= 1). */
int fb_cores(void);

/* Runs fn(arg, t, nt) on up to nt threads: an OpenMP team, or fb's pool (created on first
 * use) in builds without OpenMP; the caller runs t = 0. all = 1: exactly the nt passed to
 * fn run, and fn may call fb_barrier.
 * all = 0: workers that wake late may not run fn at all, so fn must share its work through
 * a counter; the indexes t that do run are distinct and < nt. Every thread that computes
 * flushes denormals; the caller's mode is restored. Returns when every call returned. */
typedef void (*fb_team_fn)(void *arg, int t, int nt);
void fb_team(fb_backend *fb, int nt, int all, fb_team_fn fn, void *arg);
/* Waits for all nt threads of the current all = 1 team. */
void fb_barrier(fb_backend *fb);
#if !NNCL_HAVE_OPENMP
void fb_pool_destroy(fb_pool *pool);
#endif

/* Calls fn(arg, lo, hi) over [0, n) in contiguous chunks on fb_threads_for(n, grain)
 * threads; chunk bounds are multiples of `align`. fn must give the same result however
 * [0, n) is chunked. */
typedef void (*fb_range_fn)(void *arg, size_t lo, size_t hi);
void fb_parallel(fb_backend *fb, size_t n, size_t grain, size_t align, fb_range_fn fn, void *arg);

/* ---- GEMM --------------------------------------------------------------------------- */

/* C (m x n, row stride ldc) = alpha op(A) op(B) + beta C, all row-major.
 * op(A) is (m x k): A is (m x k, stride lda), or (k x m) when ta. op(B) is (k x n): B is
 * (k x n, stride ldb), or (n x k) when tb. beta == 0 does not read C; alpha == 0 or
 * k == 0 reads neither A nor B. */
typedef struct fb_gemm_desc {
  int ta, tb;
  size_t m, n, k;
  float alpha, beta;
  const float *a, *b;
  float *c;
  size_t lda, ldb, ldc;
} fb_gemm_desc;

/* Default fb_backend.gemm_grain: a second thread pays from about 2 x 1.5M multiply-adds. */
#define FB_GEMM_GRAIN ((size_t)3 << 19)

/* Runs g on `path` with fb's threads and workspace (CBLAS falls back to the own GEMM when
 * not built or beyond its int range). Returns 0 or NNCL_ENOMEM. fb_gemm_cblas alone returns
 * NNCL_EUNSUPPORTED in those cases. */
int fb_gemm(fb_backend *fb, int path, const fb_gemm_desc *g);
int fb_gemm_own(fb_backend *fb, const fb_gemm_desc *g);
int fb_gemm_cblas(fb_backend *fb, const fb_gemm_desc *g);
/* The own GEMM on the calling thread alone; buf holds FB_GEMM_SERIAL_WS(uk) floats. */
#define FB_GEMM_SERIAL_WS(uk) ((size_t)384 * (uk)->nr)
void fb_gemm_serial(const fb_ukernel *uk, const fb_gemm_desc *g, float *buf);
/* Grows fb->ws to hold `floats` (64-byte aligned): the own GEMM's packing buffers, and
 * the direct convolution's per-thread scratch. Returns 0 or NNCL_ENOMEM. */
int fb_workspace(fb_backend *fb, size_t floats);
/* Handles m or n == 0, k == 0 and alpha == 0 (C = beta C); returns 1 when it did. */
int fb_gemm_trivial(const fb_gemm_desc *g);

/* ---- kernels (one per op in ops.def) ------------------------------------------------ */

#define NNCL_OP(id, name) int fb_##name(nncl_backend *be, const nncl_args *a);
#include "ops.def"
#undef NNCL_OP

#endif
