/* ref_vision.c - naive double-precision reference of the vision ops (the spec of ops.def
 * written as plainly as possible: no blocking, no threads, no float). */
#include <math.h>

#include "ref_vision.h"

static void set(ref_tensor *t, size_t len, int role, int i32)
{
  t->len = len;
  t->role = role;
  t->i32 = i32;
}

/* Channels per image of an im2col/col2im view. */
static size_t img_ch(const size_t n[8]) { return n[6] ? n[6] : n[1]; }

/* Elements the (N, C of CX, H, W) view spans. */
static size_t img_span(const size_t n[8])
{
  return n[0] && n[1] ? ((n[0] - 1) * img_ch(n) + n[1]) * n[2] * n[3] : 0;
}

static size_t strided_span(size_t rows, size_t cols, size_t ld)
{
  return rows && cols ? (rows - 1) * ld + cols : 0;
}

int refv_layout(int op, const size_t n[8], const int i[8], const float f[8], int has_t6,
                ref_tensor t[NNCL_ARGS_T])
{
  size_t ncp = n[0] * n[1] * n[2];
  for (int k = 0; k < NNCL_ARGS_T; k++) set(&t[k], 0, REF_UNUSED, 0);
  switch (op) {
  case NNCL_OP_IM2COL: case NNCL_OP_COL2IM: {
    size_t col = n[1] * (size_t)i[0] * (size_t)i[1] * n[0] * n[4] * n[5];
    int fwd = op == NNCL_OP_IM2COL;
    set(&t[0], fwd ? img_span(n) : col, REF_IN, 0);
    set(&t[1], fwd ? col : img_span(n), fwd ? REF_OUT : REF_INOUT, 0);
    break;
  }
  case NNCL_OP_CONV2D: case NNCL_OP_CONV2D_GRAD_X: case NNCL_OP_CONV2D_GRAD_W: {
    /* n6 OC; has_t6: conv2d's bias t3 is given */
    size_t nx = n[0] * n[1] * n[2] * n[3], ny = n[0] * n[6] * n[4] * n[5];
    size_t nw = n[6] * n[1] * (size_t)i[0] * (size_t)i[1];
    if (op == NNCL_OP_CONV2D) {
      set(&t[0], nx, REF_IN, 0);
      set(&t[1], nw, REF_IN, 0);
      set(&t[2], ny, REF_OUT, 0);
      if (has_t6) set(&t[3], n[6], REF_IN, 0);
    } else if (op == NNCL_OP_CONV2D_GRAD_X) {
      set(&t[0], ny, REF_IN, 0);
      set(&t[1], nw, REF_IN, 0);
      set(&t[2], nx, REF_OUT, 0);
    } else {
      set(&t[0], nx, REF_IN, 0);
      set(&t[1], ny, REF_IN, 0);
      set(&t[2], nw, REF_OUT, 0);
    }
    break;
  }
  case NNCL_OP_TRANSPOSE_AB:
    set(&t[0], ncp, REF_IN, 0);
    set(&t[1], ncp, REF_OUT, 0);
    break;
  case NNCL_OP_CH_BIAS_ADD:
    set(&t[0], ncp, REF_IN, 0);
    set(&t[1], ncp, REF_OUT, 0);
    set(&t[2], n[1], REF_IN, 0);
    break;
  case NNCL_OP_CH_SUM:
    set(&t[0], ncp, REF_IN, 0);
    set(&t[1], n[1], f[1] != 0 ? REF_INOUT : REF_OUT, 0);
    break;
  case NNCL_OP_MAXPOOL2D:
    set(&t[0], n[0] * n[1] * n[2], REF_IN, 0);
    set(&t[1], n[0] * n[3] * n[4], REF_OUT, 0);
    set(&t[2], n[0] * n[3] * n[4], REF_OUT, 1);
    break;
  case NNCL_OP_MAXPOOL2D_GRAD:
    set(&t[0], n[0] * n[3] * n[4], REF_IN, 1);
    set(&t[1], n[0] * n[3] * n[4], REF_IN, 0);
    set(&t[2], n[0] * n[1] * n[2], REF_OUT, 0);
    break;
  case NNCL_OP_AVGPOOL2D:
    set(&t[0], n[0] * n[1] * n[2], REF_IN, 0);
    set(&t[1], n[0] * n[3] * n[4], REF_OUT, 0);
    break;
  case NNCL_OP_AVGPOOL2D_GRAD:
    set(&t[0], n[0] * n[3] * n[4], REF_IN, 0);
    set(&t[1], n[0] * n[1] * n[2], REF_OUT, 0);
    break;
  case NNCL_OP_BATCHNORM: {
    int stat = i[0] ? REF_OUT : REF_IN;
    set(&t[0], ncp, REF_IN, 0);
    set(&t[1], ncp, REF_OUT, 0);
    for (int k = 2; k < 4; k++) set(&t[k], n[1], REF_IN, 0);
    for (int k = 4; k < 6; k++) set(&t[k], n[1], stat, 0);
    if (i[0] && has_t6) set(&t[6], n[1], REF_OUT, 0);
    break;
  }
  case NNCL_OP_BATCHNORM_GRAD:
    set(&t[0], ncp, REF_IN, 0);
    set(&t[1], ncp, REF_IN, 0);
    for (int k = 2; k < 5; k++) set(&t[k], n[1], REF_IN, 0);
    set(&t[5], ncp, REF_OUT, 0);
    set(&t[6], n[1], REF_OUT, 0);
    set(&t[7], n[1], REF_OUT, 0);
    break;
  case NNCL_OP_RUNNING_UPDATE:
    set(&t[0], n[0], REF_INOUT, 0);
    set(&t[1], n[0], REF_IN, 0);
    break;
  case NNCL_OP_LAYERNORM:
    set(&t[0], n[0] * n[1], REF_IN, 0);
    set(&t[1], n[0] * n[1], REF_OUT, 0);
    set(&t[2], n[1], REF_IN, 0);
    set(&t[3], n[1], REF_IN, 0);
    set(&t[4], n[0], REF_OUT, 0);
    set(&t[5], n[0], REF_OUT, 0);
    break;
  case NNCL_OP_LAYERNORM_GRAD:
    set(&t[0], n[0] * n[1], REF_IN, 0);
    set(&t[1], n[0] * n[1], REF_IN, 0);
    set(&t[2], n[1], REF_IN, 0);
    set(&t[3], n[0], REF_IN, 0);
    set(&t[4], n[0], REF_IN, 0);
    set(&t[5], n[0] * n[1], REF_OUT, 0);
    set(&t[6], n[1], REF_OUT, 0);
    set(&t[7], n[1], REF_OUT, 0);
    break;
  case NNCL_OP_DROPOUT: case NNCL_OP_DROPOUT_GRAD:
    set(&t[0], n[0], REF_IN, 0);
    set(&t[1], n[0], REF_OUT, 0);
    break;
  case NNCL_OP_COPY2D:
    set(&t[0], strided_span(n[0], n[1], n[2]), REF_IN, 0);
    set(&t[1], strided_span(n[0], n[1], n[3]), REF_INOUT, 0);
    break;
  default: return -1;
  }
  return 0;
}

