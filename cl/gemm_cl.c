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
