/* norm.cl - per-channel sums (ch_sum), batch norm, layer norm, their gradients and the
 * running-statistics update. Formulas: ops.def.
 *
 * Statistics are compensated (Neumaier) float sums, close to the C backend's double
 * sums. A channel (batch norm) or a wide row (layer norm) belongs to one work-group of
 * NWG items; narrow rows to one item. Group reductions are trees over the compile-time
 * NWG: no barrier sits in a loop whose trip count depends on data. */

/* Work-group size of the group kernels (power of 2); the host uses the same value. */
#ifndef NWG
#define NWG 64
#endif

#define GROUP __attribute__((reqd_work_group_size(NWG, 1, 1)))

/* Sums of a and b over the work-group, to every item (s: 4 NWG floats of local memory). */
void group_sum2(local float *s, ksum *a, ksum *b)
{
  uint l = get_local_id(0);
  s[l] = a->s;
  s[NWG + l] = a->c;
  s[2 * NWG + l] = b->s;
  s[3 * NWG + l] = b->c;
  barrier(CLK_LOCAL_MEM_FENCE);
  for (uint h = NWG / 2; h > 0; h >>= 1) {
    if (l < h) {
      ksum x = {s[l], s[NWG + l]}, y = {s[l + h], s[NWG + l + h]};
      ksum u = {s[2 * NWG + l], s[3 * NWG + l]}, v = {s[2 * NWG + l + h], s[3 * NWG + l + h]};
      x = kmerge(x, y);
      u = kmerge(u, v);
      s[l] = x.s;
      s[NWG + l] = x.c;
      s[2 * NWG + l] = u.s;
      s[3 * NWG + l] = u.c;
    }
    barrier(CLK_LOCAL_MEM_FENCE);
  }
  a->s = s[0];
  a->c = s[NWG];
  b->s = s[2 * NWG];
  b->c = s[3 * NWG];
  barrier(CLK_LOCAL_MEM_FENCE);
}

/* Element e (< N P) of channel c in (N, C, P). */
ulong at(uint e, uint c, uint nc, uint np)
{
  uint n = e / np;
  return ((ulong)n * nc + c) * np + (e - n * np);
}

/* ---- ch_sum: y[c] = beta y[c] + sum_{n,p} x[n, c, p]; group c ------------------------- */

kernel GROUP void ch_sum(global const float *x, ulong xo, global float *y, ulong yo, uint nn,
                         uint nc, uint np, float beta)
{
  local float s[4 * NWG];
  uint c = get_group_id(0), l = get_local_id(0), m = nn * np;
  ksum a = kzero(), unused = kzero();
  x += xo;
  for (uint e = l; e < m; e += NWG)
    a = kadd(a, x[at(e, c, nc, np)]);
  group_sum2(s, &a, &unused);
  if (l == 0)
    y[yo + c] = beta == 0.0f ? kval(a) : beta * y[yo + c] + kval(a);
}

/* ---- batch norm --------------------------------------------------------------------- */

/* Training, group c: mean, biased var (written to var when has_var), invstd, then y. */
kernel GROUP void batchnorm(global const float *x, ulong xo, global float *y, ulong yo,
                            global const float *gamma, ulong go, global const float *beta,
                            ulong bo, global float *mean, ulong mo, global float *inv, ulong io,
                            global float *var, ulong vo, uint nn, uint nc, uint np, float eps,
                            int has_var)
{
  local float s[4 * NWG];
  uint c = get_group_id(0), l = get_local_id(0), m = nn * np;
  x += xo;
  y += yo;
  ksum a = kzero(), b = kzero();
  for (uint e = l; e < m; e += NWG)
    a = kadd(a, x[at(e, c, nc, np)]);
  group_sum2(s, &a, &b);
  float mu = kval(a) / (float)m;
  a = kzero();
  for (uint e = l; e < m; e += NWG) {
    float d = x[at(e, c, nc, np)] - mu;
    a = kadd(a, d * d);
  }
  group_sum2(s, &a, &b);
  float v = kval(a) / (float)m, is = 1.0f / sqrt(v + eps);
  if (l == 0) {
    mean[mo + c] = mu;
    inv[io + c] = is;
    if (has_var)
      var[vo + c] = v;
  }
  float k = is * gamma[go + c], bc = beta[bo + c];
  for (uint e = l; e < m; e += NWG) {
    ulong i = at(e, c, nc, np);
    y[i] = (x[i] - mu) * k + bc;
  }
}