/* ---- convolution -------------------------------------------------------------------- */

/* Visits every (col entry, x entry) pair that im2col copies; fwd: col = x, else dx += col. */
static void conv_pairs(refv_args *a, int fwd)
{
  const size_t *n = a->n;
  const int *i = a->i;
  size_t N = n[0], C = n[1], H = n[2], W = n[3], OH = n[4], OW = n[5], CX = img_ch(n);
  long KH = i[0], KW = i[1];
  double *col = fwd ? a->d[1] : a->d[0], *x = fwd ? a->d[0] : a->d[1];
  if (!fwd)
    for (size_t b = 0; b < N; b++)
      for (size_t k = 0; k < C * H * W; k++) x[(b * CX) * H * W + k] = 0;
  for (size_t c = 0; c < C; c++)
    for (long ki = 0; ki < KH; ki++)
      for (long kj = 0; kj < KW; kj++)
        for (size_t b = 0; b < N; b++)
          for (size_t oh = 0; oh < OH; oh++)
            for (size_t ow = 0; ow < OW; ow++) {
              size_t row = (c * (size_t)KH + (size_t)ki) * (size_t)KW + (size_t)kj;
              double *cv = &col[row * N * OH * OW + (b * OH + oh) * OW + ow];
              long ih = (long)oh * i[2] - i[4] + ki * i[6], iw = (long)ow * i[3] - i[5] + kj * i[7];
              int in = ih >= 0 && ih < (long)H && iw >= 0 && iw < (long)W;
              double *xv = in ? &x[((b * CX + c) * H + (size_t)ih) * W + (size_t)iw] : NULL;
              if (fwd) *cv = in ? *xv : 0.0;
              else if (in) *xv += *cv;
            }
}

/* Visits every term w[o,c,ki,kj] x[b,c,ih,iw] of y[b,o,oh,ow] (x inside the image):
 * conv2d: y += w x; grad_x: dx += w dy; grad_w: dw += dy x. Outputs start at 0 (+ bias). */
