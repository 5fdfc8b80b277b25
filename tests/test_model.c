/* test_model.c - whole-model behaviour through the public API:
 *  - central finite-difference gradient check of every parameter through nets with every
 *    activation (fused into dense and as separate layers) ending in softmax;
 *  - XOR converges to 100% with a hidden layer (fixed seed);
 *  - the same seed gives bit-identical losses and weights across two runs (C backend);
 *  - frozen layers (nncl_model_set_trainable) keep their weights bit-identical;
 *  - model text round trip, seed network summary (109,386 parameters), parse errors with
 *    line:col, and API misuse answered with statuses.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "nncl.h"
#include "nncl_config.h"

static float *read_tensor(const nncl_tensor *t) {
  int64_t n = nncl_tensor_numel(t);
  float *h = malloc((size_t)n * sizeof *h);
  if (h && nncl_tensor_read(t, h, (size_t)n * sizeof *h)) {
    free(h);
    return NULL;
  }
  return h;
}

/* ---- finite differences -------------------------------------------------------------- */

#define FD_ROWS 3

/* L = sum(y * r) in double from the model's float outputs. */
static int fd_loss(nncl_model *m, nncl_tensor *x, nncl_tensor *y, const float *r, int64_t ny, double *loss) {
  float yh[FD_ROWS * 16];
  int rc = nncl_model_forward(m, x, y);
  if (!rc) rc = nncl_tensor_read(y, yh, (size_t)ny * sizeof *yh);
  *loss = 0;
  for (int64_t i = 0; i < ny; i++) *loss += (double)yh[i] * r[i];
  return rc;
}

/* Every parameter's gradient against (L(w+h) - L(w-h)) / 2h. Where the estimates with h
 * and h/2 disagree the loss has a kink (ReLU at 0) within h: that value is skipped, and
 * at most 5% may be. */
static void fd_check(const char *name, const char *text) {
  const double h = 1e-2, rtol = 1e-2, atol = 3e-5;
  nncl_model *m = NULL;
  nncl_tensor *x = NULL, *y = NULL, *dy = NULL;
  uint64_t s = 1234;
  if (!ok(nncl_model_parse(ctx, text, name, &m), name)) return;
  int64_t in = nncl_model_input_size(m), out = nncl_model_output_size(m), ny = FD_ROWS * out;
  const int64_t xs[2] = {FD_ROWS, in}, ys[2] = {FD_ROWS, out};
  float xh[FD_ROWS * 16], r[FD_ROWS * 16];
  for (int64_t i = 0; i < FD_ROWS * in; i++) xh[i] = urand(&s);
  for (int64_t i = 0; i < ny; i++) r[i] = urand(&s);
  if (!ok(nncl_model_compile(m, FD_ROWS, NNCL_MODE_TRAIN), "compile") ||
      !ok(nncl_tensor_create(ctx, 2, xs, NNCL_F32, &x), "tensor") || !ok(nncl_tensor_create(ctx, 2, ys, NNCL_F32, &y), "tensor") ||
      !ok(nncl_tensor_create(ctx, 2, ys, NNCL_F32, &dy), "tensor") ||
      !ok(nncl_tensor_write(x, xh, (size_t)FD_ROWS * (size_t)in * sizeof *xh), "write x") ||
      !ok(nncl_tensor_write(dy, r, (size_t)ny * sizeof *r), "write dy") || !ok(nncl_model_forward(m, x, y), "forward") ||
      !ok(nncl_model_backward(m, dy), "backward"))
    goto done;
  int64_t checked = 0, skipped = 0;
  double worst = 0;
  const int fails0 = failures;
  for (int p = 0; p < nncl_model_param_count(m); p++) {
    const char *pname;
    nncl_tensor *v, *g;
    if (!ok(nncl_model_param(m, p, &pname, &v, &g), "param")) goto done;
    int64_t n = nncl_tensor_numel(v);
    float *w = read_tensor(v), *an = read_tensor(g);
    for (int64_t k = 0; w && an && k < n; k++) {
      double est[2];
      const float w0 = w[k];
      for (int e = 0; e < 2; e++) {
        double step = e ? h / 2 : h, lp, lm;
        w[k] = w0 + (float)step;
        double up = (double)w[k] - w0;
        int rc = nncl_tensor_write(v, w, (size_t)n * sizeof *w) || fd_loss(m, x, y, r, ny, &lp);
        w[k] = w0 - (float)step;
        double down = w0 - (double)w[k];
        rc = rc || nncl_tensor_write(v, w, (size_t)n * sizeof *w) || fd_loss(m, x, y, r, ny, &lm);
        w[k] = w0;
        if (rc || nncl_tensor_write(v, w, (size_t)n * sizeof *w)) {
          FAIL("%s: forward failed during the finite differences: %s", name, nncl_errmsg(ctx));
          goto next;
        }
        est[e] = (lp - lm) / (up + down);
      }
      double tol = atol + rtol * fabs(est[1]);
      if (fabs(est[0] - est[1]) > tol) { /* a kink within h */
        skipped++;
        continue;
      }
      checked++;
      double err = fabs(an[k] - est[1]);
      if (err > tol) {
        FAIL("gradcheck %s: %s[%lld]: backward %.7g, central difference %.7g (h %g, tol %.3g), shapes x (%d, %lld)", name,
             pname, (long long)k, an[k], est[1], h / 2, tol, FD_ROWS, (long long)in);
        goto next;
      }
      if (err / tol > worst) worst = err / tol;
    }
  next:
    free(w);
    free(an);
  }
  if (skipped * 20 > checked + skipped) FAIL("gradcheck %s: %lld of %lld values at kinks", name, (long long)skipped, (long long)(checked + skipped));
  if (failures == fails0)
    printf("ok   gradcheck %-10s %lld values, %lld at kinks skipped, worst error %.2f of tolerance\n", name, (long long)checked,
         (long long)skipped, worst);
done:
  nncl_tensor_destroy(x);
  nncl_tensor_destroy(y);
  nncl_tensor_destroy(dy);
  nncl_model_destroy(m);
}