/* Eval: y = (x - rmean) gamma / sqrt(rvar + eps) + beta; one item per element */
kernel void batchnorm_eval(global const float *x, ulong xo, global float *y, ulong yo,
                           global const float *gamma, ulong go, global const float *beta,
                           ulong bo, global const float *rmean, ulong mo,
                           global const float *rvar, ulong vo, uint nn, uint nc, uint np,
                           float eps)
{
  uint i = get_global_id(0);
  if (i >= nn * nc * np)
    return;
  uint c = i / np % nc;
  y[yo + i] = (x[xo + i] - rmean[mo + c]) * (gamma[go + c] / sqrt(rvar[vo + c] + eps)) + beta[bo + c];
}

/* Group c: dbeta = sum dy, dgamma = sum dy xhat, dx = gamma invstd (dy - dbeta/M - xhat dgamma/M) */
kernel GROUP void batchnorm_grad(global const float *x, ulong xo, global const float *dy,
                                 ulong dyo, global const float *gamma, ulong go,
                                 global const float *mean, ulong mo, global const float *inv,
                                 ulong io, global float *dx, ulong dxo, global float *dgamma,
                                 ulong dgo, global float *dbeta, ulong dbo, uint nn, uint nc,
                                 uint np)
{
  local float s[4 * NWG];
  uint c = get_group_id(0), l = get_local_id(0), m = nn * np;
  x += xo;
  dy += dyo;
  float mu = mean[mo + c], is = inv[io + c];
  ksum sb = kzero(), sg = kzero();
  for (uint e = l; e < m; e += NWG) {
    ulong i = at(e, c, nc, np);
    sb = kadd(sb, dy[i]);
    sg = kadd(sg, dy[i] * ((x[i] - mu) * is));
  }
  group_sum2(s, &sb, &sg);
  float db = kval(sb), dg = kval(sg);
  if (l == 0) {
    dbeta[dbo + c] = db;
    dgamma[dgo + c] = dg;
  }
  float k = gamma[go + c] * is, mdb = db / (float)m, mdg = dg / (float)m;
  for (uint e = l; e < m; e += NWG) {
    ulong i = at(e, c, nc, np);
    dx[dxo + i] = k * (dy[i] - mdb - (x[i] - mu) * is * mdg);
  }
}

/* r = (1 - momentum) r + momentum corr v */
kernel void running_update(global float *r, ulong ro, global const float *v, ulong vo, uint n,
                           float momentum, float corr)
{
  uint i = get_global_id(0);
  if (i < n)
    r[ro + i] = (1.0f - momentum) * r[ro + i] + (momentum * corr) * v[vo + i];
}

/* ---- layer norm: rows (R, D) -------------------------------------------------------- */

/* Row r: mean, invstd and y. Items l < step of one row cooperate (narrow: step 1). */
#define LN_ROW(step, reduce)                                                            \
  x += xo + (ulong)r * d;                                                               \
  y += yo + (ulong)r * d;                                                               \
  ksum a = kzero(), b = kzero();                                                        \
  for (uint q = l; q < d; q += step)                                                    \
    a = kadd(a, x[q]);                                                                  \
  reduce;                                                                               \
  float mu = kval(a) / (float)d;                                                        \
  a = kzero();                                                                          \
  for (uint q = l; q < d; q += step) {                                                  \
    float t = x[q] - mu;                                                                \
    a = kadd(a, t * t);                                                                 \
  }                                                                                     \
  reduce;                                                                               \
  float is = 1.0f / sqrt(kval(a) / (float)d + eps);                                     \
  if (l == 0) {                                                                         \
    mean[mo + r] = mu;                                                                  \
    inv[io + r] = is;                                                                   \
  }                                                                                     \
  for (uint q = l; q < d; q += step)                                                    \
    y[q] = (x[q] - mu) * is * gamma[go + q] + beta[bo + q]

