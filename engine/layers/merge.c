/* merge.c - layers that join or reshape: add (residual connections), flatten. */
#include <string.h>

#include "model.h"

const char *nncl_layer_kind_name(const nncl_layer *L) {
  switch (L->kind) {
  case NNCL_LAYER_INPUT: return "input";
  case NNCL_LAYER_DENSE: return "dense";
  case NNCL_LAYER_ADD: return "add";
  case NNCL_LAYER_FLATTEN: return "flatten";
  case NNCL_LAYER_CONV: return L->conv.dims == 1 ? "conv1d" : "conv2d";
  case NNCL_LAYER_POOL:
    return L->pool.global ? (L->pool.max ? "globalmaxpool" : "globalavgpool") : L->pool.max ? "maxpool" : "avgpool";
  case NNCL_LAYER_BATCHNORM: return "batchnorm";
  case NNCL_LAYER_LAYERNORM: return "layernorm";
  case NNCL_LAYER_DROPOUT: return "dropout";
  case NNCL_LAYER_CONCAT: return "concat";
  case NNCL_LAYER_ATTENTION: return "attention";
  case NNCL_LAYER_TRANSFORMER: return "transformer";
  case NNCL_LAYER_POSENC: return "posenc";
  case NNCL_LAYER_SEQPOOL: return "seqpool";
  case NNCL_LAYER_RNN: return L->rnn.cell == NNCL_CELL_LSTM ? "lstm" : L->rnn.cell == NNCL_CELL_GRU ? "gru" : "rnn";
  case NNCL_LAYER_EMBEDDING: return "embedding";
  }
  return nncl_act_name(L->act);
}

int nncl_layer_single_input(struct nncl_model *m, int li) {
  nncl_layer *L = &m->layers[li];
  if (L->nin != 1)
    return nncl_err(m->ctx, NNCL_EINVAL, "layer '%s' (%s) takes one input, got %d", L->name, nncl_layer_kind_name(L), L->nin);
  return 0;
}

/* y = x1 + x2 + ... : one ADD node per extra input (dx_k = dy for every input). */
int nncl_layer_add(struct nncl_model *m, const char *name) {
  if (m->nlayers == 0) return nncl_err(m->ctx, NNCL_ESTATE, "add: the model has no input layer");
  int li = nncl_model_add_layer(m, name, "add", NNCL_LAYER_ADD);
  if (li < 0) return li;
  nncl_layer *L = &m->layers[li];
  if (L->nin < 2) return nncl_err(m->ctx, NNCL_EINVAL, "add '%s' needs at least two inputs (from=a,b)", L->name);
  int y = nncl_layer_input(m, li, 0);
  for (int k = 1; k < L->nin; k++) {
    int x = nncl_layer_input(m, li, k);
    const nncl_node *a = &m->g.nodes[y], *b = &m->g.nodes[x];
    if (a->cols != b->cols || a->batched != b->batched)
      return nncl_err(m->ctx, NNCL_ESHAPE, "add '%s': input '%s' has %lld values per sample, '%s' has %lld", L->name,
                      m->layers[L->in[0]].name, (long long)a->cols, m->layers[L->in[k]].name, (long long)b->cols);
    int ins[2] = {y, x};
    int64_t shape[NNCL_MAX_DIMS];
    memcpy(shape, a->shape, sizeof shape);
    y = nncl_graph_add(&m->g, NNCL_OP_ADD, 2, ins, a->batched, a->ndim, shape);
    if (y < 0) return y;
    m->g.nodes[y].layer = li;
  }
  L->out = y;
  return 0;
}

/* (N, d0, d1, ...) -> (N, d0*d1*...): a copy, so that every node owns its buffer. */
int nncl_layer_flatten(struct nncl_model *m, const char *name) {
  if (m->nlayers == 0) return nncl_err(m->ctx, NNCL_ESTATE, "flatten: the model has no input layer");
  int li = nncl_model_add_layer(m, name, "flatten", NNCL_LAYER_FLATTEN);
  if (li < 0) return li;
  int r = nncl_layer_single_input(m, li);
  if (r) return r;
  int x = nncl_layer_input(m, li, 0);
  int64_t cols = m->g.nodes[x].cols;
  int y = nncl_graph_add(&m->g, NNCL_OP_COPY, 1, &x, m->g.nodes[x].batched, 1, &cols);
  if (y < 0) return y;
  m->g.nodes[y].layer = li;
  m->layers[li].out = y;
  return 0;
}

