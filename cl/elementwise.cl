/* elementwise.cl - fill, copy, add, scale, bias_add. One work-item per VW elements. */

/* y[k] = v */
kernel void fill(global float *y, ulong yo, uint n, float v)
{
  uint i = get_global_id(0) * VW;
  if (i < n)
    storev(V(v), y + yo, i, n);
}

/* y[k] = x[k] */
kernel void copy(global const float *x, ulong xo, global float *y, ulong yo, uint n)
{
  uint i = get_global_id(0) * VW;
  if (i < n)
    storev(loadv(x + xo, i, n), y + yo, i, n);
}

/* y = a + b (in place ok) */
kernel void add(global const float *a, ulong ao, global const float *b, ulong bo,
                global float *y, ulong yo, uint n)
{
  uint i = get_global_id(0) * VW;
  if (i < n)
    storev(loadv(a + ao, i, n) + loadv(b + bo, i, n), y + yo, i, n);
}

/* y = s * x (in place ok) */
kernel void scale(global const float *x, ulong xo, global float *y, ulong yo, uint n, float s)
{
  uint i = get_global_id(0) * VW;
  if (i < n)
    storev(V(s) * loadv(x + xo, i, n), y + yo, i, n);
}

/* y[r,c] = x[r,c] + bias[c] over rows x cols, flattened (in place ok) */
kernel void bias_add(global const float *x, ulong xo, global const float *bias, ulong bo,
                     global float *y, ulong yo, uint rows, uint cols)
{
  uint n = rows * cols, i = get_global_id(0) * VW;
  if (i >= n)
    return;
  bias += bo;
  float t[VW];
  uint c = i % cols;
  for (uint k = 0; k < VW; k++) {
    t[k] = bias[c];
    c = c + 1 == cols ? 0 : c + 1;
  }
  storev(loadv(x + xo, i, n) + VLOAD(t), y + yo, i, n);
}
