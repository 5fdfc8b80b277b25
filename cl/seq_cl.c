/* seq_cl.c - host side of the masked attention softmax (attn.cl); ops.def ATTN_SOFTMAX. */
#include "cl/backend_cl.h"
#include "internal.h"

int nncl_cl_attn_softmax(nncl_backend *be, const nncl_args *a)
{
  nncl_clbe *b = (nncl_clbe *)be;
  nncl_cl_call c;
  size_t rows = a->n[0], cols = a->n[1], tq = a->n[2], per = a->n[3], n;
  int mode = a->i[1];
  int st = nncl_cl_check_rows(b, "attn_softmax", rows, cols, &n);
  if (st != 0 || n == 0)
    return st;
  if (!tq || !per || per % tq || mode < 0 || mode > 2)
    return nncl_err(be->ctx, NNCL_EINVAL, "cl attn_softmax: Tq %zu, rows per sample %zu, mask mode %d", tq, per, mode);
  size_t mask_elems = 1;
  if (mode) {
    size_t last_s = (rows - 1) / per;
    if (a->n[5] && last_s > SIZE_MAX / 2 / a->n[5])
      return nncl_err(be->ctx, NNCL_ELIMIT, "cl attn_softmax: mask strides too large");
    mask_elems = last_s * a->n[5] + (cols - 1) * a->n[4] + 1;
    if ((st = nncl_cl_check_size(b, "attn_softmax", mask_elems)) != 0)
      return st;
  }
  if (nncl_cl_begin(b, NNCL_CL_K_ATTN_SOFTMAX, &c) != 0)
    return c.status;
  nncl_cl_arg_ref(&c, a->t[0], n);
  nncl_cl_arg_ref(&c, a->t[1], n);
  nncl_cl_arg_ref(&c, mode ? a->t[2] : a->t[0], mask_elems);
  nncl_cl_arg_u32(&c, rows);
  nncl_cl_arg_u32(&c, cols);
  nncl_cl_arg_u32(&c, tq);
  nncl_cl_arg_u32(&c, per);
  nncl_cl_arg_u32(&c, a->n[4]);
  nncl_cl_arg_u32(&c, a->n[5]);
  nncl_cl_arg_f32(&c, a->f[0]);
  nncl_cl_arg_f32(&c, a->f[1]);
  nncl_cl_arg_i32(&c, a->i[0] != 0);
  nncl_cl_arg_i32(&c, mode);
  size_t local = (size_t)b->tune.ls;
  return nncl_cl_enqueue(&c, 1, &rows, &local);
}
