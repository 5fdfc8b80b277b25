/* test_ops_optim.c - the training-toolbox ops (RMSprop, Adagrad, sum of squares, clip
 * scale, clamp, finite check) on the device under test ($NNCL_DEVICE) against the double
 * reference (ref_optim.c), over 3 steps for the updates, on awkward sizes (1, primes,
 * around the 4096-value sum chunk) with every tensor at a non-zero offset between guard
 * words; against a C context too when the device is not C. On C: bit-identical on a
 * rerun and with one thread. Every update (SGD and Adam too) with its skip flag t5: raised,
 * nothing changes; lowered, the result is bitwise that of a run without the flag. */
#include "fallback/fb.h"
#include "ref_optim.h"
#include "testutil.h"

static const size_t sizes[] = {1, 7, 13, 31, 257, 1000, 4095, 4096, 4097, 8193, 65537, 300007};
#define NSIZES (sizeof sizes / sizeof *sizes)
#define STEPS 3

typedef struct ocase {
  int op;
  float f[8];
  int i[4];
  int nt;          /* tensors t0..t(nt-1) */
  int scalar;      /* t1 is one float (sumsq, clip_scale, nonfinite) */
  const char *what;
} ocase;

static const ocase cases[] = {
    {NNCL_OP_RMSPROP_UPDATE, {1e-2f, 0.99f, 1e-8f, 0, 0}, {0, 0}, 5, 0, "rmsprop"},
    {NNCL_OP_RMSPROP_UPDATE, {1e-2f, 0.9f, 1e-6f, 0, 0.9f}, {0, 0}, 5, 0, "rmsprop momentum"},
    {NNCL_OP_RMSPROP_UPDATE, {1e-2f, 0.9f, 1e-8f, 0.1f, 0}, {1, 0}, 5, 0, "rmsprop centered + L2"},
    {NNCL_OP_RMSPROP_UPDATE, {1e-2f, 0.99f, 1e-8f, 0.1f, 0.5f}, {1, 1}, 5, 0, "rmsprop centered momentum decoupled"},
    {NNCL_OP_ADAGRAD_UPDATE, {1e-2f, 1e-10f, 0}, {0}, 3, 0, "adagrad"},
    {NNCL_OP_ADAGRAD_UPDATE, {5e-2f, 1e-6f, 0.1f}, {0}, 3, 0, "adagrad + L2"},
    {NNCL_OP_ADAGRAD_UPDATE, {5e-2f, 1e-10f, 0.1f}, {1}, 3, 0, "adagrad decoupled"},
    {NNCL_OP_SUMSQ, {0, 0}, {0}, 2, 1, "sumsq"},
    {NNCL_OP_SUMSQ, {0, 1}, {0}, 2, 1, "sumsq accumulate"},
    {NNCL_OP_CLIP_SCALE, {3.0f}, {0}, 2, 1, "clip_scale"},
    {NNCL_OP_CLAMP, {-0.5f, 0.25f}, {0}, 2, 0, "clamp"},
    {NNCL_OP_NONFINITE, {0}, {0}, 2, 1, "nonfinite"},
};
#define NCASES (sizeof cases / sizeof *cases)

/* Whether ref t is used by the case (RMSprop's buffer only with momentum, grad_avg only
 * centered). */
static int used(const ocase *c, int t)
{
  if (c->op == NNCL_OP_RMSPROP_UPDATE && t == 3) return c->f[4] != 0;
  if (c->op == NNCL_OP_RMSPROP_UPDATE && t == 4) return c->i[0];
  return t < c->nt;
}

/* Updates run STEPS steps with a fresh gradient each; the other ops one. */
static int steps_of(const ocase *c) { return c->op == NNCL_OP_RMSPROP_UPDATE || c->op == NNCL_OP_ADAGRAD_UPDATE ? STEPS : 1; }

static size_t len_of(const ocase *c, int t, size_t n) { return c->scalar && t == 1 ? 1 : n; }

/* Inputs of step `step`: t1 (the gradient) is fresh each step; state starts at zero
 * (Adagrad's sum at 0.1); nonfinite gets a NaN or an infinity in some sizes. */
