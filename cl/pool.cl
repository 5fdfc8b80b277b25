/* pool.cl - 2-D max and average pooling over planes (N*C, H, W) and their gradients as
 * gathers (one item per input element, windows visited in (oh, ow) order, no atomics).
 * Geometry: ops.def. Items are 3-D: (column, row, plane). */

/* Rows [*h0, *h1) x cols [*w0, *w1) of window (oy, ox) inside the input. */
void window_of(int oy, int ox, int h, int w, int kh, int kw, int sh, int sw, int pt, int pl,
               int *h0, int *h1, int *w0, int *w1)
{
  int hs = oy * sh - pt, ws = ox * sw - pl;
  *h0 = max(hs, 0);
  *h1 = min(hs + kh, h);
  *w0 = max(ws, 0);
  *w1 = min(ws + kw, w);
}

/* Average divisor of window (oy, ox) with input part [h0, h1) x [w0, w1). */
float avg_divisor(int oy, int ox, int h, int w, int kh, int kw, int sh, int sw, int pt, int pl,
                  int include_pad, int h0, int h1, int w0, int w1)
{
  if (!include_pad)
    return (float)((h1 - h0) * (w1 - w0));
  int hs = oy * sh - pt, ws = ox * sw - pl;
  return (float)((min(hs + kh, h + pt) - hs) * (min(ws + kw, w + pl) - ws));
}

/* Windows that contain input row xh: [*o0, *o1) (may be empty). */
void covering(int xh, int k, int s, int p, int on, int *o0, int *o1)
{
  int t = xh + p - k + 1;
  *o0 = t <= 0 ? 0 : (t + s - 1) / s;
  *o1 = min((xh + p) / s + 1, on);
}

#define GEOM_ARGS                                                                        \
  uint planes, uint uh, uint uw, uint uoh, uint uow, int kh, int kw, int sh, int sw, int pt, \
      int pl
/* Items (ow, oh, plane). */
#define GEOM_FWD                                         \
  uint ux = get_global_id(0), uy = get_global_id(1);     \
  uint pln = get_global_id(2);                           \
  if (ux >= uow || uy >= uoh || pln >= planes)           \
    return;                                              \
  uint o = (pln * uoh + uy) * uow + ux;                  \
  int h = (int)uh, w = (int)uw, oy = (int)uy, ox = (int)ux; \
  int h0, h1, w0, w1;                                    \
  window_of(oy, ox, h, w, kh, kw, sh, sw, pt, pl, &h0, &h1, &w0, &w1)

/* y = max over the window (padding -inf, first max wins, NaN wins), idx = its h W + w */
kernel void maxpool2d(global const float *x, ulong xo, global float *y, ulong yo,
                      global int *idx, ulong io, GEOM_ARGS)
{
  GEOM_FWD;
  x += xo + (ulong)pln * (uh * uw);
  float m = -INFINITY;
  int best = h0 < h1 && w0 < w1 ? h0 * w + w0 : -1;
  for (int i = h0; i < h1; i++)
    for (int j = w0; j < w1; j++) {
      float v = x[i * w + j];
      if (v > m || isnan(v)) {
        m = v;
        best = i * w + j;
      }
    }
  y[yo + o] = m;
  idx[io + o] = best;
}

/* y = window sum / divisor, 0 for a window without input elements; i6 include_pad */
kernel void avgpool2d(global const float *x, ulong xo, global float *y, ulong yo, GEOM_ARGS,
                      int include_pad)
{
  GEOM_FWD;
  x += xo + (ulong)pln * (uh * uw);
  float s = 0.0f;
  for (int i = h0; i < h1; i++)
    for (int j = w0; j < w1; j++)
      s += x[i * w + j];
  int empty = h0 >= h1 || w0 >= w1;
  y[yo + o] = empty ? 0.0f
                    : s / avg_divisor(oy, ox, h, w, kh, kw, sh, sw, pt, pl, include_pad, h0, h1, w0, w1);
}

/* Items (w, h, plane). */
#define GEOM_BWD                                              \
  uint ux = get_global_id(0), uy = get_global_id(1);          \
  uint pln = get_global_id(2);                                \
  if (ux >= uw || uy >= uh || pln >= planes)                  \
    return;                                                   \
  uint e = (pln * uh + uy) * uw + ux;                         \
  int h = (int)uh, w = (int)uw, xh = (int)uy, xw = (int)ux;   \
  int oy0, oy1, ox0, ox1;                                     \
  covering(xh, kh, sh, pt, (int)uoh, &oy0, &oy1);             \
  covering(xw, kw, sw, pl, (int)uow, &ox0, &ox1);             \
  ulong ob = (ulong)pln * (uoh * uow)

/* dx[h, w] = sum of dy over the windows whose argmax is (h, w) */
kernel void maxpool2d_grad(global const int *idx, ulong io, global const float *dy, ulong dyo,
                           global float *dx, ulong dxo, GEOM_ARGS)
{
  GEOM_BWD;
  int me = xh * w + xw;
  float acc = 0.0f;
  for (int oy = oy0; oy < oy1; oy++)
    for (int ox = ox0; ox < ox1; ox++) {
      ulong k = ob + (uint)(oy * (int)uow + ox);
      if (idx[io + k] == me)
        acc += dy[dyo + k];
    }
  dx[dxo + e] = acc;
}

/* dx[h, w] = sum of dy / divisor over the windows holding (h, w) */
kernel void avgpool2d_grad(global const float *dy, ulong dyo, global float *dx, ulong dxo,
                           GEOM_ARGS, int include_pad)
{
  GEOM_BWD;
  float acc = 0.0f;
  for (int oy = oy0; oy < oy1; oy++)
    for (int ox = ox0; ox < ox1; ox++) {
      int h0, h1, w0, w1;
      window_of(oy, ox, h, w, kh, kw, sh, sw, pt, pl, &h0, &h1, &w0, &w1);
      ulong k = ob + (uint)(oy * (int)uow + ox);
      acc += dy[dyo + k] / avg_divisor(oy, ox, h, w, kh, kw, sh, sw, pt, pl, include_pad, h0, h1, w0, w1);
    }
  dx[dxo + e] = acc;
}
