/* norm.c - batch normalization (per channel, as nn.BatchNorm1d/2d) and layer
 * normalization over the trailing dims (nn.LayerNorm), with affine parameters.
 *
 * batchnorm, x (N, C, P): training  y = (x - mu_B) / sqrt(var_B + eps) * gamma + beta,
 *   running = (1 - momentum) running + momentum batch (variance unbiased, as PyTorch);
 *   eval  y = (x - running_mean) / sqrt(running_var + eps) * gamma + beta.
 * layernorm, x (R, D): y = (x - mu_r) / sqrt(var_r + eps) * gamma + beta.
 * Gradients come from the fused *_GRAD ops (dx, dgamma, dbeta in one pass). */
#include <stdio.h>
#include <string.h>

#include "model.h"

enum { B_C, B_P };   /* batchnorm geo */
enum { L_D };        /* layernorm geo */

static size_t bn_aux(const nncl_node *n, int batch) { (void)batch; return 3 * (size_t)n->geo[B_C]; } /* mean, invstd, var */
/* room for gradients nobody needs (frozen input side or frozen affine parameters) */
static size_t norm_ws(const nncl_node *n, int batch) { return (size_t)n->cols * (size_t)batch + 2 * (size_t)n->cols; }

static nncl_ref target_or_ws(nncl_graph *g, int node, nncl_ref ws) {
  return g->nodes[node].requires_grad ? nncl_grad_target(g, node) : ws;
}

static int commit_needed(nncl_graph *g, const int *nodes, int k) {
  for (int j = 0; j < k; j++) {
    int r = g->nodes[nodes[j]].requires_grad ? nncl_grad_commit(g, nodes[j]) : 0;
    if (r) return r;
  }
  return 0;
}

/* ---- batch normalization ------------------------------------------------------------ */

static int bn_forward(nncl_graph *g, int i) {
  nncl_node *n = &g->nodes[i];
  nncl_backend *be = nncl_ctx_be(g->ctx);
  size_t C = (size_t)n->geo[B_C], P = (size_t)n->geo[B_P], M = (size_t)g->rows * P;
  nncl_ref mean = n->aux, invstd = nncl_ref_at(n->aux, C), var = nncl_ref_at(n->aux, 2 * C);
  nncl_ref rmean = g->nodes[n->in[3]].val, rvar = g->nodes[n->in[4]].val;
  nncl_args a = {0};
  a.t[0] = g->nodes[n->in[0]].val, a.t[1] = n->val, a.t[2] = g->nodes[n->in[1]].val, a.t[3] = g->nodes[n->in[2]].val;
  a.n[0] = (size_t)g->rows, a.n[1] = C, a.n[2] = P;
  a.f[0] = n->f[0];
  a.i[0] = g->training;
  if (g->training) a.t[4] = mean, a.t[5] = invstd, a.t[6] = var;
  else a.t[4] = rmean, a.t[5] = rvar;
  int r = nncl_run(be, NNCL_OP_BATCHNORM, &a);
  if (r || !g->training) return r;
  n->step = g->step;
  nncl_args u = {0};
  u.t[0] = rmean, u.t[1] = mean, u.n[0] = C, u.f[0] = n->f[1], u.f[1] = 1;
  if ((r = nncl_run(be, NNCL_OP_RUNNING_UPDATE, &u))) return r;
  u.t[0] = rvar, u.t[1] = var, u.f[1] = M > 1 ? (float)M / (float)(M - 1) : 1;
  return nncl_run(be, NNCL_OP_RUNNING_UPDATE, &u);
}