static void direct_conv(refv_args *a, int op)
{
  const size_t *n = a->n;
  const int *i = a->i;
  size_t N = n[0], C = n[1], H = n[2], W = n[3], OH = n[4], OW = n[5], OC = n[6];
  size_t KH = (size_t)i[0], KW = (size_t)i[1];
  double *x = op == NNCL_OP_CONV2D_GRAD_X ? a->d[2] : a->d[0];
  double *w = op == NNCL_OP_CONV2D_GRAD_W ? a->d[2] : a->d[1];
  double *y = op == NNCL_OP_CONV2D ? a->d[2] : op == NNCL_OP_CONV2D_GRAD_X ? a->d[0] : a->d[1];
  double *out = a->d[2];
  size_t nout = op == NNCL_OP_CONV2D ? N * OC * OH * OW : op == NNCL_OP_CONV2D_GRAD_X ? N * C * H * W : OC * C * KH * KW;
  for (size_t k = 0; k < nout; k++) out[k] = op == NNCL_OP_CONV2D && a->d[3] ? a->d[3][k / (OH * OW) % OC] : 0.0;
  for (size_t b = 0; b < N; b++)
    for (size_t o = 0; o < OC; o++)
      for (size_t oh = 0; oh < OH; oh++)
        for (size_t ow = 0; ow < OW; ow++)
          for (size_t c = 0; c < C; c++)
            for (size_t ki = 0; ki < KH; ki++)
              for (size_t kj = 0; kj < KW; kj++) {
                long ih = (long)oh * i[2] - i[4] + (long)ki * i[6], iw = (long)ow * i[3] - i[5] + (long)kj * i[7];
                if (ih < 0 || ih >= (long)H || iw < 0 || iw >= (long)W) continue;
                double *xv = &x[((b * C + c) * H + (size_t)ih) * W + (size_t)iw];
                double *wv = &w[((o * C + c) * KH + ki) * KW + kj];
                double *yv = &y[((b * OC + o) * OH + oh) * OW + ow];
                if (op == NNCL_OP_CONV2D) *yv += *wv * *xv;
                else if (op == NNCL_OP_CONV2D_GRAD_X) *xv += *wv * *yv;
                else *wv += *yv * *xv;
              }
}

/* ---- pooling ------------------------------------------------------------------------ */

/* Window (oh, ow) clipped to the input: [h0, h1) x [w0, w1); returns its divisor. */
static double pool_window(const refv_args *a, long oh, long ow, long *h0, long *h1, long *w0,
                          long *w1)
{
  long H = (long)a->n[1], W = (long)a->n[2];
  const int *i = a->i;
  long hs = oh * i[2] - i[4], ws = ow * i[3] - i[5];
  *h0 = hs < 0 ? 0 : hs;
  *h1 = hs + i[0] < H ? hs + i[0] : H;
  *w0 = ws < 0 ? 0 : ws;
  *w1 = ws + i[1] < W ? ws + i[1] : W;
  if (!i[6]) return (double)((*h1 - *h0) * (*w1 - *w0));
  long he = hs + i[0] < H + i[4] ? hs + i[0] : H + i[4];
  long we = ws + i[1] < W + i[5] ? ws + i[1] : W + i[5];
  return (double)((he - hs) * (we - ws));
}

static void pool(refv_args *a, int op)
{
  size_t P = a->n[0], H = a->n[1], W = a->n[2], OH = a->n[3], OW = a->n[4];
  int fwd = op == NNCL_OP_MAXPOOL2D || op == NNCL_OP_AVGPOOL2D;
  double *dx = op == NNCL_OP_MAXPOOL2D_GRAD ? a->d[2] : a->d[1];
  if (!fwd)
    for (size_t k = 0; k < P * H * W; k++) dx[k] = 0;
  for (size_t p = 0; p < P; p++)
    for (long oh = 0; oh < (long)OH; oh++)
      for (long ow = 0; ow < (long)OW; ow++) {
        long h0, h1, w0, w1;
        double div = pool_window(a, oh, ow, &h0, &h1, &w0, &w1);
        size_t o = (p * OH + (size_t)oh) * OW + (size_t)ow;
        const double *x = a->d[0] + p * H * W;
        double *xg = dx + p * H * W;
        int empty = h0 >= h1 || w0 >= w1;
        if (op == NNCL_OP_MAXPOOL2D) {
          double m = -INFINITY;
          long best = empty ? -1 : h0 * (long)W + w0;
          for (long h = h0; h < h1; h++)
            for (long w = w0; w < w1; w++)
              if (x[h * (long)W + w] > m || isnan(x[h * (long)W + w])) {
                m = x[h * (long)W + w];
                best = h * (long)W + w;
              }
          a->d[1][o] = m;
          a->l[2][o] = (int32_t)best;
        } else if (op == NNCL_OP_MAXPOOL2D_GRAD) {
          int32_t at = a->l[0][o];
          if (at >= 0) xg[at] += a->d[1][o];
        } else if (op == NNCL_OP_AVGPOOL2D) {
          double s = 0;
          for (long h = h0; h < h1; h++)
            for (long w = w0; w < w1; w++) s += x[h * (long)W + w];
          a->d[1][o] = empty ? 0.0 : s / div;
        } else if (!empty) {
          for (long h = h0; h < h1; h++)
            for (long w = w0; w < w1; w++) xg[h * (long)W + w] += a->d[0][o] / div;
        }
      }
}

