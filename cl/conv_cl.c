/* conv_cl.c - host side of the vision ops on the OpenCL backend: im2col, col2im,
 * transpose_ab, ch_bias_add, copy2d, conv2d and its gradients (conv.cl), pooling (pool.cl), ch_sum, batch and layer
 * norm (norm.cl), dropout (dropout.cl). Argument meanings are those of engine/ops.def; the
 * checks here keep every kernel index within a uint and every coordinate within an int. */
#include <limits.h>
#include <math.h>

#include "cl/backend_cl.h"
#include "internal.h"

static nncl_clbe *clbe(nncl_backend *be) { return (nncl_clbe *)be; }

/* Coordinates (sizes, strides, pads, kernel extents) must stay well inside an int. */
#define COORD_MAX ((uint64_t)1 << 28)

/* Enqueues a 1-D kernel over n items with the elementwise work-group size. */
static int enqueue_1d(nncl_cl_call *c, size_t n)
{
  size_t local = (size_t)c->b->tune.ls;
  return nncl_cl_enqueue(c, 1, &n, &local);
}

/* Enqueues items (d0, d1, d2) in work-groups of 64: (l0, 64 / l0, 1) with l0 the smallest
 * power of 2 >= d0, at most 64 (rows of an image along d0). */
static int enqueue_3d(nncl_cl_call *c, size_t d0, size_t d1, size_t d2)
{
  size_t l0 = 1;
  while (l0 < d0 && l0 < 64)
    l0 *= 2;
  size_t items[3] = {d0, d1, d2}, local[3] = {l0, 64 / l0, 1};
  return nncl_cl_enqueue(c, 3, items, local);
}

/* Enqueues one NWG work-group per unit. */
static int enqueue_groups(nncl_cl_call *c, size_t units)
{
  size_t local = NNCL_CL_NWG, items = units * local;
  return nncl_cl_enqueue(c, 1, &items, &local);
}

/* a * b * c, or SIZE_MAX on overflow (then nncl_cl_check_size refuses it). */
static size_t mul3(size_t a, size_t b, size_t c)
{
  size_t r;
  if (__builtin_mul_overflow(a, b, &r) || __builtin_mul_overflow(r, c, &r))
    return SIZE_MAX;
  return r;
}

/* ---- convolution geometry --------------------------------------------------------------- */

typedef struct conv_geo {
  size_t n, c, h, w, oh, ow, cx;
  size_t x_span, col; /* elements of the image view and of col */
} conv_geo;

static int conv_geo_of(nncl_clbe *b, const nncl_args *a, const char *op, conv_geo *g)
{
  const int *i = a->i;
  *g = (conv_geo){a->n[0], a->n[1], a->n[2], a->n[3], a->n[4], a->n[5], a->n[6] ? a->n[6] : a->n[1], 0, 0};
  if (i[0] < 1 || i[1] < 1 || i[2] < 1 || i[3] < 1 || i[6] < 1 || i[7] < 1 || i[4] < 0 ||
      i[5] < 0 || g->cx < g->c)
    return nncl_err(b->be.ctx, NNCL_EINVAL,
                    "cl %s: bad geometry: kernel %dx%d, stride %dx%d, dilation %dx%d, pad %d,%d, %zu of "
                    "%zu channels",
                    op, i[0], i[1], i[2], i[3], i[6], i[7], i[4], i[5], g->c, g->cx);
  const uint64_t coord[] = {g->h, g->w, g->oh, g->ow, (uint64_t)i[0] * (uint64_t)i[6],
                            (uint64_t)i[1] * (uint64_t)i[7], (uint64_t)i[2] * g->oh,
                            (uint64_t)i[3] * g->ow, (uint64_t)i[4], (uint64_t)i[5]};
  for (size_t k = 0; k < sizeof coord / sizeof coord[0]; k++)
    if (coord[k] > COORD_MAX)
      return nncl_err(b->be.ctx, NNCL_ELIMIT, "cl %s: image geometry beyond the kernels' int range", op);
  size_t plane = g->h * g->w, rows = mul3(g->c, (size_t)i[0], (size_t)i[1]);
  g->x_span = g->n && g->c ? mul3(mul3(g->n - 1, g->cx, 1) + g->c, plane, 1) : 0;
  g->col = mul3(rows, g->n, g->oh * g->ow);
  int st = nncl_cl_check_size(b, op, g->x_span);
  if (st == 0)
    st = nncl_cl_check_size(b, op, g->col);
  if (st == 0)
    st = nncl_cl_check_size(b, op, mul3(g->n, g->cx, plane));
  return st;
}

