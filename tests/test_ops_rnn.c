/* test_ops_rnn.c - the sequence ops of ops.def (embedding ... gru_cell_grad) on the device
 * under test ($NNCL_DEVICE):
 *  1. against the double-precision reference (ref_rnn.c) on random and awkward shapes
 *     (1, primes, 64 x 128 as lstm_rows runs them, vocabularies of 1, ids that are not
 *     integers in range, padding on and off), every tensor at its own non-zero byte offset
 *     between guard words; against a C context too when the device is not C; on C, bit
 *     for bit the same with one thread;
 *  2. the cell gradients against central finite differences (double) of the reference
 *     cell: L = sum(wc c + wh h) for LSTM (dgates and dc_prev), L = sum(wh h) for GRU
 *     (dxg, dhg and the direct dh_prev);
 *  3. the cells' tanh to 8 ulp relative over |x| from 1e-7 to 9 (near 0, where an
 *     absolute tolerance hides a tanh that loses its digits). */
#include "fallback/fb.h"
#include "ref_rnn.h"
#include "testutil.h"

#define COUNT(a) (sizeof(a) / sizeof(a[0]))

typedef struct rcase {
  int op;
  size_t n[3];
  int i0;
  int bad_ids; /* embedding: some ids not integers in [0, vocab) */
} rcase;

typedef struct env {
  nncl_backend *dut, *other; /* other: C (dut is OpenCL) or C with 1 thread (dut is C) */
  int bitwise;               /* dut and other must agree bit for bit */
  size_t checked;
} env;

static void print_case(const rcase *c, uint64_t seed)
{
  fprintf(stderr, "FAIL op=%s n=[%zu %zu %zu] i0=%d bad_ids=%d seed=%llu\n", nncl_op_name(c->op), c->n[0], c->n[1], c->n[2], c->i0,
          c->bad_ids, (unsigned long long)seed);
}

/* Host inputs for c: ids as floats (a few invalid when asked), activations in their
 * ranges for the gradient ops, the embedding flag 0, everything else uniform(-2, 2). */
static void fill(const rcase *c, int ti, float *v, size_t len, tu_rng *rng)
{
  int emb = c->op == NNCL_OP_EMBEDDING || c->op == NNCL_OP_EMBEDDING_GRAD;
  size_t H = c->n[1];
  for (size_t k = 0; k < len; k++) {
    if (emb && ti == 0) {
      v[k] = (float)tu_below(rng, c->n[1]);
      if (c->bad_ids && tu_below(rng, 5) == 0) {
        static const float bad[] = {-1.0f, 2.5f, NAN, 1e9f};
        v[k] = tu_below(rng, 5) == 0 ? (float)c->n[1] : bad[tu_below(rng, COUNT(bad))];
      }
    } else if (c->op == NNCL_OP_EMBEDDING && ti == 3) {
      v[k] = 0;
    } else if ((c->op == NNCL_OP_LSTM_CELL_GRAD || c->op == NNCL_OP_GRU_CELL_GRAD) && ti == 0) {
      size_t block = (k / H) % (c->op == NNCL_OP_LSTM_CELL_GRAD ? 4 : 3); /* block 2 (g, n) is a tanh */
      v[k] = block == 2 ? (float)tu_uniform(rng, -0.999, 0.999) : (float)tu_uniform(rng, 0.001, 0.999);
    } else {
      v[k] = (float)tu_uniform(rng, -2, 2);
    }
  }
}

/* Runs c on be with inputs in[]; outputs (every tensor) into out[] (len floats each). */
static int run_on(nncl_backend *be, const rcase *c, const ref_tensor *lay, float *const in[], float *out[], tu_rng *rng)
{
  tu_tensor t[NNCL_ARGS_T] = {0};
  nncl_args a = {0};
  int bad = 0;
  for (int k = 0; k < NNCL_ARGS_T && !bad; k++) {
    if (!lay[k].role) continue;
    bad = tu_alloc(be, lay[k].len, 1 + tu_below(rng, 13), &t[k]) || ((lay[k].role & REF_IN) && tu_write(be, &t[k], in[k]));
    a.t[k] = tu_ref(&t[k]);
  }
  memcpy(a.n, c->n, sizeof c->n);
  a.i[0] = c->i0;
  if (!bad && nncl_run(be, c->op, &a)) {
    fprintf(stderr, "  %s: %s\n", be->name, nncl_errmsg(be->ctx));
    bad = 1;
  }
  for (int k = 0; k < NNCL_ARGS_T; k++) {
    if (!lay[k].role) continue;
    if (!bad) bad = tu_read(be, &t[k], out[k]) || !tu_guards_ok(be, &t[k], "tensor");
    tu_free(be, &t[k]);
  }
  return bad;
}