#define LN_ARGS                                                                          \
  global const float *x, ulong xo, global float *y, ulong yo, global const float *gamma,   \
      ulong go, global const float *beta, ulong bo, global float *mean, ulong mo,          \
      global float *inv, ulong io, uint rows, uint d, float eps

kernel void layernorm(LN_ARGS)
{
  uint r = get_global_id(0), l = 0;
  if (r >= rows)
    return;
  LN_ROW(1, (void)b);
}

kernel GROUP void layernorm_wide(LN_ARGS)
{
  local float s[4 * NWG];
  uint r = get_group_id(0), l = get_local_id(0);
  LN_ROW(NWG, group_sum2(s, &a, &b));
}

/* Row r of dx: g = dy gamma; dx = invstd (g - mean(g) - xhat mean(g xhat)) */
#define LNG_ROW(step, reduce)                                                           \
  ulong o = (ulong)r * d;                                                               \
  x += xo + o;                                                                          \
  dy += dyo + o;                                                                        \
  dx += dxo + o;                                                                        \
  gamma += go;                                                                          \
  float mu = mean[mo + r], is = inv[io + r];                                            \
  ksum a = kzero(), b = kzero();                                                        \
  for (uint q = l; q < d; q += step) {                                                  \
    float g = dy[q] * gamma[q];                                                         \
    a = kadd(a, g);                                                                     \
    b = kadd(b, g * ((x[q] - mu) * is));                                                \
  }                                                                                     \
  reduce;                                                                               \
  float mg = kval(a) / (float)d, mgx = kval(b) / (float)d;                              \
  for (uint q = l; q < d; q += step)                                                    \
    dx[q] = is * (dy[q] * gamma[q] - mg - (x[q] - mu) * is * mgx)

#define LNG_ARGS                                                                         \
  global const float *x, ulong xo, global const float *dy, ulong dyo,                      \
      global const float *gamma, ulong go, global const float *mean, ulong mo,             \
      global const float *inv, ulong io, global float *dx, ulong dxo, uint rows, uint d

kernel void layernorm_grad(LNG_ARGS)
{
  uint r = get_global_id(0), l = 0;
  if (r >= rows)
    return;
  LNG_ROW(1, (void)0);
}

kernel GROUP void layernorm_grad_wide(LNG_ARGS)
{
  local float s[4 * NWG];
  uint r = get_group_id(0), l = get_local_id(0);
  LNG_ROW(NWG, group_sum2(s, &a, &b));
}

/* Column q: dgamma = sum_r dy xhat, dbeta = sum_r dy */
kernel void layernorm_grad_cols(global const float *x, ulong xo, global const float *dy,
                                ulong dyo, global const float *mean, ulong mo,
                                global const float *inv, ulong io, global float *dgamma,
                                ulong dgo, global float *dbeta, ulong dbo, uint rows, uint d)
{
  uint q = get_global_id(0);
  if (q >= d)
    return;
  ksum sg = kzero(), sb = kzero();
  for (uint r = 0; r < rows; r++) {
    ulong i = (ulong)r * d + q;
    float g = dy[dyo + i];
    sb = kadd(sb, g);
    sg = kadd(sg, g * ((x[xo + i] - mean[mo + r]) * inv[io + r]));
  }
  dgamma[dgo + q] = kval(sg);
  dbeta[dbo + q] = kval(sb);
}
