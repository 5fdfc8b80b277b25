/* test_gradcheck.c - every *_grad op of ops.def on the device under test ($NNCL_DEVICE)
 * against central finite differences of its forward: in double through the reference
 * (ref_ops.c, tight tolerance) and in float through the device's own forward (loose
 * tolerance: the device's forward and gradient must agree). Inputs avoid the kinks of the
 * relu family. Also SGD (plain, momentum, Nesterov, L2) and Adam/AdamW updates over
 * several steps against the reference formulas. */
#include "ref_ops.h"
#include "ref_vision.h"
#include "ref_rnn.h"
#include "testutil.h"

#define NMAX 512

static const char *op_name(int op)
{
  static const char *names[] = {
#define NNCL_OP(id, name) #name,
#include "ops.def"
#undef NNCL_OP
  };
  return op >= 0 && op < NNCL_OP_COUNT ? names[op] : "?";
}

/* Runs op on be: host[i] (len[i] elements, NULL = unused ref) are uploaded, and those with
 * out[i] set are read back into host[i]. Returns 0 or 1 (printed). */
static int dev_op(nncl_backend *be, int op, const size_t n[4], const float f[8], const int iv[4],
                  void *host[NNCL_ARGS_T], const size_t len[NNCL_ARGS_T], const int out[NNCL_ARGS_T])
{
  tu_tensor t[NNCL_ARGS_T] = {0};
  nncl_args a = {0};
  int fail = 0;
  memcpy(a.n, n, 4 * sizeof *n);
  if (f) memcpy(a.f, f, 8 * sizeof *f);
  if (iv) memcpy(a.i, iv, 4 * sizeof *iv);
  for (int i = 0; i < NNCL_ARGS_T && !fail; i++) {
    if (!host[i]) continue;
    fail = tu_alloc(be, len[i], 1 + (size_t)i * 3, &t[i]) || tu_write(be, &t[i], host[i]);
    a.t[i] = tu_ref(&t[i]);
  }
  int st = fail ? 0 : nncl_run(be, op, &a);
  if (!fail && !st) st = be->finish(be);
  if (st) fprintf(stderr, "  %s returned %s: %s\n", op_name(op), nncl_strerror(st), nncl_errmsg(be->ctx));
  fail = fail || st;
  for (int i = 0; i < NNCL_ARGS_T && !fail; i++)
    if (host[i] && out[i]) fail = tu_read(be, &t[i], host[i]);
  for (int i = 0; i < NNCL_ARGS_T; i++) tu_free(be, &t[i]);
  return fail ? 1 : 0;
}

/* ---- the objective of each gradient op ----------------------------------------------- */

typedef struct gcase {
  int grad_op, fwd_op;
  size_t rows, cols;   /* elementwise ops: rows 1 */
  float f0;            /* the op's parameter (slope, alpha, loss scale) */
  double lo, hi;       /* input range */
  double kink;         /* inputs keep |x| >= kink */
} gcase;

/* The case for grad_op, or grad_op -1 when there is none. */
static gcase case_for(int op)
{
  gcase c = {.grad_op = op, .rows = 1, .cols = 97, .lo = -3, .hi = 3};
  switch (op) {
  case NNCL_OP_RELU_GRAD: c.fwd_op = NNCL_OP_RELU; c.kink = 0.05; break;
  case NNCL_OP_LEAKY_RELU_GRAD: c.fwd_op = NNCL_OP_LEAKY_RELU; c.f0 = 0.1f; c.kink = 0.05; break;
  case NNCL_OP_ELU_GRAD: c.fwd_op = NNCL_OP_ELU; c.f0 = 1.3f; c.kink = 0.05; break;
  case NNCL_OP_GELU_GRAD: c.fwd_op = NNCL_OP_GELU; break;
  case NNCL_OP_SIGMOID_GRAD: c.fwd_op = NNCL_OP_SIGMOID; break;
  case NNCL_OP_TANH_GRAD: c.fwd_op = NNCL_OP_TANH; c.lo = -2; c.hi = 2; break;
  case NNCL_OP_SOFTMAX_GRAD: c.fwd_op = NNCL_OP_SOFTMAX; c.rows = 5; c.cols = 7; break;
  case NNCL_OP_SOFTMAX_XENT_GRAD:
    c.fwd_op = NNCL_OP_SOFTMAX_XENT; c.rows = 6; c.cols = 11; c.f0 = 1.0f / 6; break;
  case NNCL_OP_MSE_GRAD: c.fwd_op = NNCL_OP_MSE; c.rows = 4; c.cols = 9; c.f0 = 0.25f; break;
  case NNCL_OP_BCE_GRAD: c.fwd_op = NNCL_OP_BCE; c.rows = 4; c.cols = 9; c.f0 = 0.25f; break;
  default: c.grad_op = -1; break;
  }
  return c;
}

