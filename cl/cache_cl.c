/* cache_cl.c - our on-disk cache of program binaries.
 *
 * Entry <cache dir>/cl/<key>.bin = header + driver binary. The key hashes everything the
 * binary depends on; the header's length and checksum are verified before the driver sees
 * a byte (a truncated PoCL binary aborts the process). Any rejected entry is deleted and
 * the program is rebuilt from source. Writes go to a temporary file, fsync, rename. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cl/backend_cl.h"
#include "internal.h"

#define CACHE_MAX_BYTES ((uint64_t)1 << 30)
static const char cache_magic[8] = {'N', 'N', 'C', 'L', 'B', 'I', 'N', '\n'};

uint64_t nncl_cl_fnv1a(uint64_t h, const void *p, size_t n)
{
  const unsigned char *s = p;
  for (size_t k = 0; k < n; k++)
    h = (h ^ s[k]) * 0x100000001b3ull;
  return h;
}


/* Strings are hashed with their terminating NUL so that fields cannot run together. */
static uint64_t hash_str(uint64_t h, const char *s) { return nncl_cl_fnv1a(h, s, strlen(s) + 1); }

uint64_t nncl_cl_cache_key(const nncl_clbe *b, const char *const *src, const size_t *len,
                           int nsrc, const char *options)
{
  uint32_t format = NNCL_CL_CACHE_FORMAT;
  uint64_t h = nncl_cl_fnv1a(NNCL_CL_FNV_BASIS, &format, sizeof format);
  for (int k = 0; k < nsrc; k++) {
    uint64_t n = len[k];
    h = nncl_cl_fnv1a(h, &n, sizeof n);
    h = nncl_cl_fnv1a(h, src[k], len[k]);
  }
  h = hash_str(h, options);
  h = hash_str(h, b->dev.plat_name);
  h = hash_str(h, b->dev.plat_version);
  h = hash_str(h, b->dev.name);
  return hash_str(h, b->dev.driver);
}

int nncl_cl_cache_path(uint64_t key, char *out, size_t n)
{
  char dir[1024];
  int st = nncl_cache_dir(dir, sizeof dir);
  if (st != 0 || !dir[0])
    return st ? st : NNCL_EIO;
  int len = snprintf(out, n, "%s/cl", dir);
  if (len < 0 || (size_t)len >= n || (mkdir(out, 0700) != 0 && errno != EEXIST))
    return NNCL_EIO;
  len = snprintf(out, n, "%s/cl/%016llx.bin", dir, (unsigned long long)key);
  return len < 0 || (size_t)len >= n ? NNCL_EIO : 0;
}

static cl_program reject(nncl_clbe *b, const char *path, const char *what, const char *reason,
                         unsigned char *payload, FILE *f, cl_program prog)
{
  nncl_log(b->be.ctx, NNCL_LOG_WARN, "cl: cache entry %s for %s rejected (%s); deleted, rebuilding from source",
           path, what, reason);
  if (prog)
    clReleaseProgram(prog);
  if (f)
    fclose(f);
  free(payload);
  unlink(path);
  return NULL;
}

