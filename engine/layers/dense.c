/* dense.c - fully connected layer: y = act(x W^T + b), W (units, in) as nn.Linear; on a
 * sequence x (T, in) it maps every step: y (T, units). */
#include <stdio.h>
#include <string.h>

#include "model.h"

int nncl_layer_dense(struct nncl_model *m, const char *name, int64_t units, int act, int init, float alpha) {
  nncl_graph *g = &m->g;
  if (m->nlayers == 0) return nncl_err(m->ctx, NNCL_ESTATE, "dense: the model has no input layer");
  if (units < 1 || units > (1 << 24)) return nncl_err(m->ctx, NNCL_EINVAL, "dense: units must be 1..2^24, got %lld", (long long)units);
  int li = nncl_model_add_layer(m, name, "dense", NNCL_LAYER_DENSE);
  if (li < 0) return li;
  int r = nncl_layer_single_input(m, li);
  if (r) return r;
  nncl_layer *L = &m->layers[li];
  int x = nncl_layer_input(m, li, 0);
  /* on (d0, ..., D) inputs dense acts on the last dim, as nn.Linear */
  const nncl_node *xn = &g->nodes[x];
  int64_t in = xn->shape[xn->ndim - 1], yshape[NNCL_MAX_DIMS];
  memcpy(yshape, xn->shape, sizeof yshape);
  yshape[xn->ndim - 1] = units;
  int ynd = xn->ndim;
  if (init == NNCL_INIT_DEFAULT)
    init = (act == NNCL_ACT_RELU || act == NNCL_ACT_LEAKY_RELU || act == NNCL_ACT_ELU || act == NNCL_ACT_GELU)
               ? NNCL_INIT_HE_UNIFORM : NNCL_INIT_XAVIER_UNIFORM;
  L->units = units, L->act = act, L->init = init, L->alpha = alpha;
  char pname[80];
  int64_t wshape[2] = {units, in}, bshape[1] = {units};
  snprintf(pname, sizeof pname, "%s.weight", L->name);
  int w = nncl_graph_param(g, pname, 2, wshape, init, in, units, li);
  if (w < 0) return w;
  snprintf(pname, sizeof pname, "%s.bias", L->name);
  int b = nncl_graph_param(g, pname, 1, bshape, NNCL_INIT_ZEROS, in, units, li);
  if (b < 0) return b;
  int ins[2] = {x, w};
  int mm = nncl_graph_add(g, NNCL_OP_MATMUL, 2, ins, 1, ynd, yshape);
  if (mm < 0) return mm;
  g->nodes[mm].i[1] = 1; /* x (rows, in) W^T */
  g->nodes[mm].layer = li;
  ins[0] = mm, ins[1] = b;
  int y = nncl_graph_add(g, NNCL_OP_BIAS_ADD, 2, ins, 1, ynd, yshape);
  if (y < 0) return y;
  g->nodes[y].layer = li;
  y = nncl_act_node(m, y, act, alpha, li);
  if (y < 0) return y;
  m->layers[li].out = y;
  return 0;
}
