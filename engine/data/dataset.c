/* dataset.c - IDX and in-memory datasets, normalisation, seeded split, batch assembly. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dataset.h"
#include "idx.h"

nncl_dataset *nncl_dataset_alloc(nncl_ctx *ctx) {
  nncl_dataset *d = calloc(1, sizeof *d);
  if (d) d->ctx = ctx, d->std = 1;
  return d;
}

int nncl_dataset_load_idx(nncl_ctx *ctx, const char *images, const char *labels, nncl_dataset **out) {
  if (!ctx || !images || !labels || !out) return nncl_err(ctx, NNCL_EINVAL, "dataset: NULL argument");
  *out = NULL;
  nncl_idx im = {0}, lb = {0};
  int r = nncl_idx_load(ctx, images, &im);
  if (!r) r = nncl_idx_load(ctx, labels, &lb);
  if (r) goto fail;
  if (im.ndim < 2 || lb.ndim != 1 || lb.dims[0] != im.dims[0]) {
    r = nncl_err(ctx, NNCL_EFORMAT, "%s, %s: expected images (n, ...) and labels (n), got %d-d and %d-d with %lld and %lld items",
                 images, labels, im.ndim, lb.ndim, (long long)im.dims[0], (long long)lb.dims[0]);
    goto fail;
  }
  nncl_dataset *d = nncl_dataset_alloc(ctx);
  int32_t *lab = malloc((size_t)lb.dims[0] * sizeof *lab);
  if (!d || !lab) {
    free(d);
    free(lab);
    r = nncl_err(ctx, NNCL_ENOMEM, "dataset: out of memory");
    goto fail;
  }
  int maxl = 0;
  for (int64_t i = 0; i < lb.dims[0]; i++) {
    lab[i] = lb.data[i];
    if (lab[i] > maxl) maxl = lab[i];
  }
  d->n = im.dims[0];
  d->ndim = im.ndim - 1;
  memcpy(d->shape, im.dims + 1, (size_t)d->ndim * sizeof *d->shape);
  d->sample_size = (int64_t)(im.size / (size_t)d->n);
  d->u8 = im.data;
  d->labels = lab;
  d->nclasses = maxl + 1 < 2 ? 2 : maxl + 1;
  d->owned[0] = im.data;
  d->owned[1] = lab;
  nncl_idx_free(&lb);
  *out = d;
  return 0;
fail:
  nncl_idx_free(&im);
  nncl_idx_free(&lb);
  return r;
}

int nncl_dataset_load_idx_dir(nncl_ctx *ctx, const char *dir, const char *prefix, nncl_dataset **out) {
  char im[4096], lb[4096];
  if (!dir || !prefix) return nncl_err(ctx, NNCL_EINVAL, "dataset: NULL argument");
  for (int gz = 1; gz >= 0; gz--) {
    snprintf(im, sizeof im, "%s/%s-images-idx3-ubyte%s", dir, prefix, gz ? ".gz" : "");
    snprintf(lb, sizeof lb, "%s/%s-labels-idx1-ubyte%s", dir, prefix, gz ? ".gz" : "");
    if (access(im, R_OK) == 0 && access(lb, R_OK) == 0) return nncl_dataset_load_idx(ctx, im, lb, out);
  }
  return nncl_err(ctx, NNCL_EIO, "%s: no readable %s-images-idx3-ubyte[.gz] and %s-labels-idx1-ubyte[.gz]", dir, prefix, prefix);
}

int nncl_dataset_from_arrays(nncl_ctx *ctx, int64_t n, int ndim, const int64_t *shape, const float *x,
                             const int32_t *labels, int nclasses, nncl_dataset **out) {
  if (!ctx || !shape || !x || !labels || !out) return nncl_err(ctx, NNCL_EINVAL, "dataset: NULL argument");
  *out = NULL;
  int64_t ss = nncl_shape_numel(ndim, shape);
  if (n < 1 || ndim < 1 || ndim >= NNCL_MAX_DIMS || ss < 0 || n > NNCL_MAX_ELEMS / ss)
    return nncl_err(ctx, NNCL_ELIMIT, "dataset: bad sample count or shape");
  if (nclasses < 1) return nncl_err(ctx, NNCL_EINVAL, "dataset: nclasses must be >= 1");
  for (int64_t i = 0; i < n; i++)
    if (labels[i] < 0 || labels[i] >= nclasses)
      return nncl_err(ctx, NNCL_EINVAL, "dataset: label %d of sample %lld outside 0..%d", labels[i], (long long)i, nclasses - 1);
  nncl_dataset *d = nncl_dataset_alloc(ctx);
  float *xc = malloc((size_t)(n * ss) * sizeof *xc);
  int32_t *lc = malloc((size_t)n * sizeof *lc);
  if (!d || !xc || !lc) {
    free(d), free(xc), free(lc);
    return nncl_err(ctx, NNCL_ENOMEM, "dataset: out of memory");
  }
  memcpy(xc, x, (size_t)(n * ss) * sizeof *xc);
  memcpy(lc, labels, (size_t)n * sizeof *lc);
  d->n = n;
  d->ndim = ndim;
  memcpy(d->shape, shape, (size_t)ndim * sizeof *shape);
  d->sample_size = ss;
  d->f32 = xc;
  d->labels = lc;
  d->nclasses = nclasses;
  d->owned[0] = xc;
  d->owned[1] = lc;
  *out = d;
  return 0;
}

void nncl_dataset_destroy(nncl_dataset *d) {
  if (!d) return;
  for (size_t i = 0; i < sizeof d->owned / sizeof *d->owned; i++) free(d->owned[i]);
  free(d);
}

int64_t nncl_dataset_size(const nncl_dataset *d) { return d ? d->n : 0; }
int nncl_dataset_classes(const nncl_dataset *d) { return d ? d->nclasses : 0; }
int64_t nncl_dataset_sample_size(const nncl_dataset *d) { return d ? d->sample_size : 0; }

int nncl_dataset_normalize(nncl_dataset *d, float mean, float std) {
  if (!d) return NNCL_EINVAL;
  if (!(std > 0)) return nncl_err(d->ctx, NNCL_EINVAL, "dataset: std must be > 0");
  d->mean = mean;
  d->std = std;
  return 0;
}

/* Seeded split: a generator of its own (split_seeded) or the context's. */
static int split(nncl_dataset *d, double val_fraction, const uint64_t *seed, nncl_dataset **train, nncl_dataset **val);

