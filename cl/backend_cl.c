/* backend_cl.c - the OpenCL backend: device opening, queue, buffers with memory accounting. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cl/backend_cl.h"
#include "internal.h"

static nncl_clbe *clbe(nncl_backend *be) { return (nncl_clbe *)be; }

static double mib(cl_ulong bytes) { return (double)bytes / (1024.0 * 1024.0); }

static int cl_alloc(nncl_backend *be, size_t bytes, nncl_buf **out)
{
  nncl_clbe *b = clbe(be);
  cl_int err;
  int st;
  *out = NULL;
  if ((st = nncl_cl_alive(b)) != 0)
    return st;
  if (bytes == 0)
    return nncl_err(be->ctx, NNCL_EINVAL, "cl alloc: zero bytes");
  /* PoCL and others overcommit and fail late (or the OOM killer strikes): refuse first. */
  if (bytes > b->dev.max_alloc)
    return nncl_err(be->ctx, NNCL_ENOMEM,
                    "cl alloc of %zu bytes (%.1f MiB) exceeds CL_DEVICE_MAX_MEM_ALLOC_SIZE = %llu "
                    "bytes (%.1f MiB) of %s",
                    bytes, mib(bytes), (unsigned long long)b->dev.max_alloc, mib(b->dev.max_alloc),
                    b->dev.name);
  if (bytes > b->dev.global_mem - b->used)
    return nncl_err(be->ctx, NNCL_ENOMEM,
                    "cl alloc of %zu bytes (%.1f MiB) with %zu bytes (%.1f MiB) in use exceeds "
                    "CL_DEVICE_GLOBAL_MEM_SIZE = %llu bytes (%.1f MiB) of %s",
                    bytes, mib(bytes), b->used, mib(b->used),
                    (unsigned long long)b->dev.global_mem, mib(b->dev.global_mem), b->dev.name);
  nncl_buf *buf = malloc(sizeof *buf);
  if (!buf)
    return nncl_err(be->ctx, NNCL_ENOMEM, "cl alloc: out of host memory");
  b->driver_allocs++;
  buf->mem = clCreateBuffer(b->context, CL_MEM_READ_WRITE, bytes, NULL, &err);
  if (err != CL_SUCCESS) {
    free(buf);
    char what[96];
    snprintf(what, sizeof what, "clCreateBuffer(%zu bytes)", bytes);
    return nncl_cl_fail(b, err, what);
  }
  buf->bytes = bytes;
  b->used += bytes;
  *out = buf;
  return 0;
}

static void cl_release(nncl_backend *be, nncl_buf *buf)
{
  if (!buf)
    return;
  clReleaseMemObject(buf->mem);
  clbe(be)->used -= buf->bytes;
  free(buf);
}

static int check_range(nncl_clbe *b, const nncl_buf *buf, size_t off, size_t n, const char *what)
{
  if (!buf || off > buf->bytes || n > buf->bytes - off)
    return nncl_err(b->be.ctx, NNCL_EINVAL, "cl %s: %zu bytes at offset %zu outside a buffer of %zu",
                    what, n, off, buf ? buf->bytes : 0);
  return nncl_cl_alive(b);
}

/* Host -> device copy; blocking, or flushed so that the device starts on the batch it
 * brings. */
static int write_buf(nncl_backend *be, nncl_buf *buf, size_t off, const void *src, size_t n, cl_bool blocking)
{
  nncl_clbe *b = clbe(be);
  int st = check_range(b, buf, off, n, "write");
  if (st != 0 || n == 0)
    return st;
  cl_int err = clEnqueueWriteBuffer(b->queue, buf->mem, blocking, off, n, src, 0, NULL, NULL);
  if (err == CL_SUCCESS && !blocking)
    err = clFlush(b->queue);
  if (err == CL_SUCCESS)
    return 0;
  return nncl_cl_qfail(b, err, blocking ? "clEnqueueWriteBuffer" : "clEnqueueWriteBuffer (non-blocking)");
}

/* Device -> host copy; blocking, or with *ev to wait for (waiting flushes the queue). */
static int read_buf(nncl_backend *be, nncl_buf *buf, size_t off, void *dst, size_t n, cl_event *ev)
{
  nncl_clbe *b = clbe(be);
  int st = check_range(b, buf, off, n, "read");
  if (st != 0 || n == 0)
    return st;
  cl_int err = clEnqueueReadBuffer(b->queue, buf->mem, ev ? CL_FALSE : CL_TRUE, off, n, dst, 0, NULL, ev);
  if (err == CL_SUCCESS)
    return 0;
  return nncl_cl_qfail(b, err, ev ? "clEnqueueReadBuffer (non-blocking)" : "clEnqueueReadBuffer");
}

static int cl_write(nncl_backend *be, nncl_buf *buf, size_t off, const void *src, size_t n)
{
  return write_buf(be, buf, off, src, n, CL_TRUE);
}

static int cl_write_async(nncl_backend *be, nncl_buf *buf, size_t off, const void *src, size_t n)
{
  return write_buf(be, buf, off, src, n, CL_FALSE);
}

static int cl_read(nncl_backend *be, nncl_buf *buf, size_t off, void *dst, size_t n)
{
  return read_buf(be, buf, off, dst, n, NULL);
}

static int cl_read_start(nncl_backend *be, nncl_buf *buf, size_t off, void *dst, size_t n, void **pending)
{
  cl_event ev = NULL;
  int st = read_buf(be, buf, off, dst, n, &ev);
  *pending = ev;
  return st;
}

