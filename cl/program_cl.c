/* program_cl.c - kernel sources, tunables, lazy program builds and kernel objects. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cl/backend_cl.h"
#include "internal.h"

static const char *const family_names[] = {
#define NNCL_X_(id, file) #file,
    NNCL_CL_FAMILIES(NNCL_X_)
#undef NNCL_X_
};

static const struct {
  int fam;
  const char *name;
} kernels[] = {
#define NNCL_X_(id, fam, name) {NNCL_CL_FAM_##fam, #name},
    NNCL_CL_KERNELS(NNCL_X_)
#undef NNCL_X_
};

const char *nncl_cl_family_name(int fam) { return family_names[fam]; }

const char *nncl_cl_kernel_name(int kid) { return kernels[kid].name; }

static int floor_pow2(size_t v, int cap)
{
  int p = 1;
  while ((size_t)p * 2 <= v && p * 2 <= cap)
    p *= 2;
  return p;
}

void nncl_cl_tune_init(nncl_clbe *b)
{
  const nncl_cl_dev *d = &b->dev;
  int gpu = (d->type & (CL_DEVICE_TYPE_GPU | CL_DEVICE_TYPE_ACCELERATOR)) != 0;
  nncl_cl_tune *t = &b->tune;
  t->vw = floor_pow2(d->vec_float ? d->vec_float : 1, gpu ? 4 : 8);
  t->ls = floor_pow2(d->max_wg, 256);
  t->rwg = floor_pow2(d->max_wg, gpu ? 256 : 64);
  t->sum_k = gpu ? 8 : 64;
  t->srx = gpu ? 32 : 64;
  t->sry = gpu ? floor_pow2(d->max_wg / (size_t)t->srx, 8) : 1;
  /* A narrow row is one work-item's loop; a wide one a work-group's. On a CPU a loop is
   * cheap and work-groups are not. */
  t->wide_cols = gpu ? 64 : 2048;
  /* gemm.cl: measured on PoCL (AVX-512, 2 cores) 64/64/16 with 16 x 16 blocks of float16
   * runs ~18 GFLOPS, 4 x 4 blocks ~1.5. GPUs: 16 x 16 items of 4 x 4 (float4). */
  t->tm = t->tn = 64;
  t->tk = 16;
  if (gpu) {
    t->vn = t->wm = t->wn = 4;
    if (d->max_wg < 256)
      t->tm = t->tn = 32;
  } else {
    t->vn = floor_pow2(d->vec_float ? d->vec_float : 4, 16);
    t->vn = t->vn < 4 ? 4 : t->vn;
    t->wm = t->wn = 16;
  }
}

static void family_options(const nncl_clbe *b, int fam, char *out, size_t n)
{
  const nncl_cl_tune *t = &b->tune;
  int k = snprintf(out, n, "-cl-std=CL1.2");
  switch (fam) {
  case NNCL_CL_FAM_SOFTMAX:
    snprintf(out + k, n - k, " -DVW=%d -DRWG=%d -DSUM_K=%d -DSRX=%d -DSRY=%d", t->vw, t->rwg,
             t->sum_k, t->srx, t->sry);
    break;
  case NNCL_CL_FAM_GEMM:
    snprintf(out + k, n - k, " -DTM=%d -DTN=%d -DTK=%d -DWM=%d -DWN=%d -DVN=%d", t->tm, t->tn,
             t->tk, t->wm, t->wn, t->vn);
    break;
  default:
    snprintf(out + k, n - k, " -DVW=%d", t->vw);
    break;
  }
}

/* Source text of <name>.cl: embedded, or read from NNCL_KERNEL_DIR (malloc'd into *own). */
static int load_source(nncl_clbe *b, const char *name, const char **text, size_t *len, char **own)
{
  *own = NULL;
  if (!b->kernel_dir[0]) {
    for (int k = 0; k < nncl_cl_nsrcs; k++)
      if (strcmp(nncl_cl_srcs[k].name, name) == 0) {
        *text = nncl_cl_srcs[k].text;
        *len = nncl_cl_srcs[k].len;
        return 0;
      }
    return nncl_err(b->be.ctx, NNCL_EBUILD, "cl: no embedded kernel source %s.cl", name);
  }
  char path[1100];
  snprintf(path, sizeof path, "%s/%s.cl", b->kernel_dir, name);
  FILE *f = fopen(path, "rb");
  if (!f)
    return nncl_err(b->be.ctx, NNCL_EIO, "NNCL_KERNEL_DIR: cannot open %s: %s", path,
                    strerror(errno));
  long size = fseek(f, 0, SEEK_END) == 0 ? ftell(f) : -1;
  size_t head = strlen(path) + 16;
  char *buf = size >= 0 && fseek(f, 0, SEEK_SET) == 0 ? malloc(head + (size_t)size + 2) : NULL;
  if (!buf) {
    fclose(f);
    return nncl_err(b->be.ctx, NNCL_EIO, "NNCL_KERNEL_DIR: cannot read %s", path);
  }
  /* #line makes compiler messages name the file on disk. */
  int h = snprintf(buf, head, "#line 1 \"%s\"\n", path);
  size_t got = fread(buf + h, 1, (size_t)size, f);
  int bad = ferror(f);
  fclose(f);
  if (bad || got != (size_t)size) {
    free(buf);
    return nncl_err(b->be.ctx, NNCL_EIO, "NNCL_KERNEL_DIR: short read of %s", path);
  }
  /* The next source starts with #line: end this one with a newline. */
  if (got == 0 || buf[h + got - 1] != '\n')
    buf[h + got++] = '\n';
  buf[h + got] = 0;
  *text = *own = buf;
  *len = (size_t)h + got;
  return 0;
}

