/* harness.h - what the model-level tests report through: the context under test `ctx`
 * (harness_open, harness_close), the failure count `failures`, FAIL and ok (a status
 * checked); with what they share besides: a second context (make_ctx) and deterministic
 * test data (urand). Header-only; include it once, in the test's main file. */
#ifndef NNCL_HARNESS_H
#define NNCL_HARNESS_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "nncl.h"

static int failures;
static nncl_ctx *ctx;

#define FAIL(...) (printf("FAIL " __VA_ARGS__), putchar('\n'), failures++)

/* Opens ctx on the device under test with 2 threads and prints it. Returns 0, or the
 * test's exit status: 77 when the device is absent, 1 on another failure. */
static inline int harness_open(void) {
  nncl_ctx_params p;
  nncl_ctx_params_init(&p);
  p.threads = 2;
  char err[512];
  int r = nncl_ctx_create(&p, &ctx, err, sizeof err);
  if (r == NNCL_ENODEV) {
    printf("SKIP no device '%s': %s\n", getenv("NNCL_DEVICE") ? getenv("NNCL_DEVICE") : "auto", err);
    return 77;
  }
  if (r) {
    printf("FAIL context: %s\n", err);
    return 1;
  }
  printf("device: %s\n", nncl_ctx_device(ctx));
  return 0;
}

/* Closes ctx and prints the verdict; returns the test's exit status. */
static inline int harness_close(void) {
  nncl_ctx_destroy(ctx);
  printf("%s\n", failures ? "FAILED" : "PASSED");
  return failures != 0;
}

/* 1 when r is 0; else 0 and a failure: what, the status and the context's message. */
static inline int ok(int r, const char *what) {
  if (r) FAIL("%s: %s: %s", what, nncl_strerror(r), nncl_errmsg(ctx));
  return !r;
}

/* A second context with 2 threads and the given seed (NULL and a failure when it cannot be
 * made). */
static inline nncl_ctx *make_ctx(uint64_t seed) {
  nncl_ctx_params p;
  nncl_ctx_params_init(&p);
  p.threads = 2;
  p.seed = seed;
  nncl_ctx *c = NULL;
  char err[512];
  if (nncl_ctx_create(&p, &c, err, sizeof err)) FAIL("context: %s", err);
  return c;
}

/* Deterministic test data in [-1, 1). */
static inline float urand(uint64_t *s) {
  *s = *s * 6364136223846793005ull + 1442695040888963407ull;
  return (float)((double)(*s >> 11) / 9007199254740992.0 * 2 - 1);
}

#endif
