/* dropout.cl - inverted dropout with a counter-based mask, the same 32-bit integer hash as
 * fallback/dropout_fb.c (so both backends draw the same mask bit for bit): element k is
 * kept when dropout_hash(key, k) >= thr, key = the seed, stream and step folded together;
 * drop_all (p = 1, thr = 2^32) keeps nothing. y = keep ? x * scale : 0. */

/* lowbias32 (C. Wellons, hash-prospector) */
uint mix32(uint x)
{
  x ^= x >> 16;
  x *= 0x7feb352du;
  x ^= x >> 15;
  x *= 0x846ca68bu;
  x ^= x >> 16;
  return x;
}

uint dropout_key(uint seed_lo, uint seed_hi, uint stream, uint step_lo, uint step_hi)
{
  uint h = mix32(seed_lo);
  h = mix32(h ^ seed_hi);
  h = mix32(h ^ stream);
  h = mix32(h ^ step_lo);
  return mix32(h ^ step_hi);
}

/* Indexes stay below 2^32 here: the high word of k is 0. */
uint dropout_hash(uint key, uint k) { return mix32((mix32(key ^ k) ^ 0u) + 0x9e3779b9u); }

#define DROPOUT_ARGS                                                                     \
  global const float *x, ulong xo, global float *y, ulong yo, uint n, uint seed_lo,        \
      uint seed_hi, uint stream, uint step_lo, uint step_hi, uint thr, int drop_all,       \
      float scale

#define DROPOUT_BODY                                                                  \
  uint k = get_global_id(0);                                                          \
  if (k >= n)                                                                         \
    return;                                                                           \
  uint key = dropout_key(seed_lo, seed_hi, stream, step_lo, step_hi);                 \
  int keep = !drop_all && dropout_hash(key, k) >= thr;                                \
  y[yo + k] = keep ? x[xo + k] * scale : 0.0f

/* y = mask(x) scale (in place ok) */
kernel void dropout(DROPOUT_ARGS) { DROPOUT_BODY; }

/* dx = mask(dy) scale, the forward's mask */
kernel void dropout_grad(DROPOUT_ARGS) { DROPOUT_BODY; }
