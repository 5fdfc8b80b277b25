/* test_cl_faults.c - the OpenCL backend fails cleanly and says why:
 *  - a broken .cl file (NNCL_KERNEL_DIR) gives NNCL_EBUILD with the build log;
 *  - an allocation beyond CL_DEVICE_MAX_MEM_ALLOC_SIZE (or the global memory left) gives
 *    NNCL_ENOMEM naming the sizes, without calling the driver;
 *  - after a queue failure (CL_OUT_OF_RESOURCES) every call fails with a message;
 *  - without an ICD (OCL_ICD_VENDORS=/nonexistent, in a child process) "auto" falls back
 *    to C and says why, and "cl" fails with NNCL_ENODEV.
 * Skips (77) when $NNCL_DEVICE is not an OpenCL device or none can be opened. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cl/backend_cl.h"
#include "cltest.h"
#include "internal.h"

typedef struct logbuf {
  char text[16384];
} logbuf;

static void collect(void *user, int level, const char *msg)
{
  logbuf *l = user;
  size_t n = strlen(l->text);
  (void)level;
  snprintf(l->text + n, sizeof l->text - n, "%s\n", msg);
}

static int open_ctx(const char *device, logbuf *log, nncl_ctx **ctx, char *err, size_t errlen)
{
  nncl_ctx_params p;
  nncl_ctx_params_init(&p);
  p.device = device;
  if (log) {
    p.log = collect;
    p.log_user = log;
    p.log_level = NNCL_LOG_DEBUG;
  }
  return nncl_ctx_create(&p, ctx, err, errlen);
}

/* fill(buf, n, v) then reads element 0 back into *out. */
static int fill_read(nncl_backend *be, nncl_buf *buf, size_t n, float v, float *out)
{
  nncl_args a = {.t = {{buf, 0}}, .n = {n}, .f = {v}};
  int st = nncl_run(be, NNCL_OP_FILL, &a);
  return st ? st : be->read(be, buf, 0, out, sizeof *out);
}

/* Writes the embedded sources (without their #line header) into dir; family `broken`
 * gets a kernel that references an undefined identifier appended. */
static int write_kernels(const char *dir, const char *broken)
{
  for (int k = 0; k < nncl_cl_nsrcs; k++) {
    char path[1024];
    const char *text = strchr(nncl_cl_srcs[k].text, '\n') + 1;
    snprintf(path, sizeof path, "%s/%s.cl", dir, nncl_cl_srcs[k].name);
    FILE *f = fopen(path, "w");
    if (!f)
      return 1;
    fputs(text, f);
    if (broken && !strcmp(nncl_cl_srcs[k].name, broken))
      fputs("\nkernel void broken_on_purpose(global float *x) { x[0] = undefined_thing_42; }\n", f);
    if (fclose(f) != 0)
      return 1;
  }
  return 0;
}