static void fill(const ocase *c, int step, size_t n, size_t si, tu_rng *rng, float *h[5])
{
  for (int t = 0; t < 5; t++) {
    if (!used(c, t) || (step > 0 && t != 1)) continue;
    size_t len = len_of(c, t, n);
    for (size_t k = 0; k < len; k++) h[t][k] = (float)tu_uniform(rng, -1, 1);
    int state = (c->op == NNCL_OP_RMSPROP_UPDATE && t >= 2) || (c->op == NNCL_OP_ADAGRAD_UPDATE && t == 2);
    if (state) for (size_t k = 0; k < len; k++) h[t][k] = c->op == NNCL_OP_ADAGRAD_UPDATE ? 0.1f : 0.0f;
  }
  if (step > 0) {
    for (size_t k = 0; k < n; k++) h[1][k] = (float)tu_uniform(rng, -1, 1);
    return;
  }
  if (c->op == NNCL_OP_SUMSQ) h[1][0] = 2.5f;
  if (c->op == NNCL_OP_CLIP_SCALE) h[1][0] = (float)(si % 2 ? 4.0 * (double)n : 1.0); /* clip or not */
  if (c->op == NNCL_OP_NONFINITE) {
    h[1][0] = 0;
    if (si % 3) h[0][tu_below(rng, n)] = si % 3 == 1 ? NAN : -INFINITY;
  }
  if (c->op == NNCL_OP_CLAMP && n > 3) h[0][n / 2] = NAN;
}

/* Runs `steps` steps on be; device copies of t0..t4 persist across steps (h updated). */
static int run_dev(nncl_backend *be, const ocase *c, size_t n, float *in[STEPS][5], float *out[STEPS][5], tu_rng *rng)
{
  tu_tensor t[5] = {0};
  int fail = 0;
  for (int k = 0; k < 5 && !fail; k++)
    if (used(c, k)) fail = tu_alloc(be, len_of(c, k, n), 1 + tu_below(rng, 13), &t[k]) || tu_write(be, &t[k], in[0][k]);
  for (int s = 0; s < steps_of(c) && !fail; s++) {
    nncl_args a = {.n = {n}};
    memcpy(a.f, c->f, sizeof a.f);
    memcpy(a.i, c->i, sizeof a.i);
    for (int k = 0; k < 5; k++)
      if (used(c, k)) a.t[k] = tu_ref(&t[k]);
    if (s > 0) fail = tu_write(be, &t[1], in[s][1]);
    int st = fail ? 0 : nncl_run(be, c->op, &a);
    if (!st) st = be->finish(be);
    if (st) {
      fprintf(stderr, "  %s: %s returned %s: %s\n", be->name, c->what, nncl_strerror(st), nncl_errmsg(be->ctx));
      fail = 1;
    }
    for (int k = 0; k < 5 && !fail; k++)
      if (used(c, k)) fail = !tu_guards_ok(be, &t[k], c->what) || tu_read(be, &t[k], out[s][k]);
  }
  for (int k = 0; k < 5; k++) tu_free(be, &t[k]);
  return fail;
}

/* Centered RMSprop divides by sqrt(s - c^2), which cancels: float and double drift apart. */
static double tol_of(const ocase *c) { return c->op == NNCL_OP_RMSPROP_UPDATE && c->i[0] ? 1e-3 : 2e-5; }

