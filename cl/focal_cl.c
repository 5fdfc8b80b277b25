/* focal_cl.c - softmax focal loss with class weights on the OpenCL backend (focal.cl);
 * argument meanings are those of engine/ops.def FOCAL and FOCAL_GRAD. */
#include "cl/backend_cl.h"
#include "internal.h"

static int focal_op(nncl_backend *be, const nncl_args *a, int kid, int grad, const char *op)
{
  nncl_clbe *b = (nncl_clbe *)be;
  nncl_cl_call c;
  size_t rows = a->n[0], cols = a->n[1], n, local = 64;
  int st = nncl_cl_check_rows(b, op, rows, cols, &n);
  if (st != 0)
    return st;
  if (!(a->f[0] >= 0.0f))
    return nncl_err(be->ctx, NNCL_EINVAL, "cl %s: gamma %g must be >= 0", op, (double)a->f[0]);
  if (rows == 0)
    return 0;
  if (cols == 0)
    return nncl_err(be->ctx, NNCL_EINVAL, "cl %s: zero columns", op);
  if (nncl_cl_begin(b, kid, &c) != 0)
    return c.status;
  nncl_cl_arg_ref(&c, a->t[0], n);
  nncl_cl_arg_ref(&c, a->t[1], rows);
  nncl_cl_arg_ref(&c, a->t[2], cols);
  nncl_cl_arg_ref(&c, a->t[3], grad ? n : rows);
  nncl_cl_arg_u32(&c, rows);
  nncl_cl_arg_u32(&c, cols);
  nncl_cl_arg_f32(&c, a->f[0]);
  if (grad)
    nncl_cl_arg_f32(&c, a->f[1]);
  return nncl_cl_enqueue(&c, 1, &rows, &local);
}

/* t3[r] = -w[y] q^gamma l */
int nncl_cl_focal(nncl_backend *be, const nncl_args *a)
{
  return focal_op(be, a, NNCL_CL_K_FOCAL, 0, "focal");
}

/* t3 = f1 w[y] k (p - onehot(y)) */
int nncl_cl_focal_grad(nncl_backend *be, const nncl_args *a)
{
  return focal_op(be, a, NNCL_CL_K_FOCAL_GRAD, 1, "focal_grad");
}
