/* text.c - character-level text for language models: the vocabulary is the set of bytes
 * in the file (ids in byte order); a sample is a window of seq_len token ids (as floats,
 * what an embedding layer reads) and its labels are the next character at every position
 * (seq_len labels per sample). Windows start every seq_len characters. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "data/dataset.h"

#define TEXT_MAX_BYTES ((int64_t)1 << 30)

/* Reads the whole regular file at path into *buf (malloc'd), its size into *n. */
static int read_file(nncl_ctx *ctx, const char *path, uint8_t **buf, int64_t *n) {
  *buf = NULL, *n = 0;
  int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) return nncl_err(ctx, NNCL_EIO, "%s: cannot open: %s", path, strerror(errno));
  struct stat st;
  int r = 0;
  if (fstat(fd, &st) || !S_ISREG(st.st_mode)) r = nncl_err(ctx, NNCL_EIO, "%s: not a regular file", path);
  else if (st.st_size > TEXT_MAX_BYTES)
    r = nncl_err(ctx, NNCL_ELIMIT, "%s: %lld bytes, more than the 1 GiB a text dataset may hold", path, (long long)st.st_size);
  else if (!(*buf = malloc((size_t)st.st_size + 1))) r = nncl_err(ctx, NNCL_ENOMEM, "%s: out of memory", path);
  int64_t got = 0;
  while (!r && got < st.st_size) {
    ssize_t k = pread(fd, *buf + got, (size_t)(st.st_size - got), got);
    if (k <= 0) r = nncl_err(ctx, NNCL_EIO, "%s: offset %lld: read failed: %s", path, (long long)got, k ? strerror(errno) : "file shrank");
    else got += k;
  }
  close(fd);
  if (r) free(*buf), *buf = NULL;
  *n = got;
  return r;
}

int nncl_dataset_load_text(nncl_ctx *ctx, const char *path, int seq_len, nncl_dataset **out) {
  if (!ctx || !path || !out) return nncl_err(ctx, NNCL_EINVAL, "text: NULL argument");
  *out = NULL;
  if (seq_len < 1 || seq_len > (1 << 20)) return nncl_err(ctx, NNCL_EINVAL, "text: seq_len must be 1..2^20, got %d", seq_len);
  uint8_t *text;
  int64_t n;
  int r = read_file(ctx, path, &text, &n);
  if (r) return r;
  /* windows of seq_len inputs, each followed by its last target */
  int64_t samples = n > 0 ? (n - 1) / seq_len : 0;
  if (samples < 1) {
    free(text);
    return nncl_err(ctx, NNCL_EFORMAT, "%s: %lld bytes: too short for one window of %d characters and its next one", path,
                    (long long)n, seq_len);
  }
  int id[256], V = 0;
  char *vocab = malloc(257);
  for (int c = 0; c < 256; c++) id[c] = -1;
  for (int64_t k = 0; k < n; k++) id[text[k]] = 0;
  for (int c = 0; vocab && c < 256; c++)
    if (!id[c]) id[c] = V, vocab[V++] = (char)c;
  size_t T = (size_t)seq_len, total = (size_t)samples * T;
  float *x = malloc(total * sizeof *x);
  int32_t *y = malloc(total * sizeof *y);
  nncl_dataset *d = nncl_dataset_alloc(ctx);
  if (!vocab || !x || !y || !d) {
    free(text), free(vocab), free(x), free(y), free(d);
    return nncl_err(ctx, NNCL_ENOMEM, "%s: out of memory", path);
  }
  vocab[V] = 0;
  for (size_t k = 0; k < total; k++) x[k] = (float)id[text[k]], y[k] = id[text[k + 1]];
  free(text);
  d->n = samples;
  d->ndim = 1;
  d->shape[0] = seq_len;
  d->sample_size = seq_len;
  d->f32 = d->owned[0] = x;
  d->labels = d->owned[1] = y;
  d->vocab = d->owned[5] = vocab;
  d->nclasses = V;
  d->label_len = seq_len;
  *out = d;
  return 0;
}

int nncl_dataset_vocab(const nncl_dataset *d, const char **vocab) {
  if (!d || !vocab) return NNCL_EINVAL;
  if (!d->vocab) return nncl_err(d->ctx, NNCL_EINVAL, "dataset: not a text dataset (no vocabulary)");
  *vocab = d->vocab;
  return d->nclasses;
}

int nncl_dataset_label_len(const nncl_dataset *d) { return d ? nncl_ds_label_len(d) : 0; }