static void conv_geo_args(nncl_cl_call *c, const conv_geo *g, const int *i)
{
  nncl_cl_arg_u32(c, g->n);
  nncl_cl_arg_u32(c, g->c);
  nncl_cl_arg_u32(c, g->h);
  nncl_cl_arg_u32(c, g->w);
  nncl_cl_arg_u32(c, g->oh);
  nncl_cl_arg_u32(c, g->ow);
  nncl_cl_arg_u32(c, g->cx);
  for (int k = 0; k < 8; k++)
    nncl_cl_arg_i32(c, i[k]);
}

/* Output columns per im2col item (conv.cl's default IM2COL_X). */
#define IM2COL_X 8

/* col = im2col(x); items (OW / IM2COL_X, N OH, C KH KW) */
int nncl_cl_im2col(nncl_backend *be, const nncl_args *a)
{
  nncl_clbe *b = clbe(be);
  nncl_cl_call c;
  conv_geo g;
  int st = conv_geo_of(b, a, "im2col", &g);
  if (st != 0)
    return st;
  if (nncl_cl_begin(b, NNCL_CL_K_IM2COL, &c) != 0)
    return c.status;
  nncl_cl_arg_ref(&c, a->t[0], g.x_span);
  nncl_cl_arg_ref(&c, a->t[1], g.col);
  conv_geo_args(&c, &g, a->i);
  return enqueue_3d(&c, (g.ow + IM2COL_X - 1) / IM2COL_X, g.n * g.oh, g.c * (size_t)a->i[0] * (size_t)a->i[1]);
}

/* dx = col2im(col); items (W, H, N C) over the (N, C, H, W) slice */
int nncl_cl_col2im(nncl_backend *be, const nncl_args *a)
{
  nncl_clbe *b = clbe(be);
  nncl_cl_call c;
  conv_geo g;
  int st = conv_geo_of(b, a, "col2im", &g);
  if (st != 0)
    return st;
  if (nncl_cl_begin(b, NNCL_CL_K_COL2IM, &c) != 0)
    return c.status;
  nncl_cl_arg_ref(&c, a->t[0], g.col);
  nncl_cl_arg_ref(&c, a->t[1], g.x_span);
  conv_geo_args(&c, &g, a->i);
  return enqueue_3d(&c, g.w, g.h, g.n * g.c);
}

/* ---- transpose_ab, ch_bias_add, ch_sum, copy2d ------------------------------------------- */

/* t1[b, a, c] = t0[a, b, c] */
int nncl_cl_transpose_ab(nncl_backend *be, const nncl_args *a)
{
  nncl_clbe *b = clbe(be);
  nncl_cl_call c;
  size_t n = mul3(a->n[0], a->n[1], a->n[2]);
  int st = nncl_cl_check_size(b, "transpose_ab", n);
  if (st != 0)
    return st;
  if (nncl_cl_begin(b, NNCL_CL_K_TRANSPOSE_AB, &c) != 0)
    return c.status;
  nncl_cl_arg_ref(&c, a->t[0], n);
  nncl_cl_arg_ref(&c, a->t[1], n);
  for (int k = 0; k < 3; k++)
    nncl_cl_arg_u32(&c, a->n[k]);
  return enqueue_1d(&c, n);
}