static int check_case(nncl_backend *dut, nncl_backend *cc, nncl_backend *c1, const ocase *c, size_t si, uint64_t seed)
{
  size_t n = sizes[si];
  tu_rng rng = {seed};
  float *in[STEPS][5] = {{0}}, *got[STEPS][5] = {{0}}, *other[STEPS][5] = {{0}};
  double *ref[5] = {0};
  int fail = 0;
  for (int s = 0; s < STEPS; s++)
    for (int k = 0; k < 5; k++) {
      in[s][k] = calloc(n + 1, 4), got[s][k] = calloc(n + 1, 4), other[s][k] = calloc(n + 1, 4);
      if (!s) ref[k] = calloc(n + 1, 8);
    }
  for (int s = 0; s < STEPS; s++) fill(c, s, n, si, &rng, in[s]);
  for (int k = 0; k < 5; k++)
    for (size_t j = 0; j < len_of(c, k, n); j++) ref[k][j] = in[0][k][j];
  fail = run_dev(dut, c, n, in, got, &rng);
  double fd[8];
  for (int k = 0; k < 8; k++) fd[k] = c->f[k];
  for (int s = 0; s < steps_of(c) && !fail; s++) {
    if (s > 0)
      for (size_t j = 0; j < n; j++) ref[1][j] = in[s][1][j];
    refo_run(c->op, ref, n, fd, c->i);
    for (int k = 0; k < 5 && !fail; k++) {
      if (!used(c, k) || (k == 1 && !c->scalar && c->op != NNCL_OP_CLAMP)) continue;
      for (size_t j = 0; j < len_of(c, k, n) && !fail; j++) {
        double g = got[s][k][j], w = ref[k][j];
        int ok = (isnan(w) && isnan(g)) || (!isnan(w) && tu_close(g, w, w, tol_of(c), 1e-6));
        if (!ok) {
          fprintf(stderr, "FAIL op=%s (%s) n=%zu seed=%llu step %d: %s t%d[%zu] = %.9g, reference %.9g\n",
                  nncl_op_name(c->op), c->what, n, (unsigned long long)seed, s + 1, dut->name, k, j, g, w);
          fail = 1;
        }
      }
    }
  }
  nncl_backend *alt[2] = {cc, tu_is_c(dut) ? dut : NULL};
  for (int v = 0; v < 2 && !fail; v++) { /* cl vs c, or c rerun */
    if (!alt[v]) continue;
    fail = run_dev(alt[v], c, n, in, other, &rng);
    for (int s = 0; s < steps_of(c) && !fail; s++)
      for (int k = 0; k < 5 && !fail; k++) {
        if (!used(c, k)) continue;
        for (size_t j = 0; j < len_of(c, k, n) && !fail; j++) {
          double g = got[s][k][j], w = other[s][k][j];
          int ok = v == 1 ? !memcmp(&got[s][k][j], &other[s][k][j], 4)
                          : (isnan(w) && isnan(g)) || tu_close(g, w, w, 4 * tol_of(c), 2e-6);
          if (!ok) {
            fprintf(stderr, "FAIL op=%s (%s) n=%zu seed=%llu step %d: t%d[%zu] %s %.9g vs %.9g\n", nncl_op_name(c->op),
                    c->what, n, (unsigned long long)seed, s + 1, k, j, v ? "c rerun differs bitwise:" : "cl vs c:", g, w);
            fail = 1;
          }
        }
      }
  }
  if (!fail && c1) { /* one thread: bit-identical */
    fail = run_dev(c1, c, n, in, other, &rng);
    for (int s = 0; s < steps_of(c) && !fail; s++)
      for (int k = 0; k < 5 && !fail; k++)
        if (used(c, k) && memcmp(got[s][k], other[s][k], len_of(c, k, n) * 4)) {
          fprintf(stderr, "FAIL op=%s (%s) n=%zu seed=%llu step %d: t%d differs with one thread\n", nncl_op_name(c->op),
                  c->what, n, (unsigned long long)seed, s + 1, k);
          fail = 1;
        }
  }
  for (int s = 0; s < STEPS; s++)
    for (int k = 0; k < 5; k++) free(in[s][k]), free(got[s][k]), free(other[s][k]);
  for (int k = 0; k < 5; k++) free(ref[k]);
  return fail;
}

/* One update of each kind, with and without momentum or centring, for the skip check. */
static const ocase skip_cases[] = {
    {NNCL_OP_SGD_UPDATE, {0.1f, 0, 0.01f}, {0, 0}, 2, 0, "sgd"},
    {NNCL_OP_SGD_UPDATE, {0.05f, 0.9f, 0.1f}, {1, 1}, 3, 0, "sgd nesterov decoupled"},
    {NNCL_OP_ADAM_UPDATE, {1e-2f, 0.9f, 0.999f, 1e-8f, 0.1f, 10, 1000}, {1}, 4, 0, "adamw"},
    {NNCL_OP_RMSPROP_UPDATE, {1e-2f, 0.99f, 1e-8f, 0.1f, 0.5f}, {1, 1}, 5, 0, "rmsprop centered momentum"},
    {NNCL_OP_ADAGRAD_UPDATE, {5e-2f, 1e-10f, 0.1f}, {1}, 3, 0, "adagrad"},
};

/* Runs c once on be from h[0..nt) (n values each) with the skip flag at `flag` (NAN: no
 * flag, a null ref) and reads the tensors back into out. */
