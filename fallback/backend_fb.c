/* backend_fb.c - the native C backend: 64-byte aligned host buffers, memcpy transfers,
 * and the op table. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <unistd.h>

#include "fb.h"

size_t fb_mul(size_t n0, size_t n1)
{
  size_t r;
  return __builtin_mul_overflow(n0, n1, &r) ? SIZE_MAX : r;
}

void *fb_ptr(nncl_backend *be, const nncl_args *a, int i, size_t count, const char *fn)
{
  const nncl_ref *r = &a->t[i];
  size_t bytes = fb_mul(count, 4);
  if (!r->buf) {
    nncl_err(be->ctx, NNCL_EINVAL, "%s: t%d is a null buffer", fn, i);
    return NULL;
  }
  if (r->off % 4 || r->off > r->buf->bytes || bytes > r->buf->bytes - r->off) {
    nncl_err(be->ctx, NNCL_EINVAL,
             "%s: t%d needs %zu elements at byte offset %zu of a %zu-byte buffer", fn, i,
             count, r->off, r->buf->bytes);
    return NULL;
  }
  return r->buf->p + r->off;
}

static int fb_alloc(nncl_backend *be, size_t bytes, nncl_buf **out)
{
  *out = NULL;
  fb_backend *fb = fb_of(be);
  if (bytes == 0 || bytes > (size_t)NNCL_MAX_ELEMS * 4)
    return nncl_err(be->ctx, NNCL_ELIMIT, "c: cannot allocate %zu bytes", bytes);
  if (fb->mem_limit && bytes > fb->mem_limit - fb->allocated)
    return nncl_err(be->ctx, NNCL_ENOMEM, "c: %zu bytes asked with %zu in use, beyond the %zu this machine can hold",
                    bytes, fb->allocated, fb->mem_limit);
  nncl_buf *b = malloc(sizeof *b);
  size_t padded = (bytes + 63) / 64 * 64;
  void *p = b ? aligned_alloc(64, padded) : NULL;
  if (!p) {
    free(b);
    return nncl_err(be->ctx, NNCL_ENOMEM, "c: out of memory allocating %zu bytes", bytes);
  }
  b->p = p;
  b->bytes = bytes;
  fb->allocated += bytes;
  *out = b;
  return 0;
}

static void fb_release(nncl_backend *be, nncl_buf *buf)
{
  if (!buf) return;
  fb_of(be)->allocated -= buf->bytes;
  free(buf->p);
  free(buf);
}

static int fb_check_span(nncl_backend *be, const nncl_buf *buf, size_t off, size_t n,
                         const char *what)
{
  if (!buf || off > buf->bytes || n > buf->bytes - off)
    return nncl_err(be->ctx, NNCL_EINVAL, "c: %s of %zu bytes at offset %zu outside a %zu-byte buffer",
                    what, n, off, buf ? buf->bytes : 0);
  return 0;
}

static int fb_write(nncl_backend *be, nncl_buf *buf, size_t off, const void *src, size_t n)
{
  int st = fb_check_span(be, buf, off, n, "write");
  if (st) return st;
  if (n) memcpy(buf->p + off, src, n);
  return 0;
}

static int fb_read(nncl_backend *be, nncl_buf *buf, size_t off, void *dst, size_t n)
{
  int st = fb_check_span(be, buf, off, n, "read");
  if (st) return st;
  if (n) memcpy(dst, buf->p + off, n);
  return 0;
}

static int fb_finish(nncl_backend *be)
{
  (void)be;
  return 0;
}

static void fb_destroy(nncl_backend *be)
{
  if (!be) return;
#if !NNCL_HAVE_OPENMP
  fb_pool_destroy(fb_of(be)->pool);
#endif
  free(fb_of(be)->ws);
  free(be);
}

/* $NNCL_GEMM = own | cblas picks MATMUL's GEMM; default own, which bench_gemm measures on
 * par with OpenBLAS. Measured here (2 cores, seed MLP training step): OpenBLAS's worker
 * threads spin after each call and take the cores the backend's own threads need (and the
 * reverse), so a step mixing both ran 2.5-4x slower than one on the own GEMM. */
static int fb_gemm_choice(struct nncl_ctx *ctx, int *path)
{
  const char *s = getenv("NNCL_GEMM");
  *path = FB_GEMM_OWN;
  if (!s || !*s || !strcmp(s, "own")) return 0;
  if (strcmp(s, "cblas"))
    return nncl_err(ctx, NNCL_EINVAL, "c: NNCL_GEMM=%s: expected own or cblas", s);
  if (NNCL_HAVE_CBLAS)
    *path = FB_GEMM_CBLAS;
  else
    nncl_log(ctx, NNCL_LOG_WARN, "c: NNCL_GEMM=cblas but built without CBLAS; using own GEMM");
  return 0;
}

int nncl_fb_create(struct nncl_ctx *ctx, int threads, nncl_backend **out)
{
  *out = NULL;
  if (threads < 0) return nncl_err(ctx, NNCL_EINVAL, "c: threads %d < 0", threads);
  int path;
  int st = fb_gemm_choice(ctx, &path);
  if (st) return st;
  fb_backend *fb = calloc(1, sizeof *fb);
  if (!fb) return nncl_err(ctx, NNCL_ENOMEM, "c: out of memory");
  fb->threads = threads ? threads : fb_cores();
  fb->gemm = path;
  fb->uk = fb_ukernel_best();
  fb->gemm_panel = -1;
  fb->gemm_grain = FB_GEMM_GRAIN;
  long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
  if (pages > 0 && page > 0) fb->mem_limit = (size_t)pages / 4 * 3 * (size_t)page;
  nncl_backend *be = &fb->base;
  *be = (nncl_backend){
    .name = "c",
    .ctx = ctx,
    .alloc = fb_alloc,
    .release = fb_release,
    .write = fb_write,
    .read = fb_read,
    .finish = fb_finish,
    .destroy = fb_destroy,
    .kernel = {
#define NNCL_OP(id, name) [NNCL_OP_##id] = fb_##name,
#include "ops.def"
#undef NNCL_OP
    },
  };
  snprintf(be->device, sizeof be->device, "native C, %d thread%s, %s GEMM kernel %zux%zu, MATMUL via %s",
           fb->threads, fb->threads == 1 ? "" : "s", fb->uk->isa, fb->uk->mr, fb->uk->nr,
           path == FB_GEMM_CBLAS ? "CBLAS" : "own GEMM");
  *out = be;
  return 0;
}
