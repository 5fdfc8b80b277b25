/* loss_cl.c - row ops (softmax, losses, argmax) and reductions (sum, mean, sum_rows,
 * accuracy) on the OpenCL backend. Argument meanings are those of engine/ops.def. */
#include <math.h>

#include "cl/backend_cl.h"
#include "internal.h"

static nncl_clbe *clbe(nncl_backend *be) { return (nncl_clbe *)be; }

/* Picks the narrow (item per row) or wide (work-group per row) kernel for rows of cols. */
static int row_kernel(nncl_clbe *b, int narrow, int wide, size_t cols)
{
  return cols >= (size_t)b->tune.wide_cols ? wide : narrow;
}

/* Enqueues a row kernel over rows. */
static int enqueue_rows(nncl_cl_call *c, size_t rows, int wide)
{
  size_t rwg = (size_t)c->b->tune.rwg, items = wide ? rows * rwg : rows;
  size_t local = wide ? rwg : 64;
  return nncl_cl_enqueue(c, 1, &items, &local);
}

/* The scratch buffer as a ref at element `at`. */
static nncl_ref scratch_ref(nncl_clbe *b, size_t at)
{
  nncl_ref r = {b->scratch, at * 4};
  return r;
}

/* Values one `sum` work-group reduces: floats (read as VW-vectors), or pairs. */
static size_t sum_chunk(const nncl_clbe *b, int pairs)
{
  return (size_t)b->tune.rwg * (size_t)b->tune.sum_k * (pairs ? 1 : (size_t)b->tune.vw);
}

/* Floats of scratch a reduction of n floats needs beyond its base: two regions of
 * (sum, compensation) pairs. */
static size_t reduce_need(const nncl_clbe *b, size_t n)
{
  size_t g = (n + sum_chunk(b, 0) - 1) / sum_chunk(b, 0), cp = sum_chunk(b, 1);
  return g <= 1 ? 0 : 2 * (g + (g + cp - 1) / cp);
}

/* One `sum` pass: n values of x (pairs if pin) -> one value per work-group into y
 * (pairs if pout, else scaled floats). */
static int sum_pass(nncl_clbe *b, nncl_ref x, size_t n, int pin, nncl_ref y, int pout,
                    float scale)
{
  nncl_cl_call c;
  size_t chunk = sum_chunk(b, pin), groups = (n + chunk - 1) / chunk;
  size_t local = (size_t)b->tune.rwg, items = groups * local;
  if (nncl_cl_begin(b, NNCL_CL_K_SUM, &c) != 0)
    return c.status;
  nncl_cl_arg_ref(&c, x, pin ? 2 * n : n);
  nncl_cl_arg_ref(&c, y, pout ? 2 * groups : groups);
  nncl_cl_arg_u32(&c, n);
  nncl_cl_arg_f32(&c, scale);
  nncl_cl_arg_i32(&c, pin);
  nncl_cl_arg_i32(&c, pout);
  return nncl_cl_enqueue(&c, 1, &items, &local);
}

/* y[0] = scale * sum x[0..n) (floats): passes of `sum`, the partial sums kept as
 * compensated pairs that ping-pong between two scratch regions from element `base` on
 * (the caller has sized the scratch with reduce_need). */
static int reduce(nncl_clbe *b, nncl_ref x, size_t n, nncl_ref y, float scale, size_t base)
{
  size_t first = (n + sum_chunk(b, 0) - 1) / sum_chunk(b, 0);
  size_t region[2] = {base, base + 2 * first};
  int side = 0, pin = 0, st;
  while (n > sum_chunk(b, pin)) {
    nncl_ref out = scratch_ref(b, region[side]);
    if ((st = sum_pass(b, x, n, pin, out, 1, 1.0f)) != 0)
      return st;
    n = (n + sum_chunk(b, pin) - 1) / sum_chunk(b, pin);
    x = out;
    pin = 1;
    side ^= 1;
  }
  return sum_pass(b, x, n, pin, y, 0, scale);
}

/* y[0] = v: for reductions over nothing. */
static int put_scalar(nncl_backend *be, nncl_ref y, float v)
{
  nncl_args f = {.t = {y}, .n = {1}, .f = {v}};
  return nncl_cl_ops[NNCL_OP_FILL](be, &f);
}

