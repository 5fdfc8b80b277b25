/* dropout_fb.c - inverted dropout with a counter-based mask: element k is kept when
 * dropout_hash(seed, stream, step, k) >= p 2^32, so the mask needs no storage and the
 * backward pass recomputes it. cl/dropout.cl computes the same hash with the same 32-bit
 * integer operations: both backends draw the same mask bit for bit. */
#include <math.h>
#include <string.h>

#include <math.h>

#include "fb.h"

/* lowbias32 (C. Wellons, hash-prospector): a 32-bit bijection with good avalanche. */
static inline uint32_t mix32(uint32_t x)
{
  x ^= x >> 16;
  x *= 0x7feb352du;
  x ^= x >> 15;
  x *= 0x846ca68bu;
  x ^= x >> 16;
  return x;
}

/* The per-call key: seed (lo, hi), stream, step (lo, hi) folded in that order. */
static uint32_t dropout_key(uint32_t seed_lo, uint32_t seed_hi, uint32_t stream, uint64_t step)
{
  uint32_t h = mix32(seed_lo);
  h = mix32(h ^ seed_hi);
  h = mix32(h ^ stream);
  h = mix32(h ^ (uint32_t)step);
  return mix32(h ^ (uint32_t)(step >> 32));
}

typedef struct dropout_job {
  const float *x;
  float *y;
  uint32_t key;
  uint64_t thr; /* keep when hash >= thr; thr = 2^32 drops everything */
  float scale;
} dropout_job;

/* y[k] = keep(k) ? x[k] * scale : 0 over [lo, hi), where k's high word is hi32 and
 * hash(k) = mix((mix(key ^ k_lo) ^ k_hi) + 0x9e3779b9). 32-bit lanes: vectorizes; x86-64's
 * baseline SSE2 has no 32-bit vector multiply, so wider ISAs get their own clones (3x
 * faster with AVX-512, measured on the transformer example's training step). */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
__attribute__((target_clones("avx512f", "avx2", "default")))
#endif
static void dropout_run32(const dropout_job *j, uint64_t lo, uint64_t hi, uint32_t hi32)
{
  const float *x = j->x;
  float *y = j->y;
  const uint32_t key = j->key, thr = (uint32_t)j->thr;
  const float s = j->scale;
  if (j->thr >> 32) {
    for (uint64_t k = lo; k < hi; k++) y[k] = 0.0f;
    return;
  }
  uint32_t n = (uint32_t)(hi - lo), k0 = (uint32_t)lo;
  x += lo;
  y += lo;
  /* The select as a bit mask on the product: GCC does not if-convert float selects. */
  for (uint32_t k = 0; k < n; k++) {
    uint32_t h = mix32((mix32(key ^ (k0 + k)) ^ hi32) + 0x9e3779b9u), bits;
    float v = x[k] * s;
    memcpy(&bits, &v, 4);
    bits &= -(uint32_t)(h >= thr);
    memcpy(&y[k], &bits, 4);
  }
}

/* Splits [lo, hi) where the index's high word changes (in place ok). */
static void dropout_range(void *p, size_t lo, size_t hi)
{
  while (lo < hi) {
    uint64_t end = ((uint64_t)lo | 0xffffffffu) + 1;
    size_t stop = end < hi ? (size_t)end : hi;
    dropout_run32(p, lo, stop, (uint32_t)((uint64_t)lo >> 32));
    lo = stop;
  }
}

static int dropout_run(nncl_backend *be, const nncl_args *a, const char *fn)
{
  size_t n = a->n[0];
  float p = a->f[0];
  dropout_job j;
  if (!(p >= 0.0f && p <= 1.0f))
    return nncl_err(be->ctx, NNCL_EINVAL, "%s: drop probability %g outside [0, 1]", fn, (double)p);
  if (!(j.x = fb_ptr(be, a, 0, n, fn)) || !(j.y = fb_ptr(be, a, 1, n, fn))) return NNCL_EINVAL;
  j.key = dropout_key((uint32_t)a->i[0], (uint32_t)a->i[1], (uint32_t)a->i[2], a->n[1]);
  j.thr = (uint64_t)ceil((double)p * 4294967296.0);
  j.scale = (float)(1.0 / (1.0 - (double)p));
  fb_parallel(fb_of(be), n, FB_GRAIN_MEM / 4, 16, dropout_range, &j);
  return 0;
}

/* t1 = mask(t0) / (1 - p) */
int fb_dropout(nncl_backend *be, const nncl_args *a) { return dropout_run(be, a, "fb_dropout"); }
/* t1 = mask(t0) / (1 - p): dy -> dx with the forward's mask */
int fb_dropout_grad(nncl_backend *be, const nncl_args *a) { return dropout_run(be, a, "fb_dropout_grad"); }
