/* augment.c - image augmentation of batches on the host (random crop with zero padding,
 * horizontal flip, Gaussian noise), reproducible per (seed, epoch, sample): every draw is
 * a counter-based hash of those, never a stream, so batch order, batch size and resuming
 * do not change what a sample gets. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dataset.h"

/* splitmix64's finaliser */
static uint64_t mix(uint64_t z) {
  z += 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

/* Draw k of a sample's key, uniform in [0, 1) with 53 bits. */
static double draw(uint64_t key, uint64_t k) { return (double)(mix(key ^ mix(k)) >> 11) * 0x1.0p-53; }

/* One sample in place: x (C, H, W) already converted; zero[j] is what a raw 0 at j
 * converts to. */
static void augment_sample(const nncl_augment *a, uint64_t key, int64_t C, int64_t H, int64_t W, float *x, float *tmp,
                           const float *zero) {
  int64_t oy = 0, ox = 0;
  int flip = 0;
  if (a->crop > 0) {
    int64_t span = 2 * (int64_t)a->crop + 1;
    oy = (int64_t)(draw(key, 0) * (double)span) - a->crop;
    ox = (int64_t)(draw(key, 1) * (double)span) - a->crop;
  }
  if (a->flip) flip = draw(key, 2) < 0.5;
  if (oy || ox || flip) {
    /* out[c, y, x] = in[c, y + oy, x' + ox], x' = flip ? W-1-x : x, a raw 0 outside */
    memcpy(tmp, x, (size_t)(C * H * W) * sizeof *tmp);
    for (int64_t c = 0; c < C; c++)
      for (int64_t y = 0; y < H; y++)
        for (int64_t xx = 0; xx < W; xx++) {
          int64_t j = (c * H + y) * W + xx, sy = y + oy, sx = (flip ? W - 1 - xx : xx) + ox;
          x[j] = sy >= 0 && sy < H && sx >= 0 && sx < W ? tmp[(c * H + sy) * W + sx] : zero[j];
        }
  }
  if (a->noise > 0) /* Box-Muller: one 64-bit draw gives two 24-bit uniforms (exact in float, < 1), two normals */
    for (int64_t j = 0, n = C * H * W; j < n; j += 2) {
      uint64_t h = mix(key ^ mix(3 + (uint64_t)j));
      float u1 = (float)(h >> 40) * 0x1.0p-24f, u2 = (float)(h & 0xffffffu) * 0x1.0p-24f;
      float r = a->noise * sqrtf(-2 * logf(1 - u1)), t = 6.2831853f * u2;
      x[j] += r * cosf(t);
      if (j + 1 < n) x[j + 1] += r * sinf(t);
    }
}

int nncl_augment_batch(const nncl_dataset *d, const nncl_augment *a, int64_t epoch, const int64_t *order, int64_t start, int n,
                       float *x, int32_t *y) {
  nncl_dataset_batch(d, order, start, n, x, y);
  const int64_t ss = d->sample_size;
  int64_t H = d->ndim >= 2 ? d->shape[d->ndim - 2] : 1, W = d->shape[d->ndim - 1], C = ss / (H * W);
  float *tmp = malloc(2 * (size_t)ss * sizeof *tmp);
  if (!tmp) return nncl_err(d->ctx, NNCL_ENOMEM, "augment: out of memory");
  float *zero = tmp + ss;
  /* a raw 0 converted as nncl_dataset_batch converts: (0 - mean) / std, then per feature */
  float z = -d->mean / d->std;
  for (int64_t j = 0; j < ss; j++) zero[j] = d->feat ? (z - d->feat[j]) * d->feat[ss + j] : z;
  for (int i = 0; i < n; i++) {
    int64_t k = order ? order[start + i] : start + i, row = d->index ? d->index[k] : k;
    uint64_t key = mix(a->seed ^ mix((uint64_t)epoch ^ mix((uint64_t)row)));
    augment_sample(a, key, C, H, W, x + (size_t)i * (size_t)ss, tmp, zero);
  }
  free(tmp);
  return 0;
}

int nncl_dataset_read_augmented(const nncl_dataset *d, const nncl_augment *a, int64_t epoch, int64_t start, int64_t n,
                                float *x, int32_t *labels) {
  if (!d || !a || !x) return NNCL_EINVAL;
  if (start < 0 || n < 1 || start > d->n - n || n > INT32_MAX)
    return nncl_err(d->ctx, NNCL_EINVAL, "dataset read: samples %lld..%lld outside 0..%lld", (long long)start,
                    (long long)(start + n - 1), (long long)d->n - 1);
  if (a->crop < 0 || !(a->noise >= 0) || ((a->crop || a->flip) && d->ndim < 2))
    return nncl_err(d->ctx, NNCL_EINVAL, "augment: crop >= 0, noise >= 0, and images (H, W) or (C, H, W) for crop and flip");
  int32_t *y = malloc((size_t)n * sizeof *y);
  if (!y) return nncl_err(d->ctx, NNCL_ENOMEM, "augment: out of memory");
  int r = nncl_augment_batch(d, a, epoch, NULL, start, (int)n, x, y);
  if (!r && labels) memcpy(labels, y, (size_t)n * sizeof *y);
  free(y);
  return r;
}
