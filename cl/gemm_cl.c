/* gemm_cl.c - MATMUL on the OpenCL backend: CLBlast or our gemm.cl.
 *
 * Default: gemm.cl on CPU devices (PoCL: CLBlast's first build there takes ~8 s, which
 * breaks the cold-start budget), CLBlast elsewhere when built with it.
 * NNCL_CL_GEMM=own|clblast overrides. */
#include <stdlib.h>
#include <string.h>

#include "cl/backend_cl.h"
#include "internal.h"
#include "nncl_config.h"

#if NNCL_HAVE_CLBLAST
#include <clblast_c.h>
#endif

int nncl_cl_gemm_init(nncl_clbe *b)
{
  const char *env = getenv("NNCL_CL_GEMM");
  b->gemm_clblast = NNCL_HAVE_CLBLAST && !(b->dev.type & CL_DEVICE_TYPE_CPU);
  if (!env || !*env)
    return 0;
  if (strcmp(env, "own") == 0) {
    b->gemm_clblast = 0;
    return 0;
  }
  if (strcmp(env, "clblast") != 0)
    return nncl_err(b->be.ctx, NNCL_EINVAL, "NNCL_CL_GEMM=%s: expected own or clblast", env);
  if (!NNCL_HAVE_CLBLAST)
    return nncl_err(b->be.ctx, NNCL_EUNSUPPORTED, "NNCL_CL_GEMM=clblast: built without CLBlast");
  b->gemm_clblast = 1;
  return 0;
}

/* Checks r holds `elems` floats; returns its element offset through *off. */
static int ref_elems(nncl_clbe *b, nncl_ref r, size_t elems, const char *name, size_t *off)
{
  if (!r.buf || r.off % 4 != 0 || r.off > r.buf->bytes || elems > (r.buf->bytes - r.off) / 4)
    return nncl_err(b->be.ctx, NNCL_EINVAL,
                    "cl matmul: %s (%zu elements at byte offset %zu) is null, misaligned or "
                    "outside its buffer",
                    name, elems, r.off);
  *off = r.off / 4;
  return 0;
}

#if NNCL_HAVE_CLBLAST
static const char *clblast_name(CLBlastStatusCode s)
{
  switch (s) {
  case CLBlastNotImplemented: return "CLBlastNotImplemented";
  case CLBlastInvalidMatrixA: return "CLBlastInvalidMatrixA";
  case CLBlastInvalidMatrixB: return "CLBlastInvalidMatrixB";
  case CLBlastInvalidMatrixC: return "CLBlastInvalidMatrixC";
  case CLBlastInvalidDimension: return "CLBlastInvalidDimension";
  case CLBlastInvalidLeadDimA: return "CLBlastInvalidLeadDimA";
  case CLBlastInvalidLeadDimB: return "CLBlastInvalidLeadDimB";
  case CLBlastInvalidLeadDimC: return "CLBlastInvalidLeadDimC";
  case CLBlastInsufficientMemoryA: return "CLBlastInsufficientMemoryA";
  case CLBlastInsufficientMemoryB: return "CLBlastInsufficientMemoryB";
  case CLBlastInsufficientMemoryC: return "CLBlastInsufficientMemoryC";
  case CLBlastInsufficientMemoryTemp: return "CLBlastInsufficientMemoryTemp";
  case CLBlastInvalidLocalMemUsage: return "CLBlastInvalidLocalMemUsage";
  case CLBlastDatabaseError: return "CLBlastDatabaseError";
  case CLBlastUnknownError: return "CLBlastUnknownError";
  case CLBlastUnexpectedError: return "CLBlastUnexpectedError";
  default: return "CLBlast error";
  }
}

static int clblast_gemm(nncl_clbe *b, const nncl_args *a, size_t ao, size_t bo, size_t co)
{
  size_t M = a->n[0], N = a->n[1], K = a->n[2];
  CLBlastStatusCode s = CLBlastSgemm(
      CLBlastLayoutRowMajor, a->i[0] ? CLBlastTransposeYes : CLBlastTransposeNo,
      a->i[1] ? CLBlastTransposeYes : CLBlastTransposeNo, M, N, K, a->f[0], a->t[0].buf->mem, ao,
      a->i[0] ? M : K, a->t[1].buf->mem, bo, a->i[1] ? K : N, a->f[1], a->t[2].buf->mem, co, N,
      &b->queue, NULL);
  if (s == CLBlastSuccess)
    return 0;
  /* CLBlast passes OpenCL's own codes through; its own lie below -1000. */
  if (s > -1000)
    return nncl_cl_qfail(b, (cl_int)s, "CLBlastSgemm");
  return nncl_err(b->be.ctx, NNCL_EDEVICE, "CLBlastSgemm(%zu x %zu x %zu): %s (%d)", M, N, K,
                  clblast_name(s), (int)s);
}
#endif

