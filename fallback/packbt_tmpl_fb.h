/* packbt_tmpl_fb.h - packs one sliver of a transposed B, included by gemm_kernel_fb.c once
 * per ISA with PB_NAME and PB_ATTR (target attribute):
 *   dst[p nr + j] = b[j ldb + p] for j < cols, p < kc; 0 for cols <= j < nr.
 * 8 x 8 blocks go through registers (8 row loads, 24 shuffles, 8 row stores) instead of
 * 64 scalar moves with scattered stores. */

PB_ATTR static void PB_NAME(const float *b, size_t ldb, size_t cols, size_t kc, size_t nr,
                            float *dst)
{
  size_t p0 = 0, c8 = cols / 8 * 8;
  for (; p0 + 8 <= kc; p0 += 8)
    for (size_t j0 = 0; j0 < c8; j0 += 8) {
      fb_v8 r[8], t[8], s[8];
      for (int q = 0; q < 8; q++) memcpy(&r[q], b + (j0 + (size_t)q) * ldb + p0, sizeof r[q]);
      for (int q = 0; q < 8; q += 2) {
        t[q] = __builtin_shufflevector(r[q], r[q + 1], 0, 8, 1, 9, 4, 12, 5, 13);
        t[q + 1] = __builtin_shufflevector(r[q], r[q + 1], 2, 10, 3, 11, 6, 14, 7, 15);
      }
      for (int q = 0; q < 8; q += 4)
        for (int h = 0; h < 2; h++) {
          s[q + h * 2] = __builtin_shufflevector(t[q + h], t[q + h + 2], 0, 1, 8, 9, 4, 5, 12, 13);
          s[q + h * 2 + 1] =
              __builtin_shufflevector(t[q + h], t[q + h + 2], 2, 3, 10, 11, 6, 7, 14, 15);
        }
      for (int q = 0; q < 4; q++) {
        fb_v8 lo = __builtin_shufflevector(s[q], s[q + 4], 0, 1, 2, 3, 8, 9, 10, 11);
        fb_v8 hi = __builtin_shufflevector(s[q], s[q + 4], 4, 5, 6, 7, 12, 13, 14, 15);
        memcpy(dst + (p0 + (size_t)q) * nr + j0, &lo, sizeof lo);
        memcpy(dst + (p0 + (size_t)q + 4) * nr + j0, &hi, sizeof hi);
      }
    }
  /* The rest: columns past the last full block of 8 for every p, then the last p rows. */
  for (size_t j = c8; j < nr; j++)
    for (size_t p = 0; p < p0; p++) dst[p * nr + j] = j < cols ? b[j * ldb + p] : 0.0f;
  for (size_t p = p0; p < kc; p++)
    for (size_t j = 0; j < nr; j++) dst[p * nr + j] = j < cols ? b[j * ldb + p] : 0.0f;
}

#undef PB_NAME
#undef PB_ATTR
