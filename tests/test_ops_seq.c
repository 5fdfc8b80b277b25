/* test_ops_seq.c - the sequence ops of ops.def (MATMUL_BATCHED, ATTN_SOFTMAX) on the
 * device under test ($NNCL_DEVICE) against naive double references, on random and awkward
 * shapes (1, primes, non-multiples of the tile sizes, both transposes, padded leading dims,
 * two-level strides as attention uses them, K = 0, beta != 0), every tensor at a non-zero
 * offset between guard words; on an OpenCL device the same cases run on C too, and the two
 * backends must agree. */
#include "testutil.h"

static int failures;

#define FAIL(...) (fprintf(stderr, "FAIL " __VA_ARGS__), fputc('\n', stderr), failures++)

/* ---- batched GEMM --------------------------------------------------------------------- */

typedef struct bcase {
  size_t m, n, k, n3, n4, lda, ldb, ldc;
  int ta, tb, s[6];
  float alpha, beta;
} bcase;

static size_t span(size_t rows, size_t cols, size_t ld) { return rows && cols ? (rows - 1) * ld + cols : 0; }
static size_t extent(const bcase *c, int which)
{
  size_t rows, cols, ld;
  if (which == 0) rows = c->ta ? c->k : c->m, cols = c->ta ? c->m : c->k, ld = c->lda;
  else if (which == 1) rows = c->tb ? c->n : c->k, cols = c->tb ? c->k : c->n, ld = c->ldb;
  else rows = c->m, cols = c->n, ld = c->ldc;
  size_t one = span(rows, cols, ld);
  return one ? (c->n3 - 1) * (size_t)c->s[2 * which] + (c->n4 - 1) * (size_t)c->s[2 * which + 1] + one : 1;
}

static void ref_bgemm(const bcase *c, const float *A, const float *B, float *C)
{
  for (size_t b1 = 0; b1 < c->n3; b1++)
    for (size_t b2 = 0; b2 < c->n4; b2++) {
      const float *a = A + b1 * (size_t)c->s[0] + b2 * (size_t)c->s[1];
      const float *b = B + b1 * (size_t)c->s[2] + b2 * (size_t)c->s[3];
      float *o = C + b1 * (size_t)c->s[4] + b2 * (size_t)c->s[5];
      for (size_t i = 0; i < c->m; i++)
        for (size_t j = 0; j < c->n; j++) {
          double s = 0;
          for (size_t p = 0; p < c->k; p++)
            s += (double)(c->ta ? a[p * c->lda + i] : a[i * c->lda + p]) * (c->tb ? b[j * c->ldb + p] : b[p * c->ldb + j]);
          float *y = &o[i * c->ldc + j];
          *y = (float)(c->alpha * s + (c->beta != 0 ? (double)c->beta * *y : 0));
        }
    }
}

/* Runs case c on be from the same inputs; out receives C's whole extent. */
static int run_bgemm(nncl_backend *be, const bcase *c, const float *A, const float *B, const float *C0, float *out, size_t pad)
{
  tu_tensor t[3] = {{0}};
  size_t ext[3] = {extent(c, 0), extent(c, 1), extent(c, 2)};
  const float *src[3] = {A, B, C0};
  int bad = 0;
  for (int i = 0; i < 3 && !bad; i++) bad = tu_alloc(be, ext[i], pad + (size_t)i, &t[i]) || tu_write(be, &t[i], src[i]);
  if (!bad) {
    nncl_args a = {0};
    for (int i = 0; i < 3; i++) a.t[i] = tu_ref(&t[i]);
    size_t n[8] = {c->m, c->n, c->k, c->n3, c->n4, c->lda, c->ldb, c->ldc};
    memcpy(a.n, n, sizeof n);
    a.i[0] = c->ta, a.i[1] = c->tb;
    memcpy(a.i + 2, c->s, sizeof c->s);
    a.f[0] = c->alpha, a.f[1] = c->beta;
    int st = nncl_run(be, NNCL_OP_MATMUL_BATCHED, &a);
    if (st) fprintf(stderr, "  matmul_batched: %s: %s\n", nncl_strerror(st), nncl_errmsg(be->ctx));
    bad = st || tu_read(be, &t[2], out);
    for (int i = 0; i < 3; i++) bad |= !tu_guards_ok(be, &t[i], "matmul_batched");
  }
  for (int i = 0; i < 3; i++) tu_free(be, &t[i]);
  return bad;
}