static int is_activation(int fwd)
{
  return fwd != NNCL_OP_SOFTMAX && fwd != NNCL_OP_SOFTMAX_XENT && fwd != NNCL_OP_MSE &&
         fwd != NNCL_OP_BCE;
}

/* Inputs of a case: x (the variable), w (dy for activations and softmax, targets for
 * mse/bce), labels for softmax_xent. */
typedef struct gdata {
  size_t len;
  double x[NMAX], w[NMAX];
  int32_t label[NMAX];
} gdata;

/* L(x) in double through the reference forward:
 *   activations, softmax: sum dy y(x);  softmax_xent: f0 sum_r loss_r;
 *   mse, bce: f0 cols sum_r loss_r (their gradient op is f0 d/dx of the elementwise sum). */
static double objective_ref(const gcase *c, const gdata *d, const double *x)
{
  static double xin[NMAX], y[NMAX], aux[NMAX], w[NMAX];
  ref_args r = {0};
  r.n[0] = is_activation(c->fwd_op) ? d->len : c->rows;
  r.n[1] = c->cols;
  r.f[0] = c->f0;
  memcpy(xin, x, d->len * sizeof *x);
  memcpy(w, d->w, d->len * sizeof *w);
  r.d[0] = xin;
  double s = 0;
  switch (c->fwd_op) {
  case NNCL_OP_SOFTMAX_XENT:
    r.l[1] = (int32_t *)d->label;
    r.d[2] = aux;
    r.d[3] = y;
    ref_run(c->fwd_op, &r);
    for (size_t k = 0; k < c->rows; k++) s += c->f0 * y[k];
    return s;
  case NNCL_OP_MSE: case NNCL_OP_BCE:
    r.d[1] = w;
    r.d[2] = y;
    ref_run(c->fwd_op, &r);
    for (size_t k = 0; k < c->rows; k++) s += c->f0 * (double)c->cols * y[k];
    return s;
  default:
    r.d[1] = y;
    ref_run(c->fwd_op, &r);
    for (size_t k = 0; k < d->len; k++) s += d->w[k] * y[k];
    return s;
  }
}

/* The same objective with the device's forward, in float. */
static int objective_dev(nncl_backend *be, const gcase *c, const gdata *d, const float *x, double *L)
{
  static float xin[NMAX], y[NMAX], aux[NMAX], w[NMAX];
  void *host[NNCL_ARGS_T] = {0};
  size_t len[NNCL_ARGS_T] = {0};
  int out[NNCL_ARGS_T] = {0};
  size_t n[4] = {is_activation(c->fwd_op) ? d->len : c->rows, c->cols};
  float f[8] = {c->f0};
  memcpy(xin, x, d->len * sizeof *x);
  for (size_t k = 0; k < d->len; k++) w[k] = (float)d->w[k];
  host[0] = xin, len[0] = d->len;
  double s = 0;
  switch (c->fwd_op) {
  case NNCL_OP_SOFTMAX_XENT:
    host[1] = (void *)d->label, len[1] = c->rows;
    host[2] = aux, len[2] = d->len, out[2] = 1;
    host[3] = y, len[3] = c->rows, out[3] = 1;
    if (dev_op(be, c->fwd_op, n, f, NULL, host, len, out)) return 1;
    for (size_t k = 0; k < c->rows; k++) s += c->f0 * y[k];
    break;
  case NNCL_OP_MSE: case NNCL_OP_BCE:
    host[1] = w, len[1] = d->len;
    host[2] = y, len[2] = c->rows, out[2] = 1;
    if (dev_op(be, c->fwd_op, n, f, NULL, host, len, out)) return 1;
    for (size_t k = 0; k < c->rows; k++) s += c->f0 * (double)c->cols * y[k];
    break;
  default:
    host[1] = y, len[1] = d->len, out[1] = 1;
    if (dev_op(be, c->fwd_op, n, f, NULL, host, len, out)) return 1;
    for (size_t k = 0; k < d->len; k++) s += d->w[k] * y[k];
    break;
  }
  *L = s;
  return 0;
}

