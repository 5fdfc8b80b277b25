/* bench_conv.c - GFLOP/s of the convolution ops on LeNet-5's and resnet_small's conv shapes
 * (batch 64): the direct ops (conv2d forward, conv2d_grad_x, conv2d_grad_w), the im2col
 * lowering (im2col + MATMUL + transpose_ab, the path of grouped and large convolutions),
 * and the MATMUL op alone on the same GEMM shapes (forward W col: OC x NP x CKK; dW:
 * OC x CKK x NP; dcol: CKK x NP x OC), measured in the same run on the C backend and, with
 * --device, on OpenCL. FLOPs are 2 N OC CKK P for every column.
 *
 * usage: bench_conv [--threads N] [--device cl...] [--quick] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench/benchutil.h"
#include "internal.h"
#include "nncl.h"

typedef struct cshape {
  const char *name;
  size_t n, c, h, w, oc;
  int k, s, pad;
} cshape;

static const cshape shapes[] = {
    {"lenet conv1 1->6 5x5 p2", 64, 1, 28, 28, 6, 5, 1, 2},
    {"lenet conv2 6->16 5x5", 64, 6, 14, 14, 16, 5, 1, 0},
    {"resnet stem 1->16 3x3 s2", 64, 1, 28, 28, 16, 3, 2, 1},
    {"resnet block 16->16 3x3", 64, 16, 14, 14, 16, 3, 1, 1},
};
#define NSHAPES (sizeof shapes / sizeof shapes[0])

/* Columns: what one timed call runs. */
enum { COL_FWD, COL_GX, COL_GW, COL_IM2COL_FWD, COL_GEMM_FWD, COL_GEMM_DW, COL_GEMM_DCOL, NCOLS };
static const char *col_names[NCOLS] = {"conv2d", "grad_x", "grad_w", "im2col+mm", "mm fwd", "mm dW", "mm dcol"};

typedef struct job {
  nncl_backend *be;
  int col;
  nncl_args conv, im2col, mm, tr;
} job;

static int call(void *user)
{
  job *j = user;
  nncl_backend *be = j->be;
  int st;
  switch (j->col) {
  case COL_FWD: st = nncl_run(be, NNCL_OP_CONV2D, &j->conv); break;
  case COL_GX: st = nncl_run(be, NNCL_OP_CONV2D_GRAD_X, &j->conv); break;
  case COL_GW: st = nncl_run(be, NNCL_OP_CONV2D_GRAD_W, &j->conv); break;
  case COL_IM2COL_FWD:
    st = nncl_run(be, NNCL_OP_IM2COL, &j->im2col);
    if (!st) st = nncl_run(be, NNCL_OP_MATMUL, &j->mm);
    if (!st) st = nncl_run(be, NNCL_OP_TRANSPOSE_AB, &j->tr);
    break;
  default: st = nncl_run(be, NNCL_OP_MATMUL, &j->mm); break;
  }
  return st ? st : be->finish(be);
}

static nncl_buf *random_buf(nncl_backend *be, size_t n, unsigned seed)
{
  float *p = malloc(n * sizeof *p);
  nncl_buf *b = NULL;
  if (!p) return NULL;
  for (size_t i = 0; i < n; i++) {
    seed = seed * 1664525u + 1013904223u;
    p[i] = (float)(seed >> 8) / 16777216.0f - 0.5f;
  }
  if (be->alloc(be, n * 4, &b) || be->write(be, b, 0, p, n * 4)) b = NULL;
  free(p);
  return b;
}