/* got vs want over every written tensor; tol 0 = bitwise. */
static int compare(const rcase *c, const ref_tensor *lay, float *const got[], const double *const want[], const float *const want_f[],
                   double rtol, double atol, const char *what)
{
  for (int k = 0; k < NNCL_ARGS_T; k++) {
    if (!(lay[k].role & REF_OUT)) continue;
    for (size_t e = 0; e < lay[k].len; e++) {
      double w = want ? want[k][e] : want_f[k][e], g = got[k][e];
      int same = want ? tu_close(g, w, w, rtol, atol) : memcmp(&got[k][e], &want_f[k][e], sizeof(float)) == 0;
      if (!same) {
        fprintf(stderr, "  %s: t%d[%zu] got %.9g want %.9g\n", what, k, e, g, w);
        (void)c;
        return 1;
      }
    }
  }
  return 0;
}

static int run_case(env *E, const rcase *c, uint64_t seed)
{
  ref_tensor lay[NNCL_ARGS_T];
  if (refr_layout(c->op, c->n, lay)) return 1;
  tu_rng rng = {seed};
  float *in[NNCL_ARGS_T] = {0}, *got[NNCL_ARGS_T] = {0}, *oth[NNCL_ARGS_T] = {0};
  double *ref[NNCL_ARGS_T] = {0};
  int bad = 0;
  for (int k = 0; k < NNCL_ARGS_T && !bad; k++) {
    if (!lay[k].role) continue;
    size_t len = lay[k].len ? lay[k].len : 1;
    in[k] = malloc(len * sizeof(float)), got[k] = malloc(len * sizeof(float)), oth[k] = malloc(len * sizeof(float));
    ref[k] = malloc(len * sizeof(double));
    if (!in[k] || !got[k] || !oth[k] || !ref[k]) bad = 1;
    else {
      fill(c, k, in[k], lay[k].len, &rng);
      for (size_t e = 0; e < lay[k].len; e++) ref[k][e] = in[k][e];
    }
  }
  if (!bad) refr_run(c->op, ref, c->n, c->i0);
  if (!bad && run_on(E->dut, c, lay, in, got, &rng)) bad = 1;
  if (!bad && compare(c, lay, got, (const double *const *)ref, NULL, 2e-5, 2e-6, "vs reference")) bad = 1;
  if (!bad && E->other) {
    if (run_on(E->other, c, lay, in, oth, &rng)) bad = 1;
    else if (E->bitwise) bad = compare(c, lay, got, NULL, (const float *const *)oth, 0, 0, "vs C with 1 thread (bitwise)");
    else {
      double *o[NNCL_ARGS_T] = {0};
      for (int k = 0; k < NNCL_ARGS_T && !bad; k++) {
        if (!lay[k].role) continue;
        if (!(o[k] = malloc((lay[k].len ? lay[k].len : 1) * sizeof(double)))) bad = 1;
        for (size_t e = 0; !bad && e < lay[k].len; e++) o[k][e] = oth[k][e];
      }
      if (!bad) bad = compare(c, lay, got, (const double *const *)o, NULL, 2e-5, 2e-6, "vs C");
      for (int k = 0; k < NNCL_ARGS_T; k++) free(o[k]);
    }
  }
  if (bad) print_case(c, seed);
  for (int k = 0; k < NNCL_ARGS_T; k++) free(in[k]), free(got[k]), free(oth[k]), free(ref[k]);
  E->checked++;
  return bad;
}