static void test_gradcheck(void) {
  fd_check("fused",
           "input shape=4\n"
           "dense units=5 act=relu\n"
           "dense units=5 act=leaky_relu alpha=0.1\n"
           "dense units=5 act=elu\n"
           "dense units=4 act=gelu\n"
           "dense units=4 act=sigmoid\n"
           "dense units=4 act=tanh\n"
           "dense units=3 act=softmax\n");
  fd_check("layers",
           "input shape=2,2\n"
           "flatten\n"
           "dense units=5\nrelu\n"
           "dense units=5\nleaky_relu alpha=0.2\n"
           "dense units=5\nelu alpha=0.5\n"
           "dense units=4\ngelu\n"
           "dense units=4\nsigmoid\n"
           "dense units=4\ntanh\n"
           "dense units=3\nsoftmax\n");
}

/* ---- training ----------------------------------------------------------------------- */

static void test_xor(void) {
  static const float X[8] = {0, 0, 0, 1, 1, 0, 1, 1};
  static const int32_t Y[4] = {0, 1, 1, 0};
  const int64_t in[1] = {2};
  nncl_ctx *c = make_ctx(1);
  nncl_model *m = NULL;
  nncl_optim *o = NULL;
  nncl_dataset *d = NULL;
  double loss = 0, acc = 0;
  if (!c) return;
  nncl_optim_params op;
  nncl_optim_params_init(&op);
  op.lr = 0.05f;
  nncl_fit_params fp;
  nncl_fit_params_init(&fp);
  fp.epochs = 500;
  fp.batch = 4;
  int r;
  if ((r = nncl_dataset_from_arrays(c, 4, 1, in, X, Y, 2, &d)) || (r = nncl_model_create(c, &m)) ||
      (r = nncl_model_input(m, 1, in)) || (r = nncl_model_dense(m, 8, NNCL_ACT_TANH, NNCL_INIT_DEFAULT)) ||
      (r = nncl_model_dense(m, 2, NNCL_ACT_SOFTMAX, NNCL_INIT_DEFAULT)) || (r = nncl_model_compile(m, 4, NNCL_MODE_TRAIN)) ||
      (r = nncl_optim_create(m, &op, &o)) || (r = nncl_fit(m, o, d, NULL, &fp)) ||
      (r = nncl_evaluate(m, d, NNCL_LOSS_XENT, &loss, &acc)))
    FAIL("xor: %s: %s", nncl_strerror(r), nncl_errmsg(c));
  else if (acc != 1.0)
    FAIL("xor: 2-8 tanh-2 softmax, Adam lr 0.05, 500 epochs, seed 1: accuracy %.0f%%, loss %.4f", 100 * acc, loss);
  else
    printf("ok   xor converges: accuracy 100%%, loss %.4f\n", loss);
  nncl_optim_destroy(o);
  nncl_model_destroy(m);
  nncl_dataset_destroy(d);
  nncl_ctx_destroy(c);
}

#define TR_N 200
#define TR_IN 12
#define TR_EPOCHS 3

typedef struct run_result {
  double loss[TR_EPOCHS];
  float *weights;
  int64_t nweights;
} run_result;

static int record(void *user, const nncl_epoch_stats *s, int epoch_end) {
  if (epoch_end) ((run_result *)user)->loss[s->epoch - 1] = s->train_loss;
  return 0;
}

/* A synthetic 4-class task: class = argmax of 4 fixed sums of the inputs. */
static nncl_dataset *synthetic(nncl_ctx *c) {
  static float x[TR_N * TR_IN];
  static int32_t y[TR_N];
  uint64_t s = 99;
  for (int i = 0; i < TR_N; i++) {
    float best = -1e9f;
    for (int j = 0; j < TR_IN; j++) x[i * TR_IN + j] = urand(&s);
    for (int k = 0; k < 4; k++) {
      float v = x[i * TR_IN + k] + x[i * TR_IN + k + 4] - x[i * TR_IN + k + 8];
      if (v > best) best = v, y[i] = k;
    }
  }
  const int64_t in[1] = {TR_IN};
  nncl_dataset *d = NULL;
  if (nncl_dataset_from_arrays(c, TR_N, 1, in, x, y, 4, &d)) FAIL("dataset: %s", nncl_errmsg(c));
  return d;
}