/* ---- normalization ------------------------------------------------------------------ */

/* Mean and biased variance of channel c of (N, C, P). */
static void bn_stats(const refv_args *a, const double *x, size_t c, double *mean, double *var)
{
  size_t N = a->n[0], C = a->n[1], P = a->n[2];
  double s = 0, v = 0, m = (double)(N * P);
  for (size_t b = 0; b < N; b++)
    for (size_t p = 0; p < P; p++) s += x[(b * C + c) * P + p];
  *mean = s / m;
  for (size_t b = 0; b < N; b++)
    for (size_t p = 0; p < P; p++) {
      double d = x[(b * C + c) * P + p] - *mean;
      v += d * d;
    }
  *var = v / m;
}

static void batchnorm(refv_args *a)
{
  size_t N = a->n[0], C = a->n[1], P = a->n[2];
  double **t = a->d, eps = a->f[0];
  for (size_t c = 0; c < C; c++) {
    double mean, var, inv;
    if (a->i[0]) {
      bn_stats(a, t[0], c, &mean, &var);
      inv = 1 / sqrt(var + eps);
      t[4][c] = mean;
      t[5][c] = inv;
      if (a->has_t6) t[6][c] = var;
    } else {
      mean = t[4][c];
      inv = 1 / sqrt(t[5][c] + eps);
    }
    for (size_t b = 0; b < N; b++)
      for (size_t p = 0; p < P; p++) {
        size_t k = (b * C + c) * P + p;
        t[1][k] = (t[0][k] - mean) * inv * t[2][c] + t[3][c];
      }
  }
}

static void batchnorm_grad(refv_args *a)
{
  size_t N = a->n[0], C = a->n[1], P = a->n[2];
  double **t = a->d, M = (double)(N * P);
  for (size_t c = 0; c < C; c++) {
    double db = 0, dg = 0, mean = t[3][c], inv = t[4][c];
    for (size_t b = 0; b < N; b++)
      for (size_t p = 0; p < P; p++) {
        size_t k = (b * C + c) * P + p;
        db += t[1][k];
        dg += t[1][k] * (t[0][k] - mean) * inv;
      }
    t[6][c] = dg;
    t[7][c] = db;
    for (size_t b = 0; b < N; b++)
      for (size_t p = 0; p < P; p++) {
        size_t k = (b * C + c) * P + p;
        double xh = (t[0][k] - mean) * inv;
        t[5][k] = t[2][c] * inv / M * (M * t[1][k] - db - xh * dg);
      }
  }
}

static void layernorm(refv_args *a)
{
  size_t R = a->n[0], D = a->n[1];
  double **t = a->d;
  for (size_t r = 0; r < R; r++) {
    const double *x = t[0] + r * D;
    double s = 0, v = 0;
    for (size_t d = 0; d < D; d++) s += x[d];
    double mean = s / (double)D;
    for (size_t d = 0; d < D; d++) v += (x[d] - mean) * (x[d] - mean);
    double inv = 1 / sqrt(v / (double)D + a->f[0]);
    t[4][r] = mean;
    t[5][r] = inv;
    for (size_t d = 0; d < D; d++) t[1][r * D + d] = (x[d] - mean) * inv * t[2][d] + t[3][d];
  }
}

