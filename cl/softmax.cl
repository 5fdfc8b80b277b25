/* softmax.cl - row ops (softmax, fused softmax + cross-entropy, mse, bce, argmax),
 * their gradients, and reductions (sum, sum_rows, accuracy).
 *
 * Row ops on (rows x cols) come in two forms: `name` gives each row to one work-item
 * (narrow rows), `name_wide` gives it to a work-group of RWG items (wide rows).
 * Group reductions are trees over RWG (a compile-time constant): no barrier sits in a
 * loop whose trip count depends on data. */

/* Work-group size of the _wide and reduction kernels (power of 2). */
#ifndef RWG
#define RWG 128
#endif
/* Elements per work-item in one `sum` pass. */
#ifndef SUM_K
#define SUM_K 8
#endif
/* sum_rows work-group: SRX columns x SRY row slices (SRY a power of 2). */
#ifndef SRX
#define SRX 16
#endif
#ifndef SRY
#define SRY 8
#endif

#define WIDE __attribute__((reqd_work_group_size(RWG, 1, 1)))

/* Sum of v over the work-group, returned to every item. */
float group_sum(local float *s, float v)
{
  uint l = get_local_id(0);
  s[l] = v;
  barrier(CLK_LOCAL_MEM_FENCE);
  for (uint h = RWG / 2; h > 0; h >>= 1) {
    if (l < h)
      s[l] += s[l + h];
    barrier(CLK_LOCAL_MEM_FENCE);
  }
  float r = s[0];
  barrier(CLK_LOCAL_MEM_FENCE);
  return r;
}

/* Max of v over the work-group, returned to every item. */
float group_max(local float *s, float v)
{
  uint l = get_local_id(0);
  s[l] = v;
  barrier(CLK_LOCAL_MEM_FENCE);
  for (uint h = RWG / 2; h > 0; h >>= 1) {
    if (l < h)
      s[l] = fmax(s[l], s[l + h]);
    barrier(CLK_LOCAL_MEM_FENCE);
  }
  float r = s[0];
  barrier(CLK_LOCAL_MEM_FENCE);
  return r;
}

/* ---- softmax: y[r,:] = exp(x[r,:] - max) / sum ---------------------------------------- */

kernel void softmax(global const float *x, ulong xo, global float *y, ulong yo, uint rows,
                    uint cols)
{
  uint r = get_global_id(0);
  if (r >= rows)
    return;
  x += xo + (ulong)r * cols;
  y += yo + (ulong)r * cols;
  float m = -INFINITY, s = 0.0f;
  for (uint c = 0; c < cols; c++)
    m = fmax(m, x[c]);
  for (uint c = 0; c < cols; c++)
    s += exp(x[c] - m);
  for (uint c = 0; c < cols; c++)
    y[c] = exp(x[c] - m) / s;
}

kernel WIDE void softmax_wide(global const float *x, ulong xo, global float *y, ulong yo,
                              uint rows, uint cols)
{
  local float s[RWG];
  uint r = get_group_id(0), l = get_local_id(0);
  x += xo + (ulong)r * cols;
  y += yo + (ulong)r * cols;
  float m = -INFINITY, t = 0.0f;
  for (uint c = l; c < cols; c += RWG)
    m = fmax(m, x[c]);
  m = group_max(s, m);
  for (uint c = l; c < cols; c += RWG)
    t += exp(x[c] - m);
  t = group_sum(s, t);
  for (uint c = l; c < cols; c += RWG)
    y[c] = exp(x[c] - m) / t;
}

/* ---- softmax_grad: dx = y (dy - sum_c dy y) ------------------------------------------ */

kernel void softmax_grad(global const float *y, ulong yo, global const float *dy, ulong dyo,
                         global float *dx, ulong dxo, uint rows, uint cols)
{
  uint r = get_global_id(0);
  if (r >= rows)
    return;
  ulong o = (ulong)r * cols;
  y += yo + o;
  dy += dyo + o;
  dx += dxo + o;
  float d = 0.0f;
  for (uint c = 0; c < cols; c++)
    d += dy[c] * y[c];
  for (uint c = 0; c < cols; c++)
    dx[c] = y[c] * (dy[c] - d);
}

kernel WIDE void softmax_grad_wide(global const float *y, ulong yo, global const float *dy,
                                   ulong dyo, global float *dx, ulong dxo, uint rows, uint cols)
{
  local float s[RWG];
  uint l = get_local_id(0);
  ulong o = (ulong)get_group_id(0) * cols;
  y += yo + o;
  dy += dyo + o;
  dx += dxo + o;
  float d = 0.0f;
  for (uint c = l; c < cols; c += RWG)
    d += dy[c] * y[c];
  d = group_sum(s, d);
  for (uint c = l; c < cols; c += RWG)
    dx[c] = y[c] * (dy[c] - d);
}

/* ---- softmax_xent: p = softmax(x); loss_r = lse - x[r, label_r] (NaN for a bad label) --- */

