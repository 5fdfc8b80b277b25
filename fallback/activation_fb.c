/* activation_fb.c - activations and their gradients, elementwise over n0.
 * Forward: t0 = x, t1 = y. Gradient: t0 = x (or y where noted), t1 = dy, t2 = dx. */
#include <math.h>

#include "fb.h"

#define FB_SQRT1_2 0.70710678118654752440f  /* 1/sqrt(2) */
#define FB_INV_SQRT_2PI 0.39894228040143267794f  /* 1/sqrt(2 pi) */

typedef struct act_job {
  const float *x, *dy;
  float *out;
  float f;
} act_job;

typedef void (*act_range_fn)(void *p, size_t lo, size_t hi);

/* Checks the refs (2 for a forward, 3 for a gradient) and runs fn over n0 elements. */
static int act_run(nncl_backend *be, const nncl_args *a, int grad, size_t grain, act_range_fn fn,
                   const char *name)
{
  size_t n = a->n[0];
  const float *x, *dy = NULL;
  float *out;
  if (!(x = fb_ptr(be, a, 0, n, name))) return NNCL_EINVAL;
  if (grad && !(dy = fb_ptr(be, a, 1, n, name))) return NNCL_EINVAL;
  if (!(out = fb_ptr(be, a, grad ? 2 : 1, n, name))) return NNCL_EINVAL;
  act_job j = {x, dy, out, a->f[0]};
  fb_parallel(fb_of(be), n, grain, 16, fn, &j);
  return 0;
}

/* out[k] = expr(x = t0[k]) and, for a gradient, expr(x = t0[k], dy = t1[k]). No restrict:
 * GCC's run-time overlap test still vectorizes exact in-place use. */
#define ACT_FWD(name, expr)                                \
  static void name##_range(void *p, size_t lo, size_t hi)  \
  {                                                        \
    const act_job *j = p;                                  \
    const float *xs = j->x;                                \
    float *out = j->out;                                   \
    const float f = j->f;                                  \
    (void)f;                                               \
    for (size_t k = lo; k < hi; k++) {                     \
      const float x = xs[k];                               \
      out[k] = (expr);                                     \
    }                                                      \
  }
#define ACT_GRAD(name, expr)                               \
  static void name##_range(void *p, size_t lo, size_t hi)  \
  {                                                        \
    const act_job *j = p;                                  \
    const float *xs = j->x, *dys = j->dy;                  \
    float *out = j->out;                                   \
    const float f = j->f;                                  \
    (void)f;                                               \
    for (size_t k = lo; k < hi; k++) {                     \
      const float x = xs[k], dy = dys[k];                  \
      out[k] = (expr);                                     \
    }                                                      \
  }

static inline float sigmoidf(float x)
{
  if (x >= 0) return 1.0f / (1.0f + expf(-x));
  float e = expf(x);
  return e / (1.0f + e);
}

/* y = max(0,x); dx = dy * [x > 0] */
ACT_FWD(relu, x > 0 ? x : 0.0f)
ACT_GRAD(relu_grad, x > 0 ? dy : 0.0f)
/* y = x > 0 ? x : a x; dx = dy * (x > 0 ? 1 : a) */
ACT_FWD(leaky_relu, x > 0 ? x : f * x)
ACT_GRAD(leaky_relu_grad, x > 0 ? dy : dy * f)
/* y = x > 0 ? x : a (exp(x) - 1); dx = dy * (x > 0 ? 1 : a exp(x)) */
ACT_FWD(elu, x > 0 ? x : f * expm1f(x))
ACT_GRAD(elu_grad, x > 0 ? dy : dy * (f * expf(x)))
/* y = x Phi(x), Phi(x) = erfc(-x/sqrt2)/2 (exact for x << 0, unlike 1 + erf);
 * dx = dy (Phi(x) + x phi(x)) */
ACT_FWD(gelu, 0.5f * x * erfcf(-x * FB_SQRT1_2))
ACT_GRAD(gelu_grad,
          dy * (0.5f * erfcf(-x * FB_SQRT1_2) + x * FB_INV_SQRT_2PI * expf(-0.5f * x * x)))
/* y = 1/(1+exp(-x)); dx = dy y (1-y), x holds y */
ACT_FWD(sigmoid, sigmoidf(x))
ACT_GRAD(sigmoid_grad, dy * x * (1.0f - x))
/* y = tanh(x); dx = dy (1 - y^2), x holds y */
ACT_FWD(tanh, tanhf(x))
ACT_GRAD(tanh_grad, dy * (1.0f - x * x))

#define ACT_OP(name, grad, grain) \
  int fb_##name(nncl_backend *be, const nncl_args *a) \
  { return act_run(be, a, grad, grain, name##_range, "fb_" #name); }

ACT_OP(relu, 0, FB_GRAIN_MEM)
ACT_OP(relu_grad, 1, FB_GRAIN_MEM)
ACT_OP(leaky_relu, 0, FB_GRAIN_MEM)
ACT_OP(leaky_relu_grad, 1, FB_GRAIN_MEM)
ACT_OP(elu, 0, FB_GRAIN_MATH)
ACT_OP(elu_grad, 1, FB_GRAIN_MATH)
ACT_OP(gelu, 0, FB_GRAIN_MATH)
ACT_OP(gelu_grad, 1, FB_GRAIN_MATH)
ACT_OP(sigmoid, 0, FB_GRAIN_MATH)
ACT_OP(sigmoid_grad, 1, FB_GRAIN_MEM)
ACT_OP(tanh, 0, FB_GRAIN_MATH)
ACT_OP(tanh_grad, 1, FB_GRAIN_MEM)
