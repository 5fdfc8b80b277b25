/* focal.cl - softmax focal loss with class weights (ops.def FOCAL, FOCAL_GRAD): one
 * work-item per row. l = x[y] - lse(x), p = exp(l), q = 1 - p. */

/* l of row x (cols values); *m the max and *s sum exp(x - m). NaN for a bad label. */
float focal_logp(global const float *x, uint cols, int y, float *m, float *s)
{
  float mx = -INFINITY;
  for (uint c = 0; c < cols; c++)
    mx = fmax(mx, x[c]);
  float sum = 0.0f;
  for (uint c = 0; c < cols; c++)
    sum += exp(x[c] - mx);
  *m = mx;
  *s = sum;
  return y >= 0 && (uint)y < cols ? x[y] - mx - log(*s) : NAN;
}

/* loss_r = -w[y] q^gamma l */
kernel void focal(global const float *x, ulong xo, global const int *label, ulong lo,
                  global const float *w, ulong wo, global float *loss, ulong so, uint rows,
                  uint cols, float gamma)
{
  uint r = get_global_id(0);
  if (r >= rows)
    return;
  int y = label[lo + r];
  float m, s;
  float l = focal_logp(x + xo + (ulong)r * cols, cols, y, &m, &s);
  if (isnan(l)) {
    loss[so + r] = NAN;
    return;
  }
  float q = -expm1(l);
  loss[so + r] = -w[wo + y] * pow(q, gamma) * l;
}

/* dx_c = scale w[y] k (p_c - [c == y]), k = q^gamma - gamma q^(gamma-1) p l */
kernel void focal_grad(global const float *x, ulong xo, global const int *label, ulong lo,
                       global const float *w, ulong wo, global float *dx, ulong dxo, uint rows,
                       uint cols, float gamma, float scale)
{
  uint r = get_global_id(0);
  if (r >= rows)
    return;
  x += xo + (ulong)r * cols;
  dx += dxo + (ulong)r * cols;
  int y = label[lo + r];
  float m, s;
  float l = focal_logp(x, cols, y, &m, &s);
  if (isnan(l)) {
    for (uint c = 0; c < cols; c++)
      dx[c] = NAN;
    return;
  }
  float pt = exp(l), q = -expm1(l);
  float k = pow(q, gamma) - (gamma > 0.0f && q > 0.0f ? gamma * pow(q, gamma - 1.0f) * pt * l : 0.0f);
  float f = scale * w[wo + y] * k;
  for (uint c = 0; c < cols; c++)
    dx[c] = f * (exp(x[c] - m) / s - (c == (uint)y ? 1.0f : 0.0f));
}
