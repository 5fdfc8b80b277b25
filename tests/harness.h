/* harness.h - what the model-level tests report through: the context under test `ctx`
 * (harness_open, harness_close), the failure count `failures` and FAIL. Header-only;
 * include it once, in the test's main file. */
#ifndef NNCL_HARNESS_H
#define NNCL_HARNESS_H

#include <stdio.h>
#include <stdlib.h>

#include "nncl.h"

static int failures;
static nncl_ctx *ctx;

#define FAIL(...) (printf("FAIL " __VA_ARGS__), putchar('\n'), failures++)

/* Opens ctx on the device under test with 2 threads and prints it. Returns 0, or the
 * test's exit status: 77 when the device is absent, 1 on another failure. */
static int harness_open(void) {
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
static int harness_close(void) {
  nncl_ctx_destroy(ctx);
  printf("%s\n", failures ? "FAILED" : "PASSED");
  return failures != 0;
}

#endif
