/* bench_gemm.c - GFLOP/s of every GEMM path nncl has (own C, CBLAS through the backend,
 * OpenCL through the MATMUL op) against OpenBLAS cblas_sgemm measured in the same run:
 * square sizes and the seed network's training shapes (784-128-64-10, batch 64).
 *
 * usage: bench_gemm [--threads N] [--device cl...] [--quick]
 *   --threads  C threads (default: all cores); --device: OpenCL device for the cl column
 *   (default $NNCL_DEVICE when it names one); --quick: fewer sizes and repetitions. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench/benchutil.h"
#include "fallback/fb.h"
#include "nncl.h"

#if NNCL_HAVE_CBLAS
#include <cblas.h>
#endif

typedef struct shape {
  const char *name;
  size_t m, n, k;
  int ta, tb;
} shape;

static const shape shapes[] = {
    {"square 64", 64, 64, 64, 0, 0},
    {"square 128", 128, 128, 128, 0, 0},
    {"square 256", 256, 256, 256, 0, 0},
    {"square 512", 512, 512, 512, 0, 0},
    {"square 1024", 1024, 1024, 1024, 0, 0},
    {"square 2048", 2048, 2048, 2048, 0, 0},
    {"fc1 fwd  X W1^T", 64, 128, 784, 0, 1},
    {"fc1 dW   dY^T X", 128, 784, 64, 1, 0},
    {"fc1 dX   dY W1", 64, 784, 128, 0, 0},
    {"fc2 fwd  H1 W2^T", 64, 64, 128, 0, 1},
    {"fc2 dW   dY^T H1", 64, 128, 64, 1, 0},
    {"fc2 dX   dY W2", 64, 128, 64, 0, 0},
    {"fc3 fwd  H2 W3^T", 64, 10, 64, 0, 1},
    {"fc3 dW   dY^T H2", 10, 64, 64, 1, 0},
    {"fc3 dX   dY W3", 64, 64, 10, 0, 0},
    {"lstm step h W_hh^T", 64, 512, 128, 0, 0},
    {"lstm step dG W_hh", 64, 128, 512, 0, 0},
    {"lstm x W_ih^T", 1792, 512, 28, 0, 1},
    {"lstm dW_hh dG^T H", 512, 128, 1792, 1, 0},
    {"lstm dW_ih dG^T X", 512, 28, 1792, 1, 0},
};
#define NSHAPES (sizeof shapes / sizeof shapes[0])

typedef struct job {
  fb_backend *fb;
  fb_gemm_desc g;
  int threads;
  nncl_backend *cl;
  nncl_args clargs;
} job;

static int call_own(void *u)
{
  job *j = u;
  return fb_gemm_own(j->fb, &j->g);
}

#if NNCL_HAVE_CBLAS
static int call_cblas_path(void *u)
{
  job *j = u;
  return fb_gemm_cblas(j->fb, &j->g);
}

static int call_openblas(void *u)
{
  job *j = u;
  const fb_gemm_desc *g = &j->g;
  cblas_sgemm(CblasRowMajor, g->ta ? CblasTrans : CblasNoTrans, g->tb ? CblasTrans : CblasNoTrans,
              (int)g->m, (int)g->n, (int)g->k, g->alpha, g->a, (int)g->lda, g->b, (int)g->ldb,
              g->beta, g->c, (int)g->ldc);
  return 0;
}
#endif

static int call_cl(void *u)
{
  job *j = u;
  int st = nncl_run(j->cl, NNCL_OP_MATMUL, &j->clargs);
  return st ? st : j->cl->finish(j->cl);
}

static float *random_floats(size_t n, unsigned seed)
{
  float *p = aligned_alloc(64, (n * sizeof(float) + 63) / 64 * 64);
  if (!p) return NULL;
  for (size_t i = 0; i < n; i++) {
    seed = seed * 1664525u + 1013904223u;
    p[i] = (float)(seed >> 8) / 16777216.0f - 0.5f;
  }
  return p;
}

/* Uploads host data into a fresh buffer of be. */
static nncl_buf *upload(nncl_backend *be, const float *src, size_t n)
{
  nncl_buf *b = NULL;
  if (be->alloc(be, n * 4, &b)) return NULL;
  if (be->write(be, b, 0, src, n * 4)) {
    be->release(be, b);
    return NULL;
  }
  return b;
}

static void print_col(double secs, double flops)
{
  if (secs > 0)
    printf(" %9.1f", flops / secs * 1e-9);
  else
    printf(" %9s", "-");
}