static double now_s(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int build_failed(nncl_clbe *b, cl_program prog, cl_int err, const char *what,
                        const char *options)
{
  size_t len = 0;
  char *log = NULL;
  if (clGetProgramBuildInfo(prog, b->dev.device, CL_PROGRAM_BUILD_LOG, 0, NULL, &len) ==
          CL_SUCCESS &&
      (log = calloc(len + 1, 1)) != NULL)
    clGetProgramBuildInfo(prog, b->dev.device, CL_PROGRAM_BUILD_LOG, len, log, NULL);
  int st = nncl_err(b->be.ctx, NNCL_EBUILD, "clBuildProgram(%s) on %s: %s (%d), options \"%s\"; build log:\n%s",
                    what, b->dev.name, nncl_cl_errname(err), (int)err, options, log ? log : "(none)");
  free(log);
  return st;
}

static int build_source(nncl_clbe *b, const char **src, const size_t *len, const char *what,
                        const char *options, cl_program *out)
{
  cl_int err;
  cl_program prog = clCreateProgramWithSource(b->context, 2, src, len, &err);
  char call[96];
  if (err != CL_SUCCESS) {
    snprintf(call, sizeof call, "clCreateProgramWithSource(%s)", what);
    return nncl_cl_fail(b, err, call);
  }
  err = clBuildProgram(prog, 1, &b->dev.device, options, NULL, NULL);
  if (err != CL_SUCCESS) {
    int st = err == CL_BUILD_PROGRAM_FAILURE || err == CL_INVALID_BUILD_OPTIONS
                 ? build_failed(b, prog, err, what, options)
                 : nncl_cl_fail(b, err, "clBuildProgram");
    clReleaseProgram(prog);
    return st;
  }
  *out = prog;
  return 0;
}

int nncl_cl_build(nncl_clbe *b, int fam)
{
  const char *src[2];
  size_t len[2];
  char *own[2] = {NULL, NULL}, options[256], what[64];
  cl_program prog = NULL;
  int st;
  if (b->prog[fam])
    return 0;
  if ((st = nncl_cl_alive(b)) != 0)
    return st;
  if ((st = load_source(b, "prelude", &src[0], &len[0], &own[0])) != 0 ||
      (st = load_source(b, family_names[fam], &src[1], &len[1], &own[1])) != 0)
    goto done;
  family_options(b, fam, options, sizeof options);
  snprintf(what, sizeof what, "%s.cl", family_names[fam]);
  double t0 = now_s();
  uint64_t key = b->binary_cache ? nncl_cl_cache_key(b, src, len, 2, options) : 0;
  if (b->binary_cache)
    prog = nncl_cl_cache_load(b, key, options, what);
  int cached = prog != NULL;
  if (!prog && (st = build_source(b, src, len, what, options, &prog)) != 0)
    goto done;
  if (b->binary_cache && !cached)
    nncl_cl_cache_store(b, key, prog, what);
  b->prog[fam] = prog;
  nncl_log(b->be.ctx, NNCL_LOG_DEBUG, "cl: %s %s in %.3f s", cached ? "loaded" : "built", what,
           now_s() - t0);
done:
  free(own[0]);
  free(own[1]);
  return st;
}

int nncl_cl_kernel(nncl_clbe *b, int kid, cl_kernel *out)
{
  cl_int err;
  int st;
  if (!b->kern[kid]) {
    if ((st = nncl_cl_build(b, kernels[kid].fam)) != 0)
      return st;
    cl_kernel k = clCreateKernel(b->prog[kernels[kid].fam], kernels[kid].name, &err);
    if (err != CL_SUCCESS) {
      char call[96];
      snprintf(call, sizeof call, "clCreateKernel(%s)", kernels[kid].name);
      return nncl_cl_fail(b, err, call);
    }
    err = clGetKernelWorkGroupInfo(k, b->dev.device, CL_KERNEL_WORK_GROUP_SIZE,
                                   sizeof b->kern_wg[kid], &b->kern_wg[kid], NULL);
    if (err != CL_SUCCESS) {
      clReleaseKernel(k);
      return nncl_cl_fail(b, err, "clGetKernelWorkGroupInfo");
    }
    b->kern[kid] = k;
  }
  *out = b->kern[kid];
  return 0;
}

void nncl_cl_programs_release(nncl_clbe *b)
{
  for (int k = 0; k < NNCL_CL_K_COUNT; k++)
    if (b->kern[k])
      clReleaseKernel(b->kern[k]);
  for (int f = 0; f < NNCL_CL_FAM_COUNT; f++)
    if (b->prog[f])
      clReleaseProgram(b->prog[f]);
  memset(b->kern, 0, sizeof b->kern);
  memset(b->prog, 0, sizeof b->prog);
}