int nncl_dataset_split(nncl_dataset *d, double val_fraction, nncl_dataset **train, nncl_dataset **val) {
  return split(d, val_fraction, NULL, train, val);
}

int nncl_dataset_split_seeded(nncl_dataset *d, double val_fraction, uint64_t seed, nncl_dataset **train, nncl_dataset **val) {
  return split(d, val_fraction, &seed, train, val);
}

/* splitmix64 */
static uint64_t mix64(uint64_t *x) {
  uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

static int split(nncl_dataset *d, double val_fraction, const uint64_t *seed, nncl_dataset **train, nncl_dataset **val) {
  if (!d || !train || !val) return nncl_err(d ? d->ctx : NULL, NNCL_EINVAL, "split: NULL argument");
  uint64_t sm = seed ? *seed : 0;
  *train = *val = NULL;
  int64_t nval = (int64_t)(val_fraction * (double)d->n + 0.5);
  if (!(val_fraction > 0 && val_fraction < 1) || nval < 1 || nval >= d->n)
    return nncl_err(d->ctx, NNCL_EINVAL, "split: fraction %g leaves an empty part of %lld samples", val_fraction, (long long)d->n);
  int64_t *perm = malloc((size_t)d->n * sizeof *perm);
  nncl_dataset *parts[2] = {nncl_dataset_alloc(d->ctx), nncl_dataset_alloc(d->ctx)};
  int64_t *idx[2] = {malloc((size_t)(d->n - nval) * sizeof(int64_t)), malloc((size_t)nval * sizeof(int64_t))};
  if (!perm || !parts[0] || !parts[1] || !idx[0] || !idx[1]) {
    free(perm), free(parts[0]), free(parts[1]), free(idx[0]), free(idx[1]);
    return nncl_err(d->ctx, NNCL_ENOMEM, "split: out of memory");
  }
  for (int64_t i = 0; i < d->n; i++) perm[i] = d->index ? d->index[i] : i;
  for (int64_t i = d->n - 1; i > 0; i--) { /* Fisher-Yates */
    uint64_t u = seed ? mix64(&sm) : nncl_rng_next(d->ctx);
    int64_t j = (int64_t)(u % (uint64_t)(i + 1)), t = perm[i];
    perm[i] = perm[j], perm[j] = t;
  }
  memcpy(idx[0], perm, (size_t)(d->n - nval) * sizeof(int64_t));
  memcpy(idx[1], perm + (d->n - nval), (size_t)nval * sizeof(int64_t));
  free(perm);
  float *feat[2] = {NULL, NULL};
  size_t fbytes = 2 * (size_t)d->sample_size * sizeof(float);
  for (int k = 0; k < 2 && d->feat; k++)
    if ((feat[k] = malloc(fbytes))) memcpy(feat[k], d->feat, fbytes);
  if (d->feat && (!feat[0] || !feat[1])) {
    free(feat[0]), free(feat[1]), free(parts[0]), free(parts[1]), free(idx[0]), free(idx[1]);
    return nncl_err(d->ctx, NNCL_ENOMEM, "split: out of memory");
  }
  for (int k = 0; k < 2; k++) {
    nncl_dataset *p = parts[k];
    *p = *d;
    memset(p->owned, 0, sizeof p->owned);
    p->n = k ? nval : d->n - nval;
    p->index = idx[k];
    p->owned[2] = idx[k];
    p->feat = p->owned[3] = feat[k];
  }
  *train = parts[0];
  *val = parts[1];
  return 0;
}

int nncl_dataset_read(const nncl_dataset *d, int64_t start, int64_t n, float *x, int32_t *labels) {
  if (!d || !x) return NNCL_EINVAL;
  if (start < 0 || n < 1 || start > d->n - n)
    return nncl_err(d->ctx, NNCL_EINVAL, "dataset read: samples %lld..%lld outside 0..%lld", (long long)start,
                    (long long)(start + n - 1), (long long)d->n - 1);
  const int L = nncl_ds_label_len(d);
  int32_t *y = malloc((size_t)256 * (size_t)L * sizeof *y);
  if (!y) return nncl_err(d->ctx, NNCL_ENOMEM, "dataset read: out of memory");
  for (int64_t s = 0; s < n; s += 256) {
    int k = (int)(n - s < 256 ? n - s : 256);
    nncl_dataset_batch(d, NULL, start + s, k, x + (size_t)s * (size_t)d->sample_size, y);
    if (labels) memcpy(labels + s * L, y, (size_t)k * (size_t)L * sizeof *y);
  }
  free(y);
  return 0;
}

void nncl_dataset_batch(const nncl_dataset *d, const int64_t *order, int64_t start, int n, float *x, int32_t *y) {
  const int64_t ss = d->sample_size;
  /* images: (u / 255 - mean) / std = u * a + b */
  const float inv = 1.0f / d->std, a = d->u8 ? inv / 255.0f : inv, b = -d->mean * inv;
  for (int i = 0; i < n; i++) {
    int64_t k = order ? order[start + i] : start + i;
    int64_t row = d->index ? d->index[k] : k;
    float *xr = x + (size_t)i * (size_t)ss;
    if (d->u8) {
      const uint8_t *src = d->u8 + (size_t)row * (size_t)ss;
      for (int64_t j = 0; j < ss; j++) xr[j] = (float)src[j] * a + b;
    } else {
      const float *src = d->f32 + (size_t)row * (size_t)ss;
      for (int64_t j = 0; j < ss; j++) xr[j] = src[j] * a + b;
    }
    if (d->feat) /* per feature: (x - mean_j) / std_j */
      for (int64_t j = 0; j < ss; j++) xr[j] = (xr[j] - d->feat[j]) * d->feat[ss + j];
    const int L = nncl_ds_label_len(d);
    memcpy(y + (size_t)i * (size_t)L, d->labels + (size_t)row * (size_t)L, (size_t)L * sizeof *y);
  }
}
