/* dropout.c - inverted dropout: in training y = x * keep / (1 - p), keep drawn from a
 * counter-based hash of (model seed, node, step, index), so both backends draw the same
 * mask and backward recomputes it instead of storing it; in evaluation y = x. */
#include "model.h"

static void mask_args(const nncl_graph *g, int i, uint64_t step, nncl_args *a) {
  const nncl_node *n = &g->nodes[i];
  a->n[0] = nncl_node_elems(g, n);
  a->n[1] = (size_t)step;
  a->f[0] = n->f[0];
  a->i[0] = (int)(uint32_t)g->seed, a->i[1] = (int)(uint32_t)(g->seed >> 32), a->i[2] = i;
}

static int dropout_forward(nncl_graph *g, int i) {
  nncl_node *n = &g->nodes[i];
  nncl_args a = {0};
  a.t[0] = g->nodes[n->in[0]].val, a.t[1] = n->val;
  if (!g->training || n->f[0] == 0) {
    a.n[0] = nncl_node_elems(g, n);
    return nncl_run(nncl_ctx_be(g->ctx), NNCL_OP_COPY, &a);
  }
  n->step = g->step;
  mask_args(g, i, n->step, &a);
  return nncl_run(nncl_ctx_be(g->ctx), NNCL_OP_DROPOUT, &a);
}

static int dropout_backward(nncl_graph *g, int i) {
  nncl_node *n = &g->nodes[i];
  int x = n->in[0];
  if (!g->nodes[x].requires_grad) return 0;
  nncl_args a = {0};
  a.t[0] = n->grad, a.t[1] = nncl_grad_target(g, x);
  int r;
  if (!g->training || n->f[0] == 0) {
    a.n[0] = nncl_node_elems(g, n);
    r = nncl_run(nncl_ctx_be(g->ctx), NNCL_OP_COPY, &a);
  } else {
    mask_args(g, i, n->step, &a);
    r = nncl_run(nncl_ctx_be(g->ctx), NNCL_OP_DROPOUT_GRAD, &a);
  }
  return r ? r : nncl_grad_commit(g, x);
}

static const int dropout_uses[] = {NNCL_OP_DROPOUT, NNCL_OP_DROPOUT_GRAD, NNCL_OP_COPY, -1};
static const nncl_node_ops dropout_ops = {"dropout", dropout_forward, dropout_backward, NULL, NULL, dropout_uses, NULL};

int nncl_layer_dropout(struct nncl_model *m, const char *name, float p) {
  if (m->nlayers == 0) return nncl_err(m->ctx, NNCL_ESTATE, "dropout: the model has no input layer");
  int li = nncl_model_add_layer(m, name, "dropout", NNCL_LAYER_DROPOUT);
  if (li < 0) return li;
  int r = nncl_layer_single_input(m, li);
  if (r) return r;
  if (!(p >= 0 && p < 1)) return nncl_err(m->ctx, NNCL_EINVAL, "dropout '%s': p must be in [0, 1)", m->layers[li].name);
  m->layers[li].p = p;
  int y = nncl_dropout_node(m, nncl_layer_input(m, li, 0), p, li);
  if (y < 0) return y;
  m->layers[li].out = y;
  return 0;
}

int nncl_dropout_node(struct nncl_model *m, int x, float p, int li) {
  nncl_node xn = m->g.nodes[x];
  int y = nncl_graph_composite(&m->g, &dropout_ops, 1, &x, xn.ndim, xn.shape, li);
  if (y < 0) return y;
  m->g.nodes[y].f[0] = p;
  return y;
}