static void print_bcase(const bcase *c, uint64_t seed, size_t idx)
{
  FAIL("op=matmul_batched m=%zu n=%zu k=%zu batches=%zux%zu ld=%zu,%zu,%zu ta=%d tb=%d strides=%d,%d,%d,%d,%d,%d "
       "alpha=%g beta=%g seed=%llu first bad index %zu",
       c->m, c->n, c->k, c->n3, c->n4, c->lda, c->ldb, c->ldc, c->ta, c->tb, c->s[0], c->s[1], c->s[2], c->s[3], c->s[4], c->s[5],
       c->alpha, c->beta, (unsigned long long)seed, idx);
}

static void check_bgemm(nncl_backend *dut, nncl_backend *cref, const bcase *c, uint64_t seed)
{
  tu_rng r = {seed};
  size_t ext[3] = {extent(c, 0), extent(c, 1), extent(c, 2)};
  float *in[3], *want = malloc(ext[2] * 4), *got = malloc(ext[2] * 4), *gotc = malloc(ext[2] * 4);
  for (int i = 0; i < 3; i++) {
    in[i] = malloc(ext[i] * 4);
    for (size_t j = 0; j < ext[i]; j++) in[i][j] = (float)tu_uniform(&r, -1, 1);
  }
  memcpy(want, in[2], ext[2] * 4);
  ref_bgemm(c, in[0], in[1], want);
  if (run_bgemm(dut, c, in[0], in[1], in[2], got, 1 + tu_below(&r, 7))) print_bcase(c, seed, 0);
  else
    for (size_t j = 0; j < ext[2]; j++)
      if (!tu_close(got[j], want[j], sqrt((double)c->k + 1), 1e-5, 1e-5)) {
        print_bcase(c, seed, j);
        fprintf(stderr, "  got %.9g want %.9g\n", got[j], want[j]);
        break;
      }
  if (cref && !run_bgemm(cref, c, in[0], in[1], in[2], gotc, 3))
    for (size_t j = 0; j < ext[2]; j++)
      if (!tu_close(got[j], gotc[j], sqrt((double)c->k + 1), 1e-5, 1e-5)) {
        print_bcase(c, seed, j);
        fprintf(stderr, "  device %.9g, C %.9g\n", got[j], gotc[j]);
        break;
      }
  for (int i = 0; i < 3; i++) free(in[i]);
  free(want), free(got), free(gotc);
}

/* A case with contiguous matrices (ld = stored width) and strides packing the batches. */
static bcase packed(size_t m, size_t n, size_t k, size_t n3, size_t n4, int ta, int tb)
{
  bcase c = {m, n, k, n3, n4, ta ? m : k, tb ? k : n, n, ta, tb, {0}, 1.0f, 0.0f};
  c.s[1] = (int)(m * k), c.s[0] = (int)(m * k * n4);
  c.s[3] = (int)(k * n), c.s[2] = (int)(k * n * n4);
  c.s[5] = (int)(m * n), c.s[4] = (int)(m * n * n4);
  return c;
}

/* Attention's products on qkv (T, 3D) per sample, heads at column h dh. */
static bcase attn_case(size_t T, size_t D, size_t H, size_t N, int which)
{
  size_t dh = D / H, TT = T * T;
  bcase c = {0};
  c.n3 = N, c.n4 = H, c.alpha = 1;
  if (which == 0) { /* S = q k^T */
    c.m = T, c.n = T, c.k = dh, c.tb = 1, c.lda = 3 * D, c.ldb = 3 * D, c.ldc = T;
    int s[6] = {(int)(3 * D * T), (int)dh, (int)(3 * D * T), (int)dh, (int)(H * TT), (int)TT};
    memcpy(c.s, s, sizeof s);
  } else { /* o = P v into (T, D) */
    c.m = T, c.n = dh, c.k = T, c.lda = T, c.ldb = 3 * D, c.ldc = D;
    int s[6] = {(int)(H * TT), (int)TT, (int)(3 * D * T), (int)dh, (int)(D * T), (int)dh};
    memcpy(c.s, s, sizeof s);
  }
  return c;
}

