/* layertest.h - helpers shared by the layer tests (test_layers.c, test_golden_layers.c):
 * host copies of tensors, and a gradient for the model's input, which the public API does
 * not expose (the input node never requires one). Header-only. */
#ifndef NNCL_LAYERTEST_H
#define NNCL_LAYERTEST_H

#include <stdlib.h>

#include "model.h"
#include "nncl.h"
#include "tensor.h"

/* Malloc'd host copy of t (NULL on failure). */
static inline float *lt_read(const nncl_tensor *t)
{
  int64_t n = nncl_tensor_numel(t);
  float *h = malloc((size_t)n * sizeof *h);
  if (h && nncl_tensor_read(t, h, (size_t)n * sizeof *h)) {
    free(h);
    return NULL;
  }
  return h;
}

static inline int lt_write(nncl_tensor *t, const float *h)
{
  return nncl_tensor_write(t, h, (size_t)nncl_tensor_numel(t) * sizeof *h);
}

/* (rows, cols) float tensor, NULL on failure. */
static inline nncl_tensor *lt_tensor(nncl_ctx *ctx, int64_t rows, int64_t cols)
{
  const int64_t shape[2] = {rows, cols};
  nncl_tensor *t = NULL;
  return nncl_tensor_create(ctx, 2, shape, NNCL_F32, &t) ? NULL : t;
}

/* Compiles m for training with `batch` rows and makes backward write dL/dx into dx
 * (batch, input size): the input is marked as requiring a gradient, every node that
 * depends on it too, and the plan is redone so that they all get gradient slots. */
static inline int lt_compile_dx(nncl_model *m, int batch, nncl_tensor *dx)
{
  nncl_graph *g = &m->g;
  int r = nncl_model_compile(m, batch, NNCL_MODE_TRAIN);
  if (r) return r;
  int in = m->layers[0].out;
  g->nodes[in].requires_grad = 1;
  for (int i = in + 1; i < g->nnodes; i++)
    for (int k = 0; nncl_node_computed(&g->nodes[i]) && k < g->nodes[i].nin; k++)
      g->nodes[i].requires_grad |= g->nodes[g->nodes[i].in[k]].requires_grad;
  if ((r = nncl_graph_compile(g, batch, NNCL_MODE_TRAIN))) return r;
  g->nodes[in].grad = dx->ref;
  return 0;
}

/* Index of the parameter called name, -1 if none. */
static inline int lt_param_index(nncl_model *m, const char *name)
{
  for (int i = 0; i < nncl_model_param_count(m); i++) {
    const char *pn;
    if (!nncl_model_param(m, i, &pn, NULL, NULL) && !strcmp(pn, name)) return i;
  }
  return -1;
}

#endif