/* t1[n, c, p] = t0[n, c, p] + t2[c] */
int nncl_cl_ch_bias_add(nncl_backend *be, const nncl_args *a)
{
  nncl_clbe *b = clbe(be);
  nncl_cl_call c;
  size_t n = mul3(a->n[0], a->n[1], a->n[2]);
  int st = nncl_cl_check_size(b, "ch_bias_add", n);
  if (st != 0)
    return st;
  if (nncl_cl_begin(b, NNCL_CL_K_CH_BIAS_ADD, &c) != 0)
    return c.status;
  nncl_cl_arg_ref(&c, a->t[0], n);
  nncl_cl_arg_ref(&c, a->t[2], a->n[1]);
  nncl_cl_arg_ref(&c, a->t[1], n);
  for (int k = 0; k < 3; k++)
    nncl_cl_arg_u32(&c, a->n[k]);
  return nncl_cl_enqueue_ew(&c, n);
}

/* t1[c] = f1 t1[c] + sum_{n,p} t0[n, c, p]; one work-group per channel */
int nncl_cl_ch_sum(nncl_backend *be, const nncl_args *a)
{
  nncl_clbe *b = clbe(be);
  nncl_cl_call c;
  size_t n = mul3(a->n[0], a->n[1], a->n[2]);
  int st = nncl_cl_check_size(b, "ch_sum", n);
  if (st != 0)
    return st;
  if (nncl_cl_begin(b, NNCL_CL_K_CH_SUM, &c) != 0)
    return c.status;
  nncl_cl_arg_ref(&c, a->t[0], n);
  nncl_cl_arg_ref(&c, a->t[1], a->n[1]);
  for (int k = 0; k < 3; k++)
    nncl_cl_arg_u32(&c, a->n[k]);
  nncl_cl_arg_f32(&c, a->f[1]);
  return enqueue_groups(&c, a->n[1]);
}

/* Elements a view of rows x cols with row stride ld spans. */
static size_t strided_span(size_t rows, size_t cols, size_t ld)
{
  return rows && cols ? mul3(rows - 1, ld, 1) + cols : 0;
}

/* t1[r n3 + c] = t0[r n2 + c] */
int nncl_cl_copy2d(nncl_backend *be, const nncl_args *a)
{
  nncl_clbe *b = clbe(be);
  nncl_cl_call c;
  size_t rows = a->n[0], cols = a->n[1], ldx = a->n[2], ldy = a->n[3];
  if (rows > 1 && (ldx < cols || ldy < cols))
    return nncl_err(be->ctx, NNCL_EINVAL, "cl copy2d: row strides %zu, %zu below the row length %zu",
                    ldx, ldy, cols);
  size_t sx = strided_span(rows, cols, ldx), sy = strided_span(rows, cols, ldy);
  int st = nncl_cl_check_size(b, "copy2d", sx);
  if (st == 0)
    st = nncl_cl_check_size(b, "copy2d", sy);
  if (st != 0 || sx == 0)
    return st;
  if (nncl_cl_begin(b, NNCL_CL_K_COPY2D, &c) != 0)
    return c.status;
  nncl_cl_arg_ref(&c, a->t[0], sx);
  nncl_cl_arg_ref(&c, a->t[1], sy);
  nncl_cl_arg_u32(&c, rows);
  nncl_cl_arg_u32(&c, cols);
  nncl_cl_arg_u32(&c, ldx);
  nncl_cl_arg_u32(&c, ldy);
  size_t items[2] = {cols, rows}, local[2] = {(size_t)b->tune.ls, 1};
  return nncl_cl_enqueue(&c, 2, items, local);
}

/* ---- conv2d, conv2d_grad_x, conv2d_grad_w ------------------------------------------------ */

/* Geometry of the direct ops (n6 = OC; images C channels apart) and their tensor sizes. */
typedef struct dconv_geo {
  conv_geo g;
  size_t oc, x, y, w;
} dconv_geo;

static int dconv_geo_of(nncl_clbe *b, const nncl_args *a, const char *op, dconv_geo *d)
{
  nncl_args ga = *a;
  ga.n[6] = 0;
  int st = conv_geo_of(b, &ga, op, &d->g);
  if (st != 0)
    return st;
  d->oc = a->n[6];
  d->x = d->g.x_span;
  d->y = mul3(d->g.n, d->oc, d->g.oh * d->g.ow);
  d->w = mul3(d->oc, d->g.c, (size_t)a->i[0] * (size_t)a->i[1]);
  st = nncl_cl_check_size(b, op, d->y);
  if (st == 0)
    st = nncl_cl_check_size(b, op, d->w);
  return st;
}

