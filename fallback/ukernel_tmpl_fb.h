/* ukernel_tmpl_fb.h - body of one GEMM micro-kernel, included by gemm_kernel_fb.c once per
 * ISA with: UK_NAME, UK_ATTR (target attribute), UK_V (vector of UK_VL floats), UK_MR (rows),
 * UK_NV (vectors per row, NR = UK_NV * UK_VL), UK_SPLAT(x), UK_FMA(a, b, c) = a b + c.
 *
 * C[mr x nr] = alpha sum_p Ap[p, 0..MR) (x) Bp[p, 0..NR) + beta C: per p, NV aligned
 * loads of B, MR broadcasts of A and MR * NV FMAs into MR * NV register accumulators. */

UK_ATTR static void UK_NAME(size_t kc, const float *restrict ap, const float *restrict bp,
                            float *restrict c, size_t ldc, float alpha, float beta, size_t mr,
                            size_t nr)
{
  UK_V acc[UK_MR][UK_NV];
#pragma GCC unroll 16
  for (int i = 0; i < UK_MR; i++)
#pragma GCC unroll 4
    for (int j = 0; j < UK_NV; j++) acc[i][j] = UK_SPLAT(0.0f);

#pragma GCC unroll 2
  for (size_t p = 0; p < kc; p++) {
    UK_V b[UK_NV];
#pragma GCC unroll 4
    for (int j = 0; j < UK_NV; j++) b[j] = *(const UK_V *)(bp + j * UK_VL);
#pragma GCC unroll 16
    for (int i = 0; i < UK_MR; i++) {
      UK_V ai = UK_SPLAT(ap[i]);
#pragma GCC unroll 4
      for (int j = 0; j < UK_NV; j++) acc[i][j] = UK_FMA(ai, b[j], acc[i][j]);
    }
    ap += UK_MR;
    bp += UK_NV * UK_VL;
  }

  if (mr == UK_MR && nr == UK_NV * UK_VL) {
#pragma GCC unroll 16
    for (int i = 0; i < UK_MR; i++)
#pragma GCC unroll 4
      for (int j = 0; j < UK_NV; j++) {
        float *cp = c + (size_t)i * ldc + (size_t)j * UK_VL;
        UK_V r = acc[i][j] * alpha;
        if (beta != 0.0f) {
          UK_V old;
          memcpy(&old, cp, sizeof old);
          r += old * beta;
        }
        memcpy(cp, &r, sizeof r);
      }
    return;
  }
  float t[UK_MR][UK_NV * UK_VL];
  memcpy(t, acc, sizeof t);
  for (size_t i = 0; i < mr; i++)
    for (size_t j = 0; j < nr; j++) {
      float *cp = c + i * ldc + j;
      *cp = beta != 0.0f ? alpha * t[i][j] + beta * *cp : alpha * t[i][j];
    }
}

#undef UK_NAME
#undef UK_ATTR
#undef UK_V
#undef UK_VL
#undef UK_MR
#undef UK_NV
#undef UK_SPLAT
#undef UK_FMA
