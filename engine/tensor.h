/* tensor.h - the public tensor handle: a typed, shaped view of a backend buffer. */
#ifndef NNCL_TENSOR_H
#define NNCL_TENSOR_H

#include "internal.h"

struct nncl_tensor {
  struct nncl_ctx *ctx;
  nncl_ref ref;
  int owns;       /* the buffer is released with the tensor (not a view) */
  int dtype;
  int ndim;
  int64_t shape[NNCL_MAX_DIMS];
  int64_t numel;
};

/* A view of `ref` (not owned); destroyed with nncl_tensor_destroy. */
int nncl_tensor_view(struct nncl_ctx *ctx, nncl_ref ref, int ndim, const int64_t *shape, int dtype,
                     nncl_tensor **out);

#endif