/* t2 = f0 op(t0) op(t1) + f1 t2; M = n0, N = n1, K = n2; i0, i1 transpose A, B. */
int nncl_cl_matmul(nncl_backend *be, const nncl_args *a)
{
  nncl_clbe *b = (nncl_clbe *)be;
  size_t M = a->n[0], N = a->n[1], K = a->n[2], mk, kn, mn, ao = 0, bo = 0, co = 0;
  int st;
  if ((st = nncl_cl_check_rows(b, "matmul", M, K, &mk)) != 0 ||
      (st = nncl_cl_check_rows(b, "matmul", K, N, &kn)) != 0 ||
      (st = nncl_cl_check_rows(b, "matmul", M, N, &mn)) != 0 || (st = nncl_cl_alive(b)) != 0)
    return st;
  if (mn == 0)
    return 0;
  if ((st = ref_elems(b, a->t[0], mk, "A", &ao)) != 0 ||
      (st = ref_elems(b, a->t[1], kn, "B", &bo)) != 0 ||
      (st = ref_elems(b, a->t[2], mn, "C", &co)) != 0)
    return st;
#if NNCL_HAVE_CLBLAST
  /* CLBlast refuses K == 0; gemm.cl then writes beta C. */
  if (b->gemm_clblast && K > 0)
    return clblast_gemm(b, a, ao, bo, co);
#endif
  nncl_cl_call c;
  const nncl_cl_tune *t = &b->tune;
  size_t local[2] = {(size_t)(t->tn / t->wn), (size_t)(t->tm / t->wm)};
  size_t items[2] = {(N + t->tn - 1) / t->tn * local[0], (M + t->tm - 1) / t->tm * local[1]};
  if (nncl_cl_begin(b, NNCL_CL_K_MATMUL, &c) != 0)
    return c.status;
  nncl_cl_arg_ref(&c, a->t[0], mk);
  nncl_cl_arg_ref(&c, a->t[1], kn);
  nncl_cl_arg_ref(&c, a->t[2], mn);
  nncl_cl_arg_u32(&c, M);
  nncl_cl_arg_u32(&c, N);
  nncl_cl_arg_u32(&c, K);
  nncl_cl_arg_i32(&c, a->i[0] != 0);
  nncl_cl_arg_i32(&c, a->i[1] != 0);
  nncl_cl_arg_f32(&c, a->f[0]);
  nncl_cl_arg_f32(&c, a->f[1]);
  return nncl_cl_enqueue(&c, 2, items, local);
}

/* Highest element + 1 that any batch of a stored rows x cols matrix (row stride ld)
 * touches, or SIZE_MAX when it overflows. */
static size_t batch_span(size_t n3, size_t n4, size_t s1, size_t s2, size_t rows, size_t cols, size_t ld)
{
  if (!rows || !cols || !n3 || !n4)
    return 0;
  const size_t lim = (size_t)1 << 40;
  if (n3 > lim || n4 > lim || s1 > lim || s2 > lim || rows > lim || ld > lim)
    return SIZE_MAX;
  return (n3 - 1) * s1 + (n4 - 1) * s2 + (rows - 1) * ld + cols;
}

#if NNCL_HAVE_CLBLAST
/* One CLBlastSgemmStridedBatched per outer batch (the inner batches are evenly strided). */
static int clblast_batched(nncl_clbe *b, const nncl_args *a, size_t ao, size_t bo, size_t co)
{
  size_t M = a->n[0], N = a->n[1], K = a->n[2];
  for (size_t b1 = 0; b1 < a->n[3]; b1++) {
    CLBlastStatusCode s = CLBlastSgemmStridedBatched(
        CLBlastLayoutRowMajor, a->i[0] ? CLBlastTransposeYes : CLBlastTransposeNo,
        a->i[1] ? CLBlastTransposeYes : CLBlastTransposeNo, M, N, K, a->f[0], a->t[0].buf->mem,
        ao + b1 * (size_t)a->i[2], a->n[5], (size_t)a->i[3], a->t[1].buf->mem, bo + b1 * (size_t)a->i[4], a->n[6],
        (size_t)a->i[5], a->f[1], a->t[2].buf->mem, co + b1 * (size_t)a->i[6], a->n[7], (size_t)a->i[7], a->n[4],
        &b->queue, NULL);
    if (s == CLBlastSuccess)
      continue;
    if (s > -1000)
      return nncl_cl_qfail(b, (cl_int)s, "CLBlastSgemmStridedBatched");
    return nncl_err(b->be.ctx, NNCL_EDEVICE, "CLBlastSgemmStridedBatched(%zu x %zu x %zu, %zu batches): %s (%d)", M,
                    N, K, a->n[4], clblast_name(s), (int)s);
  }
  return 0;
}
#endif