/* The device's gradient op: activations take x (sigmoid/tanh: y from the device forward)
 * and dy; softmax takes y and dy; softmax_xent takes p and labels; mse/bce x and targets. */
static int grad_dev(nncl_backend *be, const gcase *c, const gdata *d, float *dx)
{
  static float x[NMAX], w[NMAX], y[NMAX], aux[NMAX];
  void *host[NNCL_ARGS_T] = {0};
  size_t len[NNCL_ARGS_T] = {0};
  int out[NNCL_ARGS_T] = {0};
  size_t n[4] = {is_activation(c->fwd_op) ? d->len : c->rows, c->cols};
  float f[8] = {c->f0};
  for (size_t k = 0; k < d->len; k++) x[k] = (float)d->x[k], w[k] = (float)d->w[k];
  int needs_y = c->fwd_op == NNCL_OP_SIGMOID || c->fwd_op == NNCL_OP_TANH ||
                c->fwd_op == NNCL_OP_SOFTMAX || c->fwd_op == NNCL_OP_SOFTMAX_XENT;
  if (needs_y) {
    host[0] = x, len[0] = d->len;
    if (c->fwd_op == NNCL_OP_SOFTMAX_XENT) {
      host[1] = (void *)d->label, len[1] = c->rows;
      host[2] = y, len[2] = d->len, out[2] = 1;
      host[3] = aux, len[3] = c->rows;
    } else {
      host[1] = y, len[1] = d->len, out[1] = 1;
    }
    if (dev_op(be, c->fwd_op, n, f, NULL, host, len, out)) return 1;
    memcpy(x, y, d->len * sizeof *y);
    memset(host, 0, sizeof host);
    memset(out, 0, sizeof out);
  }
  host[0] = x, len[0] = d->len;
  if (c->grad_op == NNCL_OP_SOFTMAX_XENT_GRAD)
    host[1] = (void *)d->label, len[1] = c->rows;
  else
    host[1] = w, len[1] = d->len;
  host[2] = dx, len[2] = d->len, out[2] = 1;
  return dev_op(be, c->grad_op, n, f, NULL, host, len, out);
}

