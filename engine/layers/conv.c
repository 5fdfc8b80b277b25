/* conv.c - 2-D (and 1-D) convolution, as PyTorch's nn.Conv2d:
 * x (N, C, H, W), W (OC, C/groups, KH, KW), b (OC) -> y (N, OC, OH, OW).
 *
 * Small filters (one group, OC C KH KW <= DIRECT_MAX weights: LeNet's, resnet_small's)
 * run the direct ops conv2d, conv2d_grad_x, conv2d_grad_w: their GEMMs are too thin for a
 * batch-wide col buffer and two transposes to pay. Others are lowered to GEMM over the
 * whole batch:
 *   col = im2col(x)                    (C*KH*KW, N*OH*OW)
 *   y'_g = W_g col_g  for each group g (OC, N*OH*OW)
 *   y = transpose(y') + b              (N, OC, OH*OW)
 * backward:
 *   dy' = transpose(dy);  db = sum_{n,p} dy
 *   dW_g = dy'_g col_g^T               (col recomputed: cheaper than keeping it)
 *   dx = col2im(W_g^T dy'_g)
 */
#include <stdio.h>
#include <string.h>

#include "model.h"

/* geo[] layout */
enum { G_C, G_H, G_W, G_OC, G_OH, G_OW, G_KH, G_KW, G_SH, G_SW, G_PT, G_PL, G_DH, G_DW, G_GROUPS, G_BIAS };

#define DIRECT_MAX 16384 /* weights: 64 KiB, the weight panel stays in L1/L2 */

static int direct(const nncl_node *n) {
  const int64_t *q = n->geo;
  return q[G_GROUPS] == 1 && q[G_OC] * q[G_C] * q[G_KH] * q[G_KW] <= DIRECT_MAX;
}

static size_t col_floats(const nncl_node *n, int rows) {
  const int64_t *q = n->geo;
  return (size_t)(q[G_C] * q[G_KH] * q[G_KW]) * (size_t)rows * (size_t)(q[G_OH] * q[G_OW]);
}

static size_t conv_ws(const nncl_node *n, int batch) {
  const int64_t *q = n->geo;
  if (direct(n)) return 0;
  return col_floats(n, batch) + (size_t)q[G_OC] * (size_t)batch * (size_t)(q[G_OH] * q[G_OW]);
}

static void im2col_args(const nncl_node *n, int rows, nncl_args *a) {
  const int64_t *q = n->geo;
  a->n[0] = (size_t)rows, a->n[1] = (size_t)q[G_C], a->n[2] = (size_t)q[G_H], a->n[3] = (size_t)q[G_W];
  a->n[4] = (size_t)q[G_OH], a->n[5] = (size_t)q[G_OW];
  a->i[0] = (int)q[G_KH], a->i[1] = (int)q[G_KW], a->i[2] = (int)q[G_SH], a->i[3] = (int)q[G_SW];
  a->i[4] = (int)q[G_PT], a->i[5] = (int)q[G_PL], a->i[6] = (int)q[G_DH], a->i[7] = (int)q[G_DW];
}

/* t1[b, a, c] = t0[a, b, c] */
static int transpose_ab(nncl_backend *be, nncl_ref src, nncl_ref dst, size_t A, size_t B, size_t C) {
  nncl_args a = {0};
  a.t[0] = src, a.t[1] = dst;
  a.n[0] = A, a.n[1] = B, a.n[2] = C;
  return nncl_run(be, NNCL_OP_TRANSPOSE_AB, &a);
}

/* conv2d, conv2d_grad_x, conv2d_grad_w: im2col's geometry with n6 = OC */
static void direct_args(const nncl_node *n, int rows, nncl_args *a) {
  im2col_args(n, rows, a);
  a->n[6] = (size_t)n->geo[G_OC];
}

