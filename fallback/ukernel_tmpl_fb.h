/* ukernel_tmpl_fb.h - body of one GEMM micro-kernel, included by gemm_kernel_fb.c once per
 * ISA with: UK_NAME, UK_ATTR (target attribute), UK_V (vector of UK_VL floats), UK_MR (rows),
 * UK_NV (vectors per row, NR = UK_NV * UK_VL), UK_SPLAT(x), UK_FMA(a, b, c) = a b + c.
 *
 * C[mr x nr] = alpha sum_p A[0..MR, p] (x) B[p, 0..NR) + beta C, A(i,p) = a[i rsa + p csa],
 * B row p at b + p rsb: per p, NV loads of B, MR broadcasts of A and MR * NV FMAs into
 * MR * NV register accumulators. Rows i >= mr read row mr-1 (in bounds) and are dropped;
 * B rows always hold NR readable floats. Edge tiles run a copy specialised for fewer rows
 * (4, 2, 1) or one vector per row, so a 10-wide or 2-high tile does not pay for 8x32. */

#define UK_CAT2(a, b) a##b
#define UK_CAT(a, b) UK_CAT2(a, b)
#define UK_BODY UK_CAT(UK_NAME, _body)

UK_ATTR static inline __attribute__((always_inline)) void
UK_BODY(const int MR, const int NV, size_t kc, const float *a, size_t rsa, size_t csa,
        const float *b, size_t rsb, float *c, size_t ldc, float alpha, float beta, size_t mr,
        size_t nr)
{
  const float *ar[UK_MR];
  UK_V acc[UK_MR][UK_NV];
#pragma GCC unroll 16
  for (int i = 0; i < MR; i++) {
    size_t row = (size_t)i < mr ? (size_t)i : mr - 1;
    ar[i] = a + row * rsa;
    __builtin_prefetch(c + row * ldc);
    __builtin_prefetch(c + row * ldc + nr - 1);
#pragma GCC unroll 4
    for (int j = 0; j < NV; j++) acc[i][j] = UK_SPLAT(0.0f);
  }

  size_t off = 0;
#pragma GCC unroll 2
  for (size_t p = 0; p < kc; p++) {
    UK_V bv[UK_NV];
#pragma GCC unroll 4
    for (int j = 0; j < NV; j++) memcpy(&bv[j], b + j * UK_VL, sizeof bv[j]);
#pragma GCC unroll 16
    for (int i = 0; i < MR; i++) {
      UK_V ai = UK_SPLAT(ar[i][off]);
#pragma GCC unroll 4
      for (int j = 0; j < NV; j++) acc[i][j] = UK_FMA(ai, bv[j], acc[i][j]);
    }
    off += csa;
    b += rsb;
  }

  if (mr == (size_t)MR && nr == (size_t)(NV * UK_VL)) {
#pragma GCC unroll 16
    for (int i = 0; i < MR; i++)
#pragma GCC unroll 4
      for (int j = 0; j < NV; j++) {
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
  if (nr == (size_t)(NV * UK_VL)) { /* fewer rows, full width (OC 6 of 8): vector stores */
#pragma GCC unroll 16
    for (int i = 0; i < MR; i++) {
      if ((size_t)i >= mr) break;
#pragma GCC unroll 4
      for (int j = 0; j < NV; j++) {
        float *cp = c + (size_t)i * ldc + (size_t)j * UK_VL;
        UK_V r = acc[i][j] * alpha;
        if (beta != 0.0f) {
          UK_V old;
          memcpy(&old, cp, sizeof old);
          r += old * beta;
        }
        memcpy(cp, &r, sizeof r);
      }
    }
    return;
  }
  float t[UK_MR][UK_NV * UK_VL];
#pragma GCC unroll 16
  for (int i = 0; i < MR; i++)
#pragma GCC unroll 4
    for (int j = 0; j < NV; j++) memcpy(&t[i][j * UK_VL], &acc[i][j], sizeof acc[i][j]);
  for (size_t i = 0; i < mr; i++)
    for (size_t j = 0; j < nr; j++) {
      float *cp = c + i * ldc + j;
      *cp = beta != 0.0f ? alpha * t[i][j] + beta * *cp : alpha * t[i][j];
    }
}

UK_ATTR static void UK_NAME(size_t kc, const float *a, size_t rsa, size_t csa, const float *b,
                            size_t rsb, float *c, size_t ldc, float alpha, float beta, size_t mr,
                            size_t nr)
{
#define UK_CALL(MR, NV) UK_BODY(MR, NV, kc, a, rsa, csa, b, rsb, c, ldc, alpha, beta, mr, nr)
  if (nr > UK_VL * (UK_NV - 1) || UK_NV == 1) {
    if (mr > UK_MR / 2) UK_CALL(UK_MR, UK_NV);
    else if (mr > UK_MR / 4) UK_CALL(UK_MR / 2, UK_NV);
    else if (mr > 1) UK_CALL(UK_MR / 4 > 1 ? UK_MR / 4 : 1, UK_NV);
    else UK_CALL(1, UK_NV);
  } else {
    if (mr > UK_MR / 2) UK_CALL(UK_MR, UK_NV - 1);
    else if (mr > UK_MR / 4) UK_CALL(UK_MR / 2, UK_NV - 1);
    else if (mr > 1) UK_CALL(UK_MR / 4 > 1 ? UK_MR / 4 : 1, UK_NV - 1);
    else UK_CALL(1, UK_NV - 1);
  }
#undef UK_CALL
}

#undef UK_BODY
#undef UK_CAT
#undef UK_CAT2
#undef UK_NAME
#undef UK_ATTR
#undef UK_V
#undef UK_VL
#undef UK_MR
#undef UK_NV
#undef UK_SPLAT
#undef UK_FMA
