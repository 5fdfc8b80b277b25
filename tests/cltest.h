/* cltest.h - what the OpenCL backend tests share (test_cl_cache.c, test_cl_faults.c,
 * test_cl_kernels_build.c): CHECK, which prints a failure and returns 1 from the calling
 * function, and the device under test. Header-only. */
#ifndef NNCL_CLTEST_H
#define NNCL_CLTEST_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(cond, ...)                                    \
  do {                                                      \
    if (!(cond)) {                                          \
      fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);  \
      fprintf(stderr, __VA_ARGS__);                         \
      fprintf(stderr, "\n");                                \
      return 1;                                             \
    }                                                       \
  } while (0)

/* $NNCL_DEVICE when it names an OpenCL device ("cl..."); else NULL, after printing that
 * the test skips (exit status 77). */
static inline const char *cl_test_device(void)
{
  const char *dev = getenv("NNCL_DEVICE");
  if (!dev || strncmp(dev, "cl", 2) != 0) {
    printf("SKIP: NNCL_DEVICE is not an OpenCL device\n");
    return NULL;
  }
  return dev;
}

#endif
