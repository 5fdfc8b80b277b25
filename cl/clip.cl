/* clip.cl - gradient clipping (sum of squares, global-norm scale, clamp) and the finite
 * check of the NaN/Inf guard. */

/* Sum of squares: SQ_WG items per group, each summing SQ_K values; the host mirrors both. */
#define SQ_WG 64
#define SQ_K 64

/* Fixed-order tree over the group's SQ_WG values in l; the sum ends in l[0]. */
void tree_sum(local float *l, uint lid)
{
  for (uint s = SQ_WG / 2; s > 0; s >>= 1) {
    barrier(CLK_LOCAL_MEM_FENCE);
    if (lid < s)
      l[lid] += l[lid + s];
  }
  barrier(CLK_LOCAL_MEM_FENCE);
}

/* part[g] = sum of x[k]^2 over group g's chunk of SQ_WG * SQ_K values (k < n). */
kernel __attribute__((reqd_work_group_size(SQ_WG, 1, 1)))
void sumsq_part(global const float *x, ulong xo, global float *part, ulong po, uint n)
{
  local float l[SQ_WG];
  uint lid = get_local_id(0), g = get_group_id(0);
  uint base = g * (SQ_WG * SQ_K) + lid;
  x += xo;
  float s = 0.0f;
  for (uint j = 0; j < SQ_K; j++) {
    uint k = base + j * SQ_WG;
    float v = k < n ? x[k] : 0.0f;
    s += v * v;
  }
  l[lid] = s;
  tree_sum(l, lid);
  if (lid == 0)
    part[po + g] = l[0];
}

/* out[0] = beta out[0] + sum part[0..np), one group (beta == 0: out is not read). */
kernel __attribute__((reqd_work_group_size(SQ_WG, 1, 1)))
void sumsq_final(global const float *part, ulong po, global float *out, ulong oo, uint np,
                 float beta)
{
  local float l[SQ_WG];
  uint lid = get_local_id(0);
  float s = 0.0f;
  for (uint k = lid; k < np; k += SQ_WG)
    s += part[po + k];
  l[lid] = s;
  tree_sum(l, lid);
  if (lid == 0)
    out[oo] = beta == 0.0f ? l[0] : beta * out[oo] + l[0];
}

/* g *= min(1, max_norm / (sqrt(ss[0]) + 1e-6)); a NaN norm scales by NaN (as PyTorch). */
kernel void clip_scale(global float *g, ulong go, global const float *ss, ulong so, uint n,
                       float max_norm)
{
  uint i = get_global_id(0) * VW;
  if (i >= n)
    return;
  float c = max_norm / (sqrt(ss[so]) + 1e-6f);
  c = c > 1.0f ? 1.0f : c;
  g += go;
  storev(loadv(g, i, n) * V(c), g, i, n);
}

/* y = x < lo ? lo : x > hi ? hi : x (NaN stays NaN) */
kernel void clamp_fwd(global const float *x, ulong xo, global float *y, ulong yo, uint n, float lo,
                  float hi)
{
  uint i = get_global_id(0) * VW;
  if (i >= n)
    return;
  floatv v = loadv(x + xo, i, n);
  v = select(v, V(lo), v < V(lo));
  v = select(v, V(hi), v > V(hi));
  storev(v, y + yo, i, n);
}

/* flag[0] = 1.0f when x holds a NaN or an infinity (exponent bits all ones). */
kernel void nonfinite(global const float *x, ulong xo, global float *flag, ulong fo, uint n)
{
  uint i = get_global_id(0) * VW;
  if (i >= n)
    return;
  floatv v = loadv(x + xo, i, n);
#if VW == 1
  int bad = (as_int(v) & 0x7f800000) == 0x7f800000;
#else
  int bad = any((CAT(as_int, VW)(v) & (intv)0x7f800000) == (intv)0x7f800000);
#endif
  if (bad)
    atomic_xchg((volatile global int *)(flag + fo), 0x3f800000);
}