/* {N, H} of the cells and {tokens, vocab, dim} of the embedding */
static const size_t cell_shapes[][2] = {{1, 1}, {3, 5}, {7, 13}, {2, 33}, {64, 128}, {5, 17}, {1, 64}};
static const size_t emb_shapes[][3] = {{1, 1, 1}, {17, 7, 3}, {100, 50, 64}, {64, 1, 5}, {23, 11, 129}, {640, 97, 16}};

static int cases_for(int op, rcase *out)
{
  int n = 0;
  if (op == NNCL_OP_EMBEDDING || op == NNCL_OP_EMBEDDING_GRAD)
    for (size_t s = 0; s < COUNT(emb_shapes); s++)
      for (int v = 0; v < 3; v++) {
        rcase c = {op, {emb_shapes[s][0], emb_shapes[s][1], emb_shapes[s][2]}, -1, v == 2};
        if (v == 1) c.i0 = (int)(emb_shapes[s][1] / 2); /* padding_idx */
        out[n++] = c;
      }
  else
    for (size_t s = 0; s < COUNT(cell_shapes); s++)
      for (int act = 0; act < (op == NNCL_OP_RNN_CELL ? 2 : 1); act++) out[n++] = (rcase){op, {cell_shapes[s][0], cell_shapes[s][1], 0}, act, 0};
  return n;
}

/* ---- gradients against finite differences ------------------------------------------------- */

/* LSTM: L = sum(wc c + wh h) of the reference cell from pre (N, 4H, biases folded in: 0)
 * and c_prev. */
static double lstm_loss(size_t N, size_t H, const double *pre, const double *cp, const double *wc, const double *wh, double *act,
                        double *c, double *h)
{
  double *zb = calloc(4 * H, sizeof *zb), L = 0;
  memcpy(act, pre, 4 * N * H * sizeof *act);
  double *d[NNCL_ARGS_T] = {act, zb, zb, (double *)cp, c, h};
  size_t n[3] = {N, H, 0};
  refr_run(NNCL_OP_LSTM_CELL, d, n, 0);
  for (size_t e = 0; e < N * H; e++) L += wc[e] * c[e] + wh[e] * h[e];
  free(zb);
  return L;
}

/* GRU: L = sum(wh h) from xg, hg (N, 3H, biases 0) and h_prev. */
static double gru_loss(size_t N, size_t H, const double *xg, const double *hg, const double *hp, const double *wh, double *act,
                       double *h, double *hn)
{
  double *zb = calloc(3 * H, sizeof *zb), L = 0;
  memcpy(act, xg, 3 * N * H * sizeof *act);
  double *d[NNCL_ARGS_T] = {act, (double *)hg, zb, zb, (double *)hp, h, hn};
  size_t n[3] = {N, H, 0};
  refr_run(NNCL_OP_GRU_CELL, d, n, 0);
  for (size_t e = 0; e < N * H; e++) L += wh[e] * h[e];
  free(zb);
  return L;
}

/* Compares the device gradient g (float) with the central difference of loss in x[j]. */
#define FD_CHECK(what, len, x, g, loss_expr)                                                                          \
  for (size_t j = 0; j < (len) && !bad; j++) {                                                                       \
    double keep = (x)[j], eps = 1e-6;                                                                                \
    (x)[j] = keep + eps;                                                                                             \
    double lp = (loss_expr);                                                                                         \
    (x)[j] = keep - eps;                                                                                             \
    double lm = (loss_expr);                                                                                         \
    (x)[j] = keep;                                                                                                   \
    double fd = (lp - lm) / (2 * eps);                                                                               \
    if (!tu_close((g)[j], fd, fd, 1e-4, 1e-5)) {                                                                      \
      fprintf(stderr, "FAIL %s finite differences: N=%zu H=%zu %s[%zu]: op %.9g, central difference %.9g\n", name, N, H, \
              what, j, (double)(g)[j], fd);                                                                          \
      bad = 1;                                                                                                       \
    }                                                                                                                \
  }

