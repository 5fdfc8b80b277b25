/* backend.h - what a backend provides: buffers and one kernel per op in ops.def.
 * Internal; never includes CL/cl.h. */
#ifndef NNCL_BACKEND_H
#define NNCL_BACKEND_H

#include <stddef.h>
#include <stdint.h>

struct nncl_ctx;

enum nncl_op {
#define NNCL_OP(id, name) NNCL_OP_##id,
#include "ops.def"
#undef NNCL_OP
  NNCL_OP_COUNT
};

/* Static name of an op ("matmul"), NULL if out of range. */
const char *nncl_op_name(int op);

/* A backend buffer; each backend defines the struct. */
typedef struct nncl_buf nncl_buf;

/* A tensor as a kernel sees it: buffer and byte offset (CLBlast's convention). */
typedef struct nncl_ref {
  nncl_buf *buf;
  size_t off;
} nncl_ref;

#define NNCL_ARGS_T 8
typedef struct nncl_args {
  nncl_ref t[NNCL_ARGS_T];
  size_t n[8];
  float f[8];
  int i[8];
} nncl_args;

typedef struct nncl_backend nncl_backend;
/* Returns 0 or a negative NNCL_E* after setting the context's error message. */
typedef int (*nncl_kernel_fn)(nncl_backend *be, const nncl_args *a);

struct nncl_backend {
  const char *name;           /* "c" or "cl" */
  char device[256];           /* human-readable device description */
  struct nncl_ctx *ctx;       /* for errors and logs */
  /* Allocates a buffer of `bytes` (> 0). Contents are undefined: zero with FILL. */
  int (*alloc)(nncl_backend *be, size_t bytes, nncl_buf **out);
  void (*release)(nncl_backend *be, nncl_buf *buf);
  /* Blocking host <-> device copies of n bytes at byte offset off. */
  int (*write)(nncl_backend *be, nncl_buf *buf, size_t off, const void *src, size_t n);
  int (*read)(nncl_backend *be, nncl_buf *buf, size_t off, void *dst, size_t n);
  /* Optional copies that return before they are done (NULL: write and read stand in).
   * The queue runs in order: write_async's src must stay unchanged, and read_start's dst
   * unread, until work queued after them is known to be done (a read, finish, or the
   * read_wait of a read started later). read_wait waits for the read that read_start
   * began (its *pending; NULL: nothing to wait for) and releases it. */
  int (*write_async)(nncl_backend *be, nncl_buf *buf, size_t off, const void *src, size_t n);
  int (*read_start)(nncl_backend *be, nncl_buf *buf, size_t off, void *dst, size_t n, void **pending);
  int (*read_wait)(nncl_backend *be, void *pending);
  /* Waits for all queued work. */
  int (*finish)(nncl_backend *be);
  void (*destroy)(nncl_backend *be);
  /* Optional: starts getting ready what these ops need (an OpenCL backend builds their
   * programs on a thread of its own) so that their first runs do not wait. Best effort:
   * a failure shows when the op runs. */
  void (*prepare)(nncl_backend *be, const int *ops, int nops);
  nncl_kernel_fn kernel[NNCL_OP_COUNT];
};

/* Runs op on be; checks the slot is filled. */
int nncl_run(nncl_backend *be, int op, const nncl_args *a);

/* The optional copies of nncl_backend, blocking where the backend has none. */
int nncl_write_async(nncl_backend *be, nncl_buf *buf, size_t off, const void *src, size_t n);
int nncl_read_start(nncl_backend *be, nncl_buf *buf, size_t off, void *dst, size_t n, void **pending);
int nncl_read_wait(nncl_backend *be, void *pending);

/* The native C backend (fallback/). threads 0 = all cores. */
int nncl_fb_create(struct nncl_ctx *ctx, int threads, nncl_backend **out);

/* Device selection parsed from "cl[:name-substring][:gpu|cpu|acc][:index]". */
typedef struct nncl_devspec {
  char name[128];   /* substring of platform or device name, "" = any */
  int type;         /* 0 any, 1 gpu, 2 cpu, 3 accelerator */
  int index;        /* -1 = best ranked; else index among the matches */
} nncl_devspec;

/* The OpenCL backend (cl/), only when built with OpenCL.
 * nncl_cl_create opens the device spec selects. auto_mode: pick only GPU/accelerator and
 * return NNCL_ENODEV (reason in the context's message) when there is none.
 * nncl_cl_report: lines describing every platform and device and what auto picks. */
int nncl_cl_create(struct nncl_ctx *ctx, const nncl_devspec *spec, int auto_mode,
                   nncl_backend **out);
int nncl_cl_report(void (*fn)(void *user, const char *line), void *user);

#endif
