/* activation.cl - activations and their gradients, elementwise over n floats.
 * Forward: y = f(x). Gradient: dx = dy * f'(.), from x (relu, leaky, elu, gelu) or from
 * y (sigmoid, tanh), as ops.def says. One work-item per VW elements. */

#define UNARY(name, expr)                                                          \
  kernel void name(global const float *x_, ulong xo, global float *y_, ulong yo, uint n, \
                   float alpha)                                                    \
  {                                                                                \
    uint i = get_global_id(0) * VW;                                                \
    if (i >= n)                                                                    \
      return;                                                                      \
    floatv x = loadv(x_ + xo, i, n);                                               \
    storev(expr, y_ + yo, i, n);                                                   \
  }

/* u is x or y (per the op), g = dy */
#define GRAD(name, expr)                                                             \
  kernel void name(global const float *u_, ulong uo, global const float *g_, ulong go,   \
                   global float *d_, ulong dO, uint n, float alpha)                   \
  {                                                                                  \
    uint i = get_global_id(0) * VW;                                                  \
    if (i >= n)                                                                      \
      return;                                                                        \
    floatv u = loadv(u_ + uo, i, n), g = loadv(g_ + go, i, n);                       \
    storev(expr, d_ + dO, i, n);                                                     \
  }

/* 1/sqrt(2) and 1/sqrt(2 pi) */
#define RSQRT2 0.70710678118654752f
#define RSQRT2PI 0.39894228040143268f

/* y = max(0, x); dx = dy [x > 0] */
UNARY(relu, fmax(x, V(0.0f)))
GRAD(relu_grad, select(V(0.0f), g, u > V(0.0f)))
/* y = x > 0 ? x : alpha x; dx = dy (x > 0 ? 1 : alpha) */
UNARY(leaky_relu, select(V(alpha) * x, x, x > V(0.0f)))
GRAD(leaky_relu_grad, select(V(alpha) * g, g, u > V(0.0f)))
/* y = x > 0 ? x : alpha (exp(x) - 1); dx = dy (x > 0 ? 1 : alpha exp(x)) */
UNARY(elu, select(V(alpha) * expm1(x), x, x > V(0.0f)))
GRAD(elu_grad, select(g * V(alpha) * exp(u), g, u > V(0.0f)))
/* y = x Phi(x) = x/2 (1 + erf(x/sqrt2)); dx = dy (Phi(x) + x phi(x)) */
UNARY(gelu, V(0.5f) * x * (V(1.0f) + erf(x * V(RSQRT2))))
GRAD(gelu_grad, g * (V(0.5f) * (V(1.0f) + erf(u * V(RSQRT2))) +
                     u * V(RSQRT2PI) * exp(V(-0.5f) * u * u)))
/* y = 1/(1 + exp(-x)); dx = dy y (1 - y) */
UNARY(sigmoid, V(1.0f) / (V(1.0f) + exp(-x)))
GRAD(sigmoid_grad, g * u * (V(1.0f) - u))
/* y = tanh(x); dx = dy (1 - y^2) */
UNARY(tanh_fwd, tanh(x))
GRAD(tanh_grad, g * (V(1.0f) - u * u))