static int check_grad(nncl_backend *be, int op, uint64_t seed)
{
  gcase c = case_for(op);
  gdata *d = calloc(1, sizeof *d);
  tu_rng rng = {seed};
  d->len = c.rows * c.cols;
  for (size_t k = 0; k < d->len; k++) {
    double x;
    do x = (float)tu_uniform(&rng, c.lo, c.hi);
    while (fabs(x) < c.kink);
    d->x[k] = x;
    d->w[k] = (float)(c.fwd_op == NNCL_OP_BCE ? tu_uniform(&rng, 0, 1) : tu_uniform(&rng, -1, 1));
  }
  for (size_t r = 0; r < c.rows; r++) d->label[r] = (int32_t)tu_below(&rng, c.cols);
  static float dx[NMAX], xf[NMAX];
  int fail = grad_dev(be, &c, d, dx);
  for (size_t k = 0; k < d->len && !fail; k++) {
    /* double: h = 1e-5 (kinks are >= 0.05 away); float: h = 1e-2 */
    double xs[NMAX];
    memcpy(xs, d->x, d->len * sizeof *xs);
    xs[k] = d->x[k] + 1e-5;
    double lp = objective_ref(&c, d, xs);
    xs[k] = d->x[k] - 1e-5;
    double lm = objective_ref(&c, d, xs);
    double fd = (lp - lm) / 2e-5;
    for (size_t j = 0; j < d->len; j++) xf[j] = (float)d->x[j];
    double lpf = 0, lmf = 0;
    xf[k] = (float)(d->x[k] + 1e-2);
    fail = objective_dev(be, &c, d, xf, &lpf);
    double hf = (double)xf[k];
    xf[k] = (float)(d->x[k] - 1e-2);
    fail = fail || objective_dev(be, &c, d, xf, &lmf);
    double fdf = (lpf - lmf) / (hf - (double)xf[k]);
    if (fail) break;
    int ok_ref = fabs(dx[k] - fd) <= 1e-4 * fabs(fd) + 1e-6;
    int ok_dev = fabs(dx[k] - fdf) <= 2e-2 * fabs(fdf) + 2e-3;
    if (!ok_ref || !ok_dev) {
      fprintf(stderr, "FAIL op=%s rows=%zu cols=%zu f0=%g seed=%llu index %zu (x=%.6g): "
              "device grad %.8g, finite difference %.8g (reference forward), %.8g (device forward)\n",
              op_name(op), c.rows, c.cols, c.f0, (unsigned long long)seed, k, d->x[k],
              (double)dx[k], fd, fdf);
      fail = 1;
    }
  }
  free(d);
  return fail;
}

/* ---- optimizer updates over several steps -------------------------------------------- */

static int check_optim(nncl_backend *be, int op, const float fp[5], int flag, uint64_t seed)
{
  enum { N = 1031, STEPS = 5 };
  static float w[N], g[N], m[N], v[N];
  static double rw[N], rg[N], rm[N], rv[N];
  tu_rng rng = {seed};
  for (int k = 0; k < N; k++) {
    w[k] = (float)tu_uniform(&rng, -1, 1);
    rw[k] = w[k];
    m[k] = v[k] = 0;
    rm[k] = rv[k] = 0;
  }
  tu_tensor tw = {0}, tg = {0}, tm = {0}, tv = {0};
  int fail = tu_alloc(be, N, 5, &tw) || tu_alloc(be, N, 9, &tg) || tu_alloc(be, N, 2, &tm) ||
             tu_alloc(be, N, 3, &tv) || tu_write(be, &tw, w) || tu_write(be, &tm, m) ||
             tu_write(be, &tv, v);
  for (int step = 1; step <= STEPS && !fail; step++) {
    for (int k = 0; k < N; k++) {
      g[k] = (float)tu_uniform(&rng, -1, 1);
      rg[k] = g[k];
    }
    nncl_args a = {.n = {N}, .i = {flag}};
    ref_args r = {.n = {N}, .i = {flag}};
    memcpy(a.f, fp, 5 * sizeof *fp);
    if (op == NNCL_OP_ADAM_UPDATE) {
      a.f[5] = (float)(1 / (1 - pow(fp[1], step)));
      a.f[6] = (float)(1 / (1 - pow(fp[2], step)));
    }
    for (int i = 0; i < 8; i++) r.f[i] = a.f[i];
    a.t[0] = tu_ref(&tw);
    a.t[1] = tu_ref(&tg);
    r.d[0] = rw;
    r.d[1] = rg;
    if (op == NNCL_OP_ADAM_UPDATE) {
      a.t[2] = tu_ref(&tm), a.t[3] = tu_ref(&tv);
      r.d[2] = rm, r.d[3] = rv;
    } else if (fp[1] != 0) {
      a.t[2] = tu_ref(&tm);
      r.d[2] = rm;
    }
    int st = tu_write(be, &tg, g) || nncl_run(be, op, &a) || be->finish(be);
    ref_run(op, &r);
    fail = st || tu_read(be, &tw, w) || tu_read(be, &tm, m) || tu_read(be, &tv, v);
    for (int k = 0; k < N && !fail; k++) {
      int ok = tu_close(w[k], rw[k], rw[k], 1e-5, 1e-6) && tu_close(m[k], rm[k], rm[k], 1e-5, 1e-7);
      if (op == NNCL_OP_ADAM_UPDATE) ok = ok && tu_close(v[k], rv[k], rv[k], 1e-5, 1e-9);
      if (!ok) {
        fprintf(stderr, "FAIL op=%s f=[%g %g %g %g %g] i0=%d seed=%llu step %d index %d: "
                "w %.9g want %.9g, m %.9g want %.9g, v %.9g want %.9g\n",
                op_name(op), fp[0], fp[1], fp[2], fp[3], fp[4], flag, (unsigned long long)seed,
                step, k, (double)w[k], rw[k], (double)m[k], rm[k], (double)v[k], rv[k]);
        fail = 1;
      }
    }
  }
  tu_free(be, &tw);
  tu_free(be, &tg);
  tu_free(be, &tm);
  tu_free(be, &tv);
  return fail ? 1 : 0;
}

