/* test_cl_cache.c - the OpenCL program binary cache (forced on with NNCL_CL_BINARY_CACHE=1,
 * also on PoCL) in a fresh NNCL_CACHE_DIR: a build stores one entry; a new context loads
 * it; a truncated, corrupted, emptied or foreign entry is detected, deleted and rebuilt,
 * and the results stay right. Skips (77) when $NNCL_DEVICE is not an OpenCL device. */
#include <dirent.h>
#include <stddef.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cl/backend_cl.h"
#include "cltest.h"
#include "internal.h"

static char logtext[65536];

static void collect(void *user, int level, const char *msg)
{
  size_t n = strlen(logtext);
  (void)user;
  (void)level;
  snprintf(logtext + n, sizeof logtext - n, "%s\n", msg);
}

/* Runs fill + scale (the elementwise family) in a fresh context and checks the result.
 * The context's log lands in logtext. */
static int run_once(const char *device)
{
  nncl_ctx_params p;
  nncl_ctx *ctx;
  nncl_buf *buf;
  char err[512];
  float out[37];
  logtext[0] = 0;
  nncl_ctx_params_init(&p);
  p.device = device;
  p.log = collect;
  p.log_level = NNCL_LOG_DEBUG;
  CHECK(nncl_ctx_create(&p, &ctx, err, sizeof err) == 0, "context: %s", err);
  nncl_backend *be = nncl_ctx_be(ctx);
  nncl_args fill = {.t = {{NULL, 8}}, .n = {37}, .f = {1.5f}};
  nncl_args scale = {.t = {{NULL, 8}, {NULL, 8}}, .n = {37}, .f = {-2.0f}};
  CHECK(be->alloc(be, 8 + sizeof out, &buf) == 0, "alloc: %s", nncl_errmsg(ctx));
  fill.t[0].buf = scale.t[0].buf = scale.t[1].buf = buf;
  CHECK(nncl_run(be, NNCL_OP_FILL, &fill) == 0 && nncl_run(be, NNCL_OP_SCALE, &scale) == 0 &&
            be->read(be, buf, 8, out, sizeof out) == 0,
        "ops: %s", nncl_errmsg(ctx));
  for (int k = 0; k < 37; k++)
    CHECK(out[k] == -3.0f, "fill+scale: out[%d] = %g, want -3", k, out[k]);
  be->release(be, buf);
  nncl_ctx_destroy(ctx);
  return 0;
}

/* The one cache entry under dir/cl (path into out). */
static int find_entry(const char *dir, char *out, size_t n)
{
  char sub[1024];
  int count = 0;
  snprintf(sub, sizeof sub, "%s/cl", dir);
  DIR *d = opendir(sub);
  CHECK(d, "no cache directory %s: %s", sub, strerror(errno));
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    size_t len = strlen(e->d_name);
    if (len > 4 && !strcmp(e->d_name + len - 4, ".bin")) {
      snprintf(out, n, "%s/%s", sub, e->d_name);
      count++;
    }
  }
  closedir(d);
  CHECK(count == 1, "%d cache entries in %s, want 1", count, sub);
  return 0;
}

static long file_size(const char *path)
{
  struct stat st;
  return stat(path, &st) == 0 ? (long)st.st_size : -1;
}

/* Reads the whole entry into *data (malloc'd). */
static long slurp(const char *path, unsigned char **data)
{
  long n = file_size(path);
  FILE *f = fopen(path, "rb");
  *data = n > 0 ? malloc((size_t)n) : NULL;
  if (!f || !*data || fread(*data, 1, (size_t)n, f) != (size_t)n)
    n = -1;
  if (f)
    fclose(f);
  return n;
}

static int spit(const char *path, const unsigned char *data, long n)
{
  FILE *f = fopen(path, "wb");
  CHECK(f && (n == 0 || fwrite(data, 1, (size_t)n, f) == (size_t)n) && fclose(f) == 0,
        "cannot write %s", path);
  return 0;
}

/* Damages the entry, runs again: the log must say it was rejected for `why`, the entry
 * must be rewritten under the same key, and the results right. */
