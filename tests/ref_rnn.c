/* ref_rnn.c - the sequence ops written from ops.def, one element at a time, in double. */
#include <math.h>
#include <string.h>

#include "ref_rnn.h"

static void set(ref_tensor *t, size_t len, int role) { t->len = len, t->role = role, t->i32 = 0; }

int refr_layout(int op, const size_t n[3], ref_tensor t[NNCL_ARGS_T])
{
  size_t N = n[0], H = n[1];
  memset(t, 0, NNCL_ARGS_T * sizeof *t);
  switch (op) {
  case NNCL_OP_EMBEDDING:
    set(&t[0], n[0], REF_IN), set(&t[1], n[1] * n[2], REF_IN), set(&t[2], n[0] * n[2], REF_OUT), set(&t[3], 1, REF_INOUT);
    return 0;
  case NNCL_OP_EMBEDDING_GRAD:
    set(&t[0], n[0], REF_IN), set(&t[1], n[0] * n[2], REF_IN), set(&t[2], n[1] * n[2], REF_OUT);
    return 0;
  case NNCL_OP_RNN_CELL:
    set(&t[0], N * H, REF_IN), set(&t[1], H, REF_IN), set(&t[2], H, REF_IN), set(&t[3], N * H, REF_OUT);
    return 0;
  case NNCL_OP_LSTM_CELL:
    set(&t[0], 4 * N * H, REF_INOUT), set(&t[1], 4 * H, REF_IN), set(&t[2], 4 * H, REF_IN), set(&t[3], N * H, REF_IN);
    set(&t[4], N * H, REF_OUT), set(&t[5], N * H, REF_OUT);
    return 0;
  case NNCL_OP_LSTM_CELL_GRAD:
    set(&t[0], 4 * N * H, REF_IN), set(&t[1], N * H, REF_IN), set(&t[2], N * H, REF_IN), set(&t[3], N * H, REF_IN);
    set(&t[4], N * H, REF_INOUT), set(&t[5], 4 * N * H, REF_OUT);
    return 0;
  case NNCL_OP_GRU_CELL:
    set(&t[0], 3 * N * H, REF_INOUT), set(&t[1], 3 * N * H, REF_IN), set(&t[2], 3 * H, REF_IN), set(&t[3], 3 * H, REF_IN);
    set(&t[4], N * H, REF_IN), set(&t[5], N * H, REF_OUT), set(&t[6], N * H, REF_OUT);
    return 0;
  case NNCL_OP_GRU_CELL_GRAD:
    set(&t[0], 3 * N * H, REF_IN), set(&t[1], N * H, REF_IN), set(&t[2], N * H, REF_IN), set(&t[3], N * H, REF_IN);
    set(&t[4], 3 * N * H, REF_OUT), set(&t[5], 3 * N * H, REF_OUT), set(&t[6], N * H, REF_OUT);
    return 0;
  default:
    return -1;
  }
}

static double sigm(double x) { return 1 / (1 + exp(-x)); }

/* The row of an id, -1 when it is not an integer in [0, vocab). */
static long id_row(double id, size_t vocab) { return id >= 0 && id < (double)vocab && id == floor(id) ? (long)id : -1; }

