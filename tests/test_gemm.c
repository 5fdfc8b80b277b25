/* test_gemm.c - both C GEMM paths against a naive double GEMM: the own GEMM on every
 * micro-kernel this CPU runs and both drivers (packed panels, column slivers), and CBLAS when
 * built; 1 and 2 threads (2 forced on every shape). All transpose combinations, alpha/beta
 * (beta == 0 must not read C, alpha == 0 must not read A or B), padded leading dimensions,
 * shapes from 1 and primes to several cache blocks. The own GEMM must give bit-identical
 * results with 1 and 2 threads. */
#include "fallback/fb.h"
#include "testutil.h"

typedef struct shape {
  size_t m, n, k;
} shape;

static const shape shapes[] = {
    {1, 1, 1},    {1, 1, 7},     {2, 3, 5},      {7, 13, 31},    {13, 7, 1},    {31, 33, 17},
    {64, 10, 64}, {10, 64, 64},  {64, 64, 10},   {257, 129, 65}, {100, 257, 3}, {65, 129, 257},
    {1, 300, 1},  {300, 1, 300}, {129, 65, 1031}, {37, 1100, 50}, {450, 40, 30}, {64, 128, 784},
};
static const float alpha_beta[][2] = {{1, 0}, {-0.5f, 0}, {1, 1}, {0.75f, -1.25f}, {0, 0.5f}, {0, 0}};
#define COUNT(a) (sizeof(a) / sizeof(a[0]))

typedef struct problem {
  fb_gemm_desc g;
  size_t pad;          /* extra elements in each leading dimension */
  float *a, *b, *c0;   /* A, B and C's initial contents (ldc * m, padding included) */
  double *want, *mag;  /* reference and sum |alpha a b| + |beta c| per element of C */
  uint64_t seed;
} problem;

static void describe(const problem *P, const char *path, int threads)
{
  const fb_gemm_desc *g = &P->g;
  fprintf(stderr, "FAIL gemm path=%s threads=%d m=%zu n=%zu k=%zu ta=%d tb=%d alpha=%g beta=%g "
          "lda=%zu ldb=%zu ldc=%zu seed=%llu\n", path, threads, g->m, g->n, g->k, g->ta, g->tb,
          g->alpha, g->beta, g->lda, g->ldb, g->ldc, (unsigned long long)P->seed);
}

/* Fills A, B, C with random values (A and B NaN when alpha == 0, C NaN when beta == 0: they
 * must not be read) and computes the reference. */
static int make_problem(problem *P, shape s, int ta, int tb, const float ab[2], size_t pad,
                        uint64_t seed)
{
  tu_rng rng = {seed};
  fb_gemm_desc *g = &P->g;
  *g = (fb_gemm_desc){ta, tb, s.m, s.n, s.k, ab[0], ab[1], NULL, NULL, NULL, 0, 0, 0};
  g->lda = (ta ? s.m : s.k) + pad;
  g->ldb = (tb ? s.k : s.n) + pad;
  g->ldc = s.n + pad;
  P->pad = pad;
  P->seed = seed;
  size_t na = (ta ? s.k : s.m) * g->lda, nb = (tb ? s.n : s.k) * g->ldb, nc = s.m * g->ldc;
  P->a = malloc(na * 4 + 4);
  P->b = malloc(nb * 4 + 4);
  P->c0 = malloc(nc * 4 + 4);
  P->want = malloc(s.m * s.n * sizeof(double) + 8);
  P->mag = malloc(s.m * s.n * sizeof(double) + 8);
  if (!P->a || !P->b || !P->c0 || !P->want || !P->mag) return 1;
  for (size_t i = 0; i < na; i++) P->a[i] = g->alpha == 0 ? NAN : (float)tu_uniform(&rng, -1, 1);
  for (size_t i = 0; i < nb; i++) P->b[i] = g->alpha == 0 ? NAN : (float)tu_uniform(&rng, -1, 1);
  for (size_t i = 0; i < nc; i++) P->c0[i] = g->beta == 0 ? NAN : (float)tu_uniform(&rng, -1, 1);
  for (size_t i = 0; i < s.m; i++)
    for (size_t j = 0; j < s.n; j++) {
      double sum = 0, mag = 0, c = P->c0[i * g->ldc + j];
      if (g->alpha != 0)
        for (size_t p = 0; p < s.k; p++) {
          double x = ta ? P->a[p * g->lda + i] : P->a[i * g->lda + p];
          double y = tb ? P->b[j * g->ldb + p] : P->b[p * g->ldb + j];
          sum += x * y;
          mag += fabs(x * y);
        }
      P->want[i * s.n + j] = g->alpha * sum + (g->beta != 0 ? g->beta * c : 0.0);
      P->mag[i * s.n + j] = fabs(g->alpha) * mag + (g->beta != 0 ? fabs(g->beta * c) : 0.0);
    }
  return 0;
}

