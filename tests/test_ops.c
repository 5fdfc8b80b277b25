/* test_ops.c - every op in ops.def (but the vision ops, which test_ops_vision covers:
 * refv_owns in ref_vision.h) on the device under test ($NNCL_DEVICE) against the
 * double-precision reference (ref_ops.c) on random and awkward shapes (1, primes,
 * non-multiples of 16/64), every tensor at a non-zero byte offset between guard words;
 * against a C context too when the device is not C. On C: results must be bit-identical
 * run to run and with one thread. */
#include "fallback/fb.h"
#include "ref_ops.h"
#include "ref_optim.h"
#include "ref_seq.h"
#include "ref_vision.h"
#include "ref_rnn.h"
#include "oprun.h"
#include "testutil.h"

#define MAX_CASES 128

typedef struct op_case {
  int op;
  size_t n[4];
  float f[8];
  int i[4];
  int alias_out, alias_in; /* t[alias_out] shares t[alias_in]'s memory; -1: none */
} op_case;

typedef struct tol {
  double rtol, atol;
  int abs_scale; /* scale = reference run on |inputs|, for sums that may cancel */
} tol;

typedef struct env {
  nncl_backend *dut, *c, *c1; /* device under test; C (when dut is not C); C, 1 thread */
  int compare_threads;
  size_t checked;
} env;

static const char *op_name(int op)
{
  static const char *names[] = {
#define NNCL_OP(id, name) #name,
#include "ops.def"
#undef NNCL_OP
  };
  return op >= 0 && op < NNCL_OP_COUNT ? names[op] : "?";
}

/* ---- cases ---------------------------------------------------------------------------- */

static const size_t elem_sizes[] = {1, 7, 13, 31, 257, 1000, 4099, 65537, 300007};
static const size_t row_shapes[][2] = {{1, 1},  {1, 7},    {7, 1},   {13, 31},
                                       {31, 257}, {64, 10}, {257, 13}, {3001, 97}};
static const size_t mm_shapes[][3] = {{1, 1, 1},    {1, 7, 13},    {7, 1, 13},   {13, 31, 7},
                                      {31, 13, 257}, {64, 128, 784}, {64, 10, 64}, {257, 129, 65},
                                      {100, 37, 1}, {33, 65, 129}};
#define COUNT(a) (sizeof(a) / sizeof(a[0]))

static int is_elementwise(int op)
{
  switch (op) {
  case NNCL_OP_FILL: case NNCL_OP_COPY: case NNCL_OP_ADD: case NNCL_OP_SCALE:
  case NNCL_OP_RELU: case NNCL_OP_RELU_GRAD: case NNCL_OP_LEAKY_RELU: case NNCL_OP_LEAKY_RELU_GRAD:
  case NNCL_OP_ELU: case NNCL_OP_ELU_GRAD: case NNCL_OP_GELU: case NNCL_OP_GELU_GRAD:
  case NNCL_OP_SIGMOID: case NNCL_OP_SIGMOID_GRAD: case NNCL_OP_TANH: case NNCL_OP_TANH_GRAD:
  case NNCL_OP_SUM: case NNCL_OP_MEAN: case NNCL_OP_SGD_UPDATE: case NNCL_OP_ADAM_UPDATE:
    return 1;
  default: return 0;
  }
}

static op_case base_case(int op)
{
  op_case c = {.op = op, .alias_out = -1, .alias_in = -1};
  return c;
}