static int cl_read_wait(nncl_backend *be, void *pending)
{
  cl_event ev = pending;
  cl_int err = clWaitForEvents(1, &ev);
  clReleaseEvent(ev);
  return err == CL_SUCCESS ? 0 : nncl_cl_qfail(clbe(be), err, "clWaitForEvents (a non-blocking read)");
}

static int cl_finish(nncl_backend *be)
{
  nncl_clbe *b = clbe(be);
  int st = nncl_cl_alive(b);
  if (st != 0)
    return st;
  cl_int err = clFinish(b->queue);
  return err == CL_SUCCESS ? 0 : nncl_cl_qfail(b, err, "clFinish");
}

static void cl_destroy(nncl_backend *be)
{
  nncl_clbe *b = clbe(be);
  if (!b)
    return;
  if (b->queue && !b->poisoned)
    clFinish(b->queue);
  cl_release(be, b->scratch);
  nncl_cl_programs_release(b);
  if (b->queue)
    clReleaseCommandQueue(b->queue);
  if (b->context)
    clReleaseContext(b->context);
  free(b);
}

/* Reads the environment overrides: NNCL_KERNEL_DIR, NNCL_CL_BINARY_CACHE=0|1. */
static int read_env(nncl_clbe *b)
{
  const char *dir = getenv("NNCL_KERNEL_DIR");
  const char *cache = getenv("NNCL_CL_BINARY_CACHE");
  if (dir && *dir) {
    if (strlen(dir) >= sizeof b->kernel_dir - 32)
      return nncl_err(b->be.ctx, NNCL_EINVAL, "NNCL_KERNEL_DIR too long");
    strcpy(b->kernel_dir, dir);
  }
  /* On PoCL, PoCL's own cache (POCL_CACHE_DIR) serves; ours is for GPUs and tests. */
  b->binary_cache = !b->dev.pocl;
  if (cache && *cache) {
    if (strcmp(cache, "0") != 0 && strcmp(cache, "1") != 0)
      return nncl_err(b->be.ctx, NNCL_EINVAL, "NNCL_CL_BINARY_CACHE=%s: expected 0 or 1", cache);
    b->binary_cache = cache[0] == '1';
  }
  return 0;
}

static int open_device(nncl_clbe *b)
{
  cl_int err;
  cl_context_properties props[] = {CL_CONTEXT_PLATFORM, (cl_context_properties)b->dev.platform, 0};
  b->context = clCreateContext(props, 1, &b->dev.device, NULL, NULL, &err);
  if (err != CL_SUCCESS)
    return nncl_cl_fail(b, err, "clCreateContext");
  b->queue = clCreateCommandQueue(b->context, b->dev.device, 0, &err);
  if (err != CL_SUCCESS)
    return nncl_cl_fail(b, err, "clCreateCommandQueue");
  return 0;
}

int nncl_cl_create(struct nncl_ctx *ctx, const nncl_devspec *spec, int auto_mode,
                   nncl_backend **out)
{
  nncl_cl_dev *devs = NULL;
  int n = 0, st;
  char why[512];
  *out = NULL;
  nncl_cl_pocl_env();
  if ((st = nncl_cl_devices(&devs, &n, why, sizeof why)) != 0)
    return nncl_err(ctx, st, "%s", why);
  int pick = nncl_cl_pick(devs, n, spec, auto_mode, why, sizeof why);
  if (pick < 0) {
    free(devs);
    return nncl_err(ctx, NNCL_ENODEV, "%s", why);
  }
  nncl_clbe *b = calloc(1, sizeof *b);
  if (!b) {
    free(devs);
    return nncl_err(ctx, NNCL_ENOMEM, "cl: out of host memory");
  }
  b->dev = devs[pick];
  free(devs);
  b->be.name = "cl";
  b->be.ctx = ctx;
  b->be.alloc = cl_alloc;
  b->be.release = cl_release;
  b->be.write = cl_write;
  b->be.read = cl_read;
  b->be.write_async = cl_write_async;
  b->be.read_start = cl_read_start;
  b->be.read_wait = cl_read_wait;
  b->be.finish = cl_finish;
  b->be.destroy = cl_destroy;
  b->be.prepare = nncl_cl_prepare;
  memcpy(b->be.kernel, nncl_cl_ops, sizeof b->be.kernel);
  nncl_cl_tune_init(b);
  if ((st = read_env(b)) != 0 || (st = nncl_cl_gemm_init(b)) != 0 || (st = open_device(b)) != 0) {
    cl_destroy(&b->be);
    return st;
  }
  snprintf(b->be.device, sizeof b->be.device, "%.60s %.80s (%s, %u CUs, %.2f GiB, driver %.30s, gemm %s)",
           b->dev.pocl ? "PoCL" : b->dev.plat_name, b->dev.name, nncl_cl_type_name(b->dev.type),
           b->dev.units, (double)b->dev.global_mem / (1024.0 * 1024.0 * 1024.0), b->dev.driver,
           b->gemm_clblast ? "CLBlast" : "gemm.cl");
  nncl_log(ctx, NNCL_LOG_INFO, "cl: %s%s%s", b->be.device, b->kernel_dir[0] ? ", kernels from " : "",
           b->kernel_dir);
  *out = &b->be;
  return 0;
}
