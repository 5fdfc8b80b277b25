/* prelude.cl - shared by every kernel family (prepended to each .cl file).
 *
 * Conventions: every tensor argument is a (pointer, element offset) pair; sizes are uint
 * (the host checks they fit); every kernel guards its tail. */

/* Floats per work-item in elementwise kernels: 1, 2, 4, 8 or 16. */
#ifndef VW
#define VW 4
#endif

#define CAT_(a, b) a##b
#define CAT(a, b) CAT_(a, b)

#if VW == 1
typedef float floatv;
typedef int intv;
#define VLOAD(p) (*(p))
#define VSTORE(v, p) (*(p) = (v))
#else
typedef CAT(float, VW) floatv;
typedef CAT(int, VW) intv;
#define VLOAD(p) CAT(vload, VW)(0, p)
#define VSTORE(v, p) CAT(vstore, VW)(v, 0, p)
#endif

/* A constant as floatv. */
#define V(c) ((floatv)(c))

/* p[i .. i+VW) with zeros past n (i < n). */
floatv loadv(global const float *p, uint i, uint n)
{
#if VW > 1
  if (i + VW > n) {
    float t[VW];
    for (uint k = 0; k < VW; k++)
      t[k] = i + k < n ? p[i + k] : 0.0f;
    return VLOAD(t);
  }
#endif
  return VLOAD(p + i);
}

/* p[i .. min(i+VW, n)) = v. */
void storev(floatv v, global float *p, uint i, uint n)
{
#if VW > 1
  if (i + VW > n) {
    float t[VW];
    VSTORE(v, t);
    for (uint k = 0; k < VW && i + k < n; k++)
      p[i + k] = t[k];
    return;
  }
#endif
  VSTORE(v, p + i);
}

/* Compensated (Neumaier) sums, shared by the families that reduce rows (softmax, norm):
 * about double accuracy in float, as the C backend sums in double. A non-finite sum is returned as is. */
typedef struct ksum {
  float s, c;
} ksum;

ksum kzero(void)
{
  ksum k = {0.0f, 0.0f};
  return k;
}

ksum kadd(ksum k, float x)
{
  float t = k.s + x;
  k.c += fabs(k.s) >= fabs(x) ? (k.s - t) + x : (x - t) + k.s;
  k.s = t;
  return k;
}

/* a + b with the rounding error of the sums' sum kept (TwoSum). */
ksum kmerge(ksum a, ksum b)
{
  float t = a.s + b.s, bb = t - a.s;
  a.c += b.c + ((a.s - (t - bb)) + (b.s - bb));
  a.s = t;
  return a;
}

float kval(ksum k) { return isfinite(k.s) ? k.s + k.c : k.s; }