static int test_build_failure(const char *device)
{
  char dir[] = "/tmp/nncl-cl-faults-XXXXXX", err[512];
  nncl_ctx *ctx;
  nncl_buf *buf;
  float v = 0;
  CHECK(mkdtemp(dir), "mkdtemp: %s", strerror(errno));
  CHECK(write_kernels(dir, "elementwise") == 0, "cannot write kernels into %s", dir);
  setenv("NNCL_KERNEL_DIR", dir, 1);
  CHECK(open_ctx(device, NULL, &ctx, err, sizeof err) == 0, "context: %s", err);
  nncl_backend *be = nncl_ctx_be(ctx);
  CHECK(be->alloc(be, 64, &buf) == 0, "alloc: %s", nncl_errmsg(ctx));
  int st = fill_read(be, buf, 16, 1.0f, &v);
  const char *msg = nncl_errmsg(ctx);
  CHECK(st == NNCL_EBUILD, "broken elementwise.cl: status %d (%s), want NNCL_EBUILD", st, msg);
  CHECK(strstr(msg, "elementwise.cl") && strstr(msg, "undefined_thing_42") &&
            strstr(msg, "build log"),
        "the message lacks the file, the log or the culprit:\n%s", msg);
  printf("broken kernel: NNCL_EBUILD, %zu bytes of message, e.g. %.120s...\n", strlen(msg), msg);
  be->release(be, buf);
  nncl_ctx_destroy(ctx);

  /* The same directory with intact files works. */
  CHECK(write_kernels(dir, NULL) == 0, "cannot rewrite kernels");
  CHECK(open_ctx(device, NULL, &ctx, err, sizeof err) == 0, "context: %s", err);
  be = nncl_ctx_be(ctx);
  CHECK(be->alloc(be, 64, &buf) == 0, "alloc: %s", nncl_errmsg(ctx));
  CHECK(fill_read(be, buf, 16, 2.5f, &v) == 0 && v == 2.5f, "kernels from %s: %s (got %g)", dir,
        nncl_errmsg(ctx), v);
  be->release(be, buf);
  nncl_ctx_destroy(ctx);
  unsetenv("NNCL_KERNEL_DIR");
  for (int k = 0; k < nncl_cl_nsrcs; k++) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s.cl", dir, nncl_cl_srcs[k].name);
    unlink(path);
  }
  rmdir(dir);
  return 0;
}

static int test_memory_limits(const char *device)
{
  char err[512];
  nncl_ctx *ctx;
  nncl_buf *buf = NULL;
  CHECK(open_ctx(device, NULL, &ctx, err, sizeof err) == 0, "context: %s", err);
  nncl_clbe *b = (nncl_clbe *)nncl_ctx_be(ctx);
  unsigned long calls = b->driver_allocs;
  size_t too_big = (size_t)b->dev.max_alloc + 1;
  int st = b->be.alloc(&b->be, too_big, &buf);
  const char *msg = nncl_errmsg(ctx);
  char want[64];
  snprintf(want, sizeof want, "%zu", too_big);
  CHECK(st == NNCL_ENOMEM && !buf, "alloc beyond max: status %d, want NNCL_ENOMEM", st);
  CHECK(strstr(msg, want) && strstr(msg, "CL_DEVICE_MAX_MEM_ALLOC_SIZE"), "message: %s", msg);
  CHECK(b->driver_allocs == calls, "the driver was called for a refused allocation");
  printf("beyond max alloc: %s\n", msg);

  /* Global memory: pretend only 1 MiB is left. */
  cl_ulong global = b->dev.global_mem;
  b->dev.global_mem = b->used + (1u << 20);
  st = b->be.alloc(&b->be, (1u << 20) + 4, &buf);
  msg = nncl_errmsg(ctx);
  CHECK(st == NNCL_ENOMEM && strstr(msg, "CL_DEVICE_GLOBAL_MEM_SIZE") && b->driver_allocs == calls,
        "alloc beyond global memory: status %d: %s", st, msg);
  CHECK(b->be.alloc(&b->be, 1u << 20, &buf) == 0, "alloc within the limit: %s", nncl_errmsg(ctx));
  b->be.release(&b->be, buf);
  b->dev.global_mem = global;
  printf("beyond global memory: %s\n", msg);
  nncl_ctx_destroy(ctx);
  return 0;
}