int main(void)
{
  nncl_ctx *ctx;
  int st = tu_open(tu_device(), 0, &ctx);
  if (st) return st;
  nncl_backend *be = nncl_ctx_be(ctx);
  printf("device under test: %s\n", nncl_ctx_device(ctx));
  int fails = 0;
  for (int op = 0; op < NNCL_OP_COUNT; op++) {
    const char *name = op_name(op);
    size_t len = strlen(name);
    if (len < 5 || strcmp(name + len - 5, "_grad")) continue;
    if (refv_owns(op)) {
      printf("%-20s (checked by test_ops_vision)\n", name);
      continue;
    }
    if (op == NNCL_OP_FOCAL_GRAD) {
      printf("%-20s (checked by test_ops_focal)\n", name);
      continue;
    }
    if (refr_owns(op)) {
      printf("%-20s (checked by test_ops_rnn)\n", name);
      continue;
    }
    if (case_for(op).grad_op < 0) {
      fprintf(stderr, "FAIL op=%s: no gradient check for it\n", name);
      fails++;
      continue;
    }
    int bad = check_grad(be, op, 900 + (uint64_t)op);
    printf("%-20s %s\n", name, bad ? "FAIL" : "ok");
    fails += bad;
  }
  static const struct {
    int op;
    float f[5];
    int flag;
    const char *what;
  } opt[] = {
      {NNCL_OP_SGD_UPDATE, {0.1f, 0, 0, 0, 0}, 0, "sgd"},
      {NNCL_OP_SGD_UPDATE, {0.05f, 0.9f, 0, 0, 0}, 0, "sgd momentum"},
      {NNCL_OP_SGD_UPDATE, {0.05f, 0.9f, 0.01f, 0, 0}, 1, "sgd nesterov + L2"},
      {NNCL_OP_ADAM_UPDATE, {1e-3f, 0.9f, 0.999f, 1e-8f, 0}, 0, "adam"},
      {NNCL_OP_ADAM_UPDATE, {1e-2f, 0.8f, 0.99f, 1e-6f, 0.1f}, 0, "adam + L2"},
      {NNCL_OP_ADAM_UPDATE, {1e-2f, 0.9f, 0.999f, 1e-8f, 0.1f}, 1, "adamw"},
  };
  for (size_t k = 0; k < sizeof opt / sizeof opt[0]; k++) {
    int bad = check_optim(be, opt[k].op, opt[k].f, opt[k].flag, 500 + k);
    printf("%-20s %s\n", opt[k].what, bad ? "FAIL" : "ok");
    fails += bad;
  }
  nncl_ctx_destroy(ctx);
  printf("%d failed\n", fails);
  return fails ? 1 : 0;
}