static void layernorm_grad(refv_args *a)
{
  size_t R = a->n[0], D = a->n[1];
  double **t = a->d;
  for (size_t d = 0; d < D; d++) t[6][d] = t[7][d] = 0;
  for (size_t r = 0; r < R; r++) {
    const double *x = t[0] + r * D, *dy = t[1] + r * D;
    double mean = t[3][r], inv = t[4][r], sg = 0, sgx = 0;
    for (size_t d = 0; d < D; d++) {
      double xh = (x[d] - mean) * inv, g = dy[d] * t[2][d];
      sg += g;
      sgx += g * xh;
      t[6][d] += dy[d] * xh;
      t[7][d] += dy[d];
    }
    for (size_t d = 0; d < D; d++) {
      double xh = (x[d] - mean) * inv;
      t[5][r * D + d] = inv * (dy[d] * t[2][d] - sg / (double)D - xh * sgx / (double)D);
    }
  }
}

/* ---- dropout ------------------------------------------------------------------------ */

static uint32_t lowbias32(uint32_t x)
{
  x ^= x >> 16;
  x *= 0x7feb352du;
  x ^= x >> 15;
  x *= 0x846ca68bu;
  x ^= x >> 16;
  return x;
}

uint32_t refv_dropout_hash(uint32_t seed_lo, uint32_t seed_hi, uint32_t stream, uint64_t step,
                           uint64_t k)
{
  uint32_t key = lowbias32(seed_lo);
  key = lowbias32(key ^ seed_hi);
  key = lowbias32(key ^ stream);
  key = lowbias32(key ^ (uint32_t)step);
  key = lowbias32(key ^ (uint32_t)(step >> 32));
  return lowbias32((lowbias32(key ^ (uint32_t)k) ^ (uint32_t)(k >> 32)) + 0x9e3779b9u);
}

static void dropout(refv_args *a)
{
  double p = a->f[0];
  for (size_t k = 0; k < a->n[0]; k++) {
    uint32_t h = refv_dropout_hash((uint32_t)a->i[0], (uint32_t)a->i[1], (uint32_t)a->i[2], a->n[1], k);
    int keep = (double)h >= p * 4294967296.0;
    a->d[1][k] = keep ? a->d[0][k] * (double)(float)(1.0 / (1.0 - p)) : 0.0;
  }
}

int refv_run(int op, refv_args *a)
{
  double **t = a->d;
  const size_t *n = a->n;
  switch (op) {
  case NNCL_OP_IM2COL: conv_pairs(a, 1); break;
  case NNCL_OP_COL2IM: conv_pairs(a, 0); break;
  case NNCL_OP_CONV2D: case NNCL_OP_CONV2D_GRAD_X: case NNCL_OP_CONV2D_GRAD_W: direct_conv(a, op); break;
  case NNCL_OP_TRANSPOSE_AB:
    for (size_t i = 0; i < n[0]; i++)
      for (size_t j = 0; j < n[1]; j++)
        for (size_t c = 0; c < n[2]; c++) t[1][(j * n[0] + i) * n[2] + c] = t[0][(i * n[1] + j) * n[2] + c];
    break;
  case NNCL_OP_CH_BIAS_ADD:
    for (size_t k = 0; k < n[0] * n[1] * n[2]; k++) t[1][k] = t[0][k] + t[2][k / n[2] % n[1]];
    break;
  case NNCL_OP_CH_SUM:
    for (size_t c = 0; c < n[1]; c++) {
      double s = 0;
      for (size_t b = 0; b < n[0]; b++)
        for (size_t p = 0; p < n[2]; p++) s += t[0][(b * n[1] + c) * n[2] + p];
      t[1][c] = (a->f[1] != 0 ? a->f[1] * t[1][c] : 0.0) + s;
    }
    break;
  case NNCL_OP_MAXPOOL2D: case NNCL_OP_MAXPOOL2D_GRAD: case NNCL_OP_AVGPOOL2D:
  case NNCL_OP_AVGPOOL2D_GRAD:
    pool(a, op);
    break;
  case NNCL_OP_BATCHNORM: batchnorm(a); break;
  case NNCL_OP_BATCHNORM_GRAD: batchnorm_grad(a); break;
  case NNCL_OP_RUNNING_UPDATE:
    for (size_t k = 0; k < n[0]; k++) t[0][k] = (1 - a->f[0]) * t[0][k] + a->f[0] * a->f[1] * t[1][k];
    break;
  case NNCL_OP_LAYERNORM: layernorm(a); break;
  case NNCL_OP_LAYERNORM_GRAD: layernorm_grad(a); break;
  case NNCL_OP_DROPOUT: case NNCL_OP_DROPOUT_GRAD: dropout(a); break;
  case NNCL_OP_COPY2D:
    for (size_t r = 0; r < n[0]; r++)
      for (size_t c = 0; c < n[1]; c++) t[1][r * n[3] + c] = t[0][r * n[2] + c];
    break;
  default: return -1;
  }
  return 0;
}