cl_program nncl_cl_cache_load(nncl_clbe *b, uint64_t key, const char *options, const char *what)
{
  char path[1100], reason[160];
  nncl_cl_cache_header h;
  cl_int err, binerr = CL_SUCCESS;
  if (nncl_cl_cache_path(key, path, sizeof path) != 0)
    return NULL;
  FILE *f = fopen(path, "rb");
  if (!f)
    return NULL;
  if (fread(&h, 1, sizeof h, f) != sizeof h)
    return reject(b, path, what, "shorter than its header", NULL, f, NULL);
  if (memcmp(h.magic, cache_magic, sizeof cache_magic) != 0 || h.format != NNCL_CL_CACHE_FORMAT ||
      h.key != key)
    return reject(b, path, what, "wrong magic, format or key", NULL, f, NULL);
  if (h.length == 0 || h.length > CACHE_MAX_BYTES)
    return reject(b, path, what, "absurd payload length", NULL, f, NULL);
  unsigned char *payload = malloc(h.length);
  if (!payload)
    return reject(b, path, what, "out of host memory", NULL, f, NULL);
  size_t got = fread(payload, 1, h.length, f);
  if (got != h.length) {
    snprintf(reason, sizeof reason, "truncated: %zu of %llu payload bytes", got,
             (unsigned long long)h.length);
    return reject(b, path, what, reason, payload, f, NULL);
  }
  if (fgetc(f) != EOF)
    return reject(b, path, what, "trailing bytes", payload, f, NULL);
  fclose(f);
  if (nncl_cl_fnv1a(NNCL_CL_FNV_BASIS, payload, h.length) != h.checksum)
    return reject(b, path, what, "checksum mismatch", payload, NULL, NULL);
  size_t len = h.length;
  const unsigned char *bin = payload;
  cl_program prog =
      clCreateProgramWithBinary(b->context, 1, &b->dev.device, &len, &bin, &binerr, &err);
  if (err != CL_SUCCESS || binerr != CL_SUCCESS) {
    snprintf(reason, sizeof reason, "clCreateProgramWithBinary: %s",
             nncl_cl_errname(err != CL_SUCCESS ? err : binerr));
    return reject(b, path, what, reason, payload, NULL, err == CL_SUCCESS ? prog : NULL);
  }
  free(payload);
  err = clBuildProgram(prog, 1, &b->dev.device, options, NULL, NULL);
  if (err != CL_SUCCESS) {
    snprintf(reason, sizeof reason, "clBuildProgram: %s", nncl_cl_errname(err));
    return reject(b, path, what, reason, NULL, NULL, prog);
  }
  return prog;
}

static int write_all(int fd, const void *p, size_t n)
{
  const char *s = p;
  while (n > 0) {
    ssize_t w = write(fd, s, n);
    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0)
      return -1;
    s += w;
    n -= (size_t)w;
  }
  return 0;
}

void nncl_cl_cache_store(nncl_clbe *b, uint64_t key, cl_program prog, const char *what)
{
  char path[1100], tmp[1200];
  size_t size = 0;
  unsigned char *bin = NULL;
  const char *fail = NULL;
  if (nncl_cl_cache_path(key, path, sizeof path) != 0) {
    nncl_log(b->be.ctx, NNCL_LOG_WARN, "cl: no cache directory; %s not cached", what);
    return;
  }
  if (clGetProgramInfo(prog, CL_PROGRAM_BINARY_SIZES, sizeof size, &size, NULL) != CL_SUCCESS ||
      size == 0 || size > CACHE_MAX_BYTES || !(bin = malloc(size)) ||
      clGetProgramInfo(prog, CL_PROGRAM_BINARIES, sizeof bin, &bin, NULL) != CL_SUCCESS) {
    nncl_log(b->be.ctx, NNCL_LOG_WARN, "cl: the driver gave no binary for %s; not cached", what);
    free(bin);
    return;
  }
  nncl_cl_cache_header h;
  memset(&h, 0, sizeof h);
  memcpy(h.magic, cache_magic, sizeof h.magic);
  h.format = NNCL_CL_CACHE_FORMAT;
  h.key = key;
  h.length = size;
  h.checksum = nncl_cl_fnv1a(NNCL_CL_FNV_BASIS, bin, size);
  snprintf(tmp, sizeof tmp, "%s.%ld.tmp", path, (long)getpid());
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0)
    fail = "open";
  else if (write_all(fd, &h, sizeof h) != 0 || write_all(fd, bin, size) != 0)
    fail = "write";
  else if (fsync(fd) != 0)
    fail = "fsync";
  if (fd >= 0 && close(fd) != 0 && !fail)
    fail = "close";
  if (!fail && rename(tmp, path) != 0)
    fail = "rename";
  if (fail) {
    nncl_log(b->be.ctx, NNCL_LOG_WARN, "cl: caching %s: %s %s: %s", what, fail, tmp, strerror(errno));
    unlink(tmp);
  }
  free(bin);
}