static const char small_net[] =
  "input shape=12\n"
  "dense units=16 act=relu\n"
  "dense units=8 act=relu\n"
  "dense units=4\n"
  "softmax\n";

/* Trains small_net from seed 7 (shuffled, Adam) and returns losses and all weights. */
static int train_run(run_result *res) {
  nncl_ctx *c = make_ctx(7);
  nncl_model *m = NULL;
  nncl_optim *o = NULL;
  nncl_dataset *d = c ? synthetic(c) : NULL;
  nncl_optim_params op;
  nncl_optim_params_init(&op);
  op.lr = 0.01f;
  nncl_fit_params fp;
  nncl_fit_params_init(&fp);
  fp.epochs = TR_EPOCHS;
  fp.batch = 32;
  fp.progress = record;
  fp.user = res;
  int r = !d;
  if (!r && ((r = nncl_model_parse(c, small_net, "small", &m)) || (r = nncl_model_compile(m, 32, NNCL_MODE_TRAIN)) ||
             (r = nncl_optim_create(m, &op, &o)) || (r = nncl_fit(m, o, d, NULL, &fp))))
    FAIL("training run: %s: %s", nncl_strerror(r), nncl_errmsg(c));
  res->nweights = 0;
  res->weights = NULL;
  for (int p = 0; !r && p < nncl_model_param_count(m); p++) {
    nncl_tensor *v;
    nncl_model_param(m, p, NULL, &v, NULL);
    int64_t n = nncl_tensor_numel(v);
    float *w = read_tensor(v), *all = realloc(res->weights, (size_t)(res->nweights + n) * sizeof *all);
    if (!w || !all) r = 1;
    else memcpy(all + res->nweights, w, (size_t)n * sizeof *w), res->nweights += n;
    if (all) res->weights = all;
    free(w);
  }
  nncl_optim_destroy(o);
  nncl_model_destroy(m);
  nncl_dataset_destroy(d);
  nncl_ctx_destroy(c);
  return r;
}

static void test_determinism(void) {
  run_result a = {{0}, 0, 0}, b = {{0}, 0, 0};
  if (!train_run(&a) && !train_run(&b)) {
    int same = a.nweights == b.nweights && !memcmp(a.loss, b.loss, sizeof a.loss) &&
               !memcmp(a.weights, b.weights, (size_t)a.nweights * sizeof *a.weights);
    int64_t first = -1;
    for (int64_t i = 0; !same && i < a.nweights && first < 0; i++)
      if (memcmp(&a.weights[i], &b.weights[i], sizeof(float))) first = i;
    int c_backend = !strcmp(nncl_ctx_backend(ctx), "c");
    if (!same && c_backend)
      FAIL("determinism: seed 7, two runs differ: losses %.9g/%.9g, %.9g/%.9g, %.9g/%.9g; first weight differing %lld",
           a.loss[0], b.loss[0], a.loss[1], b.loss[1], a.loss[2], b.loss[2], (long long)first);
    else if (!same)
      printf("note determinism: runs differ on the %s backend (required on the C backend only)\n", nncl_ctx_backend(ctx));
    else if (!(a.loss[2] < a.loss[0]))
      FAIL("training: loss did not fall over %d epochs: %.4f -> %.4f", TR_EPOCHS, a.loss[0], a.loss[2]);
    else
      printf("ok   same seed, bit-identical losses and weights (losses %.4f %.4f %.4f)\n", a.loss[0], a.loss[1], a.loss[2]);
  }
  free(a.weights);
  free(b.weights);
}

/* Freezes `layer` (before compile or after the optimizer exists) and trains: its weights
 * stay bit-identical, every other layer's change. */
static void freeze_case(const char *layer, int before_compile) {
  nncl_model *m = NULL;
  nncl_optim *o = NULL;
  nncl_dataset *d = synthetic(ctx);
  nncl_optim_params op;
  nncl_optim_params_init(&op);
  op.lr = 0.01f;
  nncl_fit_params fp;
  nncl_fit_params_init(&fp);
  fp.epochs = 2;
  fp.batch = 32;
  float *before[6] = {0};
  if (!d || !ok(nncl_model_parse(ctx, small_net, "small", &m), "parse") ||
      (before_compile && !ok(nncl_model_set_trainable(m, layer, 0), "set_trainable")) ||
      !ok(nncl_model_compile(m, 32, NNCL_MODE_TRAIN), "compile") || !ok(nncl_optim_create(m, &op, &o), "optimizer") ||
      (!before_compile && !ok(nncl_model_set_trainable(m, layer, 0), "set_trainable")))
    goto done;
  int np = nncl_model_param_count(m);
  for (int p = 0; p < np && p < 6; p++) {
    nncl_tensor *v;
    nncl_model_param(m, p, NULL, &v, NULL);
    before[p] = read_tensor(v);
  }
  if (!ok(nncl_fit(m, o, d, NULL, &fp), "fit with a frozen layer")) goto done;
  int good = 1;
  size_t ll = strlen(layer);
  for (int p = 0; p < np && p < 6; p++) {
    const char *name;
    nncl_tensor *v;
    nncl_model_param(m, p, &name, &v, NULL);
    float *after = read_tensor(v);
    int64_t n = nncl_tensor_numel(v);
    int frozen = !strncmp(name, layer, ll) && name[ll] == '.';
    int same = after && before[p] && !memcmp(after, before[p], (size_t)n * sizeof *after);
    if (frozen != same) {
      FAIL("set_trainable(%s, 0)%s: after 2 epochs %s is %s", layer, before_compile ? " before compile" : " after compile",
           name, same ? "unchanged but trainable" : "changed but frozen");
      good = 0;
    }
    free(after);
  }
  if (good) printf("ok   frozen %s (%s compile) unchanged, other layers trained\n", layer, before_compile ? "before" : "after");
done:
  for (int p = 0; p < 6; p++) free(before[p]);
  nncl_optim_destroy(o);
  nncl_model_destroy(m);
  nncl_dataset_destroy(d);
}

