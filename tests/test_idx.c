/* test_idx.c - IDX loader: the real Fashion-MNIST files when installed, generated plain
 * and gzip files, and hostile ones (truncated everywhere, bad magic, other types, huge
 * dims, trailing bytes, corrupt gzip, empty, missing): a clear error, never a crash. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "data/idx.h"
#include "filetest.h"
#include "nncl.h"

static char dir[512];

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void write_file(const char *path, const void *b, size_t n) {
  if (ft_write(path, b, n)) printf("cannot write %s\n", path), exit(1);
}

/* gzip of b[0..n) as bytes (malloc'd), through zlib's gz* writer. */
static unsigned char *gzip_bytes(const void *b, size_t n, size_t *out_n) {
  char p[600];
  snprintf(p, sizeof p, "%s/tmp.gz", dir);
  gzFile g = gzopen(p, "wb9");
  if (!g || (n && gzwrite(g, b, (unsigned)n) != (int)n) || gzclose(g) != Z_OK)
    printf("gzip failed\n"), exit(1);
  FILE *f = fopen(p, "rb");
  unsigned char *out = malloc(n + 4096);
  *out_n = fread(out, 1, n + 4096, f);
  fclose(f);
  unlink(p);
  return out;
}

/* An IDX image of (d0, d1, d2) ubytes, value (i * 7 + 3) & 255 at flat index i. */
static unsigned char *make_idx(int d0, int d1, int d2, size_t *n) {
  size_t payload = (size_t)d0 * (size_t)d1 * (size_t)d2;
  unsigned char *b = malloc(16 + payload);
  const int d[3] = {d0, d1, d2};
  b[0] = b[1] = 0, b[2] = 8, b[3] = 3;
  for (int i = 0; i < 3; i++)
    for (int k = 0; k < 4; k++) b[4 + 4 * i + k] = (unsigned char)((unsigned)d[i] >> (24 - 8 * k));
  for (size_t i = 0; i < payload; i++) b[16 + i] = (unsigned char)((i * 7 + 3) & 255);
  *n = 16 + payload;
  return b;
}

/* Loading must fail with status, the path at the start of the message and `what` in it. */
static void expect_fail(nncl_ctx *ctx, const char *path, int status, const char *what, const char *label) {
  nncl_idx x;
  memset(&x, 0x55, sizeof x);
  int r = nncl_idx_load(ctx, path, &x);
  const char *m = nncl_errmsg(ctx);
  CHECK(r == status && !x.data && x.size == 0 && !strncmp(m, path, strlen(path)) && strstr(m, what),
        "%s: got %d '%s', want %d '%s'", label, r, m, status, what);
  if (!r) nncl_idx_free(&x);
}

static void real_files(nncl_ctx *ctx) {
  const char *d = getenv("NNCL_FASHION_MNIST");
  if (!d) d = "/usr/share/datasets/fashion-mnist";
  struct stat st;
  if (stat(d, &st)) {
    printf("%s absent: real-file part skipped\n", d);
    return;
  }
  static const struct {
    const char *file;
    int ndim;
    int64_t n;
  } files[] = {{"train-images-idx3-ubyte.gz", 3, 60000},
               {"train-labels-idx1-ubyte.gz", 1, 60000},
               {"t10k-images-idx3-ubyte.gz", 3, 10000},
               {"t10k-labels-idx1-ubyte.gz", 1, 10000}};
  for (int i = 0; i < 4; i++) {
    char p[1024];
    snprintf(p, sizeof p, "%s/%s", d, files[i].file);
    nncl_idx x;
    double t0 = now();
    int r = nncl_idx_load(ctx, p, &x);
    double dt = now() - t0;
    CHECK(r == 0, "%s: %s", p, nncl_errmsg(ctx));
    if (r) continue;
    printf("%s: %zu bytes in %.3f s\n", files[i].file, x.size, dt);
    CHECK(x.ndim == files[i].ndim && x.dims[0] == files[i].n, "%s: ndim %d dims[0] %lld", p, x.ndim,
          (long long)x.dims[0]);
    if (x.ndim == 3) {
      CHECK(x.dims[1] == 28 && x.dims[2] == 28 && x.size == (size_t)files[i].n * 784, "%s: image dims", p);
    } else {
      int64_t count[256] = {0};
      for (size_t k = 0; k < x.size; k++) count[x.data[k]]++;
      for (int c = 0; c < 10; c++)
        CHECK(count[c] == files[i].n / 10, "%s: class %d has %lld", p, c, (long long)count[c]);
      CHECK(x.data[0] == 9, "%s: first label %d, want 9 (ankle boot)", p, x.data[0]);
    }
    nncl_idx_free(&x);
  }
}

