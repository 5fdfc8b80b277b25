/* ref_optim.c - scalar double references of the toolbox ops, written from ops.def. */
#include <math.h>

#include "ref_optim.h"

int refo_run(int op, double *t[5], size_t n, const double f[8], const int i[4])
{
  switch (op) {
  case NNCL_OP_RMSPROP_UPDATE:
    for (size_t k = 0; k < n; k++) {
      double *w = &t[0][k], g = t[1][k], *s = &t[2][k];
      if (i[1]) *w *= 1 - f[0] * f[3];
      else g += f[3] * *w;
      *s = f[1] * *s + (1 - f[1]) * g * g;
      double var = *s;
      if (i[0]) {
        t[4][k] = f[1] * t[4][k] + (1 - f[1]) * g;
        var -= t[4][k] * t[4][k];
      }
      double step = g / (sqrt(var) + f[2]);
      if (f[4] != 0) step = t[3][k] = f[4] * t[3][k] + step;
      *w -= f[0] * step;
    }
    return 0;
  case NNCL_OP_ADAGRAD_UPDATE:
    for (size_t k = 0; k < n; k++) {
      double *w = &t[0][k], g = t[1][k];
      if (i[0]) *w *= 1 - f[0] * f[2];
      else g += f[2] * *w;
      t[2][k] += g * g;
      *w -= f[0] * g / (sqrt(t[2][k]) + f[1]);
    }
    return 0;
  case NNCL_OP_SUMSQ: {
    double s = 0;
    for (size_t k = 0; k < n; k++) s += t[0][k] * t[0][k];
    t[1][0] = f[1] == 0 ? s : f[1] * t[1][0] + s;
    return 0;
  }
  case NNCL_OP_CLIP_SCALE: {
    double c = f[0] / (sqrt(t[1][0]) + 1e-6);
    if (c < 1)
      for (size_t k = 0; k < n; k++) t[0][k] *= c;
    return 0;
  }
  case NNCL_OP_CLAMP:
    for (size_t k = 0; k < n; k++) t[1][k] = t[0][k] < f[0] ? f[0] : t[0][k] > f[1] ? f[1] : t[0][k];
    return 0;
  case NNCL_OP_NONFINITE:
    for (size_t k = 0; k < n; k++)
      if (!isfinite(t[0][k])) t[1][0] = 1;
    return 0;
  default:
    return -1;
  }
}
