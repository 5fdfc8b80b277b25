/* idx.c - IDX loader (MNIST family), plain or gzip, validated against the file. */
#include "data/idx.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "internal.h"
#include "nncl_config.h"
#if NNCL_HAVE_LIBDEFLATE
#include <libdeflate.h>
#endif

#define CHUNK ((size_t)1 << 30) /* gzread takes an unsigned count */
#define DEFLATE_MAX_RATIO 1032  /* deflate cannot expand beyond ~1032:1 (zlib FAQ) */

/* Reads up to n bytes; *got receives how many. Returns 0, or -1 on a zlib error. */
static int gz_read(gzFile gz, uint8_t *buf, size_t n, size_t *got) {
  *got = 0;
  while (*got < n) {
    size_t want = n - *got < CHUNK ? n - *got : CHUNK;
    int k = gzread(gz, buf + *got, (unsigned)want);
    if (k < 0) return -1;
    if (k == 0) break;
    *got += (size_t)k;
  }
  int errnum;
  gzerror(gz, &errnum);
  return errnum == Z_OK || (errnum == Z_BUF_ERROR && *got == n) ? 0 : -1;
}

/* The error after a short or failed read of `what` at decompressed offset off. */
static int short_read(struct nncl_ctx *ctx, const char *path, gzFile gz, size_t off, const char *what,
                      size_t want, size_t got) {
  int errnum;
  const char *msg = gzerror(gz, &errnum);
  if (errnum == Z_ERRNO)
    return nncl_err(ctx, NNCL_EIO, "%s: offset %zu: read failed: %s", path, off, strerror(errno));
  if (errnum == Z_BUF_ERROR)
    return nncl_err(ctx, NNCL_EFORMAT, "%s: offset %zu: truncated gzip stream while reading %s", path, off,
                    what);
  if (errnum != Z_OK) {
    const char *sep = msg[0] == '<' ? strstr(msg, ": ") : NULL; /* drop zlib's "<fd:3>: " */
    return nncl_err(ctx, NNCL_EFORMAT, "%s: offset %zu: corrupt gzip stream (%s) while reading %s", path, off,
                    sep ? sep + 2 : msg, what);
  }
  return nncl_err(ctx, NNCL_EFORMAT, "%s: offset %zu: file ends while reading %s (%zu of %zu bytes)", path,
                  off, what, got, want);
}

static const char *type_name(int t) {
  switch (t) {
  case 0x09: return "signed byte";
  case 0x0B: return "16-bit integer";
  case 0x0C: return "32-bit integer";
  case 0x0D: return "32-bit float";
  case 0x0E: return "64-bit float";
  default: return "not an IDX type";
  }
}

