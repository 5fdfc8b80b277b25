/* testutil.h - helpers shared by the op tests: seeded random numbers, contexts for the
 * device under test ($NNCL_DEVICE) and the C reference, device tensors placed at a non-zero
 * byte offset between guard words, and tolerant comparisons. Header-only. */
#ifndef NNCL_TESTUTIL_H
#define NNCL_TESTUTIL_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "internal.h"
#include "nncl.h"

#define TU_SKIP 77

/* ---- random numbers (splitmix64) ----------------------------------------------------- */

typedef struct tu_rng {
  uint64_t s;
} tu_rng;

static inline uint64_t tu_next(tu_rng *r)
{
  uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

/* Uniform in [lo, hi). */
static inline double tu_uniform(tu_rng *r, double lo, double hi)
{
  return lo + (hi - lo) * (double)(tu_next(r) >> 11) * (1.0 / 9007199254740992.0);
}

/* Uniform integer in [0, n). */
static inline size_t tu_below(tu_rng *r, size_t n) { return n ? (size_t)(tu_next(r) % n) : 0; }

/* ---- contexts ------------------------------------------------------------------------ */

/* Device under test: $NNCL_DEVICE, "c" when unset. */
static inline const char *tu_device(void)
{
  const char *d = getenv("NNCL_DEVICE");
  return d && *d ? d : "c";
}

/* Creates a context on `device` with `threads` (0 = all cores). Returns 0, TU_SKIP when an
 * OpenCL device was asked for and cannot be opened, 1 on any other failure. */
static inline int tu_open(const char *device, int threads, nncl_ctx **ctx)
{
  nncl_ctx_params p;
  char err[512];
  nncl_ctx_params_init(&p);
  p.device = device;
  p.threads = threads;
  int st = nncl_ctx_create(&p, ctx, err, sizeof err);
  if (!st) return 0;
  int cl = !strncmp(device, "cl", 2);
  fprintf(stderr, "%s: cannot create a context on '%s': %s (%s)\n", cl ? "SKIP" : "FAIL", device,
          nncl_strerror(st), err);
  return cl ? TU_SKIP : 1;
}

static inline int tu_is_c(nncl_backend *be) { return !strcmp(be->name, "c"); }

/* ---- device tensors between guards --------------------------------------------------- */

/* A tensor of n elements at byte offset off inside a buffer with guard words before and
 * after it (a NaN bit pattern no kernel produces). */
typedef struct tu_tensor {
  nncl_buf *buf;
  size_t off, n, bytes;
} tu_tensor;

#define TU_GUARD 0x7fc0deadu
#define TU_TAIL 16 /* guard elements after the data */

/* Allocates n elements (at least 1 allocated) at offset `pad` elements (>= 1). */
static inline int tu_alloc(nncl_backend *be, size_t n, size_t pad, tu_tensor *t)
{
  t->off = pad * 4;
  t->n = n;
  t->bytes = (pad + n + TU_TAIL) * 4;
  if (be->alloc(be, t->bytes, &t->buf)) return 1;
  size_t words = t->bytes / 4;
  uint32_t *g = malloc(t->bytes);
  if (!g) return 1;
  for (size_t i = 0; i < words; i++) g[i] = TU_GUARD;
  int st = be->write(be, t->buf, 0, g, t->bytes);
  free(g);
  return st ? 1 : 0;
}

static inline void tu_free(nncl_backend *be, tu_tensor *t)
{
  if (t->buf) be->release(be, t->buf);
  t->buf = NULL;
}

static inline nncl_ref tu_ref(const tu_tensor *t) { return (nncl_ref){t->buf, t->off}; }

static inline int tu_write(nncl_backend *be, tu_tensor *t, const void *src)
{
  return t->n ? be->write(be, t->buf, t->off, src, t->n * 4) : 0;
}

static inline int tu_read(nncl_backend *be, const tu_tensor *t, void *dst)
{
  return t->n ? be->read(be, t->buf, t->off, dst, t->n * 4) : 0;
}

/* 1 if every guard word around t is intact; prints the first bad one otherwise. */
static inline int tu_guards_ok(nncl_backend *be, const tu_tensor *t, const char *what)
{
  size_t words = t->bytes / 4, first = t->off / 4, last = first + t->n;
  uint32_t *g = malloc(t->bytes);
  if (!g || be->read(be, t->buf, 0, g, t->bytes)) {
    free(g);
    fprintf(stderr, "  %s: cannot read back the buffer\n", what);
    return 0;
  }
  for (size_t i = 0; i < words; i++)
    if ((i < first || i >= last) && g[i] != TU_GUARD) {
      fprintf(stderr, "  %s: write outside the tensor at element %td (tensor is [%zu, %zu))\n",
              what, (ptrdiff_t)i, first, last);
      free(g);
      return 0;
    }
  free(g);
  return 1;
}

/* ---- comparisons --------------------------------------------------------------------- */

/* |got - want| <= atol + rtol * scale, NaN only where want is NaN. */
static inline int tu_close(double got, double want, double scale, double rtol, double atol)
{
  if (isnan(want) || isnan(got)) return isnan(want) && isnan(got);
  if (isinf(want) || isinf(got)) return got == want;
  return fabs(got - want) <= atol + rtol * fabs(scale);
}

#endif
