/* safetensors.h - read and write .safetensors files (the Hugging Face format that PyTorch
 * and friends load), treating every input file as hostile.
 *
 * Layout: u64 little-endian N, N bytes of UTF-8 JSON header, then the data section:
 *   {"__metadata__": {"key": "string", ...},
 *    "name": {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]}, ...}
 * offsets are relative to the data section start; tensors are row-major, little-endian.
 * Errors: NNCL_EIO (system calls, with strerror), NNCL_EFORMAT (malformed file),
 * NNCL_ELIMIT (sane limits exceeded), each with "<path>: offset N: <what>" on the context.
 */
#ifndef NNCL_SAFETENSORS_H
#define NNCL_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct nncl_ctx;

#define NNCL_ST_MAX_DIMS 6
#define NNCL_ST_MAX_HEADER 100000000 /* bytes, as the reference implementation */

typedef struct nncl_st_tensor {
  const char *name;
  const char *dtype; /* "F64","F32","F16","BF16","I64","I32","I16","I8","U64","U32",
                        "U16","U8","BOOL","F8_E4M3","F8_E5M2" */
  int ndim;          /* 0 (a scalar) .. NNCL_ST_MAX_DIMS */
  int64_t shape[NNCL_ST_MAX_DIMS];
  const void *data;
  size_t bytes; /* product(shape) * dtype size */
} nncl_st_tensor;

/* Whether e is an F32 tensor of exactly this shape. */
static inline int nncl_st_is_f32(const nncl_st_tensor *e, int ndim, const int64_t *shape)
{
  size_t n = 1;
  if (e->ndim != ndim || strcmp(e->dtype, "F32") != 0) return 0;
  for (int d = 0; d < ndim; d++) {
    if (e->shape[d] != shape[d]) return 0;
    n *= (size_t)shape[d];
  }
  return e->bytes == n * sizeof(float);
}

typedef struct nncl_st_kv {
  const char *key;
  const char *value;
} nncl_st_kv;

/* Bytes per element of a dtype name, 0 if unknown. */
int nncl_st_dtype_size(const char *dtype);

/* Writes nt tensors and nmeta metadata pairs (any UTF-8 strings; JSON-escaped) to path.
 * Tensor names must be unique, non-empty and not "__metadata__"; shapes >= 0 with
 * bytes == product * dtype size (NNCL_EINVAL otherwise). The header keeps the order of t;
 * data is laid out by falling dtype size so every tensor is aligned to its element.
 * Atomic: writes "<path>.tmp.<pid>", fsyncs it, renames it over path, fsyncs the
 * directory. On failure the temporary file is removed, an existing path is left as it was,
 * and NNCL_EIO names the path and strerror(errno). After a success, temporary files of
 * writers that were killed (no process with their pid) are removed. */
int nncl_st_write(struct nncl_ctx *ctx, const char *path, const nncl_st_tensor *t, int nt,
                  const nncl_st_kv *meta, int nmeta);

/* An open file: its data in memory and the validated index. Keeps the ctx given to
 * nncl_st_open for messages: the context must outlive it. */
typedef struct nncl_st_file nncl_st_file;

/* Reads and validates the whole file: header length within the file and <=
 * NNCL_ST_MAX_HEADER; strict JSON (valid UTF-8, escapes, nesting depth <= 64); for every
 * tensor a known dtype, 0..6 dims each >= 0 with an overflow-checked size, data_offsets
 * inside the data section with end - begin == size, no two tensors overlapping, unique
 * names; metadata values strings. *out is NULL on failure. */
int nncl_st_open(struct nncl_ctx *ctx, const char *path, nncl_st_file **out);
void nncl_st_close(nncl_st_file *f);

int nncl_st_count(const nncl_st_file *f);
/* The i-th tensor in header order (0 <= i < count; NNCL_EINVAL otherwise). Pointers stay
 * valid until nncl_st_close. data is 16-byte aligned plus the tensor's begin offset,
 * hence aligned to the element for files from nncl_st_write and Python's safetensors;
 * copy with memcpy when unsure. */
int nncl_st_get(const nncl_st_file *f, int i, nncl_st_tensor *out);
/* The tensor called name: 0, or NNCL_EFORMAT with "<path>: no tensor 'name'" on the
 * context given to nncl_st_open if absent. */
int nncl_st_find(const nncl_st_file *f, const char *name, nncl_st_tensor *out);
/* The unescaped metadata value of key, NULL if absent. */
const char *nncl_st_meta(const nncl_st_file *f, const char *key);
/* Number of metadata pairs, and the i-th in header order (NULL key if out of range). */
int nncl_st_meta_count(const nncl_st_file *f);
nncl_st_kv nncl_st_meta_at(const nncl_st_file *f, int i);

#endif