/* Channel concat (DenseNet's dense connections): y[n] = [x1[n]; x2[n]; ...] along the
 * first per-sample dim; dx_k = the slice of dy that x_k filled. Strided copies. */
static int copy2d(nncl_graph *g, nncl_ref src, nncl_ref dst, size_t cols, size_t src_ld, size_t dst_ld) {
  nncl_args a = {0};
  a.t[0] = src, a.t[1] = dst;
  a.n[0] = (size_t)g->rows, a.n[1] = cols, a.n[2] = src_ld, a.n[3] = dst_ld;
  return nncl_run(nncl_ctx_be(g->ctx), NNCL_OP_COPY2D, &a);
}

static int concat_forward(nncl_graph *g, int i) {
  nncl_node *n = &g->nodes[i];
  size_t off = 0;
  for (int k = 0; k < n->nin; k++) {
    const nncl_node *x = &g->nodes[n->in[k]];
    int r = copy2d(g, x->val, nncl_ref_at(n->val, off), (size_t)x->cols, (size_t)x->cols, (size_t)n->cols);
    if (r) return r;
    off += (size_t)x->cols;
  }
  return 0;
}

static int concat_backward(nncl_graph *g, int i) {
  nncl_node *n = &g->nodes[i];
  size_t off = 0;
  for (int k = 0; k < n->nin; k++) {
    int x = n->in[k], r = 0;
    size_t cols = (size_t)g->nodes[x].cols;
    if (g->nodes[x].requires_grad &&
        ((r = copy2d(g, nncl_ref_at(n->grad, off), nncl_grad_target(g, x), cols, (size_t)n->cols, cols)) || (r = nncl_grad_commit(g, x))))
      return r;
    off += cols;
  }
  return 0;
}

static const int concat_uses[] = {NNCL_OP_COPY2D, -1};
static const nncl_node_ops concat_ops = {"concat", concat_forward, concat_backward, NULL, NULL, concat_uses, NULL};

int nncl_layer_concat(struct nncl_model *m, const char *name) {
  if (m->nlayers == 0) return nncl_err(m->ctx, NNCL_ESTATE, "concat: the model has no input layer");
  int li = nncl_model_add_layer(m, name, "concat", NNCL_LAYER_CONCAT);
  if (li < 0) return li;
  nncl_layer *L = &m->layers[li];
  if (L->nin < 2) return nncl_err(m->ctx, NNCL_EINVAL, "concat '%s' needs at least two inputs (from=a,b)", L->name);
  int ins[NNCL_LAYER_MAX_IN];
  const nncl_node *first = &m->g.nodes[nncl_layer_input(m, li, 0)];
  int64_t shape[NNCL_MAX_DIMS];
  memcpy(shape, first->shape, sizeof shape);
  shape[0] = 0;
  for (int k = 0; k < L->nin; k++) {
    ins[k] = nncl_layer_input(m, li, k);
    const nncl_node *x = &m->g.nodes[ins[k]];
    int same = x->ndim == first->ndim && x->batched;
    for (int d = 1; same && d < x->ndim; d++) same = x->shape[d] == first->shape[d];
    if (!same)
      return nncl_err(m->ctx, NNCL_ESHAPE, "concat '%s': input '%s' differs from '%s' beyond the channel dim", L->name,
                      m->layers[L->in[k]].name, m->layers[L->in[0]].name);
    shape[0] += x->shape[0];
  }
  int y = nncl_graph_composite(&m->g, &concat_ops, L->nin, ins, first->ndim, shape, li);
  if (y < 0) return y;
  L->out = y;
  return 0;
}
