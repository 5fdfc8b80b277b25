/* ref_ops.c - naive double-precision reference of every op in ops.def (the spec, written
 * as plainly as possible: no blocking, no threads, no float). */
#include <math.h>

#include "ref_ops.h"

static void set(ref_tensor *t, size_t len, int role, int i32)
{
  t->len = len;
  t->role = role;
  t->i32 = i32;
}

int ref_layout(int op, const size_t n[4], const float f[8], ref_tensor t[NNCL_ARGS_T])
{
  size_t n0 = n[0], rc = n[0] * n[1];
  for (int i = 0; i < NNCL_ARGS_T; i++) set(&t[i], 0, REF_UNUSED, 0);
  switch (op) {
  case NNCL_OP_FILL: set(&t[0], n0, REF_OUT, 0); break;
  case NNCL_OP_COPY: case NNCL_OP_SCALE:
  case NNCL_OP_RELU: case NNCL_OP_LEAKY_RELU: case NNCL_OP_ELU: case NNCL_OP_GELU:
  case NNCL_OP_SIGMOID: case NNCL_OP_TANH:
    set(&t[0], n0, REF_IN, 0);
    set(&t[1], n0, REF_OUT, 0);
    break;
  case NNCL_OP_ADD:
  case NNCL_OP_RELU_GRAD: case NNCL_OP_LEAKY_RELU_GRAD: case NNCL_OP_ELU_GRAD:
  case NNCL_OP_GELU_GRAD: case NNCL_OP_SIGMOID_GRAD: case NNCL_OP_TANH_GRAD:
    set(&t[0], n0, REF_IN, 0);
    set(&t[1], n0, REF_IN, 0);
    set(&t[2], n0, REF_OUT, 0);
    break;
  case NNCL_OP_MATMUL:
    set(&t[0], n[0] * n[2], REF_IN, 0);
    set(&t[1], n[2] * n[1], REF_IN, 0);
    set(&t[2], n[0] * n[1], f[1] != 0 ? REF_INOUT : REF_OUT, 0);
    break;
  case NNCL_OP_BIAS_ADD:
    set(&t[0], rc, REF_IN, 0);
    set(&t[1], rc, REF_OUT, 0);
    set(&t[2], n[1], REF_IN, 0);
    break;
  case NNCL_OP_SUM_ROWS:
    set(&t[0], rc, REF_IN, 0);
    set(&t[1], n[1], f[1] != 0 ? REF_INOUT : REF_OUT, 0);
    break;
  case NNCL_OP_SOFTMAX:
    set(&t[0], rc, REF_IN, 0);
    set(&t[1], rc, REF_OUT, 0);
    break;
  case NNCL_OP_SOFTMAX_GRAD:
  case NNCL_OP_MSE_GRAD: case NNCL_OP_BCE_GRAD:
    set(&t[0], rc, REF_IN, 0);
    set(&t[1], rc, REF_IN, 0);
    set(&t[2], rc, REF_OUT, 0);
    break;
  case NNCL_OP_SOFTMAX_XENT:
    set(&t[0], rc, REF_IN, 0);
    set(&t[1], n0, REF_IN, 1);
    set(&t[2], rc, REF_OUT, 0);
    set(&t[3], n0, REF_OUT, 0);
    break;
  case NNCL_OP_SOFTMAX_XENT_GRAD:
    set(&t[0], rc, REF_IN, 0);
    set(&t[1], n0, REF_IN, 1);
    set(&t[2], rc, REF_OUT, 0);
    break;
  case NNCL_OP_MSE: case NNCL_OP_BCE:
    set(&t[0], rc, REF_IN, 0);
    set(&t[1], rc, REF_IN, 0);
    set(&t[2], n0, REF_OUT, 0);
    break;
  case NNCL_OP_SUM: case NNCL_OP_MEAN:
    set(&t[0], n0, REF_IN, 0);
    set(&t[1], 1, REF_OUT, 0);
    break;
  case NNCL_OP_ARGMAX:
    set(&t[0], rc, REF_IN, 0);
    set(&t[1], n0, REF_OUT, 1);
    break;
  case NNCL_OP_ACCURACY:
    set(&t[0], rc, REF_IN, 0);
    set(&t[1], n0, REF_IN, 1);
    set(&t[2], 1, REF_OUT, 0);
    break;
  case NNCL_OP_SGD_UPDATE:
    set(&t[0], n0, REF_INOUT, 0);
    set(&t[1], n0, REF_IN, 0);
    if (f[1] != 0) set(&t[2], n0, REF_INOUT, 0);
    break;
  case NNCL_OP_ADAM_UPDATE:
    set(&t[0], n0, REF_INOUT, 0);
    set(&t[1], n0, REF_IN, 0);
    set(&t[2], n0, REF_INOUT, 0);
    set(&t[3], n0, REF_INOUT, 0);
    break;
  default: return -1;
  }
  return 0;
}

