/* threads_fb.c - the backend's threads and the flush-to-zero mode of the threads that
 * compute (denormals slow training several-fold once Adam's moments decay).
 *
 * Teams are an own pthread pool, or OpenMP teams when the build asks for OpenMP
 * (-Dopenmp=enabled). Both split work the same way (statically by thread index, or in
 * chunks claimed from a counter), so results are bit-identical between them and from run
 * to run. The pool is the default because it holds up where other busy processes share
 * the cores: libgomp's idle workers spin for milliseconds after every region
 * (its default wait policy, fixed at process start) and every region waits for its last
 * thread. Measured here (2 shared cores, seed MLP, 2 threads, median samples/s): quiet,
 * OpenMP 207k and the pool 194k; beside one busy process and a niced fuzzer, OpenMP 21k
 * and the pool 83k. Pool workers spin ~50 us, then sleep on a condition variable. Jobs
 * that share work through a counter do not wait for a worker that has not woken up: it
 * joins late or not at all. */
#include <stdatomic.h>
#include <unistd.h>

#include "fb.h"

#if NNCL_HAVE_OPENMP
#include <omp.h>
#else
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
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

#if NNCL_HAVE_OPENMP

/* OpenMP may start fewer threads than asked (never more): fn gets the team's real size. */
void fb_team(fb_backend *fb, int nt, int all, fb_team_fn fn, void *arg)
{
  (void)fb;
  (void)all;
  if (nt <= 1) {
    unsigned long mode = fb_fpmode_ftz();
    fn(arg, 0, 1);
    fb_fpmode_restore(mode);
    return;
  }
#pragma omp parallel num_threads(nt)
  {
    unsigned long mode = fb_fpmode_ftz();
    fn(arg, omp_get_thread_num(), omp_get_num_threads());
    fb_fpmode_restore(mode);
  }
}

void fb_barrier(fb_backend *fb)
{
  (void)fb;
#pragma omp barrier
}

#else

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  __asm__ volatile("yield");
#endif
}

/* Pause-loop iterations a worker spins for a new job before sleeping (~50 us), and a
 * waiting caller spins before yielding its core. */
#define SPIN_WORKER 2000
#define SPIN_WAIT 200

typedef struct worker {
  struct fb_pool *pool;
  pthread_t th;
  unsigned start_gen;    /* gen when it was created: it joins jobs published after */
} worker;

struct fb_pool {
  pthread_mutex_t mu;
  pthread_cond_t wake;
  worker *w;
  int nworkers, stop;
  atomic_uint gen;       /* job generation: bumped to publish a job */
  atomic_int sleepers;   /* workers blocked on `wake` */
  atomic_int open;       /* the current job accepts workers */
  atomic_int next_id;    /* thread index the next joining worker gets */
  atomic_int running;    /* workers that may be reading or running the current job */
  fb_team_fn fn;         /* the job: written while open == 0 */
  void *arg;
  int nt;
  atomic_uint bar_count, bar_gen;
};

/* Joins the published job if it is still open: runs it with a fresh index < nt. */
static void join_job(fb_pool *P)
{
  atomic_fetch_add(&P->running, 1);
  if (atomic_load(&P->open)) {
    int id = atomic_fetch_add(&P->next_id, 1);
    if (id < P->nt) {
      unsigned long mode = fb_fpmode_ftz();
      P->fn(P->arg, id, P->nt);
      fb_fpmode_restore(mode);
    }
  }
  atomic_fetch_sub(&P->running, 1);
}

static void *worker_main(void *arg)
{
  fb_pool *P = ((worker *)arg)->pool;
  unsigned seen = ((worker *)arg)->start_gen;
  for (;;) {
    int spins = 0;
    while (atomic_load(&P->gen) == seen) {
      if (++spins < SPIN_WORKER) {
        cpu_relax();
        continue;
      }
      pthread_mutex_lock(&P->mu);
      atomic_fetch_add(&P->sleepers, 1);
      while (atomic_load(&P->gen) == seen && !P->stop) pthread_cond_wait(&P->wake, &P->mu);
      atomic_fetch_sub(&P->sleepers, 1);
      int stop = P->stop;
      pthread_mutex_unlock(&P->mu);
      if (stop) return NULL;
      spins = 0;
    }
    seen = atomic_load(&P->gen);
    join_job(P);
  }
}

/* Grows the pool to `want` workers; returns how many it has (fewer if threads could not
 * be created). */
static int pool_grow(fb_backend *fb, int want)
{
  fb_pool *P = fb->pool;
  if (!P) {
    P = calloc(1, sizeof *P);
    if (!P) return 0;
    P->w = calloc((size_t)fb->threads, sizeof *P->w);
    if (!P->w || pthread_mutex_init(&P->mu, NULL)) {
      free(P->w);
      free(P);
      return 0;
    }
    if (pthread_cond_init(&P->wake, NULL)) {
      pthread_mutex_destroy(&P->mu);
      free(P->w);
      free(P);
      return 0;
    }
    fb->pool = P;
  }
  while (P->nworkers < want) {
    worker *w = &P->w[P->nworkers];
    w->pool = P;
    w->start_gen = atomic_load(&P->gen);
    if (pthread_create(&w->th, NULL, worker_main, w)) break;
    P->nworkers++;
  }
  return P->nworkers;
}