/* Op-specific floats and ints for variant v of a case with `rows` rows. */
static void set_params(op_case *c, int v, size_t rows)
{
  switch (c->op) {
  case NNCL_OP_FILL: c->f[0] = v % 2 ? -0.375f : 1.25f; break;
  case NNCL_OP_SCALE: c->f[0] = -1.75f; break;
  case NNCL_OP_LEAKY_RELU: case NNCL_OP_LEAKY_RELU_GRAD: c->f[0] = 0.1f; break;
  case NNCL_OP_ELU: case NNCL_OP_ELU_GRAD: c->f[0] = 1.3f; break;
  case NNCL_OP_SUM_ROWS: c->f[1] = v % 2 ? 0.5f : 0.0f; break;
  case NNCL_OP_SOFTMAX_XENT_GRAD: case NNCL_OP_MSE_GRAD: case NNCL_OP_BCE_GRAD:
    c->f[0] = 1.0f / (float)rows;
    break;
  case NNCL_OP_SGD_UPDATE: { /* plain, momentum + L2, Nesterov, momentum + decoupled decay */
    static const float p[4][3] = {{0.1f, 0.0f, 0.0f}, {0.05f, 0.9f, 0.01f}, {0.05f, 0.9f, 0.0f}, {0.05f, 0.9f, 0.1f}};
    memcpy(c->f, p[v % 4], sizeof p[0]);
    c->i[0] = v % 4 == 2, c->i[1] = v % 4 == 3;
    break;
  }
  case NNCL_OP_ADAM_UPDATE: {
    int t = 3;
    c->f[0] = 1e-3f;
    c->f[1] = 0.9f;
    c->f[2] = 0.999f;
    c->f[3] = 1e-8f;
    c->f[4] = v % 3 ? 0.01f : 0.0f;
    c->f[5] = (float)(1 / (1 - pow(0.9, t)));
    c->f[6] = (float)(1 / (1 - pow(0.999, t)));
    c->i[0] = v % 3 == 2;
    break;
  }
  default: break;
  }
}

/* All cases of op; returns their count (0: the op has no cases). */
static int cases_for(int op, op_case *out)
{
  int n = 0;
  if (op == NNCL_OP_MATMUL) {
    static const float ab[4][2] = {{1, 0}, {0.5f, 0}, {1, 1}, {-1.5f, 0.25f}};
    for (size_t s = 0; s < COUNT(mm_shapes); s++)
      for (int t = 0; t < 4; t++) {
        op_case c = base_case(op);
        memcpy(c.n, mm_shapes[s], sizeof mm_shapes[s]);
        c.i[0] = t & 1;
        c.i[1] = t >> 1;
        c.f[0] = ab[(s + (size_t)t) % 4][0];
        c.f[1] = ab[(s + (size_t)t) % 4][1];
        out[n++] = c;
      }
  } else if (is_elementwise(op)) {
    for (size_t s = 0; s < COUNT(elem_sizes); s++) {
      op_case c = base_case(op);
      c.n[0] = elem_sizes[s];
      set_params(&c, (int)s, 1);
      out[n++] = c;
    }
  } else {
    for (size_t s = 0; s < COUNT(row_shapes); s++) {
      op_case c = base_case(op);
      c.n[0] = row_shapes[s][0];
      c.n[1] = row_shapes[s][1];
      set_params(&c, (int)s, c.n[0]);
      out[n++] = c;
    }
  }
  /* In-place variants where ops.def allows them. */
  int base = n;
  for (int k = 0; k < base && n < MAX_CASES - 2; k += 3) {
    op_case c = out[k];
    if (op == NNCL_OP_BIAS_ADD || op == NNCL_OP_SCALE) {
      c.alias_out = 1;
      c.alias_in = 0;
      out[n++] = c;
    } else if (op == NNCL_OP_ADD) {
      c.alias_out = 2;
      c.alias_in = k % 2;
      out[n++] = c;
    }
  }
  return n;
}

