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

/* The same over VW lanes (floatv from prelude.cl). */
typedef struct ksumv {
  floatv s, c;
} ksumv;

ksumv kvzero(void)
{
  ksumv k = {V(0.0f), V(0.0f)};
  return k;
}

ksumv kvadd(ksumv k, floatv x)
{
  floatv t = k.s + x;
  k.c += select((x - t) + k.s, (k.s - t) + x, fabs(k.s) >= fabs(x));
  k.s = t;
  return k;
}

/* The lanes of k merged into one sum. */
ksum kvlanes(ksumv k)
{
  float s[VW], c[VW];
  VSTORE(k.s, s);
  VSTORE(k.c, c);
  ksum r = {s[0], c[0]};
  for (uint q = 1; q < VW; q++) {
    ksum t = {s[q], c[q]};
    r = kmerge(r, t);
  }
  return r;
}

/* Sum of v over the work-group (s, c: RWG floats of local memory each), to every item. */
ksum group_ksum(local float *s, local float *c, ksum v)
{
  uint l = get_local_id(0);
  s[l] = v.s;
  c[l] = v.c;
  barrier(CLK_LOCAL_MEM_FENCE);
  for (uint h = RWG / 2; h > 0; h >>= 1) {
    if (l < h) {
      ksum a = {s[l], c[l]}, b = {s[l + h], c[l + h]};
      a = kmerge(a, b);
      s[l] = a.s;
      c[l] = a.c;
    }
    barrier(CLK_LOCAL_MEM_FENCE);
  }
  ksum r = {s[0], c[0]};
  barrier(CLK_LOCAL_MEM_FENCE);
  return r;
}

float group_sum(local float *s, local float *c, float v)
{
  ksum k = {v, 0.0f};
  return kval(group_ksum(s, c, k));
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
  float m = -INFINITY;
  ksum k = kzero();
  for (uint c = 0; c < cols; c++)
    m = fmax(m, x[c]);
  /* y holds exp(x - m) between the passes (x may alias y) */
  for (uint c = 0; c < cols; c++) {
    float e = exp(x[c] - m);
    y[c] = e;
    k = kadd(k, e);
  }
  float s = kval(k);
  for (uint c = 0; c < cols; c++)
    y[c] = y[c] / s;
}

kernel WIDE void softmax_wide(global const float *x, ulong xo, global float *y, ulong yo,
                              uint rows, uint cols)
{
  local float ls[RWG], lc[RWG];
  uint r = get_group_id(0), l = get_local_id(0);
  x += xo + (ulong)r * cols;
  y += yo + (ulong)r * cols;
  float m = -INFINITY;
  ksum k = kzero();
  for (uint c = l; c < cols; c += RWG)
    m = fmax(m, x[c]);
  m = group_max(ls, m);
  for (uint c = l; c < cols; c += RWG)
    k = kadd(k, exp(x[c] - m));
  float s = kval(group_ksum(ls, lc, k));
  for (uint c = l; c < cols; c += RWG)
    y[c] = exp(x[c] - m) / s;
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
  ksum k = kzero();
  for (uint c = 0; c < cols; c++)
    k = kadd(k, dy[c] * y[c]);
  float d = kval(k);
  for (uint c = 0; c < cols; c++)
    dx[c] = y[c] * (dy[c] - d);
}

kernel WIDE void softmax_grad_wide(global const float *y, ulong yo, global const float *dy,
                                   ulong dyo, global float *dx, ulong dxo, uint rows, uint cols)
{
  local float ls[RWG], lc[RWG];
  uint l = get_local_id(0);
  ulong o = (ulong)get_group_id(0) * cols;
  y += yo + o;
  dy += dyo + o;
  dx += dxo + o;
  ksum k = kzero();
  for (uint c = l; c < cols; c += RWG)
    k = kadd(k, dy[c] * y[c]);
  float d = kval(group_ksum(ls, lc, k));
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
  int j = label[lo + r];
  float m = -INFINITY;
  ksum k = kzero();
  for (uint c = 0; c < cols; c++)
    m = fmax(m, x[c]);
  float xj = j >= 0 && (uint)j < cols ? x[j] : NAN;
  /* p holds exp(x - m) between the passes (x may alias p) */
  for (uint c = 0; c < cols; c++) {
    float e = exp(x[c] - m);
    p[c] = e;
    k = kadd(k, e);
  }
  float s = kval(k);
  for (uint c = 0; c < cols; c++)
    p[c] = p[c] / s;
  loss[so + r] = (m - xj) + log(s);
}