void fb_pool_destroy(fb_pool *P)
{
  if (!P) return;
  pthread_mutex_lock(&P->mu);
  P->stop = 1;
  pthread_cond_broadcast(&P->wake);
  pthread_mutex_unlock(&P->mu);
  for (int i = 0; i < P->nworkers; i++) pthread_join(P->w[i].th, NULL);
  pthread_cond_destroy(&P->wake);
  pthread_mutex_destroy(&P->mu);
  free(P->w);
  free(P);
}

static void wait_until_zero(atomic_int *v)
{
  for (int spins = 0; atomic_load(v) != 0; spins++) {
    if (spins < SPIN_WAIT)
      cpu_relax();
    else
      sched_yield();
  }
}

void fb_team(fb_backend *fb, int nt, int all, fb_team_fn fn, void *arg)
{
  if (nt > 1) {
    int have = pool_grow(fb, nt - 1);
    if (nt > have + 1) nt = have + 1;
  }
  unsigned long mode = fb_fpmode_ftz();
  if (nt <= 1) {
    fn(arg, 0, 1);
    fb_fpmode_restore(mode);
    return;
  }
  fb_pool *P = fb->pool;
  P->fn = fn;
  P->arg = arg;
  P->nt = nt;
  atomic_store(&P->next_id, 1);
  atomic_store(&P->bar_count, 0);
  atomic_store(&P->open, 1);
  atomic_fetch_add(&P->gen, 1);
  if (atomic_load(&P->sleepers)) {
    pthread_mutex_lock(&P->mu);
    pthread_cond_broadcast(&P->wake);
    pthread_mutex_unlock(&P->mu);
  }
  fn(arg, 0, nt);
  for (int spins = 0; all && atomic_load(&P->next_id) < nt; spins++) {
    if (spins < SPIN_WAIT)
      cpu_relax();
    else
      sched_yield();
  }
  atomic_store(&P->open, 0);
  wait_until_zero(&P->running);
  fb_fpmode_restore(mode);
}

void fb_barrier(fb_backend *fb)
{
  fb_pool *P = fb->pool;
  unsigned g = atomic_load(&P->bar_gen);
  if (atomic_fetch_add(&P->bar_count, 1) == (unsigned)P->nt - 1) {
    atomic_store(&P->bar_count, 0);
    atomic_fetch_add(&P->bar_gen, 1);
    return;
  }
  for (int spins = 0; atomic_load(&P->bar_gen) == g; spins++) {
    if (spins < SPIN_WAIT * 10)
      cpu_relax();
    else
      sched_yield();
  }
}

#endif

int fb_threads_for(const fb_backend *fb, size_t work, size_t grain)
{
  size_t most = grain ? work / grain : (size_t)fb->threads;
  if (most < 1) return 1;
  return most < (size_t)fb->threads ? (int)most : fb->threads;
}

int fb_cores(void)
{
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n > 0 ? (int)n : 1;
}

typedef struct par_job {
  size_t n, chunk, nchunks;
  atomic_size_t next;
  fb_range_fn fn;
  void *arg;
} par_job;

/* Threads claim chunks from a counter. Chunk c always covers [c*chunk, (c+1)*chunk). */
static void par_run(void *p, int t, int nt)
{
  par_job *j = p;
  (void)t;
  (void)nt;
  for (;;) {
    size_t c = atomic_fetch_add(&j->next, 1);
    if (c >= j->nchunks) break;
    size_t lo = c * j->chunk;
    size_t hi = lo + j->chunk < j->n ? lo + j->chunk : j->n;
    j->fn(j->arg, lo, hi);
  }
}

void fb_parallel(fb_backend *fb, size_t n, size_t grain, size_t align, fb_range_fn fn, void *arg)
{
  if (n == 0) return;
  int nt = fb_threads_for(fb, n, grain);
  if (nt == 1) {
    unsigned long mode = fb_fpmode_ftz();
    fn(arg, 0, n);
    fb_fpmode_restore(mode);
    return;
  }
  /* Four chunks per thread (of at least `grain` / 4) balance uneven progress. */
  size_t nchunks = (size_t)nt * 4, chunk = (n + nchunks - 1) / nchunks;
  if (chunk < grain / 4) chunk = grain / 4;
  if (align > 1) chunk = (chunk + align - 1) / align * align;
  par_job j = {.n = n, .chunk = chunk, .nchunks = (n + chunk - 1) / chunk, .fn = fn, .arg = arg};
  atomic_init(&j.next, 0);
  fb_team(fb, nt, 0, par_run, &j);
}