/* Value range of input tensor ti. */
static void value_range(int op, int ti, double *lo, double *hi)
{
  *lo = -2;
  *hi = 2;
  switch (op) {
  case NNCL_OP_SOFTMAX: case NNCL_OP_SOFTMAX_XENT: case NNCL_OP_GELU: case NNCL_OP_GELU_GRAD:
    if (ti == 0) *lo = -5, *hi = 5;
    break;
  case NNCL_OP_ELU: case NNCL_OP_ELU_GRAD:
    if (ti == 0) *lo = -4;
    break;
  case NNCL_OP_SIGMOID_GRAD: case NNCL_OP_SOFTMAX_XENT_GRAD:
    if (ti == 0) *lo = 0, *hi = 1;
    break;
  case NNCL_OP_SOFTMAX_GRAD:
    if (ti == 0) *lo = 0, *hi = 1;
    break;
  case NNCL_OP_TANH_GRAD:
    if (ti == 0) *lo = -1, *hi = 1;
    break;
  case NNCL_OP_BCE: case NNCL_OP_BCE_GRAD:
    if (ti == 1) *lo = 0, *hi = 1;
    break;
  case NNCL_OP_ADAM_UPDATE:
    if (ti == 2) *lo = -0.1, *hi = 0.1;
    if (ti == 3) *lo = 0, *hi = 0.01;
    break;
  default: break;
  }
}

static tol op_tol(const op_case *c)
{
  switch (c->op) {
  case NNCL_OP_MATMUL: return (tol){2e-6 * sqrt((double)c->n[2] + 1) + 1e-6, 1e-30, 1};
  case NNCL_OP_SUM_ROWS: return (tol){2e-6 * sqrt((double)c->n[0] + 1) + 1e-6, 1e-30, 1};
  case NNCL_OP_ADD: case NNCL_OP_BIAS_ADD: case NNCL_OP_SUM: case NNCL_OP_MEAN:
    return (tol){1e-6, 1e-30, 1};
  case NNCL_OP_ELU: case NNCL_OP_ELU_GRAD: case NNCL_OP_GELU: case NNCL_OP_GELU_GRAD:
  case NNCL_OP_SIGMOID: case NNCL_OP_TANH: case NNCL_OP_SOFTMAX: case NNCL_OP_SOFTMAX_GRAD:
  case NNCL_OP_SOFTMAX_XENT: case NNCL_OP_BCE: case NNCL_OP_BCE_GRAD:
    return (tol){1e-5, 2e-6, 0};
  case NNCL_OP_SGD_UPDATE: case NNCL_OP_ADAM_UPDATE: return (tol){1e-5, 2e-7, 0};
  default: return (tol){2e-6, 1e-7, 0};
  }
}

/* ---- running a case ------------------------------------------------------------------- */

typedef struct host_case {
  ref_tensor lay[NNCL_ARGS_T];
  void *in[NNCL_ARGS_T];  /* initial values (f32 or i32); OUT tensors hold NaN */
} host_case;

/* Runs c on be from h's inputs; outputs of every non-IN tensor land in out[] (malloc'd).
 * Returns 0, 1 on failure (printed). */
static int run_on(nncl_backend *be, const op_case *c, const host_case *h, tu_rng *rng,
                  void *out[NNCL_ARGS_T])
{
  nncl_args a = {0};
  memcpy(a.n, c->n, sizeof c->n);
  memcpy(a.f, c->f, sizeof c->f);
  memcpy(a.i, c->i, sizeof c->i);
  return tu_run_op(be, c->op, a, h->lay, h->in, c->alias_out, c->alias_in, rng, out);
}

static void print_case(const op_case *c, uint64_t seed)
{
  fprintf(stderr, "FAIL op=%s n=[%zu %zu %zu %zu] f=[%g %g %g %g %g] i=[%d %d] alias=t%d<-t%d seed=%llu\n",
          op_name(c->op), c->n[0], c->n[1], c->n[2], c->n[3], c->f[0], c->f[1], c->f[2], c->f[3],
          c->f[4], c->i[0], c->i[1], c->alias_out, c->alias_in, (unsigned long long)seed);
}