static void dconv_args(nncl_cl_call *c, const dconv_geo *d, const int *i)
{
  conv_geo g = d->g;
  g.cx = d->oc;
  conv_geo_args(c, &g, i);
}

/* y = conv2d(x, w) + bias; items (OW, OH, N OC) */
int nncl_cl_conv2d(nncl_backend *be, const nncl_args *a)
{
  nncl_clbe *b = clbe(be);
  nncl_cl_call c;
  dconv_geo d;
  int st = dconv_geo_of(b, a, "conv2d", &d);
  if (st != 0 || d.y == 0)
    return st;
  int has_bias = a->t[3].buf != NULL;
  if (nncl_cl_begin(b, NNCL_CL_K_CONV2D, &c) != 0)
    return c.status;
  nncl_cl_arg_ref(&c, a->t[0], d.x);
  nncl_cl_arg_ref(&c, a->t[1], d.w);
  nncl_cl_arg_ref(&c, a->t[2], d.y);
  nncl_cl_arg_ref(&c, has_bias ? a->t[3] : a->t[1], has_bias ? d.oc : 0); /* unread without bias */
  nncl_cl_arg_i32(&c, has_bias);
  dconv_args(&c, &d, a->i);
  return enqueue_3d(&c, d.g.ow, d.g.oh, d.g.n * d.oc);
}

/* dx = conv2d_grad_x(dy, w); items (W, H, N C) */
int nncl_cl_conv2d_grad_x(nncl_backend *be, const nncl_args *a)
{
  nncl_clbe *b = clbe(be);
  nncl_cl_call c;
  dconv_geo d;
  int st = dconv_geo_of(b, a, "conv2d_grad_x", &d);
  if (st != 0 || d.x == 0)
    return st;
  if (nncl_cl_begin(b, NNCL_CL_K_CONV2D_GRAD_X, &c) != 0)
    return c.status;
  nncl_cl_arg_ref(&c, a->t[0], d.y);
  nncl_cl_arg_ref(&c, a->t[1], d.w);
  nncl_cl_arg_ref(&c, a->t[2], d.x);
  dconv_args(&c, &d, a->i);
  return enqueue_3d(&c, d.g.w, d.g.h, d.g.n * d.g.c);
}

/* dw = conv2d_grad_w(x, dy); one work-group of NNCL_CL_NWG per weight */
int nncl_cl_conv2d_grad_w(nncl_backend *be, const nncl_args *a)
{
  nncl_clbe *b = clbe(be);
  nncl_cl_call c;
  dconv_geo d;
  int st = dconv_geo_of(b, a, "conv2d_grad_w", &d);
  if (st != 0 || d.w == 0)
    return st;
  if (nncl_cl_begin(b, NNCL_CL_K_CONV2D_GRAD_W, &c) != 0)
    return c.status;
  nncl_cl_arg_ref(&c, a->t[0], d.x);
  nncl_cl_arg_ref(&c, a->t[1], d.y);
  nncl_cl_arg_ref(&c, a->t[2], d.w);
  dconv_args(&c, &d, a->i);
  return enqueue_groups(&c, d.w);
}

/* ---- pooling ---------------------------------------------------------------------------- */

typedef struct pool_geo {
  size_t in, out; /* planes H W, planes OH OW */
} pool_geo;

static int pool_geo_of(nncl_clbe *b, const nncl_args *a, const char *op, pool_geo *g)
{
  const int *i = a->i;
  if (i[0] < 1 || i[1] < 1 || i[2] < 1 || i[3] < 1 || i[4] < 0 || i[5] < 0)
    return nncl_err(b->be.ctx, NNCL_EINVAL, "cl %s: bad geometry: kernel %dx%d, stride %dx%d, pad %d,%d",
                    op, i[0], i[1], i[2], i[3], i[4], i[5]);
  const uint64_t coord[] = {a->n[1], a->n[2], a->n[3], a->n[4], (uint64_t)i[0], (uint64_t)i[1],
                            (uint64_t)i[2] * a->n[3], (uint64_t)i[3] * a->n[4], (uint64_t)i[4],
                            (uint64_t)i[5]};
  for (size_t k = 0; k < sizeof coord / sizeof coord[0]; k++)
    if (coord[k] > COORD_MAX)
      return nncl_err(b->be.ctx, NNCL_ELIMIT, "cl %s: plane geometry beyond the kernels' int range", op);
  g->in = mul3(a->n[0], a->n[1], a->n[2]);
  g->out = mul3(a->n[0], a->n[3], a->n[4]);
  int st = nncl_cl_check_size(b, op, g->in);
  return st != 0 ? st : nncl_cl_check_size(b, op, g->out);
}