static void test_freeze(void) {
  freeze_case("dense2", 1);
  freeze_case("dense1", 0);
  freeze_case("dense3", 0);
}

/* ---- model text ---------------------------------------------------------------------- */

typedef struct lines {
  char buf[4096];
  size_t len;
} lines;

static void collect(void *user, const char *line) {
  lines *l = user;
  int k = snprintf(l->buf + l->len, sizeof l->buf - l->len, "%s\n", line);
  if (k > 0 && l->len + (size_t)k < sizeof l->buf) l->len += (size_t)k;
}

/* to_text -> parse -> to_text gives the same text, summary and parameter count. */
static void round_trip(const char *what, nncl_model *m) {
  char *t1 = NULL, *t2 = NULL;
  nncl_model *m2 = NULL;
  lines s1 = {.len = 0}, s2 = {.len = 0};
  int64_t n1 = -1, n2 = -2;
  if (!ok(nncl_model_to_text(m, &t1), "to_text")) return;
  if (ok(nncl_model_parse(ctx, t1, what, &m2), "parse back") && ok(nncl_model_to_text(m2, &t2), "to_text") &&
      ok(nncl_model_summary(m, collect, &s1, &n1), "summary") && ok(nncl_model_summary(m2, collect, &s2, &n2), "summary")) {
    if (strcmp(t1, t2)) FAIL("round trip %s: text changed:\n%s---\n%s", what, t1, t2);
    else if (strcmp(s1.buf, s2.buf) || n1 != n2) FAIL("round trip %s: summary changed:\n%s---\n%s", what, s1.buf, s2.buf);
    else if (nncl_model_param_count(m) != nncl_model_param_count(m2)) FAIL("round trip %s: parameter tensors differ", what);
    else printf("ok   round trip %s: %lld parameters\n", what, (long long)n1);
  }
  free(t1);
  free(t2);
  nncl_model_destroy(m2);
}

static void test_text(void) {
  static const char every[] =
    "# every layer kind, names, inits and alphas\n"
    "input shape=3,4 name=pixels\n"
    "dense units=7 act=leaky_relu alpha=0.25 init=he_normal name=fc_a\n"
    "elu alpha=0.5\n"
    "dense units=6 act=gelu init=lecun_uniform\n"
    "dense units=5 init=xavier_normal   # trailing comment\n"
    "\n"
    "sigmoid name=\"squash it\"\n"
    "dense units=4 act=tanh init=zeros\n"
    "leaky_relu\n"
    "dense units=3 act=softmax init=lecun_normal\n";
  nncl_model *m = NULL;
  if (ok(nncl_model_parse(ctx, every, "every", &m), "parse every layer kind")) round_trip("text", m);
  nncl_model_destroy(m);
  m = NULL;
  const int64_t in[3] = {1, 5, 5};
  if (ok(nncl_model_create(ctx, &m), "create") && ok(nncl_model_input(m, 3, in), "input") &&
      ok(nncl_model_dense(m, 9, NNCL_ACT_ELU, NNCL_INIT_DEFAULT), "dense") &&
      ok(nncl_model_activation(m, NNCL_ACT_LEAKY_RELU, 0.3f), "activation") &&
      ok(nncl_model_dense(m, 2, NNCL_ACT_NONE, NNCL_INIT_HE_UNIFORM), "dense") &&
      ok(nncl_model_activation(m, NNCL_ACT_SOFTMAX, 0), "softmax"))
    round_trip("code", m);
  nncl_model_destroy(m);

  /* the seed network */
  m = NULL;
  lines s = {.len = 0};
  int64_t np = 0;
  if (ok(nncl_model_parse_file(ctx, NNCL_SOURCE_DIR "/examples/models/seed_mlp.txt", &m), "parse seed_mlp.txt") &&
      ok(nncl_model_summary(m, collect, &s, &np), "summary")) {
    if (np != 109386 || !strstr(s.buf, "total parameters: 109386"))
      FAIL("seed_mlp.txt: %lld parameters, want 109386; summary:\n%s", (long long)np, s.buf);
    else if (nncl_model_input_size(m) != 784 || nncl_model_output_size(m) != 10)
      FAIL("seed_mlp.txt: input %lld output %lld", (long long)nncl_model_input_size(m), (long long)nncl_model_output_size(m));
    else printf("ok   seed_mlp.txt summary: 109386 parameters\n");
  }
  nncl_model_destroy(m);
}

