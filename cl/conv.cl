/* conv.cl - the ops a convolution is lowered to: im2col, col2im (a gather: one item per
 * input element, no atomics), transpose_ab, ch_bias_add, copy2d. Geometry: ops.def.
 * Host checks: every index fits a uint, every coordinate an int. */

/* q = t / s when t >= 0 is a multiple of s (s 1 costs no division), else -1. */
int exact_div(int t, int s)
{
  if (s == 1)
    return t;
  return t >= 0 && t % s == 0 ? t / s : -1;
}

/* Consecutive output columns per im2col item. */
#ifndef IM2COL_X
#define IM2COL_X 8
#endif

/* col[(c KH + ki) KW + kj, (n OH + oh) OW + ow] = x[n, c, oh SH - PT + ki DH, ow SW - PL + kj DW]
 * Items (IM2COL_X columns ow, n OH + oh, row), row over C KH KW. Images are cx channels apart. */
kernel void im2col(global const float *x, ulong xo, global float *col, ulong co, uint n, uint c,
                   uint h, uint w, uint oh, uint ow, uint cx, int kh, int kw, int sh, int sw,
                   int pt, int pl, int dh, int dw)
{
  uint ox0 = get_global_id(0) * IM2COL_X, t = get_global_id(1), row = get_global_id(2);
  if (ox0 >= ow || t >= n * oh)
    return;
  uint img = t / oh, oy = t - img * oh, q = row / (uint)kw, ch = q / (uint)kh;
  int kj = (int)(row - q * (uint)kw), ki = (int)(q - ch * (uint)kh);
  int ih = (int)oy * sh - pt + ki * dh;
  int in_row = ih >= 0 && ih < (int)h;
  x += xo + ((ulong)(img * cx + ch) * h + (uint)(in_row ? ih : 0)) * w;
  col += co + (ulong)row * (n * oh * ow) + t * ow;
  for (uint ox = ox0; ox < ox0 + IM2COL_X && ox < ow; ox++) {
    int iw = (int)ox * sw - pl + kj * dw;
    col[ox] = in_row && iw >= 0 && iw < (int)w ? x[iw] : 0.0f;
  }
}

/* dx[n, c, h, w] = sum over (ki, kj), in order, of the col entries read from there.
 * Items (w, h, n C + c) over the (N, C, H, W) slice. */
kernel void col2im(global const float *col, ulong co, global float *dx, ulong xo, uint n, uint c,
                   uint h, uint w, uint oh, uint ow, uint cx, int kh, int kw, int sh, int sw,
                   int pt, int pl, int dh, int dw)
{
  uint xw = get_global_id(0), xh = get_global_id(1), pln = get_global_id(2);
  if (xw >= w || xh >= h)
    return;
  uint ch = pln % c, img = pln / c, np = n * oh * ow;
  float acc = 0.0f;
  for (int ki = 0; ki < kh; ki++) {
    int oy = exact_div((int)xh + pt - ki * dh, sh);
    if (oy < 0 || oy >= (int)oh)
      continue;
    uint base = (img * oh + (uint)oy) * ow;
    for (int kj = 0; kj < kw; kj++) {
      int ox = exact_div((int)xw + pl - kj * dw, sw);
      if (ox >= 0 && ox < (int)ow)
        acc += col[co + (ulong)((ch * (uint)kh + (uint)ki) * (uint)kw + (uint)kj) * np + base + (uint)ox];
    }
  }
  dx[xo + ((ulong)(img * cx + ch) * h + xh) * w + xw] = acc;
}

/* y[b, a, c] = x[a, b, c]; one item per output element */
kernel void transpose_ab(global const float *x, ulong xo, global float *y, ulong yo, uint na,
                         uint nb, uint nc)
{
  uint o = get_global_id(0);
  if (o >= na * nb * nc)
    return;
  uint k = o % nc, t = o / nc, a = t % na, b = t / na;
  y[yo + o] = x[xo + (a * nb + b) * nc + k];
}

/* y[n, c, p] = x[n, c, p] + bias[c] (in place ok); VW elements per item */
kernel void ch_bias_add(global const float *x, ulong xo, global const float *bias, ulong bo,
                        global float *y, ulong yo, uint nn, uint nc, uint np)
{
  uint total = nn * nc * np, i = get_global_id(0) * VW;
  if (i >= total)
    return;
  bias += bo;
  float t[VW];
  uint p = i % np, c = i / np % nc;
  for (uint k = 0; k < VW; k++) {
    t[k] = bias[c];
    if (++p == np) {
      p = 0;
      c = c + 1 == nc ? 0 : c + 1;
    }
  }
  storev(loadv(x + xo, i, total) + VLOAD(t), y + yo, i, total);
}

/* y[r ldy + c] = x[r ldx + c]; items (c, r) */
kernel void copy2d(global const float *x, ulong xo, global float *y, ulong yo, uint rows,
                   uint cols, uint ldx, uint ldy)
{
  uint c = get_global_id(0), r = get_global_id(1);
  if (c < cols && r < rows)
    y[yo + (ulong)r * ldy + c] = x[xo + (ulong)r * ldx + c];
}

/* ---- conv2d and its gradients: direct sums, no col buffer (geometry as im2col, oc in
 * place of cx; images are c channels apart) ------------------------------------------- */

/* y[n, o, oy, ox] = bias[o] + sum_{c, ki, kj} wt[o, c, ki, kj] x[n, c, iy, ix], in (c, ki, kj)
 * order. Items (ox, oy, n OC + o). */