static void free_problem(problem *P)
{
  free(P->a);
  free(P->b);
  free(P->c0);
  free(P->want);
  free(P->mag);
}

/* Runs one path; checks C against the reference (error bound of a k-term float sum) and
 * that the padding of C is untouched. Leaves the result in out (ldc * m floats). */
static int check(fb_backend *fb, int path, const char *name, problem *P, float *out)
{
  fb_gemm_desc g = P->g;
  size_t m = g.m, n = g.n;
  g.a = P->a;
  g.b = P->b;
  g.c = out;
  memcpy(out, P->c0, m * g.ldc * 4);
  int st = path == FB_GEMM_OWN ? fb_gemm_own(fb, &g) : fb_gemm_cblas(fb, &g);
  if (st) {
    describe(P, name, fb->threads);
    fprintf(stderr, "  returned %s\n", nncl_strerror(st));
    return 1;
  }
  const double u = 6e-8; /* float unit roundoff, with a margin */
  for (size_t i = 0; i < m; i++)
    for (size_t j = 0; j < g.ldc; j++) {
      float got = out[i * g.ldc + j];
      if (j >= n) {
        if (memcmp(&got, &P->c0[i * g.ldc + j], 4)) {
          describe(P, name, fb->threads);
          fprintf(stderr, "  wrote C padding at (%zu, %zu)\n", i, j);
          return 1;
        }
        continue;
      }
      double want = P->want[i * n + j], bound = (double)(g.k + 3) * u * P->mag[i * n + j] + 1e-30;
      if (!(fabs(got - want) <= bound)) {
        describe(P, name, fb->threads);
        fprintf(stderr, "  C[%zu] (row %zu, col %zu) = %.9g, want %.9g (bound %.3g)\n",
                i * n + j, i, j, (double)got, want, bound);
        return 1;
      }
    }
  return 0;
}

int main(void)
{
  nncl_backend *be1 = NULL, *be2 = NULL;
  if (nncl_fb_create(NULL, 1, &be1) || nncl_fb_create(NULL, 2, &be2)) {
    fprintf(stderr, "FAIL: cannot create C backends\n");
    return 1;
  }
  fb_backend *fbs[2] = {fb_of(be1), fb_of(be2)};
  fbs[1]->gemm_grain = 1; /* two threads on every shape */
  int fails = 0, runs = 0;
  uint64_t seed = 7001;
  for (size_t s = 0; s < COUNT(shapes) && fails < 5; s++)
    for (int t = 0; t < 4; t++)
      for (size_t v = 0; v < 2; v++) {
        problem P;
        const float *ab = alpha_beta[(s * 5 + (size_t)t * 2 + v) % COUNT(alpha_beta)];
        size_t pad = (s + v) % 3 == 0 ? 3 : 0;
        if (make_problem(&P, shapes[s], t & 1, t >> 1, ab, pad, ++seed)) {
          fprintf(stderr, "FAIL: out of memory\n");
          return 1;
        }
        size_t csize = P.g.m * P.g.ldc * 4 + 4;
        float *out1 = malloc(csize), *out2 = malloc(csize);
        for (int u = 0; fb_ukernel_runnable(u); u++)
          for (int pk = 0; pk < 2; pk++) {
            char name[64];
            snprintf(name, sizeof name, "own/%s/%s", fb_ukernel_runnable(u)->isa,
                     pk ? "panels" : "slivers");
            for (int th = 0; th < 2; th++) {
              fbs[th]->uk = fb_ukernel_runnable(u);
              fbs[th]->gemm_panel = pk;
              fails += check(fbs[th], FB_GEMM_OWN, name, &P, th ? out2 : out1);
              runs++;
            }
            if (memcmp(out1, out2, csize - 4)) {
              describe(&P, name, 2);
              fprintf(stderr, "  1 and 2 threads differ bitwise\n");
              fails++;
            }
          }
#if NNCL_HAVE_CBLAS
        for (int th = 0; th < 2; th++) {
          fails += check(fbs[th], FB_GEMM_CBLAS, "cblas", &P, out1);
          runs++;
        }
#endif
        free(out1);
        free(out2);
        free_problem(&P);
      }
  be1->destroy(be1);
  be2->destroy(be2);
  printf("%d GEMM runs, %d failed (CBLAS %s)\n", runs, fails, NNCL_HAVE_CBLAS ? "tested" : "not built");
  return fails ? 1 : 0;
}