/* Parses the header and payload from gz; fsize is the size of the file on disk. */
static int load(struct nncl_ctx *ctx, const char *path, gzFile gz, int64_t fsize, nncl_idx *out) {
  uint8_t h[4 + 4 * NNCL_IDX_MAX_DIMS];
  size_t got;
  if (fsize == 0) return nncl_err(ctx, NNCL_EFORMAT, "%s: offset 0: empty file", path);
  if (gz_read(gz, h, 4, &got) || got < 4) return short_read(ctx, path, gz, got, "the magic number", 4, got);
  if (h[0] || h[1])
    return nncl_err(ctx, NNCL_EFORMAT, "%s: offset 0: bad magic %02x %02x %02x %02x: not an IDX file", path,
                    h[0], h[1], h[2], h[3]);
  if (h[2] != 0x08)
    return nncl_err(ctx, NNCL_EFORMAT,
                    "%s: offset 2: element type 0x%02x (%s) is not supported, only 0x08 (unsigned byte)",
                    path, h[2], type_name(h[2]));
  int nd = h[3];
  if (nd < 1 || nd > NNCL_IDX_MAX_DIMS)
    return nncl_err(ctx, NNCL_EFORMAT, "%s: offset 3: %d dimensions, expected 1 to %d", path, nd,
                    NNCL_IDX_MAX_DIMS);
  size_t hsize = 4 + 4 * (size_t)nd;
  if (gz_read(gz, h + 4, hsize - 4, &got) || got < hsize - 4)
    return short_read(ctx, path, gz, 4 + got, "the dimensions", hsize - 4, got);
  uint64_t n = 1;
  for (int i = 0; i < nd; i++) {
    const uint8_t *b = h + 4 + 4 * i;
    uint32_t d = (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
    if (!d) return nncl_err(ctx, NNCL_EFORMAT, "%s: offset %d: dimension %d is 0", path, 4 + 4 * i, i);
    out->dims[i] = d;
    n *= d; /* < 2^31 * 2^32: no overflow before the check */
    if (n > NNCL_IDX_MAX_BYTES)
      return nncl_err(ctx, NNCL_ELIMIT, "%s: offset %d: dimensions need more than the limit of %zu bytes",
                      path, 4 + 4 * i, NNCL_IDX_MAX_BYTES);
  }
  /* refuse what the file cannot hold before allocating */
  uint64_t avail = (uint64_t)fsize - hsize;
  if (gzdirect(gz) && n > avail)
    return nncl_err(ctx, NNCL_EFORMAT,
                    "%s: offset %llu: file ends after %llu payload bytes, the dims need %llu", path,
                    (unsigned long long)(hsize + avail), (unsigned long long)avail, (unsigned long long)n);
  if (gzdirect(gz) && n < avail)
    return nncl_err(ctx, NNCL_EFORMAT, "%s: offset %llu: %llu trailing bytes after the %llu-byte payload",
                    path, (unsigned long long)(hsize + n), (unsigned long long)(avail - n),
                    (unsigned long long)n);
  if (!gzdirect(gz) && n > (uint64_t)fsize * DEFLATE_MAX_RATIO)
    return nncl_err(ctx, NNCL_EFORMAT,
                    "%s: offset %zu: a %lld-byte gzip file cannot hold the %llu bytes the dims need", path,
                    hsize, (long long)fsize, (unsigned long long)n);
  out->ndim = nd;
  out->size = (size_t)n;
  if (!(out->data = malloc(out->size)))
    return nncl_err(ctx, NNCL_ENOMEM, "%s: cannot allocate %zu bytes", path, out->size);
  if (gz_read(gz, out->data, out->size, &got) || got < out->size)
    return short_read(ctx, path, gz, hsize + got, "the payload", out->size, got);
  uint8_t extra;
  if (gz_read(gz, &extra, 1, &got)) /* the gzip trailer: CRC and length */
    return short_read(ctx, path, gz, hsize + out->size, "the end of the gzip stream", 0, 0);
  if (got)
    return nncl_err(ctx, NNCL_EFORMAT, "%s: offset %zu: trailing bytes after the %zu-byte payload", path,
                    hsize + out->size, out->size);
  return 0;
}

#if NNCL_HAVE_LIBDEFLATE
/* Reads n bytes at offset 0 of fd. */
static int read_all(int fd, uint8_t *buf, size_t n) {
  size_t got = 0;
  while (got < n) {
    ssize_t k = pread(fd, buf + got, n - got, (off_t)got);
    if (k <= 0) return -1;
    got += (size_t)k;
  }
  return 0;
}

/* The fast path for a gzip file: one libdeflate call inflates the whole file into a buffer
 * its trailer sizes, the payload moves to the front. Returns 1 with *out filled when the
 * file is one well-formed gzip member holding a valid IDX; 0 (nothing kept) otherwise,
 * leaving the file to the streaming reader, which reports what is wrong. */
static int load_whole_gz(int fd, int64_t fsize, nncl_idx *out) {
  if (fsize < 18 || fsize > ((int64_t)1 << 28)) return 0; /* larger files stream */
  uint8_t *in = malloc((size_t)fsize), *buf = NULL;
  struct libdeflate_decompressor *d = NULL;
  int ok = 0;
  if (!in || read_all(fd, in, (size_t)fsize) || in[0] != 0x1f || in[1] != 0x8b) goto done;
  const uint8_t *t = in + fsize - 4;
  size_t isize = (size_t)t[0] | (size_t)t[1] << 8 | (size_t)t[2] << 16 | (size_t)t[3] << 24;
  size_t in_used, got;
  if (isize < 5 || isize > (size_t)fsize * DEFLATE_MAX_RATIO || isize > NNCL_IDX_MAX_BYTES + 4 + 4 * NNCL_IDX_MAX_DIMS || !(buf = malloc(isize)) ||
      !(d = libdeflate_alloc_decompressor()) ||
      libdeflate_gzip_decompress_ex(d, in, (size_t)fsize, buf, isize, &in_used, &got) != LIBDEFLATE_SUCCESS ||
      in_used != (size_t)fsize || got != isize)
    goto done;
  int nd = buf[3];
  size_t hsize = 4 + 4 * (size_t)nd;
  if (buf[0] || buf[1] || buf[2] != 0x08 || nd < 1 || nd > NNCL_IDX_MAX_DIMS || isize < hsize) goto done;
  uint64_t n = 1;
  for (int i = 0; i < nd; i++) {
    const uint8_t *b = buf + 4 + 4 * i;
    out->dims[i] = (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
    n *= (uint64_t)out->dims[i];
    if (!out->dims[i] || n > NNCL_IDX_MAX_BYTES) goto done;
  }
  if (n != isize - hsize) goto done;
  memmove(buf, buf + hsize, (size_t)n);
  uint8_t *shrunk = realloc(buf, (size_t)n);
  out->data = shrunk ? shrunk : buf;
  buf = NULL;
  out->ndim = nd;
  out->size = (size_t)n;
  ok = 1;
done:
  if (d) libdeflate_free_decompressor(d);
  free(in);
  free(buf);
  if (!ok) memset(out, 0, sizeof *out);
  return ok;
}
#endif

int nncl_idx_load(struct nncl_ctx *ctx, const char *path, nncl_idx *out) {
  struct stat st;
  memset(out, 0, sizeof *out);
  int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK); /* a FIFO must not block: refused below */
  if (fd < 0) return nncl_err(ctx, NNCL_EIO, "%s: cannot open: %s", path, strerror(errno));
  const char *bad = fstat(fd, &st) ? strerror(errno) : !S_ISREG(st.st_mode) ? "not a regular file" : NULL;
  if (bad) {
    close(fd);
    return nncl_err(ctx, NNCL_EIO, "%s: %s", path, bad);
  }
#if NNCL_HAVE_LIBDEFLATE
  if (load_whole_gz(fd, (int64_t)st.st_size, out)) {
    close(fd);
    return 0;
  }
#endif
  gzFile gz = gzdopen(fd, "rb");
  if (!gz) {
    close(fd);
    return nncl_err(ctx, NNCL_ENOMEM, "%s: out of memory", path);
  }
  gzbuffer(gz, 1 << 18);
  int r = load(ctx, path, gz, (int64_t)st.st_size, out);
  if (gzclose(gz) != Z_OK && !r) r = nncl_err(ctx, NNCL_EIO, "%s: close failed: %s", path, strerror(errno));
  if (r) nncl_idx_free(out);
  return r;
}

void nncl_idx_free(nncl_idx *idx) {
  if (!idx) return;
  free(idx->data);
  memset(idx, 0, sizeof *idx);
}
