/* launch_cl.c - kernel arguments, enqueue, scratch memory. */
#include <stdio.h>

#include "cl/backend_cl.h"
#include "internal.h"

/* Kernels index with 32-bit unsigned ints; keep headroom for tail and chunk arithmetic
 * (a `sum` chunk is at most 256 x 64 x 16 values). */
#define MAX_ELEMS ((size_t)UINT32_MAX - ((size_t)1 << 20))

int nncl_cl_check_size(nncl_clbe *b, const char *op, size_t elems)
{
  if (elems > MAX_ELEMS)
    return nncl_err(b->be.ctx, NNCL_ELIMIT, "cl %s: %zu elements exceed the kernels' 32-bit index",
                    op, elems);
  return 0;
}

int nncl_cl_check_rows(nncl_clbe *b, const char *op, size_t rows, size_t cols, size_t *n)
{
  *n = rows * cols;
  return nncl_cl_check_size(b, op, cols != 0 && *n / cols != rows ? SIZE_MAX : *n);
}

int nncl_cl_begin(nncl_clbe *b, int kid, nncl_cl_call *c)
{
  c->b = b;
  c->kid = kid;
  c->k = NULL;
  c->n = 0;
  c->status = nncl_cl_alive(b);
  if (c->status == 0)
    c->status = nncl_cl_kernel(b, kid, &c->k);
  return c->status;
}

static void set_arg(nncl_cl_call *c, size_t size, const void *value)
{
  if (c->status != 0)
    return;
  cl_int err = clSetKernelArg(c->k, c->n, size, value);
  if (err != CL_SUCCESS) {
    char what[96];
    snprintf(what, sizeof what, "clSetKernelArg(%s, %u)", nncl_cl_kernel_name(c->kid), c->n);
    c->status = nncl_cl_fail(c->b, err, what);
  }
  c->n++;
}

void nncl_cl_arg_ref(nncl_cl_call *c, nncl_ref r, size_t elems)
{
  if (c->status != 0)
    return;
  const char *name = nncl_cl_kernel_name(c->kid);
  if (!r.buf) {
    c->status = nncl_err(c->b->be.ctx, NNCL_EINVAL, "cl %s: argument %u is a null tensor", name, c->n);
    return;
  }
  if (r.off % 4 != 0 || r.off > r.buf->bytes || elems > (r.buf->bytes - r.off) / 4) {
    c->status = nncl_err(c->b->be.ctx, NNCL_EINVAL,
                         "cl %s: argument %u (%zu elements at byte offset %zu) is misaligned or "
                         "outside its buffer of %zu bytes",
                         name, c->n, elems, r.off, r.buf->bytes);
    return;
  }
  cl_ulong off = r.off / 4;
  set_arg(c, sizeof(cl_mem), &r.buf->mem);
  set_arg(c, sizeof off, &off);
}

void nncl_cl_arg_u32(nncl_cl_call *c, size_t v)
{
  cl_uint u = (cl_uint)v;
  if (c->status == 0 && v > MAX_ELEMS)
    c->status = nncl_cl_check_size(c->b, nncl_cl_kernel_name(c->kid), v);
  set_arg(c, sizeof u, &u);
}

void nncl_cl_arg_i32(nncl_cl_call *c, int v)
{
  cl_int i = v;
  set_arg(c, sizeof i, &i);
}

void nncl_cl_arg_f32(nncl_cl_call *c, float v)
{
  cl_float f = v;
  set_arg(c, sizeof f, &f);
}

void nncl_cl_arg_local(nncl_cl_call *c, size_t bytes) { set_arg(c, bytes, NULL); }

int nncl_cl_enqueue(nncl_cl_call *c, cl_uint dims, const size_t *items, const size_t *local)
{
  size_t global[3], group = 1;
  if (c->status != 0)
    return c->status;
  for (cl_uint d = 0; d < dims; d++) {
    if (items[d] == 0)
      return 0;
    global[d] = (items[d] + local[d] - 1) / local[d] * local[d];
    group *= local[d];
  }
  if (group > c->b->kern_wg[c->kid])
    return nncl_err(c->b->be.ctx, NNCL_EDEVICE,
                    "cl %s: work-group of %zu items exceeds the kernel's limit of %zu on %s",
                    nncl_cl_kernel_name(c->kid), group, c->b->kern_wg[c->kid], c->b->dev.name);
  cl_int err = clEnqueueNDRangeKernel(c->b->queue, c->k, dims, NULL, global, local, 0, NULL, NULL);
  if (err != CL_SUCCESS) {
    char what[96];
    snprintf(what, sizeof what, "clEnqueueNDRangeKernel(%s)", nncl_cl_kernel_name(c->kid));
    return nncl_cl_qfail(c->b, err, what);
  }
  return 0;
}

int nncl_cl_scratch(nncl_clbe *b, size_t bytes)
{
  if (bytes == 0 || (b->scratch && b->scratch->bytes >= bytes))
    return 0;
  if (b->scratch)
    b->be.release(&b->be, b->scratch);
  b->scratch = NULL;
  /* Grow geometrically so a few sizes settle on one allocation. */
  size_t want = bytes < 4096 ? 4096 : bytes + bytes / 2;
  return b->be.alloc(&b->be, want, &b->scratch);
}

int nncl_cl_enqueue_ew(nncl_cl_call *c, size_t n)
{
  size_t items = (n + (size_t)c->b->tune.vw - 1) / (size_t)c->b->tune.vw;
  size_t local = (size_t)c->b->tune.ls;
  return nncl_cl_enqueue(c, 1, &items, &local);
}