static void generated(nncl_ctx *ctx) {
  size_t n, gn;
  unsigned char *raw = make_idx(5, 4, 3, &n);
  unsigned char *gz = gzip_bytes(raw, n, &gn);
  if (gn < 18) { /* gzip header and trailer alone take 18 bytes */
    CHECK(0, "gzip output of %zu bytes", gn);
    return;
  }
  char plain[600], zp[600], p[600];
  snprintf(plain, sizeof plain, "%s/ok.idx", dir);
  snprintf(zp, sizeof zp, "%s/ok.idx.gz", dir);
  snprintf(p, sizeof p, "%s/bad.idx", dir);
  write_file(plain, raw, n);
  write_file(zp, gz, gn);
  for (int z = 0; z < 2; z++) {
    nncl_idx x;
    int r = nncl_idx_load(ctx, z ? zp : plain, &x);
    CHECK(r == 0, "load %s: %s", z ? zp : plain, nncl_errmsg(ctx));
    if (r) continue;
    CHECK(x.ndim == 3 && x.dims[0] == 5 && x.dims[1] == 4 && x.dims[2] == 3 && x.size == 60, "dims");
    CHECK(!memcmp(x.data, raw + 16, 60), "payload");
    nncl_idx_free(&x);
    nncl_idx_free(&x);
  }

  /* two gzip members concatenated read as one stream (as gzip -d does) */
  size_t g1, g2;
  unsigned char *a = gzip_bytes(raw, 30, &g1), *b = gzip_bytes(raw + 30, n - 30, &g2);
  unsigned char *cat = malloc(g1 + g2);
  memcpy(cat, a, g1);
  memcpy(cat + g1, b, g2);
  write_file(p, cat, g1 + g2);
  nncl_idx x;
  CHECK(!nncl_idx_load(ctx, p, &x) && x.size == 60 && !memcmp(x.data, raw + 16, 60), "two members: %s",
        nncl_errmsg(ctx));
  nncl_idx_free(&x);
  free(a), free(b), free(cat);

  /* truncated at every offset, plain and gzip */
  for (size_t len = 0; len < n; len++) {
    char label[64];
    write_file(p, raw, len);
    snprintf(label, sizeof label, "plain truncated to %zu", len);
    expect_fail(ctx, p, NNCL_EFORMAT, len ? "offset" : "offset 0: empty file", label);
  }
  for (size_t len = 0; len < gn; len++) {
    char label[64];
    write_file(p, gz, len);
    snprintf(label, sizeof label, "gzip truncated to %zu of %zu", len, gn);
    expect_fail(ctx, p, NNCL_EFORMAT, "offset", label);
  }
  /* corrupt gzip: deflate data and the CRC in the trailer */
  unsigned char *m = malloc(gn);
  memcpy(m, gz, gn);
  m[gn - 6] ^= 0x5a;
  write_file(p, m, gn);
  expect_fail(ctx, p, NNCL_EFORMAT, "corrupt gzip stream (incorrect data check)", "bad CRC");
  for (size_t i = 10; i < gn - 8;
       i++) { /* every deflate byte: error or (rarely) same length, never a crash */
    memcpy(m, gz, gn);
    m[i] ^= 0xff;
    write_file(p, m, gn);
    memset(&x, 0, sizeof x);
    int r = nncl_idx_load(ctx, p, &x);
    CHECK(r != 0 || x.size == 60, "deflate byte %zu", i);
    if (r) CHECK(!strncmp(nncl_errmsg(ctx), p, strlen(p)), "deflate byte %zu: '%s'", i, nncl_errmsg(ctx));
    nncl_idx_free(&x);
  }
  free(m);

  /* trailing bytes, plain and gzip */
  unsigned char *longer = malloc(n + 3);
  memcpy(longer, raw, n);
  memset(longer + n, 0, 3);
  write_file(p, longer, n + 3);
  expect_fail(ctx, p, NNCL_EFORMAT, "offset 76: 3 trailing bytes after the 60-byte payload",
              "plain trailing");
  size_t tn;
  unsigned char *tz = gzip_bytes(longer, n + 3, &tn);
  write_file(p, tz, tn);
  expect_fail(ctx, p, NNCL_EFORMAT, "offset 76: trailing bytes after the 60-byte payload", "gzip trailing");
  free(tz);
  free(longer);

  /* header fields */
  static const struct {
    unsigned char h[16];
    size_t hn;
    int status;
    const char *what;
  } bad[] = {
      {{0x01, 0, 8, 3}, 16, NNCL_EFORMAT, "offset 0: bad magic 01 00 08 03: not an IDX file"},
      {{0x1f, 0x8b, 8, 0}, 16, NNCL_EFORMAT, "offset"}, /* gzip magic, then garbage */
      {{'P', 'K', 3, 4}, 16, NNCL_EFORMAT, "bad magic"},
      {{0, 0, 0x0D, 3}, 16, NNCL_EFORMAT, "offset 2: element type 0x0d (32-bit float) is not supported"},
      {{0, 0, 0x0C, 1}, 16, NNCL_EFORMAT, "0x0c (32-bit integer)"},
      {{0, 0, 0x42, 1}, 16, NNCL_EFORMAT, "0x42 (not an IDX type)"},
      {{0, 0, 8, 0}, 16, NNCL_EFORMAT, "offset 3: 0 dimensions, expected 1 to 4"},
      {{0, 0, 8, 5}, 16, NNCL_EFORMAT, "offset 3: 5 dimensions"},
      {{0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 2}, 16, NNCL_EFORMAT, "offset 8: dimension 1 is 0"},
      {{0, 0, 8, 3, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff},
       16,
       NNCL_ELIMIT,
       "offset 4: dimensions need more than the limit of 2147483648 bytes"},
      {{0, 0, 8, 1, 0x80, 0, 0, 1}, 8, NNCL_ELIMIT, "offset 4: dimensions need more"},
      {{0, 0, 8, 2, 0, 1, 0, 0, 0, 0, 0x80, 0},
       12,
       NNCL_EFORMAT,
       "offset 12: file ends after 0 payload bytes, the dims need 2147483648"},
      {{0, 0, 8, 3, 0, 0, 0, 2},
       8,
       NNCL_EFORMAT,
       "offset 8: file ends while reading the dimensions (4 of 12 bytes)"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    char label[32];
    snprintf(label, sizeof label, "header case %zu", i);
    write_file(p, bad[i].h, bad[i].hn);
    expect_fail(ctx, p, bad[i].status, bad[i].what, label);
  }
  /* a tiny gzip file claiming 1 GiB: refused before allocating */
  unsigned char hdr[8] = {0, 0, 8, 1, 0x40, 0, 0, 0};
  unsigned char *hz = gzip_bytes(hdr, 8, &tn);
  write_file(p, hz, tn);
  expect_fail(ctx, p, NNCL_EFORMAT, "gzip file cannot hold the 1073741824 bytes", "gzip bomb claim");
  free(hz);

  char missing[600];
  snprintf(missing, sizeof missing, "%s/nope.idx", dir);
  expect_fail(ctx, missing, NNCL_EIO, "cannot open: No such file", "nonexistent");
  expect_fail(ctx, dir, NNCL_EIO, "not a regular file", "directory");
  unlink(plain), unlink(zp), unlink(p);
  free(raw);
  free(gz);
}

int main(void) {
  nncl_ctx *ctx;
  if (ft_open_c(&ctx)) return 1;
  if (ft_temp_dir(dir, sizeof dir, "nncl-idx")) return 1;
  real_files(ctx);
  generated(ctx);
  rmdir(dir);
  nncl_ctx_destroy(ctx);
  return ft_verdict();
}