static void pool_geo_args(nncl_cl_call *c, const nncl_args *a)
{
  for (int k = 0; k < 5; k++)
    nncl_cl_arg_u32(c, a->n[k]);
  for (int k = 0; k < 6; k++)
    nncl_cl_arg_i32(c, a->i[k]);
}

/* Pooling op: t[k] (k < nref) holds which[k] ? OH*OW : H*W elements per plane; include_pad
 * < 0 is not passed (max). The kernel's items cover the output (forward) or the input
 * (backward). */
static int pool_op(nncl_backend *be, const nncl_args *a, const char *op, int kid, int nref,
                   const int *which, int backward, int include_pad)
{
  nncl_clbe *b = clbe(be);
  nncl_cl_call c;
  pool_geo g;
  int st = pool_geo_of(b, a, op, &g);
  if (st != 0)
    return st;
  if (nncl_cl_begin(b, kid, &c) != 0)
    return c.status;
  for (int k = 0; k < nref; k++)
    nncl_cl_arg_ref(&c, a->t[k], which[k] ? g.out : g.in);
  pool_geo_args(&c, a);
  if (include_pad >= 0)
    nncl_cl_arg_i32(&c, include_pad);
  return backward ? enqueue_3d(&c, a->n[2], a->n[1], a->n[0]) : enqueue_3d(&c, a->n[4], a->n[3], a->n[0]);
}

/* t0 x -> t1 y, t2 argmax */
int nncl_cl_maxpool2d(nncl_backend *be, const nncl_args *a)
{
  static const int which[] = {0, 1, 1};
  return pool_op(be, a, "maxpool2d", NNCL_CL_K_MAXPOOL2D, 3, which, 0, -1);
}

/* t0 argmax, t1 dy -> t2 dx */
int nncl_cl_maxpool2d_grad(nncl_backend *be, const nncl_args *a)
{
  static const int which[] = {1, 1, 0};
  return pool_op(be, a, "maxpool2d_grad", NNCL_CL_K_MAXPOOL2D_GRAD, 3, which, 1, -1);
}

/* t0 x -> t1 y */
int nncl_cl_avgpool2d(nncl_backend *be, const nncl_args *a)
{
  static const int which[] = {0, 1};
  return pool_op(be, a, "avgpool2d", NNCL_CL_K_AVGPOOL2D, 2, which, 0, a->i[6] != 0);
}

/* t0 dy -> t1 dx */
int nncl_cl_avgpool2d_grad(nncl_backend *be, const nncl_args *a)
{
  static const int which[] = {1, 0};
  return pool_op(be, a, "avgpool2d_grad", NNCL_CL_K_AVGPOOL2D_GRAD, 2, which, 1, a->i[6] != 0);
}

/* ---- batch norm, layer norm ------------------------------------------------------------- */