int refr_run(int op, double *d[NNCL_ARGS_T], const size_t n[3], int i0)
{
  size_t N = n[0], H = n[1];
  switch (op) {
  case NNCL_OP_EMBEDDING:
    for (size_t k = 0; k < n[0]; k++) {
      long v = id_row(d[0][k], n[1]);
      if (v < 0) d[3][0] = 1;
      for (size_t c = 0; c < n[2]; c++) d[2][k * n[2] + c] = v < 0 ? NAN : d[1][(size_t)v * n[2] + c];
    }
    return 0;
  case NNCL_OP_EMBEDDING_GRAD:
    for (size_t e = 0; e < n[1] * n[2]; e++) d[2][e] = 0;
    for (size_t k = 0; k < n[0]; k++) {
      long v = id_row(d[0][k], n[1]);
      if (v < 0 || v == i0) continue;
      for (size_t c = 0; c < n[2]; c++) d[2][(size_t)v * n[2] + c] += d[1][k * n[2] + c];
    }
    return 0;
  case NNCL_OP_RNN_CELL:
    for (size_t r = 0; r < N; r++)
      for (size_t k = 0; k < H; k++) {
        double s = d[0][r * H + k] + d[1][k] + d[2][k];
        d[3][r * H + k] = i0 ? (s > 0 ? s : 0) : tanh(s);
      }
    return 0;
  case NNCL_OP_LSTM_CELL:
    for (size_t r = 0; r < N; r++)
      for (size_t k = 0; k < H; k++) {
        double *g = d[0] + r * 4 * H, a[4];
        for (int q = 0; q < 4; q++) {
          double s = g[q * H + k] + d[1][q * H + k] + d[2][q * H + k];
          a[q] = q == 2 ? tanh(s) : sigm(s);
          g[q * H + k] = a[q];
        }
        double c = a[1] * d[3][r * H + k] + a[0] * a[2];
        d[4][r * H + k] = c;
        d[5][r * H + k] = a[3] * tanh(c);
      }
    return 0;
  case NNCL_OP_LSTM_CELL_GRAD:
    for (size_t r = 0; r < N; r++)
      for (size_t k = 0; k < H; k++) {
        const double *g = d[0] + r * 4 * H;
        double i = g[k], f = g[H + k], gg = g[2 * H + k], o = g[3 * H + k];
        size_t e = r * H + k;
        double tc = tanh(d[2][e]), dh = d[3][e], dct = d[4][e] + dh * o * (1 - tc * tc);
        double *dg = d[5] + r * 4 * H;
        dg[k] = dct * gg * i * (1 - i);
        dg[H + k] = dct * d[1][e] * f * (1 - f);
        dg[2 * H + k] = dct * i * (1 - gg * gg);
        dg[3 * H + k] = dh * tc * o * (1 - o);
        d[4][e] = dct * f;
      }
    return 0;
  case NNCL_OP_GRU_CELL:
    for (size_t r = 0; r < N; r++)
      for (size_t k = 0; k < H; k++) {
        double *x = d[0] + r * 3 * H, *hg = d[1] + r * 3 * H, *bi = d[2], *bh = d[3];
        size_t e = r * H + k;
        double rg = sigm(x[k] + bi[k] + hg[k] + bh[k]);
        double zg = sigm(x[H + k] + bi[H + k] + hg[H + k] + bh[H + k]);
        double hn = hg[2 * H + k] + bh[2 * H + k];
        double ng = tanh(x[2 * H + k] + bi[2 * H + k] + rg * hn);
        x[k] = rg, x[H + k] = zg, x[2 * H + k] = ng;
        d[5][e] = (1 - zg) * ng + zg * d[4][e];
        d[6][e] = hn;
      }
    return 0;
  case NNCL_OP_GRU_CELL_GRAD:
    for (size_t r = 0; r < N; r++)
      for (size_t k = 0; k < H; k++) {
        const double *g = d[0] + r * 3 * H;
        size_t e = r * H + k;
        double rg = g[k], zg = g[H + k], ng = g[2 * H + k], dh = d[3][e];
        double dn = dh * (1 - zg) * (1 - ng * ng), dr = dn * d[1][e] * rg * (1 - rg), dz = dh * (d[2][e] - ng) * zg * (1 - zg);
        double *dx = d[4] + r * 3 * H, *dhg = d[5] + r * 3 * H;
        dx[k] = dr, dx[H + k] = dz, dx[2 * H + k] = dn;
        dhg[k] = dr, dhg[H + k] = dz, dhg[2 * H + k] = dn * rg;
        d[6][e] = dh * zg;
      }
    return 0;
  default:
    return -1;
  }
}