kernel WIDE void softmax_xent_wide(global const float *x, ulong xo, global const int *label,
                                   ulong lo, global float *p, ulong po, global float *loss,
                                   ulong so, uint rows, uint cols)
{
  local float ls[RWG], lc[RWG];
  uint r = get_group_id(0), l = get_local_id(0);
  x += xo + (ulong)r * cols;
  p += po + (ulong)r * cols;
  float m = -INFINITY;
  ksum k = kzero();
  for (uint c = l; c < cols; c += RWG)
    m = fmax(m, x[c]);
  m = group_max(ls, m);
  for (uint c = l; c < cols; c += RWG)
    k = kadd(k, exp(x[c] - m));
  float s = kval(group_ksum(ls, lc, k));
  for (uint c = l; c < cols; c += RWG)
    p[c] = exp(x[c] - m) / s;
  if (l == 0) {
    int j = label[lo + r];
    loss[so + r] = j >= 0 && (uint)j < cols ? (m - x[j]) + log(s) : NAN;
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
  ksum k = kzero();
  for (uint c = 0; c < cols; c++) {
    float d = p[c] - t[c];
    k = kadd(k, d * d);
  }
  loss[so + r] = kval(k) / (float)cols;
}

kernel WIDE void mse_wide(global const float *p, ulong po, global const float *t, ulong to,
                          global float *loss, ulong so, uint rows, uint cols)
{
  local float ls[RWG], lc[RWG];
  uint r = get_group_id(0), l = get_local_id(0);
  p += po + (ulong)r * cols;
  t += to + (ulong)r * cols;
  ksum k = kzero();
  for (uint c = l; c < cols; c += RWG) {
    float d = p[c] - t[c];
    k = kadd(k, d * d);
  }
  float s = kval(group_ksum(ls, lc, k));
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
  ksum k = kzero();
  for (uint c = 0; c < cols; c++)
    k = kadd(k, bce_term(x[c], t[c]));
  loss[so + r] = kval(k) / (float)cols;
}

kernel WIDE void bce_wide(global const float *x, ulong xo, global const float *t, ulong to,
                          global float *loss, ulong so, uint rows, uint cols)
{
  local float ls[RWG], lc[RWG];
  uint r = get_group_id(0), l = get_local_id(0);
  x += xo + (ulong)r * cols;
  t += to + (ulong)r * cols;
  ksum k = kzero();
  for (uint c = l; c < cols; c += RWG)
    k = kadd(k, bce_term(x[c], t[c]));
  float s = kval(group_ksum(ls, lc, k));
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

/* ---- sum: work-group g sums the g-th chunk of x.
 * x holds n floats (chunks of RWG*SUM_K*VW, read as vectors), or, when pairs_in, n
 * (sum, compensation) pairs (chunks of RWG*SUM_K). Output g is a pair when pairs_out,
 * else the float scale * sum. The host repeats passes over the pairs until one
 * work-group is left. -------------------------------------------------------------------- */

kernel WIDE void sum(global const float *x, ulong xo, global float *y, ulong yo, uint n,
                     float scale, int pairs_in, int pairs_out)
{
  local float ls[RWG], lc[RWG];
  uint g = get_group_id(0), l = get_local_id(0);
  ksum k = kzero();
  x += xo;
  y += yo;
  if (pairs_in) {
    for (uint j = 0; j < SUM_K; j++) {
      uint i = g * (RWG * SUM_K) + j * RWG + l;
      if (i < n) {
        ksum v = {x[2 * i], x[2 * i + 1]};
        k = kmerge(k, v);
      }
    }
  } else {
    ksumv kv = kvzero();
    for (uint j = 0; j < SUM_K; j++) {
      uint i = g * (RWG * SUM_K * VW) + (j * RWG + l) * VW;
      if (i < n)
        kv = kvadd(kv, loadv(x, i, n));
    }
    k = kvlanes(kv);
  }
  k = group_ksum(ls, lc, k);
  if (l == 0 && pairs_out) {
    y[2 * g] = k.s;
    y[2 * g + 1] = k.c;
  } else if (l == 0) {
    y[g] = kval(k) * scale;
  }
}

/* ---- sum_rows: y[c] = beta y[c] + sum_r x[r,c] (beta == 0: y is not read).
 * Work-group (SRX, SRY): SRX items of VW columns each, times SRY items that split the
 * rows (r = ly, ly + SRY, ...); the SRY partial sums are then merged in a tree. ------- */

kernel __attribute__((reqd_work_group_size(SRX, SRY, 1)))
void sum_rows(global const float *x, ulong xo, global float *y, ulong yo, uint rows, uint cols,
              float beta)
{
  local float ls[SRY][SRX * VW], lc[SRY][SRX * VW];
  uint c0 = get_global_id(0) * VW, lx = get_local_id(0), ly = get_local_id(1);
  ksumv k = kvzero();
  x += xo;
  if (c0 < cols)
    for (uint r = ly; r < rows; r += SRY)
      k = kvadd(k, loadv(x + (ulong)r * cols, c0, cols));
  VSTORE(k.s, &ls[ly][lx * VW]);
  VSTORE(k.c, &lc[ly][lx * VW]);
  barrier(CLK_LOCAL_MEM_FENCE);
  for (uint h = SRY / 2; h > 0; h >>= 1) {
    if (ly < h)
      for (uint q = lx * VW; q < lx * VW + VW; q++) {
        ksum a = {ls[ly][q], lc[ly][q]}, b = {ls[ly + h][q], lc[ly + h][q]};
        a = kmerge(a, b);
        ls[ly][q] = a.s;
        lc[ly][q] = a.c;
      }
    barrier(CLK_LOCAL_MEM_FENCE);
  }
  if (ly == 0)
    for (uint q = 0; q < VW && c0 + q < cols; q++) {
      ksum t = {ls[0][lx * VW + q], lc[0][lx * VW + q]};
      y[yo + c0 + q] = beta == 0.0f ? kval(t) : beta * y[yo + c0 + q] + kval(t);
    }
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
  local float ls[RWG], lc[RWG];
  uint r = get_global_id(0);
  float hit = 0.0f;
  if (r < rows)
    hit = (int)row_argmax(x + xo + (ulong)r * cols, cols) == label[lo + r] ? 1.0f : 0.0f;
  hit = group_sum(ls, lc, hit);
  if (get_local_id(0) == 0)
    partial[po + get_group_id(0)] = hit;
}