static int bn_backward(nncl_graph *g, int i) {
  nncl_node *n = &g->nodes[i];
  if (n->step != g->step || !g->training)
    return nncl_err(g->ctx, NNCL_ESTATE, "batchnorm backward needs a forward in training mode");
  size_t C = (size_t)n->geo[B_C], P = (size_t)n->geo[B_P];
  int x = n->in[0], gamma = n->in[1], beta = n->in[2];
  nncl_ref ws = g->ws;
  nncl_args a = {0};
  a.t[0] = g->nodes[x].val, a.t[1] = n->grad, a.t[2] = g->nodes[gamma].val;
  a.t[3] = n->aux, a.t[4] = nncl_ref_at(n->aux, C);
  a.t[5] = target_or_ws(g, x, ws);
  a.t[6] = target_or_ws(g, gamma, nncl_ref_at(ws, nncl_node_elems(g, n)));
  a.t[7] = target_or_ws(g, beta, nncl_ref_at(ws, nncl_node_elems(g, n) + C));
  a.n[0] = (size_t)g->rows, a.n[1] = C, a.n[2] = P;
  int r = nncl_run(nncl_ctx_be(g->ctx), NNCL_OP_BATCHNORM_GRAD, &a);
  return r ? r : commit_needed(g, (const int[]){x, gamma, beta}, 3);
}

static const int bn_uses[] = {NNCL_OP_BATCHNORM, NNCL_OP_BATCHNORM_GRAD, NNCL_OP_RUNNING_UPDATE, -1};
static const nncl_node_ops bn_ops = {"batchnorm", bn_forward, bn_backward, bn_aux, norm_ws, bn_uses, NULL};

/* Adds "<layer>.<what>" as a parameter (trainable) or a buffer. */
static int add_param(struct nncl_model *m, int li, const char *what, int64_t n, int init, int buffer) {
  char name[80];
  snprintf(name, sizeof name, "%s.%s", m->layers[li].name, what);
  return buffer ? nncl_graph_buffer(&m->g, name, 1, &n, init, li) : nncl_graph_param(&m->g, name, 1, &n, init, n, n, li);
}

int nncl_layer_batchnorm(struct nncl_model *m, const char *name, float eps, float momentum) {
  if (m->nlayers == 0) return nncl_err(m->ctx, NNCL_ESTATE, "batchnorm: the model has no input layer");
  int li = nncl_model_add_layer(m, name, "batchnorm", NNCL_LAYER_BATCHNORM);
  if (li < 0) return li;
  int r = nncl_layer_single_input(m, li);
  if (r) return r;
  if (!(eps > 0) || !(momentum >= 0 && momentum <= 1))
    return nncl_err(m->ctx, NNCL_EINVAL, "batchnorm '%s': eps must be > 0 and momentum in [0, 1]", m->layers[li].name);
  m->layers[li].eps = eps, m->layers[li].momentum = momentum;
  int x = nncl_layer_input(m, li, 0);
  nncl_node xn = m->g.nodes[x];
  int64_t C = xn.shape[0]; /* channels (conv) or features (dense) */
  int ins[5] = {x};
  if ((ins[1] = add_param(m, li, "weight", C, -1, 0)) < 0 || (ins[2] = add_param(m, li, "bias", C, NNCL_INIT_ZEROS, 0)) < 0 ||
      (ins[3] = add_param(m, li, "running_mean", C, NNCL_INIT_ZEROS, 1)) < 0 || (ins[4] = add_param(m, li, "running_var", C, -1, 1)) < 0)
    return ins[1] < 0 ? ins[1] : ins[2] < 0 ? ins[2] : ins[3] < 0 ? ins[3] : ins[4];
  int y = nncl_graph_composite(&m->g, &bn_ops, 5, ins, xn.ndim, xn.shape, li);
  if (y < 0) return y;
  nncl_node *yn = &m->g.nodes[y];
  yn->geo[B_C] = C, yn->geo[B_P] = xn.cols / C;
  yn->f[0] = eps, yn->f[1] = momentum;
  m->layers[li].out = y;
  return 0;
}

/* ---- layer normalization ----------------------------------------------------------- */

static size_t ln_aux(const nncl_node *n, int batch) { return 2 * (size_t)batch * (size_t)(n->cols / n->geo[L_D]); }

