/* merge.c - layers that join or reshape: add (residual connections), flatten. */
#include <string.h>

#include "model.h"

const char *nncl_layer_kind_name(const nncl_layer *L) {
  switch (L->kind) {
  case NNCL_LAYER_INPUT: return "input";
  case NNCL_LAYER_DENSE: return "dense";
  case NNCL_LAYER_ADD: return "add";
  case NNCL_LAYER_FLATTEN: return "flatten";
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