/* Compares got (device) with want (double, or a second device's floats when want_f). */
static int compare(const op_case *c, const host_case *h, void *got[NNCL_ARGS_T],
                   double *want[NNCL_ARGS_T], void *want_f[NNCL_ARGS_T],
                   double *scale[NNCL_ARGS_T], double mult, const char *what, uint64_t seed)
{
  tol tl = op_tol(c);
  for (int i = 0; i < NNCL_ARGS_T; i++) {
    if (!got[i]) continue;
    for (size_t k = 0; k < h->lay[i].len; k++) {
      int ok;
      double g, w, s = 0;
      if (h->lay[i].i32) {
        g = ((int32_t *)got[i])[k];
        w = want_f ? ((int32_t *)want_f[i])[k] : (double)((int32_t *)want[i])[k];
        ok = g == w;
      } else {
        g = ((float *)got[i])[k];
        w = want_f ? ((float *)want_f[i])[k] : want[i][k];
        s = tl.abs_scale && scale ? scale[i][k] : w;
        ok = tu_close(g, w, s, tl.rtol * mult, tl.atol * mult);
      }
      if (!ok) {
        print_case(c, seed);
        fprintf(stderr, "  %s: t%d[%zu] = %.9g, want %.9g (scale %.3g, rtol %.2g, atol %.2g)\n",
                what, i, k, g, w, s, tl.rtol * mult, tl.atol * mult);
        return 1;
      }
    }
  }
  return 0;
}

static int bitwise_equal(const op_case *c, const host_case *h, void *x[NNCL_ARGS_T],
                         void *y[NNCL_ARGS_T], const char *what, uint64_t seed)
{
  for (int i = 0; i < NNCL_ARGS_T; i++) {
    if (!x[i]) continue;
    for (size_t k = 0; k < h->lay[i].len; k++)
      if (memcmp((char *)x[i] + 4 * k, (char *)y[i] + 4 * k, 4)) {
        print_case(c, seed);
        fprintf(stderr, "  %s: t%d[%zu] differs bitwise: %.9g vs %.9g\n", what, i, k,
                (double)((float *)x[i])[k], (double)((float *)y[i])[k]);
        return 1;
      }
  }
  return 0;
}

/* Reference on h's inputs; with `absolute`, on |inputs| and |f| (the magnitude scale). */
static int reference(const op_case *c, const host_case *h, int absolute, double *d[NNCL_ARGS_T])
{
  ref_args r = {0};
  memcpy(r.n, c->n, sizeof r.n);
  memcpy(r.i, c->i, sizeof r.i);
  for (int i = 0; i < 8; i++) r.f[i] = absolute ? fabs((double)c->f[i]) : c->f[i];
  for (int i = 0; i < NNCL_ARGS_T; i++) {
    d[i] = NULL;
    if (!h->lay[i].role) continue;
    size_t len = h->lay[i].len;
    d[i] = malloc(len * sizeof(double) + 8);
    if (h->lay[i].i32) {
      r.l[i] = (int32_t *)d[i];
      memcpy(r.l[i], h->in[i], len * 4);
    } else {
      r.d[i] = d[i];
      for (size_t k = 0; k < len; k++) {
        double v = ((float *)h->in[i])[k];
        r.d[i][k] = absolute ? fabs(v) : v;
      }
    }
  }
  return ref_run(c->op, &r);
}

