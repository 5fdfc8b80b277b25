/* fuzz_util.h - shared by the libFuzzer harnesses: one C-backend context per process, and
 * inputs handed to the loaders as real files (a memfd reached through /proc/self/fd/N).
 * Header-only; each harness is one translation unit, built with -D_GNU_SOURCE (memfd). */
#ifndef NNCL_FUZZ_UTIL_H
#define NNCL_FUZZ_UTIL_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "nncl.h"

/* Sizes a file may legitimately ask for (a 2^34-element model, a 2 GiB IDX payload) would
 * only measure the machine: allocations above 512 MiB fail as malloc failures do, so the
 * engine's out-of-memory paths are fuzzed instead of libFuzzer's -malloc_limit_mb firing. */
const char *__asan_default_options(void);
const char *__asan_default_options(void) { return "max_allocation_size_mb=512:allocator_may_return_null=1"; }

/* The process-wide context on the C backend, one thread (created on first use). */
static inline nncl_ctx *fz_ctx(void) {
  static nncl_ctx *ctx;
  if (!ctx) {
    nncl_ctx_params p;
    char err[256];
    nncl_ctx_params_init(&p);
    p.device = "c";
    p.threads = 1;
    if (nncl_ctx_create(&p, &ctx, err, sizeof err)) fprintf(stderr, "fuzz: no context: %s\n", err), abort();
  }
  return ctx;
}

/* Path of file slot k (0..1) holding exactly data[0..size). */
static inline const char *fz_file(int k, const uint8_t *data, size_t size) {
  static int fd[2] = {-1, -1};
  static char path[2][32];
  if (fd[k] < 0) {
    if ((fd[k] = memfd_create("nncl-fuzz", 0)) < 0) perror("memfd_create"), abort();
    snprintf(path[k], sizeof path[k], "/proc/self/fd/%d", fd[k]);
  }
  if (ftruncate(fd[k], 0) || (size && pwrite(fd[k], data, size, 0) != (ssize_t)size)) perror("fuzz file"), abort();
  return path[k];
}

/* Reads every byte so ASan checks the whole range; the sum keeps the loop alive. */
static inline unsigned fz_touch(const void *p, size_t n) {
  const volatile uint8_t *b = p;
  unsigned s = 0;
  for (size_t i = 0; i < n; i++) s += b[i];
  return s;
}

/* A harness's own invariant failed: a finding, reported as a crash. */
#define FZ_CHECK(c)                                                                                   \
  do {                                                                                                \
    if (!(c)) fprintf(stderr, "fuzz: %s:%d: check failed: %s\n", __FILE__, __LINE__, #c), abort();   \
  } while (0)

#endif
