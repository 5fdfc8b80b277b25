/* tensor.c - tensor handles: create, view, write, read. */
#include <stdlib.h>
#include <string.h>

#include "tensor.h"

static int make(struct nncl_ctx *ctx, int ndim, const int64_t *shape, int dtype, nncl_tensor **out) {
  if (!out) return nncl_err(ctx, NNCL_EINVAL, "tensor: NULL output");
  *out = NULL;
  if (dtype != NNCL_F32 && dtype != NNCL_I32) return nncl_err(ctx, NNCL_EINVAL, "tensor: unknown dtype %d", dtype);
  if (ndim < 1 || ndim > NNCL_MAX_DIMS || !shape)
    return nncl_err(ctx, NNCL_EINVAL, "tensor: ndim must be 1..%d, got %d", NNCL_MAX_DIMS, ndim);
  int64_t n = nncl_shape_numel(ndim, shape);
  if (n < 0) return nncl_err(ctx, NNCL_ELIMIT, "tensor: shape has a dimension < 1 or more than 2^34 elements");
  nncl_tensor *t = calloc(1, sizeof *t);
  if (!t) return nncl_err(ctx, NNCL_ENOMEM, "tensor: out of memory");
  t->ctx = ctx;
  t->dtype = dtype;
  t->ndim = ndim;
  memcpy(t->shape, shape, (size_t)ndim * sizeof *shape);
  t->numel = n;
  *out = t;
  return 0;
}

int nncl_tensor_create(nncl_ctx *ctx, int ndim, const int64_t *shape, int dtype, nncl_tensor **out) {
  int r = make(ctx, ndim, shape, dtype, out);
  if (r) return r;
  nncl_backend *be = nncl_ctx_be(ctx);
  nncl_tensor *t = *out;
  nncl_args a = {0};
  if ((r = be->alloc(be, (size_t)t->numel * 4, &t->ref.buf))) goto fail;
  t->owns = 1;
  a.t[0] = t->ref;
  a.n[0] = (size_t)t->numel;
  if ((r = nncl_run(be, NNCL_OP_FILL, &a))) goto fail;
  return 0;
fail:
  nncl_tensor_destroy(t);
  *out = NULL;
  return r;
}

int nncl_tensor_view(nncl_ctx *ctx, nncl_ref ref, int ndim, const int64_t *shape, int dtype,
                     nncl_tensor **out) {
  int r = make(ctx, ndim, shape, dtype, out);
  if (!r) (*out)->ref = ref;
  return r;
}

void nncl_tensor_destroy(nncl_tensor *t) {
  if (!t) return;
  if (t->owns && t->ref.buf) nncl_ctx_be(t->ctx)->release(nncl_ctx_be(t->ctx), t->ref.buf);
  free(t);
}

static int check_bytes(const nncl_tensor *t, const void *p, size_t bytes, const char *what) {
  if (!p) return nncl_err(t->ctx, NNCL_EINVAL, "tensor %s: NULL host pointer", what);
  if (bytes != (size_t)t->numel * 4)
    return nncl_err(t->ctx, NNCL_ESHAPE, "tensor %s: %zu bytes given, tensor holds %lld", what, bytes,
                    (long long)t->numel * 4);
  return 0;
}

int nncl_tensor_write(nncl_tensor *t, const void *src, size_t bytes) {
  if (!t) return NNCL_EINVAL;
  int r = check_bytes(t, src, bytes, "write");
  nncl_backend *be = nncl_ctx_be(t->ctx);
  return r ? r : be->write(be, t->ref.buf, t->ref.off, src, bytes);
}

int nncl_tensor_read(const nncl_tensor *t, void *dst, size_t bytes) {
  if (!t) return NNCL_EINVAL;
  int r = check_bytes(t, dst, bytes, "read");
  nncl_backend *be = nncl_ctx_be(t->ctx);
  return r ? r : be->read(be, t->ref.buf, t->ref.off, dst, bytes);
}

int nncl_tensor_shape(const nncl_tensor *t, int64_t *shape) {
  if (!t) return NNCL_EINVAL;
  if (shape) memcpy(shape, t->shape, (size_t)t->ndim * sizeof *shape);
  return t->ndim;
}

int64_t nncl_tensor_numel(const nncl_tensor *t) { return t ? t->numel : 0; }