kernel void softmax_xent(global const float *x, ulong xo, global const int *label, ulong lo,
                         global float *p, ulong po, global float *loss, ulong so, uint rows,
                         uint cols)
{
  uint r = get_global_id(0);
  if (r >= rows)
    return;
  x += xo + (ulong)r * cols;
  p += po + (ulong)r * cols;
  int k = label[lo + r];
  float m = -INFINITY, s = 0.0f;
  for (uint c = 0; c < cols; c++)
    m = fmax(m, x[c]);
  for (uint c = 0; c < cols; c++)
    s += exp(x[c] - m);
  for (uint c = 0; c < cols; c++)
    p[c] = exp(x[c] - m) / s;
  loss[so + r] = k >= 0 && (uint)k < cols ? m + log(s) - x[k] : NAN;
}

kernel WIDE void softmax_xent_wide(global const float *x, ulong xo, global const int *label,
                                   ulong lo, global float *p, ulong po, global float *loss,
                                   ulong so, uint rows, uint cols)
{
  local float s[RWG];
  uint r = get_group_id(0), l = get_local_id(0);
  x += xo + (ulong)r * cols;
  p += po + (ulong)r * cols;
  float m = -INFINITY, t = 0.0f;
  for (uint c = l; c < cols; c += RWG)
    m = fmax(m, x[c]);
  m = group_max(s, m);
  for (uint c = l; c < cols; c += RWG)
    t += exp(x[c] - m);
  t = group_sum(s, t);
  for (uint c = l; c < cols; c += RWG)
    p[c] = exp(x[c] - m) / t;
  if (l == 0) {
    int k = label[lo + r];
    loss[so + r] = k >= 0 && (uint)k < cols ? m + log(t) - x[k] : NAN;
  }
}

/* dx = scale (p - onehot(label)), elementwise over rows x cols */
kernel void softmax_xent_grad(global const float *p, ulong po, global const int *label,
                              ulong lo, global float *dx, ulong dxo, uint rows, uint cols,
                              float scale)
{
  uint n = rows * cols, i = get_global_id(0) * VW;
  if (i >= n)
    return;
  float t[VW];
  uint r = i / cols, c = i - r * cols;
  for (uint k = 0; k < VW; k++) {
    t[k] = r < rows && label[lo + r] == (int)c ? 1.0f : 0.0f;
    if (++c == cols) {
      c = 0;
      r++;
    }
  }
  storev(V(scale) * (loadv(p + po, i, n) - VLOAD(t)), dx + dxo, i, n);
}

/* ---- mse: loss_r = mean_c (p - t)^2;  dp = scale 2 (p - t) ----------------------------- */

kernel void mse(global const float *p, ulong po, global const float *t, ulong to,
                global float *loss, ulong so, uint rows, uint cols)
{
  uint r = get_global_id(0);
  if (r >= rows)
    return;
  p += po + (ulong)r * cols;
  t += to + (ulong)r * cols;
  float s = 0.0f;
  for (uint c = 0; c < cols; c++) {
    float d = p[c] - t[c];
    s += d * d;
  }
  loss[so + r] = s / (float)cols;
}

kernel WIDE void mse_wide(global const float *p, ulong po, global const float *t, ulong to,
                          global float *loss, ulong so, uint rows, uint cols)
{
  local float sh[RWG];
  uint r = get_group_id(0), l = get_local_id(0);
  p += po + (ulong)r * cols;
  t += to + (ulong)r * cols;
  float s = 0.0f;
  for (uint c = l; c < cols; c += RWG) {
    float d = p[c] - t[c];
    s += d * d;
  }
  s = group_sum(sh, s);
  if (l == 0)
    loss[so + r] = s / (float)cols;
}

kernel void mse_grad(global const float *p, ulong po, global const float *t, ulong to,
                     global float *d, ulong dO, uint n, float scale)
{
  uint i = get_global_id(0) * VW;
  if (i < n)
    storev(V(scale) * V(2.0f) * (loadv(p + po, i, n) - loadv(t + to, i, n)), d + dO, i, n);
}

/* ---- bce on logits: loss_r = mean_c max(x,0) - x t + log(1 + exp(-|x|));
 *      dx = scale (sigmoid(x) - t) ---------------------------------------------------------- */

float bce_term(float x, float t) { return fmax(x, 0.0f) - x * t + log1p(exp(-fabs(x))); }

kernel void bce(global const float *x, ulong xo, global const float *t, ulong to,
                global float *loss, ulong so, uint rows, uint cols)
{
  uint r = get_global_id(0);
  if (r >= rows)
    return;
  x += xo + (ulong)r * cols;
  t += to + (ulong)r * cols;
  float s = 0.0f;
  for (uint c = 0; c < cols; c++)
    s += bce_term(x[c], t[c]);
  loss[so + r] = s / (float)cols;
}

kernel WIDE void bce_wide(global const float *x, ulong xo, global const float *t, ulong to,
                          global float *loss, ulong so, uint rows, uint cols)
{
  local float sh[RWG];
  uint r = get_group_id(0), l = get_local_id(0);
  x += xo + (ulong)r * cols;
  t += to + (ulong)r * cols;
  float s = 0.0f;
  for (uint c = l; c < cols; c += RWG)
    s += bce_term(x[c], t[c]);
  s = group_sum(sh, s);
  if (l == 0)
    loss[so + r] = s / (float)cols;
}

