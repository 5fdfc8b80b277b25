/* pool.c - max and average pooling (and their global forms) as nn.MaxPool2d/AvgPool2d:
 * x (N, C, H, W) -> y (N, C, OH, OW); 1-D inputs (N, C, L) pool over L.
 * max: y = max over the window (padding is -inf), the winner's index kept for backward,
 *      dx = sum of dy over the windows a position won;
 * avg: y = mean over the window, dx = sum of dy / divisor over the windows covering x. */
#include <string.h>

#include "model.h"

enum { P_C, P_H, P_W, P_OH, P_OW, P_KH, P_KW, P_SH, P_SW, P_PT, P_PL, P_MAX, P_INCL };

static void pool_args(const nncl_node *n, int rows, nncl_args *a) {
  const int64_t *q = n->geo;
  a->n[0] = (size_t)(rows * q[P_C]), a->n[1] = (size_t)q[P_H], a->n[2] = (size_t)q[P_W];
  a->n[3] = (size_t)q[P_OH], a->n[4] = (size_t)q[P_OW];
  a->i[0] = (int)q[P_KH], a->i[1] = (int)q[P_KW], a->i[2] = (int)q[P_SH], a->i[3] = (int)q[P_SW];
  a->i[4] = (int)q[P_PT], a->i[5] = (int)q[P_PL], a->i[6] = (int)q[P_INCL];
}

/* max pooling keeps the argmax (int32, one per output) */
static size_t pool_aux(const nncl_node *n, int batch) { return n->geo[P_MAX] ? (size_t)n->cols * (size_t)batch : 0; }

static int pool_forward(nncl_graph *g, int i) {
  nncl_node *n = &g->nodes[i];
  nncl_args a = {0};
  a.t[0] = g->nodes[n->in[0]].val, a.t[1] = n->val, a.t[2] = n->aux;
  pool_args(n, g->rows, &a);
  return nncl_run(nncl_ctx_be(g->ctx), n->geo[P_MAX] ? NNCL_OP_MAXPOOL2D : NNCL_OP_AVGPOOL2D, &a);
}

static int pool_backward(nncl_graph *g, int i) {
  nncl_node *n = &g->nodes[i];
  int x = n->in[0], r;
  if (!g->nodes[x].requires_grad) return 0;
  nncl_args a = {0};
  pool_args(n, g->rows, &a);
  if (n->geo[P_MAX]) a.t[0] = n->aux, a.t[1] = n->grad, a.t[2] = nncl_grad_target(g, x);
  else a.t[0] = n->grad, a.t[1] = nncl_grad_target(g, x);
  if ((r = nncl_run(nncl_ctx_be(g->ctx), n->geo[P_MAX] ? NNCL_OP_MAXPOOL2D_GRAD : NNCL_OP_AVGPOOL2D_GRAD, &a))) return r;
  return nncl_grad_commit(g, x);
}

static const int pool_uses[] = {NNCL_OP_MAXPOOL2D, NNCL_OP_MAXPOOL2D_GRAD, NNCL_OP_AVGPOOL2D, NNCL_OP_AVGPOOL2D_GRAD, -1};
static const nncl_node_ops pool_ops = {"pool", pool_forward, pool_backward, pool_aux, NULL, pool_uses, NULL};

/* PyTorch's rule: floor or ceil of (in + 2p - k) / s, plus one; in ceil mode the last
 * window must start inside the input or its left padding. */
static int64_t pool_out(int64_t in, int64_t k, int64_t s, int64_t p, int ceil) {
  int64_t span = in + 2 * p - k;
  if (span < 0) return 0;
  int64_t out = (ceil ? (span + s - 1) / s : span / s) + 1;
  if (ceil && (out - 1) * s >= in + p) out--;
  return out;
}

int nncl_layer_pool(struct nncl_model *m, const char *name, const nncl_pool_spec *sp) {
  if (m->nlayers == 0) return nncl_err(m->ctx, NNCL_ESTATE, "pool: the model has no input layer");
  const char *kind = sp->global ? (sp->max ? "globalmaxpool" : "globalavgpool") : sp->max ? "maxpool" : "avgpool";
  int li = nncl_model_add_layer(m, name, kind, NNCL_LAYER_POOL);
  if (li < 0) return li;
  int r = nncl_layer_single_input(m, li);
  if (r) return r;
  nncl_layer *L = &m->layers[li];
  L->pool = *sp;
  int x = nncl_layer_input(m, li, 0);
  const nncl_node *xn = &m->g.nodes[x];
  if (xn->ndim != 2 && xn->ndim != 3)
    return nncl_err(m->ctx, NNCL_ESHAPE, "%s '%s' needs (N, C, H, W) or (N, C, L) input, got %d dims per sample", kind, L->name, xn->ndim);
  int one_d = xn->ndim == 2;
  int64_t q[16] = {0};
  q[P_C] = xn->shape[0], q[P_H] = one_d ? 1 : xn->shape[1], q[P_W] = xn->shape[xn->ndim - 1];
  q[P_MAX] = sp->max, q[P_INCL] = sp->count_include_pad;
  if (sp->global) {
    q[P_KH] = q[P_H], q[P_KW] = q[P_W], q[P_SH] = q[P_SW] = 1;
  } else {
    q[P_KH] = one_d ? 1 : sp->kernel[0], q[P_KW] = sp->kernel[1];
    q[P_SH] = one_d ? 1 : sp->stride[0], q[P_SW] = sp->stride[1];
    q[P_PT] = one_d ? 0 : sp->pad[0], q[P_PL] = sp->pad[1];
    if (2 * q[P_PT] > q[P_KH] || 2 * q[P_PL] > q[P_KW])
      return nncl_err(m->ctx, NNCL_EINVAL, "%s '%s': padding must be at most half the kernel (as in PyTorch)", kind, L->name);
  }
  q[P_OH] = pool_out(q[P_H], q[P_KH], q[P_SH], q[P_PT], sp->ceil);
  q[P_OW] = pool_out(q[P_W], q[P_KW], q[P_SW], q[P_PL], sp->ceil);
  if (q[P_OH] < 1 || q[P_OW] < 1) return nncl_err(m->ctx, NNCL_ESHAPE, "%s '%s': kernel larger than the input", kind, L->name);
  int64_t shape[3] = {q[P_C], q[P_OH], q[P_OW]};
  if (one_d) shape[1] = q[P_OW];
  int y = nncl_graph_composite(&m->g, &pool_ops, 1, &x, xn->ndim, shape, li);
  if (y < 0) return y;
  memcpy(m->g.nodes[y].geo, q, sizeof q);
  L->out = y;
  return 0;
}