static void test_bgemm(nncl_backend *dut, nncl_backend *cref)
{
  static const size_t shapes[][5] = {
      {1, 1, 1, 1, 1}, {3, 5, 7, 2, 3}, {17, 13, 11, 1, 4}, {65, 67, 3, 2, 1}, {28, 28, 16, 3, 4},
      {28, 16, 28, 2, 4}, {129, 5, 70, 1, 2}, {2, 100, 1, 5, 1}, {31, 33, 37, 2, 2},
  };
  uint64_t seed = 1;
  for (size_t i = 0; i < sizeof shapes / sizeof *shapes; i++)
    for (int t = 0; t < 4; t++) {
      const size_t *s = shapes[i];
      bcase c = packed(s[0], s[1], s[2], s[3], s[4], t & 1, t >> 1);
      check_bgemm(dut, cref, &c, seed++);
      c.alpha = 0.5f, c.beta = -1.5f; /* accumulate */
      check_bgemm(dut, cref, &c, seed++);
      c.lda += 3, c.ldb += 1, c.ldc += 2; /* padded rows: strides grow to keep batches apart */
      bcase p = packed(s[0], s[1], s[2], s[3], s[4], t & 1, t >> 1);
      for (int j = 0; j < 6; j++) c.s[j] = p.s[j] * 3;
      check_bgemm(dut, cref, &c, seed++);
    }
  bcase k0 = packed(4, 5, 0, 2, 2, 0, 0); /* K = 0: C = beta C */
  k0.beta = 2;
  check_bgemm(dut, cref, &k0, seed++);
  k0.beta = 0;
  check_bgemm(dut, cref, &k0, seed++);
  static const size_t attn[][4] = {{28, 64, 4, 3}, {7, 12, 3, 2}, {1, 8, 2, 1}, {13, 10, 5, 3}};
  for (size_t i = 0; i < sizeof attn / sizeof *attn; i++)
    for (int w = 0; w < 2; w++) {
      bcase c = attn_case(attn[i][0], attn[i][1], attn[i][2], attn[i][3], w);
      check_bgemm(dut, cref, &c, seed++);
    }
}

/* ---- attention softmax ----------------------------------------------------------------- */

typedef struct scase {
  size_t N, H, tq, tk;
  int causal, mode;
  float scale, pad;
  size_t ms_k, ms_s; /* mask strides; the mask holds ms_s N values */
} scase;

static int masked(const scase *c, const float *mask, size_t s, size_t q, size_t k)
{
  if (c->causal && k > q) return 1;
  if (!c->mode) return 0;
  float v = mask[s * c->ms_s + k * c->ms_k];
  return c->mode == 1 ? v != 0 : v == c->pad;
}

static void ref_softmax(const scase *c, const float *x, const float *mask, float *y)
{
  size_t rows = c->N * c->H * c->tq;
  for (size_t r = 0; r < rows; r++) {
    size_t s = r / (c->H * c->tq), q = r % c->tq;
    double mx = -INFINITY, sum = 0;
    for (size_t k = 0; k < c->tk; k++)
      if (!masked(c, mask, s, q, k) && c->scale * (double)x[r * c->tk + k] > mx) mx = c->scale * (double)x[r * c->tk + k];
    for (size_t k = 0; k < c->tk; k++) sum += masked(c, mask, s, q, k) ? 0 : exp(c->scale * (double)x[r * c->tk + k] - mx);
    for (size_t k = 0; k < c->tk; k++)
      y[r * c->tk + k] = masked(c, mask, s, q, k) || sum == 0 ? 0.0f : (float)(exp(c->scale * (double)x[r * c->tk + k] - mx) / sum);
  }
}

static int run_softmax(nncl_backend *be, const scase *c, const float *x, const float *mask, float *y)
{
  size_t n = c->N * c->H * c->tq * c->tk, nm = c->N * c->ms_s;
  tu_tensor t[3] = {{0}};
  int bad = tu_alloc(be, n, 2, &t[0]) || tu_write(be, &t[0], x) || tu_alloc(be, n, 5, &t[1]) || tu_alloc(be, nm, 3, &t[2]) ||
            tu_write(be, &t[2], mask);
  if (!bad) {
    nncl_args a = {0};
    a.t[0] = tu_ref(&t[0]), a.t[1] = tu_ref(&t[1]);
    if (c->mode) a.t[2] = tu_ref(&t[2]);
    a.n[0] = c->N * c->H * c->tq, a.n[1] = c->tk, a.n[2] = c->tq, a.n[3] = c->H * c->tq, a.n[4] = c->ms_k, a.n[5] = c->ms_s;
    a.f[0] = c->scale, a.f[1] = c->pad;
    a.i[0] = c->causal, a.i[1] = c->mode;
    int st = nncl_run(be, NNCL_OP_ATTN_SOFTMAX, &a);
    if (st) fprintf(stderr, "  attn_softmax: %s: %s\n", nncl_strerror(st), nncl_errmsg(be->ctx));
    bad = st || tu_read(be, &t[1], y);
    for (int i = 0; i < 3; i++) bad |= !tu_guards_ok(be, &t[i], "attn_softmax");
  }
  for (int i = 0; i < 3; i++) tu_free(be, &t[i]);
  return bad;
}