kernel void bce_grad(global const float *x, ulong xo, global const float *t, ulong to,
                     global float *d, ulong dO, uint n, float scale)
{
  uint i = get_global_id(0) * VW;
  if (i >= n)
    return;
  floatv s = V(1.0f) / (V(1.0f) + exp(-loadv(x + xo, i, n)));
  storev(V(scale) * (s - loadv(t + to, i, n)), d + dO, i, n);
}

/* ---- sum: y[g] = scale * sum of x[g*RWG*SUM_K .. +RWG*SUM_K), one work-group per g.
 * The host repeats passes over the partials until one value is left. ------------------- */

kernel WIDE void sum(global const float *x, ulong xo, global float *y, ulong yo, uint n,
                     float scale)
{
  local float s[RWG];
  uint g = get_group_id(0), l = get_local_id(0);
  uint base = g * (RWG * SUM_K) + l;
  float t = 0.0f;
  x += xo;
  for (uint k = 0; k < SUM_K; k++) {
    uint i = base + k * RWG;
    t += i < n ? x[i] : 0.0f;
  }
  t = group_sum(s, t);
  if (l == 0)
    y[yo + g] = t * scale;
}

/* ---- sum_rows: y[c] = beta y[c] + sum_r x[r,c] (beta == 0: y is not read).
 * Work-group (SRX, SRY): SRX columns, each summed by SRY items over strided rows. ----- */

kernel __attribute__((reqd_work_group_size(SRX, SRY, 1)))
void sum_rows(global const float *x, ulong xo, global float *y, ulong yo, uint rows, uint cols,
              float beta)
{
  local float s[SRY][SRX];
  uint c = get_global_id(0), lx = get_local_id(0), ly = get_local_id(1);
  float t = 0.0f;
  if (c < cols)
    for (uint r = ly; r < rows; r += SRY)
      t += x[xo + (ulong)r * cols + c];
  s[ly][lx] = t;
  barrier(CLK_LOCAL_MEM_FENCE);
  for (uint h = SRY / 2; h > 0; h >>= 1) {
    if (ly < h)
      s[ly][lx] += s[ly + h][lx];
    barrier(CLK_LOCAL_MEM_FENCE);
  }
  if (ly == 0 && c < cols)
    y[yo + c] = beta == 0.0f ? s[0][lx] : beta * y[yo + c] + s[0][lx];
}

/* ---- argmax: first index of the row's maximum ----------------------------------------- */

/* index of the first maximum of x[0..cols) */
uint row_argmax(global const float *x, uint cols)
{
  uint best = 0;
  float m = x[0];
  for (uint c = 1; c < cols; c++)
    if (x[c] > m) {
      m = x[c];
      best = c;
    }
  return best;
}

kernel void argmax(global const float *x, ulong xo, global int *y, ulong yo, uint rows,
                   uint cols)
{
  uint r = get_global_id(0);
  if (r < rows)
    y[yo + r] = (int)row_argmax(x + xo + (ulong)r * cols, cols);
}

kernel WIDE void argmax_wide(global const float *x, ulong xo, global int *y, ulong yo,
                             uint rows, uint cols)
{
  local float sv[RWG];
  local uint si[RWG];
  uint r = get_group_id(0), l = get_local_id(0);
  x += xo + (ulong)r * cols;
  float m = -INFINITY;
  uint best = UINT_MAX;
  for (uint c = l; c < cols; c += RWG)
    if (best == UINT_MAX || x[c] > m) {
      m = x[c];
      best = c;
    }
  sv[l] = m;
  si[l] = best;
  barrier(CLK_LOCAL_MEM_FENCE);
  for (uint h = RWG / 2; h > 0; h >>= 1) {
    if (l < h) {
      float v = sv[l + h];
      uint i = si[l + h];
      if (i != UINT_MAX && (si[l] == UINT_MAX || v > sv[l] || (v == sv[l] && i < si[l]))) {
        sv[l] = v;
        si[l] = i;
      }
    }
    barrier(CLK_LOCAL_MEM_FENCE);
  }
  if (l == 0)
    y[yo + r] = (int)si[0];
}

/* ---- accuracy: partial[g] = number of rows r in group g with argmax(x[r,:]) == label[r].
 * The host then sums the partials with `sum`. ------------------------------------------- */

kernel WIDE void accuracy(global const float *x, ulong xo, global const int *label, ulong lo,
                          global float *partial, ulong po, uint rows, uint cols)
{
  local float s[RWG];
  uint r = get_global_id(0);
  float hit = 0.0f;
  if (r < rows)
    hit = (int)row_argmax(x + xo + (ulong)r * cols, cols) == label[lo + r] ? 1.0f : 0.0f;
  hit = group_sum(s, hit);
  if (get_local_id(0) == 0)
    partial[po + get_group_id(0)] = hit;
}