static int run_skip(nncl_backend *be, const ocase *c, size_t n, float *h[5], float flag, float *out[5])
{
  tu_tensor t[6] = {{0}};
  int fail = 0;
  for (int k = 0; k < c->nt && !fail; k++) fail = tu_alloc(be, n, 3, &t[k]) || tu_write(be, &t[k], h[k]);
  if (!fail && !isnan(flag)) fail = tu_alloc(be, 1, 5, &t[5]) || tu_write(be, &t[5], &flag);
  nncl_args a = {.n = {n}};
  memcpy(a.f, c->f, sizeof a.f);
  memcpy(a.i, c->i, sizeof a.i);
  for (int k = 0; k < 6; k++)
    if (t[k].buf) a.t[k] = tu_ref(&t[k]);
  if (!fail && (nncl_run(be, c->op, &a) || be->finish(be))) {
    fprintf(stderr, "  %s: %s returned an error: %s\n", be->name, c->what, nncl_errmsg(be->ctx));
    fail = 1;
  }
  for (int k = 0; k < c->nt && !fail; k++) fail = !tu_guards_ok(be, &t[k], c->what) || tu_read(be, &t[k], out[k]);
  for (int k = 0; k < 6; k++) tu_free(be, &t[k]);
  return fail;
}

static int check_skip(nncl_backend *be, const ocase *c)
{
  const size_t n = 4099;
  tu_rng rng = {99};
  float *h[5], *flagged[5], *lowered[5], *plain[5];
  for (int k = 0; k < 5; k++) {
    h[k] = malloc(n * 4), flagged[k] = malloc(n * 4), lowered[k] = malloc(n * 4), plain[k] = malloc(n * 4);
    for (size_t j = 0; j < n; j++) h[k][j] = (float)tu_uniform(&rng, k >= 2 ? 0.1 : -1, 1); /* states > 0 */
  }
  int fail = run_skip(be, c, n, h, 1.0f, flagged) || run_skip(be, c, n, h, 0.0f, lowered) ||
             run_skip(be, c, n, h, NAN, plain);
  for (int k = 0; k < c->nt && !fail; k++) {
    if (memcmp(flagged[k], h[k], n * 4)) {
      fprintf(stderr, "FAIL %s: %s changed t%d although its skip flag was raised\n", be->name, c->what, k);
      fail = 1;
    } else if (memcmp(lowered[k], plain[k], n * 4)) {
      fprintf(stderr, "FAIL %s: %s with a lowered skip flag differs from the run without one (t%d)\n", be->name, c->what, k);
      fail = 1;
    } else if (k == 0 && !memcmp(plain[0], h[0], n * 4)) {
      fprintf(stderr, "FAIL %s: %s did not change the weights\n", be->name, c->what);
      fail = 1;
    }
  }
  for (int k = 0; k < 5; k++) free(h[k]), free(flagged[k]), free(lowered[k]), free(plain[k]);
  return fail;
}

int main(void)
{
  nncl_ctx *dut = NULL, *cc = NULL, *c1 = NULL;
  int st = tu_open(tu_device(), 0, &dut);
  if (st) return st;
  nncl_backend *be = nncl_ctx_be(dut), *bc = NULL, *b1 = NULL;
  if (!tu_is_c(be)) {
    if (tu_open("c", 0, &cc)) return 1;
    bc = nncl_ctx_be(cc);
  } else if (fb_of(be)->threads > 1) {
    if (tu_open("c", 1, &c1)) return 1;
    b1 = nncl_ctx_be(c1);
  }
  printf("device under test: %s\n", nncl_ctx_device(dut));
  int fails = 0;
  for (int op = 0; op < NNCL_OP_COUNT; op++) {
    int has = 0;
    for (size_t k = 0; k < NCASES; k++) has |= cases[k].op == op;
    if (refo_owns(op) && !has) {
      fprintf(stderr, "FAIL op=%s: no test cases\n", nncl_op_name(op));
      fails++;
    }
  }
  for (size_t k = 0; k < NCASES; k++) {
    int bad = 0;
    for (size_t s = 0; s < NSIZES && !bad; s++) bad = check_case(be, bc, b1, &cases[k], s, 7000 + 100 * k + s);
    printf("%-40s %s\n", cases[k].what, bad ? "FAIL" : "ok");
    fails += bad;
  }
  for (size_t k = 0; k < sizeof skip_cases / sizeof *skip_cases; k++) {
    int bad = check_skip(be, &skip_cases[k]) || (bc && check_skip(bc, &skip_cases[k]));
    printf("%-40s %s\n", skip_cases[k].what, bad ? "FAIL (skip flag)" : "ok (skip flag)");
    fails += bad;
  }
  nncl_ctx_destroy(c1);
  nncl_ctx_destroy(cc);
  nncl_ctx_destroy(dut);
  printf("%d failed\n", fails);
  return fails ? 1 : 0;
}