int main(int argc, char **argv)
{
  bench_options o;
  if (bench_parse_options(argc, argv, &o)) return 2;
  nncl_ctx_params p;
  nncl_ctx *ctx = NULL, *clctx = NULL;
  char err[512];
  nncl_ctx_params_init(&p);
  p.device = "c";
  p.threads = o.threads;
  if (nncl_ctx_create(&p, &ctx, err, sizeof err)) {
    fprintf(stderr, "cannot create a C context: %s\n", err);
    return 1;
  }
  fb_backend *fb = fb_of(nncl_ctx_be(ctx));
  nncl_backend *cl = NULL;
  if (o.cldev) {
    p.device = o.cldev;
    if (nncl_ctx_create(&p, &clctx, err, sizeof err))
      fprintf(stderr, "no OpenCL column: %s\n", err);
    else
      cl = nncl_ctx_be(clctx);
  }
  char cpu[256];
  bench_cpu_model(cpu, sizeof cpu);
  printf("machine: %s, %d cores online, %d thread%s, load average %.2f\n", cpu, fb_cores(),
         fb->threads, fb->threads == 1 ? "" : "s", bench_load_average());
  printf("own GEMM kernel: %s %zux%zu\n", fb->uk->isa, fb->uk->mr, fb->uk->nr);
#if NNCL_HAVE_CBLAS
#ifdef OPENBLAS_VERSION
  openblas_set_num_threads(fb->threads);
  printf("OpenBLAS: %s, core %s, %d threads\n", openblas_get_config(), openblas_get_corename(),
         openblas_get_num_threads());
#endif
#else
  printf("CBLAS: not built (no reference column)\n");
#endif
  if (cl) printf("OpenCL: %s\n", nncl_ctx_device(clctx));
  printf("\nGFLOP/s (median of %d), ratio = path / OpenBLAS\n", o.quick ? 3 : 9);
  printf("%-18s %5s %5s %5s %2s %9s %9s %9s %9s %8s %8s %8s\n", "shape", "m", "n", "k", "t",
         "OpenBLAS", "own", "cblas", "cl", "own/ob", "cblas/ob", "cl/ob");
  double step_ob = 0, step_own = 0;
  int bad = 0;
  for (size_t s = 0; s < NSHAPES; s++) {
    const shape *sh = &shapes[s];
    if (o.quick && sh->m == sh->n && sh->m == sh->k && (sh->m < 256 || sh->m > 1024)) continue;
    size_t m = sh->m, n = sh->n, k = sh->k;
    float *A = random_floats(m * k, 1), *B = random_floats(k * n, 2), *C = random_floats(m * n, 3);
    if (!A || !B || !C) {
      fprintf(stderr, "out of memory\n");
      return 1;
    }
    job j = {.fb = fb, .threads = fb->threads, .cl = cl};
    j.g = (fb_gemm_desc){sh->ta, sh->tb, m, n, k, 1.0f, 0.0f, A, B, C,
                         sh->ta ? m : k, sh->tb ? k : n, n};
    int reps = o.quick ? 3 : 9;
    double flops = 2.0 * (double)m * (double)n * (double)k;
    double t_ob = -1, t_cb = -1, t_cl = -1;
    double t_own = bench_time_call(call_own, &j, reps, 300);
#if NNCL_HAVE_CBLAS
    t_ob = bench_time_call(call_openblas, &j, reps, 300);
#endif
#if NNCL_HAVE_CBLAS
    t_cb = bench_time_call(call_cblas_path, &j, reps, 300);
#endif
    if (cl) {
      nncl_buf *bA = upload(cl, A, m * k), *bB = upload(cl, B, k * n), *bC = upload(cl, C, m * n);
      if (bA && bB && bC) {
        j.clargs = (nncl_args){.t = {{bA, 0}, {bB, 0}, {bC, 0}}, .n = {m, n, k},
                               .f = {1.0f, 0.0f}, .i = {sh->ta, sh->tb}};
        t_cl = bench_time_call(call_cl, &j, reps, 300);
        if (t_cl < 0) fprintf(stderr, "cl matmul failed: %s\n", nncl_errmsg(clctx));
      }
      if (bA) cl->release(cl, bA);
      if (bB) cl->release(cl, bB);
      if (bC) cl->release(cl, bC);
    }
    if (t_own < 0) bad = 1;
    printf("%-18s %5zu %5zu %5zu %c%c", sh->name, m, n, k, sh->ta ? 'T' : 'N', sh->tb ? 'T' : 'N');
    print_col(t_ob, flops);
    print_col(t_own, flops);
    print_col(t_cb, flops);
    print_col(t_cl, flops);
    if (t_ob > 0) {
      printf(" %8.2f", t_ob / t_own);
      if (t_cb > 0)
        printf(" %8.2f", t_ob / t_cb);
      else
        printf(" %8s", "-");
      if (t_cl > 0)
        printf(" %8.2f", t_ob / t_cl);
      else
        printf(" %8s", "-");
    }
    printf("\n");
    if (!strncmp(sh->name, "fc", 2)) {
      step_ob += t_ob;
      step_own += t_own;
    }
    free(A);
    free(B);
    free(C);
  }
  printf("load average now %.2f\n", bench_load_average());
  if (step_ob > 0)
    printf("\nseed network GEMMs per training step: OpenBLAS %.1f us, own %.1f us (own/ob %.2f)\n",
           step_ob * 1e6, step_own * 1e6, step_ob / step_own);
  else
    printf("\nseed network GEMMs per training step: own %.1f us\n", step_own * 1e6);
  nncl_ctx_destroy(clctx);
  nncl_ctx_destroy(ctx);
  return bad;
}