/* One row of GFLOP/s for shape s on be; returns 0 or 1 when a buffer or op failed. */
static int bench_shape(nncl_backend *be, const cshape *s, int reps)
{
  size_t oh = (s->h + 2 * (size_t)s->pad - (size_t)s->k) / (size_t)s->s + 1;
  size_t ow = (s->w + 2 * (size_t)s->pad - (size_t)s->k) / (size_t)s->s + 1;
  size_t p = oh * ow, np = s->n * p, ckk = s->c * (size_t)(s->k * s->k);
  size_t nx = s->n * s->c * s->h * s->w, ny = s->n * s->oc * p, nw = s->oc * ckk, ncol = ckk * np;
  nncl_buf *x = random_buf(be, nx, 1), *w = random_buf(be, nw, 2), *y = random_buf(be, ny, 3);
  nncl_buf *dy = random_buf(be, ny, 4), *col = random_buf(be, ncol, 5), *yp = random_buf(be, ny, 6);
  int fail = !x || !w || !y || !dy || !col || !yp;
  double flops = 2.0 * (double)np * (double)s->oc * (double)ckk;
  printf("%-26s", s->name);
  for (int c = 0; c < NCOLS && !fail; c++) {
    job j = {.be = be, .col = c};
    nncl_args g = {0};
    g.n[0] = s->n, g.n[1] = s->c, g.n[2] = s->h, g.n[3] = s->w, g.n[4] = oh, g.n[5] = ow;
    g.i[0] = g.i[1] = s->k, g.i[2] = g.i[3] = s->s, g.i[4] = g.i[5] = s->pad, g.i[6] = g.i[7] = 1;
    j.conv = j.im2col = g;
    j.conv.n[6] = s->oc;
    j.im2col.t[0] = (nncl_ref){x, 0}, j.im2col.t[1] = (nncl_ref){col, 0};
    j.tr.t[0] = (nncl_ref){yp, 0}, j.tr.t[1] = (nncl_ref){y, 0};
    j.tr.n[0] = s->oc, j.tr.n[1] = s->n, j.tr.n[2] = p;
    j.mm.f[0] = 1.0f;
    switch (c) {
    case COL_FWD: j.conv.t[0] = (nncl_ref){x, 0}, j.conv.t[1] = (nncl_ref){w, 0}, j.conv.t[2] = (nncl_ref){y, 0}; break;
    case COL_GX: j.conv.t[0] = (nncl_ref){dy, 0}, j.conv.t[1] = (nncl_ref){w, 0}, j.conv.t[2] = (nncl_ref){x, 0}; break;
    case COL_GW: j.conv.t[0] = (nncl_ref){x, 0}, j.conv.t[1] = (nncl_ref){dy, 0}, j.conv.t[2] = (nncl_ref){w, 0}; break;
    case COL_IM2COL_FWD: case COL_GEMM_FWD: /* y' (OC x NP) = W col */
      j.mm.t[0] = (nncl_ref){w, 0}, j.mm.t[1] = (nncl_ref){col, 0}, j.mm.t[2] = (nncl_ref){yp, 0};
      j.mm.n[0] = s->oc, j.mm.n[1] = np, j.mm.n[2] = ckk;
      break;
    case COL_GEMM_DW: /* dW (OC x CKK) = dy' col^T */
      j.mm.t[0] = (nncl_ref){yp, 0}, j.mm.t[1] = (nncl_ref){col, 0}, j.mm.t[2] = (nncl_ref){w, 0};
      j.mm.n[0] = s->oc, j.mm.n[1] = ckk, j.mm.n[2] = np, j.mm.i[1] = 1;
      break;
    default: /* dcol (CKK x NP) = W^T dy' */
      j.mm.t[0] = (nncl_ref){w, 0}, j.mm.t[1] = (nncl_ref){yp, 0}, j.mm.t[2] = (nncl_ref){col, 0};
      j.mm.n[0] = ckk, j.mm.n[1] = np, j.mm.n[2] = s->oc, j.mm.i[0] = 1;
      break;
    }
    double t = bench_time_call(call, &j, reps, 100);
    if (t < 0) {
      fprintf(stderr, "\n%s: %s failed: %s\n", be->name, col_names[c], nncl_errmsg(be->ctx));
      fail = 1;
    } else {
      printf(" %9.1f", flops / t * 1e-9);
    }
    fflush(stdout);
  }
  printf("\n");
  nncl_buf *all[] = {x, w, y, dy, col, yp};
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
    if (all[i]) be->release(be, all[i]);
  return fail;
}

static int run_device(const char *device, int threads, int reps)
{
  nncl_ctx_params p;
  nncl_ctx *ctx;
  char err[512];
  nncl_ctx_params_init(&p);
  p.device = device;
  p.threads = threads;
  if (nncl_ctx_create(&p, &ctx, err, sizeof err)) {
    printf("%s: not run: %s\n", device, err);
    return strcmp(device, "c") == 0;
  }
  printf("\n%s, GFLOP/s (median of %d)\n%-26s", nncl_ctx_device(ctx), reps, "shape (batch 64)");
  for (int c = 0; c < NCOLS; c++) printf(" %9s", col_names[c]);
  printf("\n");
  int fail = 0;
  for (size_t s = 0; s < NSHAPES; s++) fail |= bench_shape(nncl_ctx_be(ctx), &shapes[s], reps);
  nncl_ctx_destroy(ctx);
  return fail;
}

int main(int argc, char **argv)
{
  bench_options o;
  if (bench_parse_options(argc, argv, &o)) return 2;
  int reps = o.quick ? 3 : 7;
  printf("bench_conv: load average %.2f; columns: the direct ops, the im2col lowering of the forward,\n"
         "and MATMUL alone on the forward, dW and dcol GEMM shapes; FLOPs 2 N OC (C KH KW) (OH OW)\n", bench_load_average());
  int fail = run_device("c", o.threads, reps);
  if (o.cldev) fail |= run_device(o.cldev, o.threads, reps);
  return fail;
}