static void test_parse_errors(void) {
  static const struct { const char *text, *where, *what; } cases[] = {
    {"input shape=4\ndense units=abc\n", "bad:2:13: ", "'abc'"},
    {"input shape=4\n  frobnicate units=3\n", "bad:2:3: ", "frobnicate"},
    {"input shape=4\ndense units=3 colour=red\n", "bad:2:15: ", "colour"},
    {"dense units=3\n", "bad:1:1: ", "input"},
    {"input shape=4\ndense units=3 act=swish\n", "bad:2:19: ", "swish"},
    {"input shape=0\ndense units=3\n", "bad:1:13: ", "shape"},
    {"input shape=4\ndense\n", "bad:2:1: ", "units"},
    {"input shape=4\n\n# comment\ndense units=2 units=3\n", "bad:4:15: ", "units"},
    {"input shape=4\ndense units=2 name=x\ndense units=2 name=x\n", "bad:3:1: ", "duplicate layer name 'x'"},
    {"input shape=4\ndense units=-2\n", "bad:2:13: ", "'-2'"},
    {"input shape=4\ndense units=2 \"oops\n", "bad:2:15: ", ""},
    {"input shape=4\ninput shape=4\n", "bad:2:1: ", "first"},
    {"input shape=4\nrelu alpha=2\n", "bad:2:6: ", "alpha"},
  };
  int good = 1;
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    nncl_model *m = (nncl_model *)&good; /* must be reset to NULL */
    int r = nncl_model_parse(ctx, cases[i].text, "bad", &m);
    const char *msg = nncl_errmsg(ctx);
    if (r >= 0 || m || strncmp(msg, cases[i].where, strlen(cases[i].where)) || !strstr(msg, cases[i].what) ||
        strchr(msg, '\n')) {
      FAIL("parse error %zu: status %d, message '%s', want one line starting '%s' and naming '%s' (text: %s)", i, r, msg,
           cases[i].where, cases[i].what, cases[i].text);
      good = 0;
    }
  }
  nncl_model *m = NULL;
  if (nncl_model_parse(ctx, "", "empty", &m) >= 0 || m) FAIL("an empty model description parsed"), good = 0;
  if (nncl_model_parse(ctx, "input shape=4\n", "lonely", &m) >= 0 || m) FAIL("a model with only an input parsed"), good = 0;
  if (nncl_model_parse_file(ctx, "/nonexistent/model.txt", &m) != NNCL_EIO || m) FAIL("missing model file: not NNCL_EIO"), good = 0;
  if (good) printf("ok   parse errors name line:col\n");
}

/* ---- API misuse ---------------------------------------------------------------------- */

