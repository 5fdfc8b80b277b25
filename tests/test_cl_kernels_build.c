/* test_cl_kernels_build.c - compiles every kernel family (.cl file) on the OpenCL device
 * under test ($NNCL_DEVICE = cl...) and creates every kernel, with this device's tunables
 * and with the other device class's (GPU vs CPU), so a kernel that only builds at run time
 * cannot hide behind a green build. Skips (77) when the device is not OpenCL. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cl/backend_cl.h"
#include "cltest.h"
#include "internal.h"

static double now_s(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Every embedded .cl file except the prelude must be a family. */
static int check_sources_listed(void)
{
  int bad = 0;
  for (int k = 0; k < nncl_cl_nsrcs; k++) {
    int found = !strcmp(nncl_cl_srcs[k].name, "prelude");
    for (int f = 0; f < NNCL_CL_FAM_COUNT && !found; f++)
      found = !strcmp(nncl_cl_srcs[k].name, nncl_cl_family_name(f));
    if (!found) {
      fprintf(stderr, "FAIL: cl/%s.cl is embedded but is no kernel family\n", nncl_cl_srcs[k].name);
      bad = 1;
    }
  }
  return bad;
}

/* Builds every family and creates every kernel with b's current tunables. */
static int build_all(nncl_clbe *b, const char *label)
{
  int fail = 0;
  for (int f = 0; f < NNCL_CL_FAM_COUNT; f++) {
    double t0 = now_s();
    int st = nncl_cl_build(b, f);
    printf("%-8s %-12s %s in %.3f s\n", label, nncl_cl_family_name(f), st ? "FAILED" : "built",
           now_s() - t0);
    if (st) {
      fprintf(stderr, "FAIL: %s.cl (%s tunables): %s\n", nncl_cl_family_name(f), label,
              nncl_errmsg(b->be.ctx));
      fail = 1;
    }
  }
  for (int k = 0; k < NNCL_CL_K_COUNT && !fail; k++) {
    cl_kernel kern;
    if (nncl_cl_kernel(b, k, &kern)) {
      fprintf(stderr, "FAIL: kernel %s (%s tunables): %s\n", nncl_cl_kernel_name(k), label,
              nncl_errmsg(b->be.ctx));
      fail = 1;
    }
  }
  return fail;
}

int main(void)
{
  const char *dev = cl_test_device();
  nncl_ctx_params p;
  nncl_ctx *ctx;
  char err[512];
  if (!dev) return 77;
  nncl_ctx_params_init(&p);
  p.device = dev;
  if (nncl_ctx_create(&p, &ctx, err, sizeof err) != 0) {
    printf("SKIP: no OpenCL context on %s: %s\n", dev, err);
    return 77;
  }
  nncl_clbe *b = (nncl_clbe *)nncl_ctx_be(ctx);
  printf("device: %s\n", b->be.device);
  int gpu = (b->dev.type & (CL_DEVICE_TYPE_GPU | CL_DEVICE_TYPE_ACCELERATOR)) != 0;
  int fail = check_sources_listed();
  fail |= build_all(b, gpu ? "gpu" : "cpu");

  /* The other class's tunables (vector widths, tiles) on this device. */
  nncl_cl_programs_release(b);
  nncl_cl_dev saved = b->dev;
  b->dev.type = gpu ? CL_DEVICE_TYPE_CPU : CL_DEVICE_TYPE_GPU;
  nncl_cl_tune_init(b);
  b->dev = saved;
  fail |= build_all(b, gpu ? "cpu" : "gpu");

  nncl_ctx_destroy(ctx);
  printf("%s\n", fail ? "FAIL" : "ok: every kernel family builds");
  return fail;
}