static int conv_forward(nncl_graph *g, int i) {
  nncl_node *n = &g->nodes[i];
  nncl_backend *be = nncl_ctx_be(g->ctx);
  const int64_t *q = n->geo;
  if (direct(n)) {
    nncl_args a = {0};
    a.t[0] = g->nodes[n->in[0]].val, a.t[1] = g->nodes[n->in[1]].val, a.t[2] = n->val;
    if (q[G_BIAS]) a.t[3] = g->nodes[n->in[2]].val;
    direct_args(n, g->rows, &a);
    return nncl_run(be, NNCL_OP_CONV2D, &a);
  }
  size_t G = (size_t)q[G_GROUPS], OC = (size_t)q[G_OC], ocg = OC / G;
  size_t ckk = (size_t)(q[G_C] * q[G_KH] * q[G_KW]) / G, P = (size_t)(q[G_OH] * q[G_OW]), NP = (size_t)g->rows * P;
  nncl_ref col = g->ws, yp = nncl_ref_at(g->ws, col_floats(n, g->rows)), w = g->nodes[n->in[1]].val;
  nncl_args a = {0};
  a.t[0] = g->nodes[n->in[0]].val, a.t[1] = col;
  im2col_args(n, g->rows, &a);
  int r = nncl_run(be, NNCL_OP_IM2COL, &a);
  for (size_t k = 0; !r && k < G; k++)
    r = nncl_gemm(be, nncl_ref_at(w, k * ocg * ckk), 0, nncl_ref_at(col, k * ckk * NP), 0, nncl_ref_at(yp, k * ocg * NP), ocg, NP, ckk);
  if (!r) r = transpose_ab(be, yp, n->val, OC, (size_t)g->rows, P);
  if (r || !q[G_BIAS]) return r;
  nncl_args b = {0};
  b.t[0] = n->val, b.t[1] = n->val, b.t[2] = g->nodes[n->in[2]].val;
  b.n[0] = (size_t)g->rows, b.n[1] = OC, b.n[2] = P;
  return nncl_run(be, NNCL_OP_CH_BIAS_ADD, &b);
}

static int conv_backward(nncl_graph *g, int i) {
  nncl_node *n = &g->nodes[i];
  nncl_backend *be = nncl_ctx_be(g->ctx);
  const int64_t *q = n->geo;
  int x = n->in[0], w = n->in[1], r;
  size_t G = (size_t)q[G_GROUPS], OC = (size_t)q[G_OC], ocg = OC / G;
  size_t ckk = (size_t)(q[G_C] * q[G_KH] * q[G_KW]) / G, P = (size_t)(q[G_OH] * q[G_OW]), NP = (size_t)g->rows * P;
  nncl_ref col = g->ws, dyp = nncl_ref_at(g->ws, col_floats(n, g->rows)), wv = g->nodes[w].val;
  if (q[G_BIAS] && g->nodes[n->in[2]].requires_grad) {
    int b = n->in[2];
    nncl_args a = {0};
    a.t[0] = n->grad, a.t[1] = nncl_grad_target(g, b);
    a.n[0] = (size_t)g->rows, a.n[1] = OC, a.n[2] = P;
    if ((r = nncl_run(be, NNCL_OP_CH_SUM, &a)) || (r = nncl_grad_commit(g, b))) return r;
  }
  int need_w = g->nodes[w].requires_grad, need_x = g->nodes[x].requires_grad;
  if (!need_w && !need_x) return 0;
  if (direct(n)) {
    nncl_args a = {0};
    direct_args(n, g->rows, &a);
    if (need_w) {
      a.t[0] = g->nodes[x].val, a.t[1] = n->grad, a.t[2] = nncl_grad_target(g, w);
      if ((r = nncl_run(be, NNCL_OP_CONV2D_GRAD_W, &a)) || (r = nncl_grad_commit(g, w))) return r;
    }
    if (!need_x) return 0;
    a.t[0] = n->grad, a.t[1] = wv, a.t[2] = nncl_grad_target(g, x);
    if ((r = nncl_run(be, NNCL_OP_CONV2D_GRAD_X, &a))) return r;
    return nncl_grad_commit(g, x);
  }
  if ((r = transpose_ab(be, n->grad, dyp, (size_t)g->rows, OC, P))) return r;
  if (need_w) {
    nncl_args a = {0};
    a.t[0] = g->nodes[x].val, a.t[1] = col;
    im2col_args(n, g->rows, &a);
    if ((r = nncl_run(be, NNCL_OP_IM2COL, &a))) return r;
    nncl_ref dw = nncl_grad_target(g, w);
    for (size_t k = 0; k < G; k++)
      if ((r = nncl_gemm(be, nncl_ref_at(dyp, k * ocg * NP), 0, nncl_ref_at(col, k * ckk * NP), 1, nncl_ref_at(dw, k * ocg * ckk), ocg,
                    ckk, NP)))
        return r;
    if ((r = nncl_grad_commit(g, w))) return r;
  }
  if (!need_x) return 0;
  for (size_t k = 0; k < G; k++) /* dcol_g = W_g^T dy'_g, over col (no longer needed) */
    if ((r = nncl_gemm(be, nncl_ref_at(wv, k * ocg * ckk), 1, nncl_ref_at(dyp, k * ocg * NP), 0, nncl_ref_at(col, k * ckk * NP), ckk,
                  NP, ocg)))
      return r;
  nncl_args a = {0};
  a.t[0] = col, a.t[1] = nncl_grad_target(g, x);
  im2col_args(n, g->rows, &a);
  if ((r = nncl_run(be, NNCL_OP_COL2IM, &a))) return r;
  return nncl_grad_commit(g, x);
}