static void check_softmax(nncl_backend *dut, nncl_backend *cref, const scase *c, uint64_t seed)
{
  tu_rng r = {seed};
  size_t n = c->N * c->H * c->tq * c->tk, nm = c->N * c->ms_s;
  float *x = malloc(n * 4), *mask = malloc(nm * 4), *want = malloc(n * 4), *got = malloc(n * 4), *gotc = malloc(n * 4);
  for (size_t i = 0; i < n; i++) x[i] = (float)tu_uniform(&r, -8, 8);
  for (size_t i = 0; i < nm; i++) mask[i] = tu_below(&r, 3) == 0 ? c->pad : (float)(1 + tu_below(&r, 5));
  if (c->mode == 1)
    for (size_t i = 0; i < nm; i++) mask[i] = tu_below(&r, 3) == 0 ? 1.0f : 0.0f;
  ref_softmax(c, x, mask, want);
  const char *what = NULL;
  size_t at = 0;
  if (run_softmax(dut, c, x, mask, got)) what = "device run";
  for (size_t i = 0; !what && i < n; i++)
    if (!tu_close(got[i], want[i], 1, 1e-5, 1e-6)) what = "device vs reference", at = i;
  if (!what && cref && run_softmax(cref, c, x, mask, gotc)) what = "C run";
  for (size_t i = 0; !what && cref && i < n; i++)
    if (!tu_close(got[i], gotc[i], 1, 1e-5, 1e-6)) what = "device vs C", at = i;
  if (what)
    FAIL("op=attn_softmax %s N=%zu H=%zu Tq=%zu Tk=%zu causal=%d mode=%d scale=%g pad=%g mask strides %zu,%zu seed=%llu "
         "first bad index %zu (got %g want %g)",
         what, c->N, c->H, c->tq, c->tk, c->causal, c->mode, c->scale, c->pad, c->ms_k, c->ms_s, (unsigned long long)seed, at,
         got[at], want[at]);
  free(x), free(mask), free(want), free(got), free(gotc);
}

static void test_softmax(nncl_backend *dut, nncl_backend *cref)
{
  static const size_t shapes[][4] = {{1, 1, 1, 1}, {2, 3, 5, 5}, {3, 4, 28, 28}, {1, 2, 7, 13}, {5, 1, 17, 300}, {2, 2, 64, 65}};
  uint64_t seed = 100;
  for (size_t i = 0; i < sizeof shapes / sizeof *shapes; i++)
    for (int causal = 0; causal < 2; causal++)
      for (int mode = 0; mode < 3; mode++) {
        const size_t *s = shapes[i];
        scase c = {s[0], s[1], s[2], s[3], causal, mode, 0.37f, mode == 2 ? -2.0f : 0.0f, 1, s[3]};
        check_softmax(dut, cref, &c, seed++);
        c.ms_k = 3, c.ms_s = 3 * s[3] + 1; /* the first value of each step of a (T, 3) layer */
        check_softmax(dut, cref, &c, seed++);
      }
}

/* A NaN score reaches the output of its row (the training loop's guard looks for it);
 * the other rows stay finite and right. */
static void test_softmax_nan(nncl_backend *be)
{
  scase c = {1, 1, 3, 8, 0, 0, 0.5f, 0, 1, 8};
  float x[24], mask[8] = {0}, y[24], want[24];
  for (int i = 0; i < 24; i++) x[i] = (float)(i % 5) - 2.0f;
  x[8 + 3] = NAN;
  ref_softmax(&c, x, mask, want);
  int nan_out = 0, bad = run_softmax(be, &c, x, mask, y);
  for (int i = 8; i < 16; i++) nan_out |= isnan(y[i]);
  for (int i = 0; i < 24 && !bad; i++)
    if ((i < 8 || i >= 16) && !tu_close(y[i], want[i], 1, 1e-5, 1e-6)) bad = 1;
  if (bad || !nan_out) FAIL("op=attn_softmax on %s: a NaN score: %s", be->name, bad ? "other rows wrong" : "no NaN in its row");
}

int main(void)
{
  nncl_ctx *dctx = NULL, *cctx = NULL;
  int st = tu_open(tu_device(), 0, &dctx);
  if (st) return st;
  nncl_backend *dut = nncl_ctx_be(dctx), *cref = NULL;
  if (!tu_is_c(dut)) {
    if (tu_open("c", 0, &cctx)) return 1;
    cref = nncl_ctx_be(cctx);
  }
  test_bgemm(dut, cref);
  test_softmax(dut, cref);
  test_softmax_nan(dut);
  if (cref) test_softmax_nan(cref);
  printf("test_ops_seq on %s: %d failures\n", dut->device, failures);
  nncl_ctx_destroy(cctx);
  nncl_ctx_destroy(dctx);
  return failures != 0;
}