static int test_poison(const char *device)
{
  char err[512];
  nncl_ctx *ctx;
  nncl_buf *buf, *other = NULL;
  float v = 0;
  CHECK(open_ctx(device, NULL, &ctx, err, sizeof err) == 0, "context: %s", err);
  nncl_clbe *b = (nncl_clbe *)nncl_ctx_be(ctx);
  CHECK(b->be.alloc(&b->be, 64, &buf) == 0, "alloc: %s", nncl_errmsg(ctx));
  CHECK(fill_read(&b->be, buf, 16, 3.0f, &v) == 0 && v == 3.0f, "fill: %s", nncl_errmsg(ctx));
  /* What a failing clEnqueueNDRangeKernel reports. */
  int st = nncl_cl_qfail(b, CL_OUT_OF_RESOURCES, "clEnqueueNDRangeKernel(test)");
  CHECK(st == NNCL_EDEVICE && strstr(nncl_errmsg(ctx), "CL_OUT_OF_RESOURCES"), "qfail: %d %s", st,
        nncl_errmsg(ctx));
  CHECK(fill_read(&b->be, buf, 16, 4.0f, &v) == NNCL_EDEVICE, "fill after poisoning succeeded");
  CHECK(strstr(nncl_errmsg(ctx), "unusable") && strstr(nncl_errmsg(ctx), "CL_OUT_OF_RESOURCES"),
        "message after poisoning: %s", nncl_errmsg(ctx));
  CHECK(b->be.alloc(&b->be, 64, &other) == NNCL_EDEVICE && !other, "alloc after poisoning");
  CHECK(b->be.finish(&b->be) == NNCL_EDEVICE, "finish after poisoning");
  printf("poisoned: %s\n", nncl_errmsg(ctx));
  b->be.release(&b->be, buf);
  nncl_ctx_destroy(ctx);
  CHECK(!strcmp(nncl_cl_errname(-1001), "CL_PLATFORM_NOT_FOUND_KHR") &&
            !strcmp(nncl_cl_errname(-6), "CL_OUT_OF_HOST_MEMORY") &&
            !strcmp(nncl_cl_errname(-54), "CL_INVALID_WORK_GROUP_SIZE"),
        "error names");
  return 0;
}

/* Child: run with OCL_ICD_VENDORS=/nonexistent set before any OpenCL call. */
static int no_icd_child(void)
{
  logbuf log = {{0}};
  char err[512] = "";
  nncl_ctx *ctx = NULL;
  int st = open_ctx("auto", &log, &ctx, err, sizeof err);
  CHECK(st == 0, "auto without an ICD: %s", err);
  CHECK(!strcmp(nncl_ctx_backend(ctx), "c"), "auto without an ICD picked %s", nncl_ctx_backend(ctx));
  CHECK(strstr(log.text, "ICD") && strstr(log.text, "-1001"), "auto does not say why:\n%s",
        log.text);
  printf("auto: %s\n", nncl_ctx_device(ctx));
  nncl_ctx_destroy(ctx);
  st = open_ctx("cl", NULL, &ctx, err, sizeof err);
  CHECK(st == NNCL_ENODEV && !ctx, "cl without an ICD: status %d, want NNCL_ENODEV", st);
  CHECK(strstr(err, "ICD"), "cl without an ICD: message: %s", err);
  printf("cl: %s\n", err);
  return 0;
}

static int test_no_icd(const char *self)
{
  fflush(stdout);
  pid_t pid = fork();
  CHECK(pid >= 0, "fork: %s", strerror(errno));
  if (pid == 0) {
    setenv("OCL_ICD_VENDORS", "/nonexistent", 1);
    execl(self, self, "--no-icd", (char *)NULL);
    _exit(127);
  }
  int status;
  CHECK(waitpid(pid, &status, 0) == pid, "waitpid: %s", strerror(errno));
  CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "no-ICD child failed (status %d)", status);
  return 0;
}

int main(int argc, char **argv)
{
  if (argc > 1 && !strcmp(argv[1], "--no-icd"))
    return no_icd_child();
  const char *dev = cl_test_device();
  char err[512];
  nncl_ctx *ctx;
  if (!dev) return 77;
  if (open_ctx(dev, NULL, &ctx, err, sizeof err) != 0) {
    printf("SKIP: no OpenCL context on %s: %s\n", dev, err);
    return 77;
  }
  nncl_ctx_destroy(ctx);
  int fail = test_build_failure(dev) || test_memory_limits(dev) || test_poison(dev) ||
             test_no_icd(argv[0]);
  printf("%s\n", fail ? "FAIL" : "ok");
  return fail;
}