static int run_case(env *E, const op_case *c, uint64_t seed)
{
  host_case h = {0};
  void *got[NNCL_ARGS_T] = {0}, *other[NNCL_ARGS_T] = {0};
  double *want[NNCL_ARGS_T] = {0}, *scale[NNCL_ARGS_T] = {0};
  tu_rng rng = {seed};
  int fail = 0;
  if (ref_layout(c->op, c->n, c->f, h.lay)) {
    print_case(c, seed);
    fprintf(stderr, "  no reference for this op in ref_ops.c\n");
    return 1;
  }
  for (int i = 0; i < NNCL_ARGS_T; i++) {
    if (!h.lay[i].role) continue;
    size_t len = h.lay[i].len;
    h.in[i] = malloc(len * 4 + 4);
    double lo, hi;
    value_range(c->op, i, &lo, &hi);
    for (size_t k = 0; k < len; k++) {
      if (h.lay[i].i32)
        ((int32_t *)h.in[i])[k] = (int32_t)tu_below(&rng, c->n[1]);
      else
        ((float *)h.in[i])[k] = h.lay[i].role == REF_OUT ? NAN : (float)tu_uniform(&rng, lo, hi);
    }
  }
  if (reference(c, &h, 0, want)) {
    print_case(c, seed);
    fprintf(stderr, "  reference failed\n");
    fail = 1;
  }
  if (!fail && op_tol(c).abs_scale) reference(c, &h, 1, scale);
  fail = fail || run_on(E->dut, c, &h, &rng, got) || compare(c, &h, got, want, NULL, scale, 1, E->dut->name, seed);
  if (!fail && E->c) {
    fail = run_on(E->c, c, &h, &rng, other) || compare(c, &h, got, NULL, other, scale, 2, "cl vs c", seed);
    tu_free_outs(other);
  }
  if (!fail && tu_is_c(E->dut)) {
    fail = run_on(E->dut, c, &h, &rng, other) || bitwise_equal(c, &h, got, other, "rerun", seed);
    tu_free_outs(other);
    int cblas_mm = c->op == NNCL_OP_MATMUL && fb_of(E->dut)->gemm == FB_GEMM_CBLAS;
    if (!fail && E->compare_threads && !cblas_mm) {
      fail = run_on(E->c1, c, &h, &rng, other) || bitwise_equal(c, &h, got, other, "1 thread", seed);
      tu_free_outs(other);
    }
  }
  tu_free_outs(got);
  for (int i = 0; i < NNCL_ARGS_T; i++) free(h.in[i]), free(want[i]), free(scale[i]);
  E->checked++;
  return fail;
}

int main(void)
{
  const char *dev = tu_device();
  nncl_ctx *dut = NULL, *cc = NULL, *c1 = NULL;
  int st = tu_open(dev, 0, &dut);
  if (st) return st;
  env E = {.dut = nncl_ctx_be(dut)};
  if (!tu_is_c(E.dut)) {
    if ((st = tu_open("c", 0, &cc))) return 1;
    E.c = nncl_ctx_be(cc);
  } else if (fb_of(E.dut)->threads > 1) {
    if ((st = tu_open("c", 1, &c1))) return 1;
    E.c1 = nncl_ctx_be(c1);
    E.compare_threads = 1;
  }
  printf("device under test: %s\n", nncl_ctx_device(dut));
  uint64_t seed = 20240601;
  const char *s = getenv("NNCL_TEST_SEED");
  if (s && *s) seed = strtoull(s, NULL, 10);
  int failed_ops = 0;
  static op_case cases[MAX_CASES];
  for (int op = 0; op < NNCL_OP_COUNT; op++) {
    if (refv_owns(op)) {
      printf("%-20s (tested by test_ops_vision)\n", op_name(op));
      continue;
    }
    if (op == NNCL_OP_FOCAL || op == NNCL_OP_FOCAL_GRAD) {
      printf("%-20s (tested by test_ops_focal)\n", op_name(op));
      continue;
    }
    if (refs_owns(op)) {
      printf("%-20s (tested by test_ops_seq)\n", op_name(op));
      continue;
    }
    if (refr_owns(op)) {
      printf("%-20s (tested by test_ops_rnn)\n", op_name(op));
      continue;
    }
    if (refo_owns(op)) {
      printf("%-20s (tested by test_ops_optim)\n", op_name(op));
      continue;
    }
    int n = cases_for(op, cases), bad = 0;
    if (n == 0) {
      fprintf(stderr, "FAIL op=%s: no test cases\n", op_name(op));
      bad = 1;
    }
    for (int k = 0; k < n && !bad; k++) bad = run_case(&E, &cases[k], seed + (uint64_t)op * 1000 + (uint64_t)k);
    printf("%-20s %3d cases %s\n", op_name(op), n, bad ? "FAIL" : "ok");
    failed_ops += bad;
  }
  printf("%zu cases, %d of %d ops failed\n", E.checked, failed_ops, NNCL_OP_COUNT);
  nncl_ctx_destroy(c1);
  nncl_ctx_destroy(cc);
  nncl_ctx_destroy(dut);
  return failed_ops ? 1 : 0;
}