kernel void conv2d(global const float *x, ulong xo, global const float *wt, ulong wo,
                   global float *y, ulong yo, global const float *bias, ulong bo, int has_bias,
                   uint n, uint c, uint h, uint w, uint oh, uint ow, uint oc, int kh, int kw,
                   int sh, int sw, int pt, int pl, int dh, int dw)
{
  uint ox = get_global_id(0), oy = get_global_id(1), t = get_global_id(2);
  if (ox >= ow || oy >= oh || t >= n * oc)
    return;
  uint img = t / oc, o = t - img * oc;
  int iy0 = (int)oy * sh - pt, ix0 = (int)ox * sw - pl;
  float acc = 0.0f;
  for (uint ch = 0; ch < c; ch++) {
    global const float *xp = x + xo + (ulong)(img * c + ch) * h * w;
    global const float *wp = wt + wo + (ulong)(o * c + ch) * (uint)(kh * kw);
    for (int ki = 0; ki < kh; ki++) {
      int iy = iy0 + ki * dh;
      if (iy < 0 || iy >= (int)h)
        continue;
      for (int kj = 0; kj < kw; kj++) {
        int ix = ix0 + kj * dw;
        if (ix >= 0 && ix < (int)w)
          acc += wp[ki * kw + kj] * xp[(uint)iy * w + (uint)ix];
      }
    }
  }
  if (has_bias)
    acc += bias[bo + o];
  y[yo + ((ulong)t * oh + oy) * ow + ox] = acc;
}

/* dx[n, ch, xh, xw] = sum over (o, ki, kj), in order, of wt[o, ch, ki, kj] dy[n, o, oy, ox]
 * where (oy, ox) reads (xh, xw). Items (w, h, n C + ch). */
kernel void conv2d_grad_x(global const float *dy, ulong yo, global const float *wt, ulong wo,
                          global float *dx, ulong xo, uint n, uint c, uint h, uint w, uint oh,
                          uint ow, uint oc, int kh, int kw, int sh, int sw, int pt, int pl,
                          int dh, int dw)
{
  uint xw = get_global_id(0), xh = get_global_id(1), pln = get_global_id(2);
  if (xw >= w || xh >= h || pln >= n * c)
    return;
  uint img = pln / c, ch = pln - img * c;
  float acc = 0.0f;
  for (uint o = 0; o < oc; o++) {
    global const float *dp = dy + yo + (ulong)(img * oc + o) * oh * ow;
    global const float *wp = wt + wo + (ulong)(o * c + ch) * (uint)(kh * kw);
    for (int ki = 0; ki < kh; ki++) {
      int oy = exact_div((int)xh + pt - ki * dh, sh);
      if (oy < 0 || oy >= (int)oh)
        continue;
      for (int kj = 0; kj < kw; kj++) {
        int ox = exact_div((int)xw + pl - kj * dw, sw);
        if (ox >= 0 && ox < (int)ow)
          acc += wp[ki * kw + kj] * dp[(uint)oy * ow + (uint)ox];
      }
    }
  }
  dx[xo + (ulong)pln * h * w + xh * w + xw] = acc;
}

/* Work-group size of conv2d_grad_w (power of 2); the host's NNCL_CL_NWG. */
#ifndef NWG
#define NWG 64
#endif

/* dwt[o, ch, ki, kj] = sum_{n, oy, ox} dy[n, o, oy, ox] x[n, ch, iy, ix]: one work-group of
 * NWG items per weight, item l summing the output rows (n, oy) = l, l + NWG, ... (ox in
 * order), then a tree over the group (fixed trip count: no barrier in a data-dependent
 * loop). */
kernel __attribute__((reqd_work_group_size(NWG, 1, 1))) void
conv2d_grad_w(global const float *x, ulong xo, global const float *dy, ulong yo,
              global float *dwt, ulong wo, uint n, uint c, uint h, uint w, uint oh, uint ow,
              uint oc, int kh, int kw, int sh, int sw, int pt, int pl, int dh, int dw)
{
  local float s[NWG];
  uint e = get_group_id(0), l = get_local_id(0), kk = (uint)(kh * kw);
  uint o = e / (c * kk), r = e - o * c * kk, ch = r / kk, q = r - ch * kk;
  int ki = (int)q / kw, kj = (int)q - ki * kw;
  /* the valid ox: 0 <= ox sw - pl + kj dw < w */
  int off = kj * dw - pl, ox0 = off >= 0 ? 0 : (-off + sw - 1) / sw;
  int ox1 = (int)w - off <= 0 ? 0 : ((int)w - off - 1) / sw + 1;
  if (ox1 > (int)ow)
    ox1 = (int)ow;
  float acc = 0.0f;
  for (uint t = l; t < n * oh; t += NWG) {
    uint img = t / oh, oy = t - img * oh;
    int iy = (int)oy * sh - pt + ki * dh;
    if (iy < 0 || iy >= (int)h)
      continue;
    global const float *dp = dy + yo + ((ulong)(img * oc + o) * oh + oy) * ow;
    global const float *xp = x + xo + ((ulong)(img * c + ch) * h + (uint)iy) * w;
    for (int ox = ox0; ox < ox1; ox++)
      acc += dp[ox] * xp[ox * sw + off];
  }
  s[l] = acc;
  barrier(CLK_LOCAL_MEM_FENCE);
  for (uint hs = NWG / 2; hs > 0; hs >>= 1) {
    if (l < hs)
      s[l] += s[l + hs];
    barrier(CLK_LOCAL_MEM_FENCE);
  }
  if (l == 0)
    dwt[wo + e] = s[0];
}
