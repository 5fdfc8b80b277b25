/* test_golden_vision.c - the vision ops on the device under test ($NNCL_DEVICE) against
 * golden vectors from PyTorch in float64 (tests/gen_golden_vision.py writes
 * tests/data/golden_vision.safetensors; its docstring lists the tensors):
 *   max/avg pooling forward and input gradient (padding, ceil mode, count_include_pad,
 *   global pooling) vs F.max_pool2d / F.avg_pool2d;
 *   batch norm training forward, gradients, running-statistics update (RUNNING_UPDATE with
 *   the unbiased correction) and eval forward vs F.batch_norm;
 *   layer norm forward and gradients vs F.layer_norm. */
#include <math.h>

#include "safetensors.h"
#include "testutil.h"

static nncl_st_file *golden;
static nncl_backend *be;
static int failures;

/* Golden tensor name (F32, or I32 when i32) with exactly n elements (n 0: any); its
 * element count in *count. NULL when absent (quiet) or malformed (a failure). */
static const void *find(const char *name, int i32, size_t n, size_t *count)
{
  nncl_st_tensor t;
  if (nncl_st_find(golden, name, &t)) return NULL;
  size_t c = t.bytes / 4;
  if (strcmp(t.dtype, i32 ? "I32" : "F32") || (n && c != n)) {
    printf("FAIL golden tensor %s: not %s with %zu elements\n", name, i32 ? "I32" : "F32", n);
    failures++;
    return NULL;
  }
  if (count) *count = c;
  return t.data;
}

static const float *tensor(const char *prefix, const char *what, size_t n)
{
  char name[96];
  snprintf(name, sizeof name, "%s%s", prefix, what);
  const float *p = find(name, 0, n, NULL);
  if (!p && !failures) {
    printf("FAIL golden tensor %s missing\n", name);
    failures++;
  }
  return p;
}

/* Device tensors of one op call. */
typedef struct call {
  tu_tensor t[NNCL_ARGS_T];
  nncl_args a;
} call;

/* t[i] = n elements from src (NULL: uninitialised). */
static int put(call *c, int i, const void *src, size_t n)
{
  if (tu_alloc(be, n, 3 + (size_t)i, &c->t[i]) || (src && tu_write(be, &c->t[i], src))) return 1;
  c->a.t[i] = tu_ref(&c->t[i]);
  return 0;
}

static int run(call *c, int op, const char *what)
{
  int st = nncl_run(be, op, &c->a);
  if (!st) st = be->finish(be);
  if (st) {
    printf("FAIL %s: %s returned %s: %s\n", what, nncl_op_name(op), nncl_strerror(st), nncl_errmsg(be->ctx));
    failures++;
  }
  return st;
}

static void release(call *c)
{
  for (int i = 0; i < NNCL_ARGS_T; i++) tu_free(be, &c->t[i]);
}

/* Device t[i] against want: |got - want| <= rtol |want| + afrac max(1, max |want|). */
static void expect(call *c, int i, const float *want, size_t n, const char *what, double rtol, double afrac)
{
  if (!want) return;
  float *got = malloc(n * 4 + 4);
  if (!got || tu_read(be, &c->t[i], got)) {
    printf("FAIL %s: cannot read the result\n", what);
    failures++;
    free(got);
    return;
  }
  double big = 1, worst = 0; /* values that cancel to 0 err on O(1) terms */
  for (size_t k = 0; k < n; k++) big = fmax(big, fabs(want[k]));
  for (size_t k = 0; k < n; k++) {
    double e = fabs((double)got[k] - want[k]);
    if (!(e <= rtol * fabs(want[k]) + afrac * big)) {
      printf("FAIL %-26s index %zu: got %.9g want %.9g (max |want| %.3g)\n", what, k, (double)got[k],
             (double)want[k], big);
      failures++;
      free(got);
      return;
    }
    worst = fmax(worst, e);
  }
  printf("ok   %-26s %5zu values, max abs err %.3g (max |want| %.3g)\n", what, n, worst, big);
  free(got);
}

/* Device t[i] against the golden "<prefix><name>" (n values). */
static void expect_golden(call *c, int i, const char *prefix, const char *name, size_t n, double rtol, double afrac)
{
  char what[64];
  snprintf(what, sizeof what, "%s%s", prefix, name);
  expect(c, i, tensor(prefix, name, n), n, what, rtol, afrac);
}

/* ---- pooling ------------------------------------------------------------------------- */

