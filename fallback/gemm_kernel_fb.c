/* gemm_kernel_fb.c - GEMM micro-kernels and transposed-B packers, one per ISA, picked at
 * run time (the build stays portable: no -march). Register tiles: AVX-512 8x32 (16 zmm
 * accumulators), AVX2+FMA 6x16 (12 ymm), generic 4x8 (8 xmm or NEON q registers, no FMA:
 * ISO C mode does not contract a*b+c). One tile peaks at ~115 GFLOP/s per core here. */
#include <string.h>

#include "fb.h"

typedef float fb_v4 __attribute__((vector_size(16)));

#define UK_NAME uk_generic_4x8
#define UK_ATTR
#define UK_V fb_v4
#define UK_VL 4
#define UK_MR 4
#define UK_NV 2
#define UK_SPLAT(x) ((fb_v4){(x), (x), (x), (x)})
#define UK_FMA(a, b, c) ((a) * (b) + (c))
#include "ukernel_tmpl_fb.h"

static const fb_ukernel uk_generic = {"generic", 4, 8, uk_generic_4x8, NULL};

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

typedef float fb_v8 __attribute__((vector_size(32)));
typedef float fb_v16 __attribute__((vector_size(64)));

#define UK_NAME uk_avx2_6x16
#define UK_ATTR __attribute__((target("avx2,fma")))
#define UK_V fb_v8
#define UK_VL 8
#define UK_MR 6
#define UK_NV 2
#define UK_SPLAT(x) ((fb_v8)_mm256_set1_ps(x))
#define UK_FMA(a, b, c) ((fb_v8)_mm256_fmadd_ps((a), (b), (c)))
#include "ukernel_tmpl_fb.h"

#define UK_NAME uk_avx512_8x32
#define UK_ATTR __attribute__((target("avx512f")))
#define UK_V fb_v16
#define UK_VL 16
#define UK_MR 8
#define UK_NV 2
#define UK_SPLAT(x) ((fb_v16)_mm512_set1_ps(x))
#define UK_FMA(a, b, c) ((fb_v16)_mm512_fmadd_ps((a), (b), (c)))
#include "ukernel_tmpl_fb.h"

#if defined(__has_builtin)
#if __has_builtin(__builtin_shufflevector)
#define FB_HAVE_PACKBT 1
#define PB_NAME packbt_avx2
#define PB_ATTR __attribute__((target("avx2")))
#include "packbt_tmpl_fb.h"
#define PB_NAME packbt_avx512
#define PB_ATTR __attribute__((target("avx512f")))
#include "packbt_tmpl_fb.h"
#endif
#endif

#ifdef FB_HAVE_PACKBT
static const fb_ukernel uk_avx2 = {"avx2+fma", 6, 16, uk_avx2_6x16, packbt_avx2};
static const fb_ukernel uk_avx512 = {"avx512f", 8, 32, uk_avx512_8x32, packbt_avx512};
#else
static const fb_ukernel uk_avx2 = {"avx2+fma", 6, 16, uk_avx2_6x16, NULL};
static const fb_ukernel uk_avx512 = {"avx512f", 8, 32, uk_avx512_8x32, NULL};
#endif
#endif

const fb_ukernel *fb_ukernel_runnable(int i)
{
  const fb_ukernel *list[3];
  int n = 0;
#if defined(__x86_64__) && defined(__GNUC__)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f")) list[n++] = &uk_avx512;
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) list[n++] = &uk_avx2;
#endif
  list[n++] = &uk_generic;
  return i >= 0 && i < n ? list[i] : NULL;
}

const fb_ukernel *fb_ukernel_best(void) { return fb_ukernel_runnable(0); }