/* ops.def MATMUL_BATCHED: n0 M, n1 N, n2 K, n3 x n4 batches, n5..n7 lda ldb ldc, i0 i1
 * transposes, i2..i7 batch strides; f0 alpha, f1 beta. */
int nncl_cl_matmul_batched(nncl_backend *be, const nncl_args *a)
{
  nncl_clbe *b = (nncl_clbe *)be;
  size_t M = a->n[0], N = a->n[1], K = a->n[2], n3 = a->n[3], n4 = a->n[4], ao = 0, bo = 0, co = 0;
  int ta = a->i[0] != 0, tb = a->i[1] != 0, st;
  for (int j = 2; j < 8; j++)
    if (a->i[j] < 0)
      return nncl_err(be->ctx, NNCL_EINVAL, "cl matmul_batched: negative batch stride i%d", j);
  if ((st = nncl_cl_alive(b)) != 0)
    return st;
  if (!M || !N || !n3 || !n4)
    return 0;
  if ((ta ? a->n[5] < M : a->n[5] < K) || (tb ? a->n[6] < K : a->n[6] < N) || a->n[7] < N)
    return nncl_err(be->ctx, NNCL_EINVAL, "cl matmul_batched: leading dims %zu %zu %zu too small for %zu x %zu x %zu",
                    a->n[5], a->n[6], a->n[7], M, N, K);
  size_t sa = batch_span(n3, n4, (size_t)a->i[2], (size_t)a->i[3], ta ? K : M, ta ? M : K, a->n[5]);
  size_t sb = batch_span(n3, n4, (size_t)a->i[4], (size_t)a->i[5], tb ? N : K, tb ? K : N, a->n[6]);
  size_t sc = batch_span(n3, n4, (size_t)a->i[6], (size_t)a->i[7], M, N, a->n[7]);
  if ((st = nncl_cl_check_size(b, "matmul_batched", sa)) != 0 ||
      (st = nncl_cl_check_size(b, "matmul_batched", sb)) != 0 ||
      (st = nncl_cl_check_size(b, "matmul_batched", sc)) != 0 ||
      (st = nncl_cl_check_size(b, "matmul_batched", n3 * n4)) != 0)
    return st;
  if ((K && ((st = ref_elems(b, a->t[0], sa, "A", &ao)) != 0 || (st = ref_elems(b, a->t[1], sb, "B", &bo)) != 0)) ||
      (st = ref_elems(b, a->t[2], sc, "C", &co)) != 0)
    return st;
#if NNCL_HAVE_CLBLAST
  if (b->gemm_clblast && K > 0)
    return clblast_batched(b, a, ao, bo, co);
#endif
  nncl_cl_call c;
  const nncl_cl_tune *t = &b->tune;
  size_t local[3] = {(size_t)(t->tn / t->wn), (size_t)(t->tm / t->wm), 1};
  size_t items[3] = {(N + t->tn - 1) / t->tn * local[0], (M + t->tm - 1) / t->tm * local[1], n3 * n4};
  if (nncl_cl_begin(b, NNCL_CL_K_MATMUL_BATCHED, &c) != 0)
    return c.status;
  /* with K == 0 A and B are never read: any valid ref will do */
  nncl_cl_arg_ref(&c, K ? a->t[0] : a->t[2], K ? sa : sc);
  nncl_cl_arg_ref(&c, K ? a->t[1] : a->t[2], K ? sb : sc);
  nncl_cl_arg_ref(&c, a->t[2], sc);
  nncl_cl_arg_u32(&c, M);
  nncl_cl_arg_u32(&c, N);
  nncl_cl_arg_u32(&c, K);
  nncl_cl_arg_i32(&c, ta);
  nncl_cl_arg_i32(&c, tb);
  nncl_cl_arg_f32(&c, a->f[0]);
  nncl_cl_arg_f32(&c, a->f[1]);
  for (int j = 5; j < 8; j++)
    nncl_cl_arg_u32(&c, a->n[j]);
  nncl_cl_arg_u32(&c, n4);
  for (int j = 2; j < 8; j++)
    nncl_cl_arg_u32(&c, (size_t)a->i[j]);
  return nncl_cl_enqueue(&c, 3, items, local);
}