static int ln_forward(nncl_graph *g, int i) {
  nncl_node *n = &g->nodes[i];
  size_t D = (size_t)n->geo[L_D], R = nncl_node_elems(g, n) / D;
  nncl_args a = {0};
  a.t[0] = g->nodes[n->in[0]].val, a.t[1] = n->val, a.t[2] = g->nodes[n->in[1]].val, a.t[3] = g->nodes[n->in[2]].val;
  a.t[4] = n->aux, a.t[5] = nncl_ref_at(n->aux, R);
  a.n[0] = R, a.n[1] = D;
  a.f[0] = n->f[0];
  return nncl_run(nncl_ctx_be(g->ctx), NNCL_OP_LAYERNORM, &a);
}

static int ln_backward(nncl_graph *g, int i) {
  nncl_node *n = &g->nodes[i];
  size_t D = (size_t)n->geo[L_D], R = nncl_node_elems(g, n) / D;
  int x = n->in[0], gamma = n->in[1], beta = n->in[2];
  nncl_args a = {0};
  a.t[0] = g->nodes[x].val, a.t[1] = n->grad, a.t[2] = g->nodes[gamma].val;
  a.t[3] = n->aux, a.t[4] = nncl_ref_at(n->aux, R);
  a.t[5] = target_or_ws(g, x, g->ws);
  a.t[6] = target_or_ws(g, gamma, nncl_ref_at(g->ws, nncl_node_elems(g, n)));
  a.t[7] = target_or_ws(g, beta, nncl_ref_at(g->ws, nncl_node_elems(g, n) + D));
  a.n[0] = R, a.n[1] = D;
  int r = nncl_run(nncl_ctx_be(g->ctx), NNCL_OP_LAYERNORM_GRAD, &a);
  return r ? r : commit_needed(g, (const int[]){x, gamma, beta}, 3);
}

static const int ln_uses[] = {NNCL_OP_LAYERNORM, NNCL_OP_LAYERNORM_GRAD, -1};
static const nncl_node_ops ln_ops = {"layernorm", ln_forward, ln_backward, ln_aux, norm_ws, ln_uses, NULL};

int nncl_layer_layernorm(struct nncl_model *m, const char *name, int dims, float eps) {
  if (m->nlayers == 0) return nncl_err(m->ctx, NNCL_ESTATE, "layernorm: the model has no input layer");
  int li = nncl_model_add_layer(m, name, "layernorm", NNCL_LAYER_LAYERNORM);
  if (li < 0) return li;
  int r = nncl_layer_single_input(m, li);
  if (r) return r;
  int x = nncl_layer_input(m, li, 0);
  nncl_node xn = m->g.nodes[x];
  if (dims < 1 || dims > xn.ndim || !(eps > 0))
    return nncl_err(m->ctx, NNCL_EINVAL, "layernorm '%s': dims must be 1..%d and eps > 0", m->layers[li].name, xn.ndim);
  m->layers[li].eps = eps, m->layers[li].norm_dims = dims;
  int y = nncl_layernorm_node(m, x, dims, eps, m->layers[li].name, li);
  if (y < 0) return y;
  m->layers[li].out = y;
  return 0;
}

int nncl_layernorm_node(struct nncl_model *m, int x, int dims, float eps, const char *prefix, int li) {
  nncl_node xn = m->g.nodes[x];
  int64_t D = nncl_shape_numel(dims, xn.shape + xn.ndim - dims);
  char pname[80];
  int ins[3] = {x};
  snprintf(pname, sizeof pname, "%s.weight", prefix);
  if ((ins[1] = nncl_graph_param(&m->g, pname, dims, xn.shape + xn.ndim - dims, -1, D, D, li)) < 0) return ins[1];
  snprintf(pname, sizeof pname, "%s.bias", prefix);
  if ((ins[2] = nncl_graph_param(&m->g, pname, dims, xn.shape + xn.ndim - dims, NNCL_INIT_ZEROS, D, D, li)) < 0) return ins[2];
  int y = nncl_graph_composite(&m->g, &ln_ops, 3, ins, xn.ndim, xn.shape, li);
  if (y < 0) return y;
  m->g.nodes[y].geo[L_D] = D;
  m->g.nodes[y].f[0] = eps;
  return y;
}