static double sigmoid(double x) { return 1.0 / (1.0 + exp(-x)); }

/* y = max_c x / first argmax over a row */
static size_t row_argmax(const double *x, size_t n)
{
  size_t best = 0;
  for (size_t c = 1; c < n; c++)
    if (x[c] > x[best]) best = c;
  return best;
}

/* p[c] = exp(x[c] - max) / sum; returns log-sum-exp */
static double softmax_row(const double *x, double *p, size_t n)
{
  double mx = x[row_argmax(x, n)], s = 0;
  for (size_t c = 0; c < n; c++) s += exp(x[c] - mx);
  for (size_t c = 0; c < n; c++) p[c] = exp(x[c] - mx) / s;
  return mx + log(s);
}

static int labels_ok(const int32_t *l, size_t rows, size_t cols)
{
  for (size_t r = 0; r < rows; r++)
    if (l[r] < 0 || (size_t)l[r] >= cols) return 0;
  return 1;
}

int ref_run(int op, ref_args *a)
{
  double **t = a->d;
  const double *f = a->f;
  const size_t n0 = a->n[0], n1 = a->n[1], rc = n0 * n1;
  switch (op) {
  case NNCL_OP_FILL:
    for (size_t k = 0; k < n0; k++) t[0][k] = f[0];
    break;
  case NNCL_OP_COPY:
    for (size_t k = 0; k < n0; k++) t[1][k] = t[0][k];
    break;
  case NNCL_OP_MATMUL: {
    size_t m = n0, n = n1, kk = a->n[2];
    for (size_t i = 0; i < m; i++)
      for (size_t j = 0; j < n; j++) {
        double s = 0;
        for (size_t p = 0; p < kk; p++) {
          double x = a->i[0] ? t[0][p * m + i] : t[0][i * kk + p];
          double y = a->i[1] ? t[1][j * kk + p] : t[1][p * n + j];
          s += x * y;
        }
        double *c = &t[2][i * n + j];
        *c = f[0] * s + (f[1] != 0 ? f[1] * *c : 0.0);
      }
    break;
  }
  case NNCL_OP_BIAS_ADD:
    for (size_t r = 0; r < n0; r++)
      for (size_t c = 0; c < n1; c++) t[1][r * n1 + c] = t[0][r * n1 + c] + t[2][c];
    break;
  case NNCL_OP_SUM_ROWS:
    for (size_t c = 0; c < n1; c++) {
      double s = 0;
      for (size_t r = 0; r < n0; r++) s += t[0][r * n1 + c];
      t[1][c] = (f[1] != 0 ? f[1] * t[1][c] : 0.0) + s;
    }
    break;
  case NNCL_OP_ADD:
    for (size_t k = 0; k < n0; k++) t[2][k] = t[0][k] + t[1][k];
    break;
  case NNCL_OP_SCALE:
    for (size_t k = 0; k < n0; k++) t[1][k] = f[0] * t[0][k];
    break;
  case NNCL_OP_RELU:
    for (size_t k = 0; k < n0; k++) t[1][k] = t[0][k] > 0 ? t[0][k] : 0.0;
    break;
  case NNCL_OP_RELU_GRAD:
    for (size_t k = 0; k < n0; k++) t[2][k] = t[0][k] > 0 ? t[1][k] : 0.0;
    break;
  case NNCL_OP_LEAKY_RELU:
    for (size_t k = 0; k < n0; k++) t[1][k] = t[0][k] > 0 ? t[0][k] : f[0] * t[0][k];
    break;
  case NNCL_OP_LEAKY_RELU_GRAD:
    for (size_t k = 0; k < n0; k++) t[2][k] = t[1][k] * (t[0][k] > 0 ? 1.0 : f[0]);
    break;
  case NNCL_OP_ELU:
    for (size_t k = 0; k < n0; k++) t[1][k] = t[0][k] > 0 ? t[0][k] : f[0] * (exp(t[0][k]) - 1);
    break;
  case NNCL_OP_ELU_GRAD:
    for (size_t k = 0; k < n0; k++) t[2][k] = t[1][k] * (t[0][k] > 0 ? 1.0 : f[0] * exp(t[0][k]));
    break;
  case NNCL_OP_GELU:
    for (size_t k = 0; k < n0; k++) t[1][k] = 0.5 * t[0][k] * erfc(-t[0][k] / sqrt(2.0));
    break;
  case NNCL_OP_GELU_GRAD:
    for (size_t k = 0; k < n0; k++) {
      double x = t[0][k];
      double cdf = 0.5 * erfc(-x / sqrt(2.0)), pdf = exp(-0.5 * x * x) / sqrt(2.0 * M_PI);
      t[2][k] = t[1][k] * (cdf + x * pdf);
    }
    break;
  case NNCL_OP_SIGMOID:
    for (size_t k = 0; k < n0; k++) t[1][k] = sigmoid(t[0][k]);
    break;
  case NNCL_OP_SIGMOID_GRAD:
    for (size_t k = 0; k < n0; k++) t[2][k] = t[1][k] * t[0][k] * (1 - t[0][k]);
    break;
  case NNCL_OP_TANH:
    for (size_t k = 0; k < n0; k++) t[1][k] = tanh(t[0][k]);
    break;
  case NNCL_OP_TANH_GRAD:
    for (size_t k = 0; k < n0; k++) t[2][k] = t[1][k] * (1 - t[0][k] * t[0][k]);
    break;
  case NNCL_OP_SOFTMAX:
    for (size_t r = 0; r < n0; r++) softmax_row(t[0] + r * n1, t[1] + r * n1, n1);
    break;
  case NNCL_OP_SOFTMAX_GRAD:
    for (size_t r = 0; r < n0; r++) {
      const double *y = t[0] + r * n1, *dy = t[1] + r * n1;
      double s = 0;
      for (size_t c = 0; c < n1; c++) s += dy[c] * y[c];
      for (size_t c = 0; c < n1; c++) t[2][r * n1 + c] = y[c] * (dy[c] - s);
    }
    break;
  case NNCL_OP_SOFTMAX_XENT:
    if (!labels_ok(a->l[1], n0, n1)) return -1;
    for (size_t r = 0; r < n0; r++) {
      double lse = softmax_row(t[0] + r * n1, t[2] + r * n1, n1);
      t[3][r] = lse - t[0][r * n1 + (size_t)a->l[1][r]];
    }
    break;
  case NNCL_OP_SOFTMAX_XENT_GRAD:
    if (!labels_ok(a->l[1], n0, n1)) return -1;
    for (size_t r = 0; r < n0; r++)
      for (size_t c = 0; c < n1; c++)
        t[2][r * n1 + c] = f[0] * (t[0][r * n1 + c] - (c == (size_t)a->l[1][r] ? 1.0 : 0.0));
    break;
  case NNCL_OP_MSE:
    for (size_t r = 0; r < n0; r++) {
      double s = 0;
      for (size_t c = 0; c < n1; c++) {
        double d = t[0][r * n1 + c] - t[1][r * n1 + c];
        s += d * d;
      }
      t[2][r] = s / (double)n1;
    }
    break;
  case NNCL_OP_MSE_GRAD:
    for (size_t k = 0; k < rc; k++) t[2][k] = f[0] * 2 * (t[0][k] - t[1][k]);
    break;
  case NNCL_OP_BCE:
    for (size_t r = 0; r < n0; r++) {
      double s = 0;
      for (size_t c = 0; c < n1; c++) {
        double x = t[0][r * n1 + c], y = t[1][r * n1 + c];
        s += (x > 0 ? x : 0) - x * y + log1p(exp(-fabs(x)));
      }
      t[2][r] = s / (double)n1;
    }
    break;
  case NNCL_OP_BCE_GRAD:
    for (size_t k = 0; k < rc; k++) t[2][k] = f[0] * (sigmoid(t[0][k]) - t[1][k]);
    break;
  case NNCL_OP_SUM:
  case NNCL_OP_MEAN: {
    double s = 0;
    for (size_t k = 0; k < n0; k++) s += t[0][k];
    t[1][0] = op == NNCL_OP_MEAN ? s / (double)n0 : s;
    break;
  }
  case NNCL_OP_ARGMAX:
    for (size_t r = 0; r < n0; r++) a->l[1][r] = (int32_t)row_argmax(t[0] + r * n1, n1);
    break;
  case NNCL_OP_ACCURACY: {
    double hits = 0;
    for (size_t r = 0; r < n0; r++) hits += (int64_t)row_argmax(t[0] + r * n1, n1) == a->l[1][r];
    t[2][0] = hits;
    break;
  }
  case NNCL_OP_SGD_UPDATE:
    for (size_t k = 0; k < n0; k++) {
      double g = t[1][k];
      if (a->i[1])
        t[0][k] *= 1 - f[0] * f[2];
      else
        g += f[2] * t[0][k];
      if (f[1] != 0) {
        t[2][k] = f[1] * t[2][k] + g;
        g = a->i[0] ? g + f[1] * t[2][k] : t[2][k];
      }
      t[0][k] -= f[0] * g;
    }
    break;
  case NNCL_OP_ADAM_UPDATE:
    for (size_t k = 0; k < n0; k++) {
      double g = t[1][k], *w = &t[0][k], *m = &t[2][k], *v = &t[3][k];
      if (a->i[0])
        *w *= 1 - f[0] * f[4];
      else
        g += f[4] * *w;
      *m = f[1] * *m + (1 - f[1]) * g;
      *v = f[2] * *v + (1 - f[2]) * g * g;
      *w -= f[0] * (*m * f[5]) / (sqrt(*v * f[6]) + f[3]);
    }
    break;
  default: return -1;
  }
  return 0;
}