static int damaged(const char *device, const char *path, const unsigned char *good, long n,
                   const unsigned char *bad, long badn, const char *what, const char *why)
{
  if (spit(path, bad, badn))
    return 1;
  if (run_once(device))
    return 1;
  CHECK(strstr(logtext, "rejected") && strstr(logtext, why),
        "%s entry: the log does not say '%s':\n%s", what, why, logtext);
  /* The driver's binary may differ from build to build; the key may not. */
  unsigned char *now = NULL;
  long m = slurp(path, &now);
  CHECK(m > (long)sizeof(nncl_cl_cache_header) && n > 0 &&
            memcmp(now, good, offsetof(nncl_cl_cache_header, length)) == 0,
        "%s entry: not rewritten with the same key (%ld bytes)", what, m);
  free(now);
  printf("%-22s detected (%s), rebuilt, results right\n", what, why);
  return 0;
}

int main(void)
{
  const char *dev = cl_test_device();
  char dir[] = "/tmp/nncl-cl-cache-XXXXXX", path[1200];
  nncl_ctx_params p;
  nncl_ctx *ctx;
  char err[512];
  if (!dev) return 77;
  CHECK(mkdtemp(dir), "mkdtemp: %s", strerror(errno));
  setenv("NNCL_CACHE_DIR", dir, 1);
  setenv("NNCL_CL_BINARY_CACHE", "1", 1);
  nncl_ctx_params_init(&p);
  p.device = dev;
  if (nncl_ctx_create(&p, &ctx, err, sizeof err) != 0) {
    printf("SKIP: no OpenCL context on %s: %s\n", dev, err);
    return 77;
  }
  int pocl = ((nncl_clbe *)nncl_ctx_be(ctx))->dev.pocl;
  nncl_ctx_destroy(ctx);

  if (run_once(dev) || find_entry(dir, path, sizeof path))
    return 1;
  CHECK(strstr(logtext, "built elementwise.cl"), "first run did not build:\n%s", logtext);
  unsigned char *good;
  long n = slurp(path, &good);
  CHECK(n > (long)sizeof(nncl_cl_cache_header), "entry %s: %ld bytes", path, n);
  printf("entry %s: %ld bytes\n", path, n);

  if (run_once(dev))
    return 1;
  CHECK(strstr(logtext, "loaded elementwise.cl"), "second run did not load the entry:\n%s",
        logtext);
  printf("%-22s loaded\n", "intact entry:");

  unsigned char *bad = malloc((size_t)n);
  CHECK(bad, "out of memory");
  int fail = damaged(dev, path, good, n, good, n / 2, "truncated:", "truncated");
  fail = fail || damaged(dev, path, good, n, good, 10, "shorter than a header:", "header");
  fail = fail || damaged(dev, path, good, n, good, 0, "empty:", "header");
  memcpy(bad, good, (size_t)n);
  bad[n - 7] ^= 0x5a;
  fail = fail || damaged(dev, path, good, n, bad, n, "one byte flipped:", "checksum");
  memcpy(bad, good, (size_t)n);
  bad[0] = 'X';
  fail = fail || damaged(dev, path, good, n, bad, n, "bad magic:", "magic");
  if (!fail && !pocl) {
    /* A consistent header around garbage reaches the driver, which must refuse it. PoCL
     * may abort on a bad binary, which is why the checksum comes first; skip it there. */
    nncl_cl_cache_header h;
    memcpy(&h, good, sizeof h);
    for (long k = (long)sizeof h; k < n; k++)
      bad[k] = (unsigned char)(k * 131u);
    h.checksum = nncl_cl_fnv1a(NNCL_CL_FNV_BASIS, bad + sizeof h, (size_t)(n - (long)sizeof h));
    memcpy(bad, &h, sizeof h);
    fail = damaged(dev, path, good, n, bad, n, "garbage binary:", "Program");
  }
  free(bad);
  free(good);
  unlink(path);
  snprintf(path, sizeof path, "%s/cl", dir);
  rmdir(path);
  rmdir(dir);
  printf("%s\n", fail ? "FAIL" : "ok");
  return fail;
}
