/* gemm_cblas.c - the GEMM interface on a system CBLAS (OpenBLAS). */
#include <limits.h>

#include "fb.h"

#if NNCL_HAVE_CBLAS
#include <cblas.h>

int fb_gemm_cblas(fb_backend *fb, const fb_gemm_desc *g)
{
  if (fb_gemm_trivial(g)) return 0;
  const size_t lim = INT_MAX;
  if (g->m > lim || g->n > lim || g->k > lim || g->lda > lim || g->ldb > lim || g->ldc > lim)
    return nncl_err(fb->base.ctx, NNCL_EUNSUPPORTED, "c: GEMM %zux%zux%zu exceeds CBLAS int range",
                    g->m, g->n, g->k);
#ifdef OPENBLAS_VERSION
  /* OpenBLAS keeps one process-wide thread count. */
  if (openblas_get_num_threads() != fb->threads) openblas_set_num_threads(fb->threads);
#endif
  cblas_sgemm(CblasRowMajor, g->ta ? CblasTrans : CblasNoTrans, g->tb ? CblasTrans : CblasNoTrans,
              (int)g->m, (int)g->n, (int)g->k, g->alpha, g->a, (int)g->lda, g->b, (int)g->ldb,
              g->beta, g->c, (int)g->ldc);
  return 0;
}

#else

int fb_gemm_cblas(fb_backend *fb, const fb_gemm_desc *g)
{
  (void)g;
  return nncl_err(fb->base.ctx, NNCL_EUNSUPPORTED, "c: built without CBLAS");
}

#endif