/* t0 x, t1 y, t2 gamma, t3 beta, t4 mean, t5 invstd (eval: var), t6 var (optional) */
int nncl_cl_batchnorm(nncl_backend *be, const nncl_args *a)
{
  nncl_clbe *b = clbe(be);
  nncl_cl_call c;
  size_t nc = a->n[1], n = mul3(a->n[0], nc, a->n[2]);
  int train = a->i[0] != 0, st = nncl_cl_check_size(b, "batchnorm", n);
  if (st != 0 || (train && n == 0))
    return st;
  if (nncl_cl_begin(b, train ? NNCL_CL_K_BATCHNORM : NNCL_CL_K_BATCHNORM_EVAL, &c) != 0)
    return c.status;
  nncl_cl_arg_ref(&c, a->t[0], n);
  nncl_cl_arg_ref(&c, a->t[1], n);
  for (int k = 2; k < 6; k++)
    nncl_cl_arg_ref(&c, a->t[k], nc);
  int has_var = train && a->t[6].buf;
  if (train)
    nncl_cl_arg_ref(&c, has_var ? a->t[6] : a->t[4], nc);
  for (int k = 0; k < 3; k++)
    nncl_cl_arg_u32(&c, a->n[k]);
  nncl_cl_arg_f32(&c, a->f[0]);
  if (!train)
    return enqueue_1d(&c, n);
  nncl_cl_arg_i32(&c, has_var);
  return enqueue_groups(&c, nc);
}

/* t0 x, t1 dy, t2 gamma, t3 mean, t4 invstd -> t5 dx, t6 dgamma, t7 dbeta */
int nncl_cl_batchnorm_grad(nncl_backend *be, const nncl_args *a)
{
  nncl_clbe *b = clbe(be);
  nncl_cl_call c;
  size_t nc = a->n[1], n = mul3(a->n[0], nc, a->n[2]);
  int st = nncl_cl_check_size(b, "batchnorm_grad", n);
  if (st != 0)
    return st;
  if (nncl_cl_begin(b, NNCL_CL_K_BATCHNORM_GRAD, &c) != 0)
    return c.status;
  static const int full[8] = {1, 1, 0, 0, 0, 1, 0, 0};
  for (int k = 0; k < 8; k++)
    nncl_cl_arg_ref(&c, a->t[k], full[k] ? n : nc);
  for (int k = 0; k < 3; k++)
    nncl_cl_arg_u32(&c, a->n[k]);
  return enqueue_groups(&c, nc);
}

/* t0 = (1 - f0) t0 + f0 f1 t1 */
int nncl_cl_running_update(nncl_backend *be, const nncl_args *a)
{
  nncl_cl_call c;
  size_t n = a->n[0];
  if (nncl_cl_begin(clbe(be), NNCL_CL_K_RUNNING_UPDATE, &c) != 0)
    return c.status;
  nncl_cl_arg_ref(&c, a->t[0], n);
  nncl_cl_arg_ref(&c, a->t[1], n);
  nncl_cl_arg_u32(&c, n);
  nncl_cl_arg_f32(&c, a->f[0]);
  nncl_cl_arg_f32(&c, a->f[1]);
  return enqueue_1d(&c, n);
}

/* Rows of d: one item per row (narrow) or a work-group per row (wide, d >= wide_cols). */
static int enqueue_rows(nncl_cl_call *c, size_t rows, int wide)
{
  if (wide)
    return enqueue_groups(c, rows);
  size_t local = 64;
  return nncl_cl_enqueue(c, 1, &rows, &local);
}

/* t0 x, t1 y, t2 gamma, t3 beta, t4 mean, t5 invstd; rows n0 of n1 */
int nncl_cl_layernorm(nncl_backend *be, const nncl_args *a)
{
  nncl_clbe *b = clbe(be);
  nncl_cl_call c;
  size_t rows = a->n[0], d = a->n[1], n;
  int st = nncl_cl_check_rows(b, "layernorm", rows, d, &n);
  if (st != 0 || n == 0)
    return st;
  int wide = d >= (size_t)b->tune.wide_cols;
  if (nncl_cl_begin(b, wide ? NNCL_CL_K_LAYERNORM_WIDE : NNCL_CL_K_LAYERNORM, &c) != 0)
    return c.status;
  static const int len[6] = {2, 2, 1, 1, 0, 0}; /* 2: rows x d, 1: d, 0: rows */
  for (int k = 0; k < 6; k++)
    nncl_cl_arg_ref(&c, a->t[k], len[k] == 2 ? n : len[k] ? d : rows);
  nncl_cl_arg_u32(&c, rows);
  nncl_cl_arg_u32(&c, d);
  nncl_cl_arg_f32(&c, a->f[0]);
  return enqueue_rows(&c, rows, wide);
}