static int total(nncl_backend *be, const nncl_args *a, int mean)
{
  nncl_clbe *b = clbe(be);
  size_t n = a->n[0];
  int st;
  if (n == 0)
    return put_scalar(be, a->t[1], mean ? NAN : 0.0f);
  if ((st = nncl_cl_check_size(b, mean ? "mean" : "sum", n)) != 0 ||
      (st = nncl_cl_scratch(b, reduce_need(b, n) * 4)) != 0)
    return st;
  return reduce(b, a->t[0], n, a->t[1], mean ? (float)(1.0 / (double)n) : 1.0f, 0);
}

/* t1[0] = sum t0[0..n0) */
int nncl_cl_sum(nncl_backend *be, const nncl_args *a) { return total(be, a, 0); }

/* t1[0] = sum t0[0..n0) / n0 */
int nncl_cl_mean(nncl_backend *be, const nncl_args *a) { return total(be, a, 1); }

/* t1[c] = f1 t1[c] + sum_r t0[r,c] over n0 x n1 */
int nncl_cl_sum_rows(nncl_backend *be, const nncl_args *a)
{
  nncl_clbe *b = clbe(be);
  nncl_cl_call c;
  size_t rows = a->n[0], cols = a->n[1], n;
  size_t local[2] = {(size_t)b->tune.srx, (size_t)b->tune.sry};
  size_t items[2] = {(cols + (size_t)b->tune.vw - 1) / (size_t)b->tune.vw, local[1]};
  int st = nncl_cl_check_rows(b, "sum_rows", rows, cols, &n);
  if (st != 0)
    return st;
  if (nncl_cl_begin(b, NNCL_CL_K_SUM_ROWS, &c) != 0)
    return c.status;
  nncl_cl_arg_ref(&c, a->t[0], n);
  nncl_cl_arg_ref(&c, a->t[1], cols);
  nncl_cl_arg_u32(&c, rows);
  nncl_cl_arg_u32(&c, cols);
  nncl_cl_arg_f32(&c, a->f[1]);
  return nncl_cl_enqueue(&c, 2, items, local);
}

/* Row op over t[0..nt) where t[k] has rows x cols elements if full[k], else rows. */
static int rows_op(nncl_backend *be, const nncl_args *a, const char *op, int narrow, int wide,
                   int nt, const int *full)
{
  nncl_clbe *b = clbe(be);
  nncl_cl_call c;
  size_t rows = a->n[0], cols = a->n[1], n;
  int st = nncl_cl_check_rows(b, op, rows, cols, &n);
  if (st != 0 || n == 0)
    return st;
  int kid = row_kernel(b, narrow, wide, cols);
  if (nncl_cl_begin(b, kid, &c) != 0)
    return c.status;
  for (int k = 0; k < nt; k++)
    nncl_cl_arg_ref(&c, a->t[k], full[k] ? n : rows);
  nncl_cl_arg_u32(&c, rows);
  nncl_cl_arg_u32(&c, cols);
  return enqueue_rows(&c, rows, kid == wide);
}

/* t1 = softmax(t0) by rows */
int nncl_cl_softmax(nncl_backend *be, const nncl_args *a)
{
  static const int full[] = {1, 1};
  return rows_op(be, a, "softmax", NNCL_CL_K_SOFTMAX, NNCL_CL_K_SOFTMAX_WIDE, 2, full);
}

/* t2 = t0 (t1 - sum_c t1 t0): t0 = y, t1 = dy */
int nncl_cl_softmax_grad(nncl_backend *be, const nncl_args *a)
{
  static const int full[] = {1, 1, 1};
  return rows_op(be, a, "softmax_grad", NNCL_CL_K_SOFTMAX_GRAD, NNCL_CL_K_SOFTMAX_GRAD_WIDE, 3,
                 full);
}

/* t0 logits, t1 labels (n0), t2 probs, t3 loss (n0) */
int nncl_cl_softmax_xent(nncl_backend *be, const nncl_args *a)
{
  static const int full[] = {1, 0, 1, 0};
  return rows_op(be, a, "softmax_xent", NNCL_CL_K_SOFTMAX_XENT, NNCL_CL_K_SOFTMAX_XENT_WIDE, 4,
                 full);
}

/* t0 pred, t1 target, t2 loss (n0) */
int nncl_cl_mse(nncl_backend *be, const nncl_args *a)
{
  static const int full[] = {1, 1, 0};
  return rows_op(be, a, "mse", NNCL_CL_K_MSE, NNCL_CL_K_MSE_WIDE, 3, full);
}