static void pool_case(int max, const char *prefix, const int32_t *g)
{
  size_t N = (size_t)g[0], C = (size_t)g[1], H = (size_t)g[2], W = (size_t)g[3], OH = (size_t)g[12],
         OW = (size_t)g[13];
  size_t in = N * C * H * W, out = N * C * OH * OW;
  const float *x = tensor(prefix, "x", in), *dy = tensor(prefix, "dy", out);
  const float *y = tensor(prefix, "y", out), *dx = tensor(prefix, "dx", in);
  if (!x || !dy || !y || !dx) return;
  nncl_args geo = {.n = {N * C, H, W, OH, OW}, .i = {g[4], g[5], g[6], g[7], g[8], g[9], g[11]}};
  char what[64];
  call f = {.a = geo}, b = {.a = geo};
  snprintf(what, sizeof what, "%sy", prefix);
  if (put(&f, 0, x, in) || put(&f, 1, NULL, out) || (max && put(&f, 2, NULL, out))) goto done;
  if (run(&f, max ? NNCL_OP_MAXPOOL2D : NNCL_OP_AVGPOOL2D, what)) goto done;
  expect(&f, 1, y, out, what, 1e-6, 1e-7);
  snprintf(what, sizeof what, "%sdx", prefix);
  if (max) {
    b.a.t[0] = f.a.t[2];
    if (put(&b, 1, dy, out) || put(&b, 2, NULL, in) || run(&b, NNCL_OP_MAXPOOL2D_GRAD, what)) goto done;
    expect(&b, 2, dx, in, what, 1e-6, 1e-7);
  } else {
    if (put(&b, 0, dy, out) || put(&b, 1, NULL, in) || run(&b, NNCL_OP_AVGPOOL2D_GRAD, what)) goto done;
    expect(&b, 1, dx, in, what, 1e-6, 1e-7);
  }
done:
  release(&f);
  release(&b);
}

/* ---- normalization ---------------------------------------------------------------------- */

/* The backward op (BATCHNORM_GRAD, LAYERNORM_GRAD) from forward f's x (t0), gamma (t2),
 * mean (t4) and invstd (t5) into b: dx (n values), dgamma and dbeta (C values each) against
 * the golden ones. Returns nonzero when it could not run. */
static int norm_backward(call *f, call *b, int op, const char *prefix, const float *dy, size_t n, size_t C)
{
  char what[64];
  b->a.t[0] = f->a.t[0], b->a.t[2] = f->a.t[2], b->a.t[3] = f->a.t[4], b->a.t[4] = f->a.t[5];
  if (put(b, 1, dy, n) || put(b, 5, NULL, n) || put(b, 6, NULL, C) || put(b, 7, NULL, C)) return 1;
  snprintf(what, sizeof what, "%sdx", prefix);
  if (run(b, op, what)) return 1;
  expect_golden(b, 5, prefix, "dx", n, 1e-4, 1e-5);
  expect_golden(b, 6, prefix, "dgamma", C, 1e-5, 1e-6);
  expect_golden(b, 7, prefix, "dbeta", C, 1e-5, 1e-6);
  return 0;
}

/* ---- batch norm ------------------------------------------------------------------------ */

static void batchnorm_case(const char *prefix, const int32_t *g)
{
  size_t N = (size_t)g[0], C = (size_t)g[1], P = (size_t)g[2], n = N * C * P;
  const float *eps = tensor(prefix, "eps", 1), *mom = tensor(prefix, "momentum", 1);
  const float *x = tensor(prefix, "x", n), *gamma = tensor(prefix, "gamma", C), *beta = tensor(prefix, "beta", C);
  const float *rm = tensor(prefix, "rmean", C), *rv = tensor(prefix, "rvar", C), *dy = tensor(prefix, "dy", n);
  if (!eps || !mom || !x || !gamma || !beta || !rm || !rv || !dy) return;
  char what[64];
  call f = {.a = {.n = {N, C, P}, .f = {*eps}, .i = {1}}}, b = {.a = f.a}, e = {.a = f.a};
  e.a.i[0] = 0;
  /* training forward: t4 mean, t5 invstd, t6 var */
  if (put(&f, 0, x, n) || put(&f, 1, NULL, n) || put(&f, 2, gamma, C) || put(&f, 3, beta, C) ||
      put(&f, 4, NULL, C) || put(&f, 5, NULL, C) || put(&f, 6, NULL, C))
    goto done;
  snprintf(what, sizeof what, "%sy", prefix);
  if (run(&f, NNCL_OP_BATCHNORM, what)) goto done;
  expect_golden(&f, 1, prefix, "y", n, 1e-5, 1e-6);
  expect_golden(&f, 4, prefix, "mean", C, 1e-5, 1e-6);
  expect_golden(&f, 6, prefix, "var", C, 1e-5, 1e-6);
  if (norm_backward(&f, &b, NNCL_OP_BATCHNORM_GRAD, prefix, dy, n, C)) goto done;
  /* running stats: mean with correction 1, the biased var with M / (M - 1) */
  double M = (double)(N * P);
  const char *stat[2] = {"rmean_new", "rvar_new"};
  for (int k = 0; k < 2; k++) {
    call r = {.a = {.n = {C}, .f = {*mom, k ? (float)(M / (M - 1)) : 1.0f}}};
    r.a.t[1] = f.a.t[k ? 6 : 4];
    snprintf(what, sizeof what, "%s%s", prefix, stat[k]);
    if (!put(&r, 0, k ? rv : rm, C) && !run(&r, NNCL_OP_RUNNING_UPDATE, what))
      expect(&r, 0, tensor(prefix, stat[k], C), C, what, 1e-5, 1e-6);
    release(&r);
  }
  /* eval with the running stats as given */
  e.a.t[0] = f.a.t[0], e.a.t[2] = f.a.t[2], e.a.t[3] = f.a.t[3];
  if (put(&e, 1, NULL, n) || put(&e, 4, rm, C) || put(&e, 5, rv, C)) goto done;
  snprintf(what, sizeof what, "%sy_eval", prefix);
  if (!run(&e, NNCL_OP_BATCHNORM, what)) expect(&e, 1, tensor(prefix, "y_eval", n), n, what, 1e-5, 1e-6);
done:
  release(&f);
  release(&b);
  release(&e);
}

