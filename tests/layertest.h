/* layertest.h - helpers shared by the layer tests (test_layers.c, test_golden_layers.c):
 * host copies of tensors, and a gradient for the model's input, which the public API does
 * not expose (the graph plans one on request: input_grad). Header-only. */
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
 * (batch, input size): the graph plans the input's gradient, which then lands in dx. */
static inline int lt_compile_dx(nncl_model *m, int batch, nncl_tensor *dx)
{
  m->g.input_grad = 1;
  int r = nncl_model_compile(m, batch, NNCL_MODE_TRAIN);
  if (!r) m->g.nodes[m->layers[0].out].grad = dx->ref;
  return r;
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