static int check_grads(env *E, size_t N, size_t H, uint64_t seed)
{
  tu_rng rng = {seed};
  size_t n = N * H;
  int bad = 0;
  /* LSTM */
  {
    const char *name = "lstm_cell_grad";
    double *pre = malloc(4 * n * sizeof *pre), *cp = malloc(n * sizeof *cp), *wc = malloc(n * sizeof *wc), *wh = malloc(n * sizeof *wh);
    double *act = malloc(4 * n * sizeof *act), *c = malloc(n * sizeof *c), *h = malloc(n * sizeof *h);
    float *in[NNCL_ARGS_T] = {0}, *out[NNCL_ARGS_T] = {0};
    ref_tensor lay[NNCL_ARGS_T];
    size_t sz[3] = {N, H, 0};
    refr_layout(NNCL_OP_LSTM_CELL_GRAD, sz, lay);
    for (size_t e = 0; e < 4 * n; e++) pre[e] = (float)tu_uniform(&rng, -2, 2);
    for (size_t e = 0; e < n; e++) cp[e] = (float)tu_uniform(&rng, -2, 2), wc[e] = (float)tu_uniform(&rng, -1, 1), wh[e] = (float)tu_uniform(&rng, -1, 1);
    lstm_loss(N, H, pre, cp, wc, wh, act, c, h);
    const double *src[6] = {act, cp, c, wh, wc, NULL};
    for (int k = 0; k < 6; k++) {
      in[k] = malloc(lay[k].len * sizeof(float)), out[k] = malloc(lay[k].len * sizeof(float));
      for (size_t e = 0; src[k] && e < lay[k].len; e++) in[k][e] = (float)src[k][e];
    }
    rcase rc = {NNCL_OP_LSTM_CELL_GRAD, {N, H, 0}, 0, 0};
    bad = run_on(E->dut, &rc, lay, in, out, &rng);
    FD_CHECK("dgates", 4 * n, pre, out[5], lstm_loss(N, H, pre, cp, wc, wh, act, c, h));
    FD_CHECK("dc_prev", n, cp, out[4], lstm_loss(N, H, pre, cp, wc, wh, act, c, h));
    for (int k = 0; k < 6; k++) free(in[k]), free(out[k]);
    free(pre), free(cp), free(wc), free(wh), free(act), free(c), free(h);
  }
  /* GRU */
  if (!bad) {
    const char *name = "gru_cell_grad";
    double *xg = malloc(3 * n * sizeof *xg), *hg = malloc(3 * n * sizeof *hg), *hp = malloc(n * sizeof *hp), *wh = malloc(n * sizeof *wh);
    double *act = malloc(3 * n * sizeof *act), *h = malloc(n * sizeof *h), *hn = malloc(n * sizeof *hn);
    float *in[NNCL_ARGS_T] = {0}, *out[NNCL_ARGS_T] = {0};
    ref_tensor lay[NNCL_ARGS_T];
    size_t sz[3] = {N, H, 0};
    refr_layout(NNCL_OP_GRU_CELL_GRAD, sz, lay);
    for (size_t e = 0; e < 3 * n; e++) xg[e] = (float)tu_uniform(&rng, -2, 2), hg[e] = (float)tu_uniform(&rng, -2, 2);
    for (size_t e = 0; e < n; e++) hp[e] = (float)tu_uniform(&rng, -2, 2), wh[e] = (float)tu_uniform(&rng, -1, 1);
    gru_loss(N, H, xg, hg, hp, wh, act, h, hn);
    const double *src[7] = {act, hn, hp, wh, NULL, NULL, NULL};
    for (int k = 0; k < 7; k++) {
      in[k] = malloc(lay[k].len * sizeof(float)), out[k] = malloc(lay[k].len * sizeof(float));
      for (size_t e = 0; src[k] && e < lay[k].len; e++) in[k][e] = (float)src[k][e];
    }
    rcase rc = {NNCL_OP_GRU_CELL_GRAD, {N, H, 0}, 0, 0};
    bad = run_on(E->dut, &rc, lay, in, out, &rng);
    FD_CHECK("dxg", 3 * n, xg, out[4], gru_loss(N, H, xg, hg, hp, wh, act, h, hn));
    FD_CHECK("dhg", 3 * n, hg, out[5], gru_loss(N, H, xg, hg, hp, wh, act, h, hn));
    FD_CHECK("dh_prev (direct)", n, hp, out[6], gru_loss(N, H, xg, hg, hp, wh, act, h, hn));
    for (int k = 0; k < 7; k++) free(in[k]), free(out[k]);
    free(xg), free(hg), free(hp), free(wh), free(act), free(h), free(hn);
  }
  return bad;
}