#define EXPECT(call, want)                                                                   \
  do {                                                                                       \
    int r_ = (call);                                                                         \
    if (r_ != (want)) FAIL("misuse: %s returned %d (%s), want %s", #call, r_, nncl_strerror(r_), #want); \
  } while (0)

static void test_misuse(void) {
  nncl_model *m = NULL, *bad = NULL;
  nncl_optim *o = NULL;
  nncl_tensor *x = NULL, *y = NULL, *xw = NULL, *yi = NULL, *t = NULL;
  nncl_dataset *d = NULL;
  nncl_optim_params op;
  nncl_optim_params_init(&op);
  const int64_t xs[2] = {4, 5}, ys[2] = {4, 3}, xws[2] = {4, 6}, big[2] = {9, 5}, zero[2] = {0, 5}, in1[1] = {6};
  const int fails0 = failures;
  if (!ok(nncl_model_parse(ctx, "input shape=5\ndense units=4 act=relu\ndense units=3 act=softmax\n", "misuse", &m), "parse") ||
      !ok(nncl_tensor_create(ctx, 2, xs, NNCL_F32, &x), "tensor") || !ok(nncl_tensor_create(ctx, 2, ys, NNCL_F32, &y), "tensor") ||
      !ok(nncl_tensor_create(ctx, 2, xws, NNCL_F32, &xw), "tensor") || !ok(nncl_tensor_create(ctx, 2, ys, NNCL_I32, &yi), "tensor"))
    goto done;

  /* before compile */
  EXPECT(nncl_model_forward(m, x, y), NNCL_ESTATE);
  EXPECT(nncl_model_backward(m, y), NNCL_ESTATE);
  EXPECT(nncl_optim_create(m, &op, &o), NNCL_ESTATE);
  EXPECT(nncl_model_compile(m, 0, NNCL_MODE_TRAIN), NNCL_EINVAL);
  EXPECT(nncl_model_compile(m, 4, 7), NNCL_EINVAL);
  /* inference compile: no backward, no optimizer */
  EXPECT(nncl_model_compile(m, 4, NNCL_MODE_INFER), 0);
  EXPECT(nncl_model_forward(m, x, y), 0);
  EXPECT(nncl_model_backward(m, y), NNCL_ESTATE);
  EXPECT(nncl_optim_create(m, &op, &o), NNCL_ESTATE);
  /* wrong shapes and types */
  EXPECT(nncl_model_compile(m, 4, NNCL_MODE_TRAIN), 0);
  EXPECT(nncl_model_forward(m, xw, y), NNCL_ESHAPE);
  EXPECT(nncl_model_forward(m, x, xw), NNCL_ESHAPE);
  EXPECT(nncl_model_forward(m, y, y), NNCL_ESHAPE);
  EXPECT(nncl_model_forward(m, x, yi), NNCL_EINVAL);
  if (!nncl_tensor_create(ctx, 2, big, NNCL_F32, &t)) {
    EXPECT(nncl_model_forward(m, t, y), NNCL_ESHAPE); /* 9 rows > compiled batch 4 */
    nncl_tensor_destroy(t);
    t = NULL;
  }
  EXPECT(nncl_model_forward(m, x, y), 0);
  EXPECT(nncl_model_backward(m, x), NNCL_ESHAPE);
  EXPECT(nncl_model_backward(m, y), 0);
  /* NULL arguments */
  EXPECT(nncl_model_forward(NULL, x, y), NNCL_EINVAL);
  EXPECT(nncl_model_forward(m, NULL, y), NNCL_EINVAL);
  EXPECT(nncl_model_forward(m, x, NULL), NNCL_EINVAL);
  EXPECT(nncl_model_backward(m, NULL), NNCL_EINVAL);
  EXPECT(nncl_model_backward(NULL, y), NNCL_EINVAL);
  EXPECT(nncl_model_compile(NULL, 4, NNCL_MODE_TRAIN), NNCL_EINVAL);
  EXPECT(nncl_model_parse(ctx, NULL, "x", &bad), NNCL_EINVAL);
  EXPECT(nncl_model_parse(ctx, "input shape=1\ndense units=1\n", "x", NULL), NNCL_EINVAL);
  EXPECT(nncl_model_parse(NULL, "input shape=1\ndense units=1\n", "x", &bad), NNCL_EINVAL);
  EXPECT(nncl_model_parse_file(ctx, NULL, &bad), NNCL_EINVAL);
  EXPECT(nncl_model_summary(NULL, collect, NULL, NULL), NNCL_EINVAL);
  EXPECT(nncl_model_summary(m, NULL, NULL, NULL), NNCL_EINVAL);
  EXPECT(nncl_model_to_text(NULL, NULL), NNCL_EINVAL);
  EXPECT(nncl_model_to_text(m, NULL), NNCL_EINVAL);
  EXPECT(nncl_model_param(m, 99, NULL, NULL, NULL), NNCL_EINVAL);
  EXPECT(nncl_model_param(m, -1, NULL, NULL, NULL), NNCL_EINVAL);
  EXPECT(nncl_model_param(NULL, 0, NULL, NULL, NULL), NNCL_EINVAL);
  EXPECT(nncl_model_set_trainable(m, "nope", 0), NNCL_EINVAL);
  EXPECT(nncl_model_set_trainable(m, NULL, 0), NNCL_EINVAL);
  EXPECT(nncl_model_set_trainable(NULL, "dense1", 0), NNCL_EINVAL);
  EXPECT(nncl_model_dense(m, 3, NNCL_ACT_RELU, NNCL_INIT_DEFAULT), NNCL_ESTATE); /* after compile */
  EXPECT(nncl_model_dense(NULL, 3, NNCL_ACT_RELU, NNCL_INIT_DEFAULT), NNCL_EINVAL);
  EXPECT(nncl_model_activation(NULL, NNCL_ACT_RELU, 0), NNCL_EINVAL);
  EXPECT(nncl_model_input(NULL, 1, in1), NNCL_EINVAL);
  EXPECT(nncl_model_create(ctx, NULL), NNCL_EINVAL);
  EXPECT(nncl_model_create(NULL, &bad), NNCL_EINVAL);
  if (nncl_model_param_count(NULL) != 0 || nncl_model_input_size(NULL) != 0 || nncl_model_output_size(NULL) != 0)
    FAIL("misuse: size queries on NULL are not 0");
  /* building out of order */
  if (ok(nncl_model_create(ctx, &bad), "create")) {
    EXPECT(nncl_model_dense(bad, 3, NNCL_ACT_RELU, NNCL_INIT_DEFAULT), NNCL_ESTATE);
    EXPECT(nncl_model_activation(bad, NNCL_ACT_RELU, 0), NNCL_ESTATE);
    EXPECT(nncl_model_compile(bad, 4, NNCL_MODE_INFER), NNCL_ESTATE);
    EXPECT(nncl_model_input(bad, 0, in1), NNCL_EINVAL);
    EXPECT(nncl_model_input(bad, 1, NULL), NNCL_EINVAL);
    EXPECT(nncl_model_input(bad, 1, in1), 0);
    EXPECT(nncl_model_input(bad, 1, in1), NNCL_ESTATE);
    EXPECT(nncl_model_dense(bad, 0, NNCL_ACT_RELU, NNCL_INIT_DEFAULT), NNCL_EINVAL);
    EXPECT(nncl_model_dense(bad, 3, 99, NNCL_INIT_DEFAULT), NNCL_EINVAL);
    EXPECT(nncl_model_dense(bad, 3, NNCL_ACT_RELU, 99), NNCL_EINVAL);
    EXPECT(nncl_model_activation(bad, NNCL_ACT_NONE, 0), NNCL_EINVAL);
    EXPECT(nncl_model_activation(bad, 42, 0), NNCL_EINVAL);
    nncl_model_destroy(bad);
  }
  /* tensors */
  EXPECT(nncl_tensor_create(ctx, 2, zero, NNCL_F32, &t), NNCL_ELIMIT);
  EXPECT(nncl_tensor_create(ctx, 0, xs, NNCL_F32, &t), NNCL_EINVAL);
  EXPECT(nncl_tensor_create(ctx, 7, xs, NNCL_F32, &t), NNCL_EINVAL);
  EXPECT(nncl_tensor_create(ctx, 2, NULL, NNCL_F32, &t), NNCL_EINVAL);
  EXPECT(nncl_tensor_create(ctx, 2, xs, 5, &t), NNCL_EINVAL);
  EXPECT(nncl_tensor_create(ctx, 2, xs, NNCL_F32, NULL), NNCL_EINVAL);
  {
    const int64_t huge[2] = {(int64_t)1 << 40, (int64_t)1 << 40};
    EXPECT(nncl_tensor_create(ctx, 2, huge, NNCL_F32, &t), NNCL_ELIMIT);
  }
  float h[20];
  EXPECT(nncl_tensor_write(x, h, sizeof h - 4), NNCL_ESHAPE);
  EXPECT(nncl_tensor_write(x, NULL, sizeof h), NNCL_EINVAL);
  EXPECT(nncl_tensor_write(NULL, h, sizeof h), NNCL_EINVAL);
  EXPECT(nncl_tensor_read(x, h, sizeof h + 4), NNCL_ESHAPE);
  EXPECT(nncl_tensor_read(NULL, h, sizeof h), NNCL_EINVAL);
  if (nncl_tensor_shape(NULL, NULL) >= 0 || nncl_tensor_numel(NULL) != 0) FAIL("misuse: tensor queries on NULL");
  /* optimizer, data, training */
  op.lr = 0;
  EXPECT(nncl_optim_create(m, &op, &o), NNCL_EINVAL);
  op.lr = 1e-3f, op.kind = 9;
  EXPECT(nncl_optim_create(m, &op, &o), NNCL_EINVAL);
  op.kind = NNCL_OPT_ADAM, op.beta1 = 1;
  EXPECT(nncl_optim_create(m, &op, &o), NNCL_EINVAL);
  nncl_optim_params_init(&op);
  EXPECT(nncl_optim_create(NULL, &op, &o), NNCL_EINVAL);
  EXPECT(nncl_optim_create(m, NULL, &o), NNCL_EINVAL);
  EXPECT(nncl_optim_step(NULL), NNCL_EINVAL);
  EXPECT(nncl_optim_set_lr(NULL, 0.1f), NNCL_EINVAL);
  {
    float dx[12] = {0};
    int32_t labels[2] = {0, 5};
    EXPECT(nncl_dataset_from_arrays(ctx, 2, 1, in1, dx, labels, 3, &d), NNCL_EINVAL); /* label 5 >= 3 classes */
    EXPECT(nncl_dataset_from_arrays(ctx, 0, 1, in1, dx, labels, 3, &d), NNCL_ELIMIT);
    EXPECT(nncl_dataset_from_arrays(ctx, 2, 1, in1, NULL, labels, 3, &d), NNCL_EINVAL);
    labels[1] = 1;
    EXPECT(nncl_dataset_from_arrays(ctx, 2, 1, in1, dx, labels, 3, &d), 0);
  }
  if (ok(nncl_optim_create(m, &op, &o), "optimizer")) {
    nncl_fit_params fp;
    nncl_fit_params_init(&fp);
    fp.batch = 4;
    EXPECT(nncl_fit(m, o, d, NULL, &fp), NNCL_ESHAPE); /* 6 features, model takes 5 */
    EXPECT(nncl_fit(m, o, NULL, NULL, &fp), NNCL_EINVAL);
    EXPECT(nncl_fit(m, NULL, d, NULL, &fp), NNCL_EINVAL);
    EXPECT(nncl_fit(m, o, d, NULL, NULL), NNCL_EINVAL);
    EXPECT(nncl_fit(NULL, o, d, NULL, &fp), NNCL_EINVAL);
    EXPECT(nncl_evaluate(m, d, NNCL_LOSS_XENT, NULL, NULL), NNCL_ESHAPE);
    EXPECT(nncl_evaluate(NULL, d, NNCL_LOSS_XENT, NULL, NULL), NNCL_EINVAL);
    EXPECT(nncl_predict(m, 0, h, h), NNCL_EINVAL);
    EXPECT(nncl_predict(m, 1, NULL, h), NNCL_EINVAL);
    EXPECT(nncl_predict(NULL, 1, h, h), NNCL_EINVAL);
    EXPECT(nncl_save(NULL, NULL, 0, "/tmp/x.safetensors"), NNCL_EINVAL);
    EXPECT(nncl_save(m, NULL, 0, NULL), NNCL_EINVAL);
    EXPECT(nncl_load(ctx, NULL, &bad, NULL), NNCL_EINVAL);
    EXPECT(nncl_load(ctx, "/tmp/x.safetensors", NULL, NULL), NNCL_EINVAL);
    EXPECT(nncl_load_optim(NULL, "/tmp/x.safetensors"), NNCL_EINVAL);
    EXPECT(nncl_load_optim(o, NULL), NNCL_EINVAL);
    /* the model still works after all that */
    EXPECT(nncl_model_forward(m, x, y), 0);
    EXPECT(nncl_optim_step(o), 0);
  }
  EXPECT(nncl_dataset_normalize(d, 0, 0), NNCL_EINVAL);
  EXPECT(nncl_dataset_normalize(NULL, 0, 1), NNCL_EINVAL);
  {
    nncl_dataset *tr = NULL, *va = NULL;
    EXPECT(nncl_dataset_split(d, 0, &tr, &va), NNCL_EINVAL);
    EXPECT(nncl_dataset_split(d, 1.5, &tr, &va), NNCL_EINVAL);
    float rx[6];
    EXPECT(nncl_dataset_read(d, 1, 2, rx, NULL), NNCL_EINVAL);
    EXPECT(nncl_dataset_read(d, -1, 1, rx, NULL), NNCL_EINVAL);
  }
  {
    char err[256];
    nncl_ctx_params p;
    nncl_ctx *c2 = NULL;
    nncl_ctx_params_init(&p);
    p.device = "warp-drive";
    if (nncl_ctx_create(&p, &c2, err, sizeof err) >= 0 || c2 || !err[0]) FAIL("misuse: device 'warp-drive' accepted");
    p.device = "c";
    p.threads = -3;
    if (nncl_ctx_create(&p, &c2, err, sizeof err) != NNCL_EINVAL || c2) FAIL("misuse: threads -3 accepted");
    EXPECT(nncl_ctx_create(NULL, NULL, err, sizeof err), NNCL_EINVAL);
  }
  if (strcmp(nncl_strerror(NNCL_ESHAPE), "shape mismatch") || !nncl_strerror(12345)) FAIL("misuse: nncl_strerror");
  nncl_model_destroy(NULL);
  nncl_tensor_destroy(NULL);
  nncl_optim_destroy(NULL);
  nncl_dataset_destroy(NULL);
  nncl_ctx_destroy(NULL);
  if (failures == fails0) printf("ok   API misuse returns statuses\n");
done:
  nncl_optim_destroy(o);
  nncl_dataset_destroy(d);
  nncl_tensor_destroy(x);
  nncl_tensor_destroy(y);
  nncl_tensor_destroy(xw);
  nncl_tensor_destroy(yi);
  nncl_model_destroy(m);
}

/* nncl_predict over several batches (the model compiled for 8, 29 samples: 3 full batches
 * and a partial one) gives each sample the outputs it gets alone. */
static void test_predict_batches(void) {
  enum { NP = 29, NIN = 5, NOUT = 3 };
  nncl_model *m = NULL;
  float x[NP * NIN], all[NP * NOUT], one[NOUT];
  uint64_t s = 99;
  for (int i = 0; i < NP * NIN; i++) x[i] = urand(&s);
  if (!ok(nncl_model_parse(ctx, "input shape=5\ndense units=7 act=tanh\ndense units=3\nsoftmax\n", "p", &m), "parse") ||
      !ok(nncl_model_compile(m, 8, NNCL_MODE_INFER), "compile") || !ok(nncl_predict(m, NP, x, all), "predict")) {
    nncl_model_destroy(m);
    return;
  }
  int bad = 0;
  for (int i = 0; i < NP && !bad; i++) {
    if (!ok(nncl_predict(m, 1, x + i * NIN, one), "predict one")) {
      bad = 1;
      break;
    }
    for (int c = 0; c < NOUT; c++)
      if (fabsf(one[c] - all[i * NOUT + c]) > 1e-6f) {
        FAIL("predict: sample %d output %d is %g in a batch of 29, %g alone", i, c, all[i * NOUT + c], one[c]);
        bad = 1;
      }
  }
  if (!bad) printf("ok   predict over 3.6 batches gives each sample its outputs alone\n");
  nncl_model_destroy(m);
}

int main(void) {
  int r = harness_open();
  if (r) return r;
  test_gradcheck();
  test_xor();
  test_determinism();
  test_freeze();
  test_text();
  test_parse_errors();
  test_misuse();
  test_predict_batches();
  return harness_close();
}
