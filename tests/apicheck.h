/* apicheck.h - what the tests of the public API on the device under test share
 * (test_inspect.c, test_transfer.c, test_text.c): CHECK, which prints and counts a failure
 * and carries on; opening the context and the test's data; the verdict. Header-only;
 * include it once, in the test's main file. */
#ifndef NNCL_APICHECK_H
#define NNCL_APICHECK_H

#include <stdio.h>

#include "nncl.h"
#include "testutil.h"

static int fails;
#define CHECK(c, ...) do { if (!(c)) { fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__); fprintf(stderr, __VA_ARGS__); fputc('\n', stderr); fails++; } } while (0)

/* *ctx on the device under test with 2 threads, and *d = make_data(*ctx). Returns 0, or
 * the test's exit status (77: no such device) after printing why. */
static inline int api_open(nncl_ctx **ctx, nncl_dataset *(*make_data)(nncl_ctx *), nncl_dataset **d) {
  int r = tu_open(tu_device(), 2, ctx);
  if (r) return r;
  if (!(*d = make_data(*ctx))) {
    fprintf(stderr, "FAIL: data: %s\n", nncl_errmsg(*ctx));
    return 1;
  }
  return 0;
}

/* "<test>: OK" when nothing failed; returns the test's exit status. */
static inline int api_verdict(const char *test) {
  if (!fails) printf("%s: OK\n", test);
  return fails ? 1 : 0;
}

#endif
