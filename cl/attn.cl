/* attn.cl - the masked attention softmax (ops.def ATTN_SOFTMAX): one work-item per row of
 * keys. Masked keys get 0; a row with every key masked is all 0. */

int key_masked(global const float *mask, uint s, uint q, uint k, uint ms_k, uint ms_s, float pad,
               int causal, int mode)
{
  if (causal && k > q)
    return 1;
  if (mode == 0)
    return 0;
  float v = mask[s * ms_s + k * ms_k];
  return mode == 1 ? v != 0.0f : v == pad;
}

kernel void attn_softmax(global const float *x, ulong xo, global float *y, ulong yo,
                         global const float *mask, ulong mo, uint rows, uint cols, uint tq,
                         uint per, uint ms_k, uint ms_s, float scale, float pad, int causal,
                         int mode)
{
  uint r = get_global_id(0);
  if (r >= rows)
    return;
  x += xo + (ulong)r * cols;
  y += yo + (ulong)r * cols;
  mask += mo;
  uint s = r / per, q = r % tq;
  float m = -INFINITY, sum = 0.0f;
  for (uint c = 0; c < cols; c++)
    if (!key_masked(mask, s, q, c, ms_k, ms_s, pad, causal, mode))
      m = fmax(m, scale * x[c]);
  /* y holds exp(scale x - m) between the passes */
  for (uint c = 0; c < cols; c++) {
    float e = key_masked(mask, s, q, c, ms_k, ms_s, pad, causal, mode) ? 0.0f : exp(scale * x[c] - m);
    y[c] = e;
    sum += e;
  }
  float inv = sum > 0.0f ? 1.0f / sum : 0.0f;
  for (uint c = 0; c < cols; c++)
    y[c] *= inv;
}