/* t0 logits, t1 targets, t2 loss (n0) */
int nncl_cl_bce(nncl_backend *be, const nncl_args *a)
{
  static const int full[] = {1, 1, 0};
  return rows_op(be, a, "bce", NNCL_CL_K_BCE, NNCL_CL_K_BCE_WIDE, 3, full);
}

/* t1[r] = argmax t0[r,:] */
int nncl_cl_argmax(nncl_backend *be, const nncl_args *a)
{
  static const int full[] = {1, 0};
  if (a->n[1] == 0 && a->n[0] != 0)
    return nncl_err(be->ctx, NNCL_EINVAL, "cl argmax: rows of zero columns");
  return rows_op(be, a, "argmax", NNCL_CL_K_ARGMAX, NNCL_CL_K_ARGMAX_WIDE, 2, full);
}

/* Elementwise over n0 x n1 with t0, t1 -> t2 and scale f0; t1 has n0 entries if !t1_full. */
static int ew_op(nncl_backend *be, const nncl_args *a, const char *op, int kid, int t1_full)
{
  nncl_clbe *b = clbe(be);
  nncl_cl_call c;
  size_t rows = a->n[0], cols = a->n[1], n;
  int st = nncl_cl_check_rows(b, op, rows, cols, &n);
  if (st != 0)
    return st;
  if (nncl_cl_begin(b, kid, &c) != 0)
    return c.status;
  nncl_cl_arg_ref(&c, a->t[0], n);
  nncl_cl_arg_ref(&c, a->t[1], t1_full ? n : rows);
  nncl_cl_arg_ref(&c, a->t[2], n);
  if (t1_full) {
    nncl_cl_arg_u32(&c, n);
  } else {
    nncl_cl_arg_u32(&c, rows);
    nncl_cl_arg_u32(&c, cols);
  }
  nncl_cl_arg_f32(&c, a->f[0]);
  return nncl_cl_enqueue_ew(&c, n);
}

/* t2 = f0 (t0 - onehot(t1)) */
int nncl_cl_softmax_xent_grad(nncl_backend *be, const nncl_args *a)
{
  return ew_op(be, a, "softmax_xent_grad", NNCL_CL_K_SOFTMAX_XENT_GRAD, 0);
}

/* t2 = f0 2 (t0 - t1) */
int nncl_cl_mse_grad(nncl_backend *be, const nncl_args *a)
{
  return ew_op(be, a, "mse_grad", NNCL_CL_K_MSE_GRAD, 1);
}

/* t2 = f0 (sigmoid(t0) - t1) */
int nncl_cl_bce_grad(nncl_backend *be, const nncl_args *a)
{
  return ew_op(be, a, "bce_grad", NNCL_CL_K_BCE_GRAD, 1);
}

/* t2[0] = number of rows whose argmax equals the label t1[r]: per-work-group counts into
 * the scratch buffer, then `sum` passes. */
int nncl_cl_accuracy(nncl_backend *be, const nncl_args *a)
{
  nncl_clbe *b = clbe(be);
  nncl_cl_call c;
  size_t rows = a->n[0], cols = a->n[1], n, local = (size_t)b->tune.rwg;
  int st = nncl_cl_check_rows(b, "accuracy", rows, cols, &n);
  if (st != 0)
    return st;
  if (rows == 0)
    return put_scalar(be, a->t[2], 0.0f);
  if (cols == 0)
    return nncl_err(be->ctx, NNCL_EINVAL, "cl accuracy: rows of zero columns");
  size_t groups = (rows + local - 1) / local;
  if ((st = nncl_cl_scratch(b, (groups + reduce_need(b, groups)) * 4)) != 0)
    return st;
  if (nncl_cl_begin(b, NNCL_CL_K_ACCURACY, &c) != 0)
    return c.status;
  nncl_cl_arg_ref(&c, a->t[0], n);
  nncl_cl_arg_ref(&c, a->t[1], rows);
  nncl_cl_arg_ref(&c, scratch_ref(b, 0), groups);
  nncl_cl_arg_u32(&c, rows);
  nncl_cl_arg_u32(&c, cols);
  if ((st = nncl_cl_enqueue(&c, 1, &rows, &local)) != 0)
    return st;
  return reduce(b, scratch_ref(b, 0), groups, a->t[2], 1.0f, groups);
}
