/* threads_fb.c - OpenMP teams with static splits, and the flush-to-zero mode of the
 * threads that compute (denormals slow training several-fold once Adam's moments decay). */
#include "fb.h"

#if NNCL_HAVE_OPENMP
#include <omp.h>
#endif
#if defined(__x86_64__) || defined(_M_X64)
#include <xmmintrin.h>
#endif

/* x86-64: MXCSR FTZ (bit 15) + DAZ (bit 6). aarch64: FPCR FZ (bit 24). */
unsigned long fb_fpmode_ftz(void)
{
#if defined(__x86_64__) || defined(_M_X64)
  unsigned int old = _mm_getcsr();
  _mm_setcsr(old | 0x8040u);
  return old;
#elif defined(__aarch64__)
  unsigned long old;
  __asm__ volatile("mrs %0, fpcr" : "=r"(old));
  __asm__ volatile("msr fpcr, %0" : : "r"(old | (1ul << 24)));
  return old;
#else
  return 0;
#endif
}

void fb_fpmode_restore(unsigned long mode)
{
#if defined(__x86_64__) || defined(_M_X64)
  _mm_setcsr((unsigned int)mode);
#elif defined(__aarch64__)
  __asm__ volatile("msr fpcr, %0" : : "r"(mode));
#else
  (void)mode;
#endif
}

int fb_threads_for(const fb_backend *fb, size_t work, size_t grain)
{
  size_t most = grain ? work / grain : (size_t)fb->threads;
  if (most < 1) return 1;
  return most < (size_t)fb->threads ? (int)most : fb->threads;
}

void fb_team(int nt, void (*fn)(void *arg, int t, int nt), void *arg)
{
#if NNCL_HAVE_OPENMP
  if (nt > 1) {
#pragma omp parallel num_threads(nt)
    {
      unsigned long mode = fb_fpmode_ftz();
      fn(arg, omp_get_thread_num(), omp_get_num_threads());
      fb_fpmode_restore(mode);
    }
    return;
  }
#else
  (void)nt;
#endif
  unsigned long mode = fb_fpmode_ftz();
  fn(arg, 0, 1);
  fb_fpmode_restore(mode);
}

void fb_barrier(void)
{
#if NNCL_HAVE_OPENMP
#pragma omp barrier
#endif
}

typedef struct par_job {
  size_t n, chunk;
  int nchunks;
  fb_range_fn fn;
  void *arg;
} par_job;

/* Chunk c always covers [c*chunk, (c+1)*chunk), whichever thread runs it. */
static void par_run(void *p, int t, int nt)
{
  const par_job *j = p;
  for (int c = t; c < j->nchunks; c += nt) {
    size_t lo = (size_t)c * j->chunk;
    size_t hi = lo + j->chunk < j->n ? lo + j->chunk : j->n;
    if (lo < hi) j->fn(j->arg, lo, hi);
  }
}

void fb_parallel(const fb_backend *fb, size_t n, size_t grain, size_t align, fb_range_fn fn,
                 void *arg)
{
  if (n == 0) return;
  int nt = fb_threads_for(fb, n, grain);
  size_t chunk = (n + (size_t)nt - 1) / (size_t)nt;
  if (align > 1) chunk = (chunk + align - 1) / align * align;
  par_job j = {n, chunk, nt, fn, arg};
  fb_team(nt, par_run, &j);
}