/* ---- layer norm ------------------------------------------------------------------------ */

static void layernorm_case(const char *prefix, const int32_t *g)
{
  size_t R = (size_t)g[0], D = (size_t)g[1], n = R * D;
  const float *eps = tensor(prefix, "eps", 1), *x = tensor(prefix, "x", n), *gamma = tensor(prefix, "gamma", D);
  const float *beta = tensor(prefix, "beta", D), *dy = tensor(prefix, "dy", n);
  if (!eps || !x || !gamma || !beta || !dy) return;
  char what[64];
  call f = {.a = {.n = {R, D}, .f = {*eps}}}, b = {.a = f.a};
  if (put(&f, 0, x, n) || put(&f, 1, NULL, n) || put(&f, 2, gamma, D) || put(&f, 3, beta, D) ||
      put(&f, 4, NULL, R) || put(&f, 5, NULL, R))
    goto done;
  snprintf(what, sizeof what, "%sy", prefix);
  if (run(&f, NNCL_OP_LAYERNORM, what)) goto done;
  expect_golden(&f, 1, prefix, "y", n, 1e-5, 1e-6);
  expect_golden(&f, 4, prefix, "mean", R, 1e-5, 1e-6);
  expect_golden(&f, 5, prefix, "invstd", R, 1e-5, 1e-6);
  norm_backward(&f, &b, NNCL_OP_LAYERNORM_GRAD, prefix, dy, n, D);
done:
  release(&f);
  release(&b);
}

int main(void)
{
  nncl_ctx *ctx;
  int st = tu_open(tu_device(), 0, &ctx);
  if (st) return st;
  be = nncl_ctx_be(ctx);
  printf("device under test: %s\n", nncl_ctx_device(ctx));
  const char *dir = getenv("NNCL_TEST_DATA");
  char path[1024];
  snprintf(path, sizeof path, "%s/golden_vision.safetensors", dir && *dir ? dir : "tests/data");
  if ((st = nncl_st_open(ctx, path, &golden))) {
    printf("FAIL cannot open %s: %s\n", path, nncl_errmsg(ctx));
    nncl_ctx_destroy(ctx);
    return 1;
  }
  static const char *const kinds[] = {"maxpool", "avgpool", "batchnorm", "layernorm"};
  static const size_t geom_len[] = {14, 14, 3, 2};
  int cases = 0;
  for (int kind = 0; kind < 4; kind++)
    for (int k = 0;; k++) {
      char prefix[48], name[64];
      snprintf(prefix, sizeof prefix, "%s.%d.", kinds[kind], k);
      snprintf(name, sizeof name, "%sgeom", prefix);
      const int32_t *g = find(name, 1, geom_len[kind], NULL);
      if (!g) break;
      cases++;
      if (kind < 2) pool_case(kind == 0, prefix, g);
      else if (kind == 2) batchnorm_case(prefix, g);
      else layernorm_case(prefix, g);
    }
  if (cases < 20) {
    printf("FAIL only %d golden cases in %s\n", cases, path);
    failures++;
  }
  nncl_st_close(golden);
  nncl_ctx_destroy(ctx);
  printf("%d golden cases, %d failures\n", cases, failures);
  return failures ? 1 : 0;
}