/* RNN_CELL with tanh on pre = +-x, x log-spaced over [1e-7, 9], zero biases: every h
 * within 8 ulp (relative) of tanh in double. */
static int check_tanh_precision(nncl_backend *be)
{
  enum { N = 2000 };
  static float pre[N], h[N], zero[1];
  for (int k = 0; k < N; k++) pre[k] = (float)((k % 2 ? -1 : 1) * 1e-7 * pow(9e7, (double)k / (N - 1)));
  tu_tensor tp = {0}, tb = {0}, th = {0};
  int bad = tu_alloc(be, N, 3, &tp) || tu_alloc(be, 1, 2, &tb) || tu_alloc(be, N, 5, &th) || tu_write(be, &tp, pre) ||
            tu_write(be, &tb, zero);
  nncl_args a = {.t = {tu_ref(&tp), tu_ref(&tb), tu_ref(&tb), tu_ref(&th)}, .n = {N, 1}, .i = {0}};
  bad = bad || nncl_run(be, NNCL_OP_RNN_CELL, &a) || be->finish(be) || tu_read(be, &th, h);
  for (int k = 0; k < N && !bad; k++) {
    double want = tanh((double)pre[k]);
    if (fabs(h[k] - want) > 8 * 1.2e-7 * fabs(want)) {
      printf("FAIL %s: rnn_cell tanh(%.9g) = %.9g, want %.9g (%.0f ulp)\n", be->name, pre[k], h[k], want,
             fabs(h[k] - want) / (1.2e-7 * fabs(want)));
      bad = 1;
    }
  }
  tu_free(be, &tp), tu_free(be, &tb), tu_free(be, &th);
  return bad;
}

int main(void)
{
  nncl_ctx *dut = NULL, *other = NULL;
  int st = tu_open(tu_device(), 0, &dut);
  if (st) return st;
  env E = {.dut = nncl_ctx_be(dut)};
  if (!tu_is_c(E.dut)) {
    if (tu_open("c", 0, &other)) return 1;
    E.other = nncl_ctx_be(other);
  } else if (fb_of(E.dut)->threads > 1) {
    if (tu_open("c", 1, &other)) return 1;
    E.other = nncl_ctx_be(other), E.bitwise = 1;
  }
  printf("device under test: %s\n", nncl_ctx_device(dut));
  uint64_t seed = 20240603;
  const char *s = getenv("NNCL_TEST_SEED");
  if (s && *s) seed = strtoull(s, NULL, 10);
  int failed = 0;
  static rcase cases[64];
  for (int op = 0; op < NNCL_OP_COUNT; op++) {
    if (!refr_owns(op)) continue;
    int n = cases_for(op, cases), bad = 0;
    for (int k = 0; k < n && !bad; k++) bad = run_case(&E, &cases[k], seed + (uint64_t)op * 1000 + (uint64_t)k);
    printf("%-16s %3d cases %s\n", nncl_op_name(op), n, bad ? "FAIL" : "ok");
    failed += bad;
  }
  static const size_t fd_shapes[][2] = {{1, 1}, {2, 3}, {3, 7}};
  for (size_t k = 0; k < COUNT(fd_shapes); k++) {
    int bad = check_grads(&E, fd_shapes[k][0], fd_shapes[k][1], seed + 77 + k);
    printf("cell gradients vs finite differences N=%zu H=%zu %s\n", fd_shapes[k][0], fd_shapes[k][1], bad ? "FAIL" : "ok");
    failed += bad;
  }
  int bad = check_tanh_precision(E.dut) || (E.other && check_tanh_precision(E.other));
  printf("tanh of the cells to 8 ulp over |x| in [1e-7, 9] %s\n", bad ? "FAIL" : "ok");
  failed += bad;
  printf("%zu cases, %d failures\n", E.checked, failed);
  nncl_ctx_destroy(other);
  nncl_ctx_destroy(dut);
  return failed != 0;
}
