/* idx.h - IDX files (LeCun's MNIST format; Fashion-MNIST), plain or gzip-compressed.
 *
 * Layout: magic 00 00 08 nd, nd big-endian u32 dims, then product(dims) unsigned bytes
 * row-major. Only type 0x08 (unsigned byte) is read: the MNIST family uses nothing else.
 */
#ifndef NNCL_IDX_H
#define NNCL_IDX_H

#include <stddef.h>
#include <stdint.h>

struct nncl_ctx;

#define NNCL_IDX_MAX_DIMS 4
#define NNCL_IDX_MAX_BYTES ((size_t)1 << 31) /* payload limit, refused before allocating */

typedef struct nncl_idx {
  int ndim;                        /* 1..NNCL_IDX_MAX_DIMS */
  int64_t dims[NNCL_IDX_MAX_DIMS]; /* each >= 1; images are (N, H, W), labels (N) */
  uint8_t *data;                   /* malloc'd, size bytes */
  size_t size;                     /* product of dims */
} nncl_idx;

/* Loads path, plain or gzip (detected from the content). The payload must be exactly
 * product(dims) bytes: a short file, trailing bytes, a corrupt gzip stream, another
 * element type, 0 or more than 4 dims, a zero dim or a payload above NNCL_IDX_MAX_BYTES
 * fail with NNCL_EFORMAT / NNCL_ELIMIT / NNCL_EIO and "<path>: offset N: <what>" (N counts
 * decompressed bytes). On failure *out is zeroed. */
int nncl_idx_load(struct nncl_ctx *ctx, const char *path, nncl_idx *out);
/* Frees idx->data and zeroes idx; accepts NULL or a zeroed idx. */
void nncl_idx_free(nncl_idx *idx);

#endif