/* t0 x, t1 dy, t2 gamma, t3 mean, t4 invstd -> t5 dx (rows), t6 dgamma, t7 dbeta (columns) */
int nncl_cl_layernorm_grad(nncl_backend *be, const nncl_args *a)
{
  nncl_clbe *b = clbe(be);
  nncl_cl_call c;
  size_t rows = a->n[0], d = a->n[1], n;
  int st = nncl_cl_check_rows(b, "layernorm_grad", rows, d, &n);
  if (st != 0 || d == 0)
    return st;
  static const int len[6] = {2, 2, 1, 0, 0, 2};
  int wide = d >= (size_t)b->tune.wide_cols;
  if (rows) {
    if (nncl_cl_begin(b, wide ? NNCL_CL_K_LAYERNORM_GRAD_WIDE : NNCL_CL_K_LAYERNORM_GRAD, &c) != 0)
      return c.status;
    for (int k = 0; k < 6; k++)
      nncl_cl_arg_ref(&c, a->t[k], len[k] == 2 ? n : len[k] ? d : rows);
    nncl_cl_arg_u32(&c, rows);
    nncl_cl_arg_u32(&c, d);
    if ((st = enqueue_rows(&c, rows, wide)) != 0)
      return st;
  }
  if (nncl_cl_begin(b, NNCL_CL_K_LAYERNORM_GRAD_COLS, &c) != 0)
    return c.status;
  const size_t elems[6] = {n, n, rows, rows, d, d};
  static const int ref[6] = {0, 1, 3, 4, 6, 7}; /* x, dy, mean, invstd, dgamma, dbeta */
  for (int k = 0; k < 6; k++)
    nncl_cl_arg_ref(&c, a->t[ref[k]], elems[k]);
  nncl_cl_arg_u32(&c, rows);
  nncl_cl_arg_u32(&c, d);
  size_t local = 64;
  return nncl_cl_enqueue(&c, 1, &d, &local);
}

/* ---- dropout ----------------------------------------------------------------------------- */

static int dropout_op(nncl_backend *be, const nncl_args *a, int kid, const char *op)
{
  nncl_clbe *b = clbe(be);
  nncl_cl_call c;
  size_t n = a->n[0];
  float p = a->f[0];
  if (!(p >= 0.0f && p <= 1.0f))
    return nncl_err(be->ctx, NNCL_EINVAL, "cl %s: drop probability %g outside [0, 1]", op, (double)p);
  int st = nncl_cl_check_size(b, op, n);
  if (st != 0)
    return st;
  /* The same threshold and scale as fallback/dropout_fb.c. */
  uint64_t thr = (uint64_t)ceil((double)p * 4294967296.0);
  if (nncl_cl_begin(b, kid, &c) != 0)
    return c.status;
  nncl_cl_arg_ref(&c, a->t[0], n);
  nncl_cl_arg_ref(&c, a->t[1], n);
  nncl_cl_arg_u32(&c, n);
  nncl_cl_arg_i32(&c, a->i[0]);
  nncl_cl_arg_i32(&c, a->i[1]);
  nncl_cl_arg_i32(&c, a->i[2]);
  nncl_cl_arg_i32(&c, (int)(uint32_t)a->n[1]);
  nncl_cl_arg_i32(&c, (int)(uint32_t)((uint64_t)a->n[1] >> 32));
  nncl_cl_arg_i32(&c, (int)(uint32_t)thr);
  nncl_cl_arg_i32(&c, thr >> 32 != 0);
  nncl_cl_arg_f32(&c, (float)(1.0 / (1.0 - (double)p)));
  return enqueue_1d(&c, n);
}

/* t1 = mask(t0) / (1 - p) */
int nncl_cl_dropout(nncl_backend *be, const nncl_args *a)
{
  return dropout_op(be, a, NNCL_CL_K_DROPOUT, "dropout");
}

/* t1 = mask(t0) / (1 - p), the forward's mask */
int nncl_cl_dropout_grad(nncl_backend *be, const nncl_args *a)
{
  return dropout_op(be, a, NNCL_CL_K_DROPOUT_GRAD, "dropout_grad");
}