static const int conv_uses[] = {NNCL_OP_IM2COL, NNCL_OP_COL2IM, NNCL_OP_TRANSPOSE_AB, NNCL_OP_CH_BIAS_ADD, NNCL_OP_CH_SUM, NNCL_OP_MATMUL, -1};
static const nncl_node_ops conv_ops = {"conv2d", conv_forward, conv_backward, NULL, conv_ws, conv_uses, NULL};

/* Output size of one spatial dim: floor((in + pads - d*(k-1) - 1) / s) + 1, or 0 if empty. */
static int64_t out_size(int64_t in, int64_t pads, int64_t k, int64_t s, int64_t d) {
  int64_t span = in + pads - d * (k - 1) - 1;
  return span < 0 ? 0 : span / s + 1;
}

int nncl_layer_conv(struct nncl_model *m, const char *name, const nncl_conv_spec *sp) {
  if (m->nlayers == 0) return nncl_err(m->ctx, NNCL_ESTATE, "conv: the model has no input layer");
  int li = nncl_model_add_layer(m, name, sp->dims == 1 ? "conv1d" : "conv2d", NNCL_LAYER_CONV);
  if (li < 0) return li;
  int r = nncl_layer_single_input(m, li);
  if (r) return r;
  nncl_layer *L = &m->layers[li];
  L->conv = *sp;
  int x = nncl_layer_input(m, li, 0);
  const nncl_node *xn = &m->g.nodes[x];
  if (xn->ndim != sp->dims + 1)
    return nncl_err(m->ctx, NNCL_ESHAPE, "%s '%s' needs (N, C, %s) input, got %d dims per sample", sp->dims == 1 ? "conv1d" : "conv2d",
                    L->name, sp->dims == 1 ? "L" : "H, W", xn->ndim);
  int64_t C = xn->shape[0], H = sp->dims == 1 ? 1 : xn->shape[1], W = xn->shape[sp->dims];
  int64_t q[16] = {0};
  q[G_C] = C, q[G_H] = H, q[G_W] = W, q[G_OC] = sp->filters, q[G_KH] = sp->kernel[0], q[G_KW] = sp->kernel[1];
  q[G_SH] = sp->stride[0], q[G_SW] = sp->stride[1], q[G_DH] = sp->dilation[0], q[G_DW] = sp->dilation[1];
  q[G_GROUPS] = sp->groups, q[G_BIAS] = sp->bias;
  int64_t pad[4]; /* top, bottom, left, right */
  memcpy(pad, sp->pad, sizeof pad);
  if (sp->same) /* TensorFlow's SAME: out = ceil(in / stride), extra padding at the end */
    for (int d = 0; d < 2; d++) {
      int64_t in = d ? W : H, s = d ? q[G_SW] : q[G_SH], k = d ? q[G_KW] : q[G_KH], dl = d ? q[G_DW] : q[G_DH];
      int64_t out = (in + s - 1) / s, total = (out - 1) * s + dl * (k - 1) + 1 - in;
      if (total < 0) total = 0;
      pad[2 * d] = total / 2, pad[2 * d + 1] = total - total / 2;
    }
  q[G_PT] = pad[0], q[G_PL] = pad[2];
  q[G_OH] = out_size(H, pad[0] + pad[1], q[G_KH], q[G_SH], q[G_DH]);
  q[G_OW] = out_size(W, pad[2] + pad[3], q[G_KW], q[G_SW], q[G_DW]);
  if (C % sp->groups || sp->filters % sp->groups)
    return nncl_err(m->ctx, NNCL_EINVAL, "conv '%s': %lld input channels and %lld filters must both divide into %lld groups", L->name,
                    (long long)C, (long long)sp->filters, (long long)sp->groups);
  if (q[G_OH] < 1 || q[G_OW] < 1)
    return nncl_err(m->ctx, NNCL_ESHAPE, "conv '%s': kernel larger than the padded input (%lldx%lld)", L->name, (long long)H,
                    (long long)W);
  int64_t ckk = C / sp->groups * q[G_KH] * q[G_KW], fan_out = sp->filters / sp->groups * q[G_KH] * q[G_KW];
  if (nncl_shape_numel(5, (int64_t[]){C, q[G_KH], q[G_KW], q[G_OH], q[G_OW]}) < 0)
    return nncl_err(m->ctx, NNCL_ELIMIT, "conv '%s': im2col of one sample exceeds 2^34 values", L->name);
  int init = sp->init ? sp->init
                      : (sp->act == NNCL_ACT_RELU || sp->act == NNCL_ACT_LEAKY_RELU || sp->act == NNCL_ACT_ELU || sp->act == NNCL_ACT_GELU)
                            ? NNCL_INIT_HE_UNIFORM : NNCL_INIT_XAVIER_UNIFORM;
  L->conv.init = init;
  char pname[80];
  int64_t wshape[4] = {sp->filters, C / sp->groups, q[G_KH], q[G_KW]};
  if (sp->dims == 1) wshape[2] = q[G_KW]; /* (OC, C/g, K) as nn.Conv1d */
  snprintf(pname, sizeof pname, "%s.weight", L->name);
  int ins[3];
  ins[0] = x;
  if ((ins[1] = nncl_graph_param(&m->g, pname, sp->dims == 1 ? 3 : 4, wshape, init, ckk, fan_out, li)) < 0) return ins[1];
  if (sp->bias) {
    snprintf(pname, sizeof pname, "%s.bias", L->name);
    if ((ins[2] = nncl_graph_param(&m->g, pname, 1, &wshape[0], NNCL_INIT_ZEROS, ckk, fan_out, li)) < 0) return ins[2];
  }
  int64_t yshape[3] = {sp->filters, q[G_OH], q[G_OW]};
  if (sp->dims == 1) yshape[1] = q[G_OW];
  int y = nncl_graph_composite(&m->g, &conv_ops, sp->bias ? 3 : 2, ins, sp->dims + 1, yshape, li);
  if (y < 0) return y;
  memcpy(m->g.nodes[y].geo, q, sizeof q);
  if ((y = nncl_act_node(m, y, sp->act, sp->alpha, li)) < 0) return y;
  L->out = y;
  return 0;
}
