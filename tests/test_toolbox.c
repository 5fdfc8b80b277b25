/* test_toolbox.c - the training toolbox through the public API on $NNCL_DEVICE:
 *  - RMSprop, Adagrad, decoupled weight decay, clip_grad_norm_ and clip_grad_value_ over
 *    5 steps of nncl_fit against PyTorch trajectories (tests/gen_golden_optim.py);
 *  - every learning-rate schedule against torch.optim.lr_scheduler, step by step (and
 *    OneCycleLR's momentum), the linear warm-up composed with StepLR, the batch scaling
 *    rule, the spec parser;
 *  - nncl_model_clip_grad_norm's norm against the host's;
 *  - the NaN/Inf guard: a diverging run (huge rate) and a NaN input stop with
 *    NNCL_ENUMERIC naming the batch and the first non-finite op/layer, before any update,
 *    and leave the checkpoint on disk byte for byte;
 *  - lr-find: a rising rate, suggestions inside the sweep, weights and optimizer restored. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "nncl.h"
#include "nncl_config.h"
#include "optim.h"
#include "safetensors.h"

#define N 8
#define IN 6
#define OUT 3
#define SPE 3
#define EPOCHS 12
#define NSTEPS (SPE * EPOCHS)

static const char model_text[] = "input shape=6\ndense units=5 act=tanh\ndense units=3\nsoftmax\n";
static const char *const pnames[] = {"dense1.weight", "dense1.bias", "dense2.weight", "dense2.bias"};
#define NP 4

static int failures;
static nncl_ctx *ctx;
static nncl_st_file *golden;

#define FAIL(...) (printf("FAIL " __VA_ARGS__), putchar('\n'), failures++)

static int ok(int r, const char *what) {
  if (r) FAIL("%s: %s: %s", what, nncl_strerror(r), nncl_errmsg(ctx));
  return !r;
}

static const void *gold(const char *name, size_t n, const char *dtype) {
  nncl_st_tensor t;
  if (nncl_st_find(golden, name, &t) || strcmp(t.dtype, dtype) || t.bytes != n * 4) {
    FAIL("golden tensor '%s' missing or not %s x %zu (regenerate with tests/gen_golden_optim.py)", name, dtype, n);
    return NULL;
  }
  return t.data;
}

/* Values of golden `name` (f32, n) vs got, |d| <= atol + rtol |ref|; returns 1 if good. */
static int near(const char *what, const float *got, const char *name, size_t n, double rtol, double atol) {
  const float *ref = gold(name, n, "F32");
  if (!ref) return 0;
  for (size_t i = 0; i < n; i++) {
    float r;
    memcpy(&r, ref + i, 4);
    if (!(fabs((double)got[i] - r) <= atol + rtol * fabs((double)r))) {
      FAIL("%s: %s[%zu] = %.9g, PyTorch %.9g", what, name, i, (double)got[i], (double)r);
      return 0;
    }
  }
  return 1;
}

/* The model with the golden initial parameters, compiled for training at batch `batch`. */
static nncl_model *model(int batch) {
  nncl_model *m = NULL;
  if (!ok(nncl_model_parse(ctx, model_text, "toolbox", &m), "parse") || !ok(nncl_model_compile(m, batch, NNCL_MODE_TRAIN), "compile")) {
    nncl_model_destroy(m);
    return NULL;
  }
  for (int i = 0; i < NP; i++) {
    const char *name;
    nncl_tensor *v, *g;
    char key[64];
    snprintf(key, sizeof key, "init.%s", pnames[i]);
    nncl_model_param(m, i, &name, &v, &g);
    const void *src = gold(key, (size_t)nncl_tensor_numel(v), "F32");
    if (!src || strcmp(name, pnames[i]) || !ok(nncl_tensor_write(v, src, (size_t)nncl_tensor_numel(v) * 4), "set weights")) {
      nncl_model_destroy(m);
      return NULL;
    }
  }
  return m;
}

/* A ReLU network (unbounded activations: a huge rate overflows), random initial weights. */
static nncl_model *model_relu(int batch) {
  nncl_model *m = NULL;
  if (!ok(nncl_model_parse(ctx, "input shape=6\ndense units=16 act=relu\ndense units=3\nsoftmax\n", "relu", &m), "parse") ||
      !ok(nncl_model_compile(m, batch, NNCL_MODE_TRAIN), "compile")) {
    nncl_model_destroy(m);
    return NULL;
  }
  return m;
}

static nncl_dataset *batch_data(void) {
  const float *x = gold("x", N * IN, "F32");
  const int32_t *y = gold("labels", N, "I32");
  nncl_dataset *d = NULL;
  int64_t shape = IN;
  if (x && y) ok(nncl_dataset_from_arrays(ctx, N, 1, &shape, x, y, OUT, &d), "dataset");
  return d;
}

/* ---- optimizer trajectories ------------------------------------------------------ */

static double step_loss[5];
static int nloss;

static int record_loss(void *user, const nncl_epoch_stats *s, int end) {
  (void)user;
  if (end && nloss < 5) step_loss[nloss++] = s->train_loss;
  return 0;
}

static void trajectory(const char *cfg, const nncl_optim_params *op, nncl_dataset *d) {
  nncl_model *m = model(N);
  nncl_optim *o = NULL;
  if (!m || !ok(nncl_optim_create(m, op, &o), cfg)) goto done;
  nncl_fit_params fp;
  nncl_fit_params_init(&fp);
  fp.epochs = 5, fp.batch = N, fp.shuffle = 0, fp.progress = record_loss;
  nloss = 0;
  if (!ok(nncl_fit(m, o, d, NULL, &fp), cfg)) goto done;
  int good = nloss == 5;
  float loss[5];
  for (int i = 0; i < 5; i++) loss[i] = (float)step_loss[i];
  char name[96];
  snprintf(name, sizeof name, "traj.%s.loss", cfg);
  good = good && near(cfg, loss, name, 5, 1e-4, 1e-6);
  for (int i = 0; i < NP && good; i++) {
    nncl_tensor *v, *g;
    const char *pn;
    nncl_model_param(m, i, &pn, &v, &g);
    size_t n = (size_t)nncl_tensor_numel(v);
    float w[64];
    snprintf(name, sizeof name, "traj.%s.%s", cfg, pn);
    good = ok(nncl_tensor_read(v, w, n * 4), "read") && near(cfg, w, name, n, 2e-4, 2e-6);
  }
  if (good) printf("ok   %-18s 5 steps match PyTorch (losses and parameters)\n", cfg);
done:
  nncl_optim_destroy(o);
  nncl_model_destroy(m);
}

static void test_trajectories(void) {
  nncl_dataset *d = batch_data();
  if (!d) return;
  nncl_optim_params op;
  nncl_optim_params_init(&op);
  op.kind = NNCL_OPT_RMSPROP, op.lr = 0.01f;
  trajectory("rmsprop", &op, d);
  op.alpha = 0.9f, op.momentum = 0.9f, op.centered = 1, op.weight_decay = 0.1f;
  trajectory("rmsprop_cm_l2", &op, d);
  nncl_optim_params_init(&op);
  op.kind = NNCL_OPT_ADAGRAD, op.lr = 0.1f, op.lr_decay = 0.01f, op.initial_accumulator = 0.1f, op.eps = 1e-10f;
  op.weight_decay = 0.05f;
  trajectory("adagrad", &op, d);
  nncl_optim_params_init(&op);
  op.kind = NNCL_OPT_SGD, op.lr = 0.1f, op.momentum = 0.9f, op.weight_decay = 0.1f, op.decoupled_wd = 1;
  trajectory("sgd_decoupled", &op, d);
  nncl_optim_params_init(&op);
  op.kind = NNCL_OPT_RMSPROP, op.lr = 0.01f, op.momentum = 0.5f, op.weight_decay = 0.1f, op.decoupled_wd = 1;
  trajectory("rmsprop_decoupled", &op, d);
  nncl_optim_params_init(&op);
  op.kind = NNCL_OPT_SGD, op.lr = 0.5f, op.clip_norm = 0.1f;
  trajectory("sgd_clipnorm", &op, d);
  nncl_optim_params_init(&op);
  op.lr = 0.01f, op.clip_value = 0.05f;
  trajectory("adam_clipvalue", &op, d);
  nncl_dataset_destroy(d);
}

/* ---- schedules ------------------------------------------------------------------- */

/* Steps an optimizer with zero gradients and compares the rate of every step (and the
 * momentum when mom_name is set) with torch. */
static void schedule(const char *name, const char *spec, int kind, const char *mom_name) {
  nncl_model *m = model(N);
  nncl_optim *o = NULL;
  nncl_schedule_params sp;
  char err[256], key[64];
  nncl_schedule_params_init(&sp);
  nncl_optim_params op;
  nncl_optim_params_init(&op);
  op.kind = kind, op.lr = 0.1f;
  if (nncl_schedule_parse(spec, &sp, err, sizeof err)) {
    FAIL("%s: parse '%s': %s", name, spec, err);
    goto done;
  }
  sp.steps_per_epoch = SPE, sp.epochs = EPOCHS;
  if (!m || !ok(nncl_optim_create(m, &op, &o), name) || !ok(nncl_optim_set_schedule(o, &sp), name)) goto done;
  for (int i = 0; i < NP; i++) {
    nncl_tensor *v, *g;
    const char *pn;
    float z[64] = {0};
    nncl_model_param(m, i, &pn, &v, &g);
    if (!ok(nncl_tensor_write(g, z, (size_t)nncl_tensor_numel(g) * 4), "zero grads")) goto done;
  }
  snprintf(key, sizeof key, "sched.%s.metric", name);
  const float *metric = sp.kind == NNCL_SCHED_PLATEAU ? gold(key, EPOCHS, "F32") : NULL;
  float lr[NSTEPS], mom[NSTEPS];
  for (int t = 0; t < NSTEPS; t++) {
    lr[t] = nncl_optim_lr(o), mom[t] = o->mom;
    if (!ok(nncl_optim_step(o), name)) goto done;
    if ((t + 1) % SPE == 0 && !ok(nncl_optim_epoch_end(o, metric ? metric[t / SPE] : 0), name)) goto done;
  }
  snprintf(key, sizeof key, "sched.%s.lr", name);
  int good = near(name, lr, key, NSTEPS, 2e-6, 1e-9);
  if (mom_name) {
    snprintf(key, sizeof key, "sched.%s.mom", mom_name);
    good = good && near(name, mom, key, NSTEPS, 2e-6, 1e-9);
  }
  if (good) printf("ok   schedule %-12s '%s': %d steps match torch%s\n", name, spec, NSTEPS, mom_name ? " (and momentum)" : "");
done:
  nncl_optim_destroy(o);
  nncl_model_destroy(m);
}

static void test_schedules(void) {
  schedule("step", "step:step_size=3,gamma=0.5", NNCL_OPT_SGD, NULL);
  schedule("multistep", "multistep:milestones=2/5/9,gamma=0.3", NNCL_OPT_SGD, NULL);
  schedule("exponential", "exponential:gamma=0.8", NNCL_OPT_SGD, NULL);
  schedule("cosine", "cosine:eta_min=0.001", NNCL_OPT_SGD, NULL);
  schedule("cosine5", "cosine:t_max=5,eta_min=0.001", NNCL_OPT_SGD, NULL);
  schedule("restarts", "cosine-restarts:t_0=2,t_mult=2,eta_min=0.01", NNCL_OPT_SGD, NULL);
  schedule("restarts1", "cosine-restarts:t_0=3", NNCL_OPT_SGD, NULL);
  schedule("plateau", "plateau:factor=0.5,patience=1,threshold=0.01,cooldown=1,min_lr=0.02", NNCL_OPT_SGD, NULL);
  schedule("onecycle", "onecycle", NNCL_OPT_ADAM, "onecycle");
  schedule("onecycle3", "onecycle:three_phase=1", NNCL_OPT_ADAM, "onecycle3");
  schedule("warmup_step", "step:step_size=4,gamma=0.5,warmup=7,warmup_start=0.1", NNCL_OPT_SGD, NULL);

  /* linear scaling: batch 8 against base batch 2 quadruples the rate */
  nncl_model *m = model(N);
  nncl_optim *o = NULL;
  nncl_optim_params op;
  nncl_optim_params_init(&op);
  nncl_schedule_params sp;
  char err[256];
  nncl_schedule_params_init(&sp);
  if (m && !nncl_schedule_parse("constant:base_batch=2", &sp, err, sizeof err) && ok(nncl_optim_create(m, &op, &o), "optim") &&
      ok(nncl_optim_set_schedule(o, &sp), "schedule")) {
    if (fabsf(nncl_optim_lr(o) - 4e-3f) > 1e-9f) FAIL("base_batch 2 at batch 8: lr %g, want 0.004", (double)nncl_optim_lr(o));
    else printf("ok   linear scaling rule: lr 1e-3 x 8 / 2 = %g\n", (double)nncl_optim_lr(o));
  }
  nncl_optim_destroy(o);
  nncl_model_destroy(m);
  static const char *const bad[] = {"cosine:eta_min", "warp", "step:gamma=0", "step:step_size=1.5", "multistep:milestones=5/3",
                                    "onecycle:pct_start=1", "plateau:factor=2", "step:nope=1", "step:gamma=x"};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    nncl_schedule_params_init(&sp);
    if (!nncl_schedule_parse(bad[i], &sp, err, sizeof err)) FAIL("schedule spec '%s' accepted", bad[i]);
  }
}

/* A checkpoint restores the schedule's position (the step count) and ReduceLROnPlateau's
 * state: the resumed optimizer continues with the same rates. */
static void test_schedule_resume(void) {
  char path[256], err[256];
  snprintf(path, sizeof path, "/tmp/nncl_sched_%d.safetensors", (int)getpid());
  nncl_model *m = model(N), *l = NULL;
  nncl_optim *o = NULL, *lo = NULL;
  nncl_optim_params op;
  nncl_optim_params_init(&op);
  op.kind = NNCL_OPT_SGD, op.lr = 0.1f;
  nncl_schedule_params sp;
  nncl_schedule_params_init(&sp);
  nncl_schedule_parse("plateau:patience=1,factor=0.5,cooldown=2", &sp, err, sizeof err);
  sp.steps_per_epoch = SPE, sp.epochs = EPOCHS;
  static const double metric[] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1};
  if (!m || !ok(nncl_optim_create(m, &op, &o), "optim") || !ok(nncl_optim_set_schedule(o, &sp), "schedule")) goto done;
  for (int e = 0; e < 4; e++) nncl_optim_epoch_end(o, metric[e]); /* reduced once, in cooldown */
  if (!ok(nncl_save(m, o, 4, path), "save") || !ok(nncl_load(ctx, path, &l, NULL), "load") ||
      !ok(nncl_model_compile(l, N, NNCL_MODE_TRAIN), "compile") || !ok(nncl_optim_create(l, &op, &lo), "optim") ||
      !ok(nncl_optim_set_schedule(lo, &sp), "schedule") || !ok(nncl_load_optim(lo, path), "load optim"))
    goto done;
  int good = 1;
  for (int e = 4; e < 10 && good; e++) {
    good = nncl_optim_lr(o) == nncl_optim_lr(lo);
    nncl_optim_epoch_end(o, metric[e]), nncl_optim_epoch_end(lo, metric[e]);
  }
  if (!good || nncl_optim_lr(o) >= 0.05f) FAIL("plateau resume: rates %g vs %g", (double)nncl_optim_lr(o), (double)nncl_optim_lr(lo));
  else printf("ok   plateau state survives a checkpoint (rate %g after 10 flat epochs)\n", (double)nncl_optim_lr(lo));
done:
  remove(path);
  nncl_optim_destroy(o), nncl_optim_destroy(lo);
  nncl_model_destroy(m), nncl_model_destroy(l);
}

/* ---- clip_grad_norm ---------------------------------------------------------------- */

static void test_clip_norm(nncl_dataset *d) {
  nncl_model *m = model(N);
  float x[N * IN], dy[N * OUT], g[64], norm = 0;
  double ss = 0, ss2 = 0;
  nncl_tensor *tx = NULL, *ty = NULL, *tdy = NULL;
  int64_t sx[2] = {N, IN}, sy[2] = {N, OUT};
  if (!m || !ok(nncl_dataset_read(d, 0, N, x, NULL), "read") || !ok(nncl_tensor_create(ctx, 2, sx, NNCL_F32, &tx), "t") ||
      !ok(nncl_tensor_create(ctx, 2, sy, NNCL_F32, &ty), "t") || !ok(nncl_tensor_create(ctx, 2, sy, NNCL_F32, &tdy), "t"))
    goto done;
  for (int i = 0; i < N * OUT; i++) dy[i] = (float)((i * 7 % 11) - 5) * 0.3f;
  if (!ok(nncl_tensor_write(tx, x, sizeof x), "x") || !ok(nncl_tensor_write(tdy, dy, sizeof dy), "dy") ||
      !ok(nncl_model_forward(m, tx, ty), "forward") || !ok(nncl_model_backward(m, tdy), "backward"))
    goto done;
  for (int i = 0; i < NP; i++) {
    nncl_tensor *v, *gr;
    const char *pn;
    nncl_model_param(m, i, &pn, &v, &gr);
    nncl_tensor_read(gr, g, (size_t)nncl_tensor_numel(gr) * 4);
    for (int64_t k = 0; k < nncl_tensor_numel(gr); k++) ss += (double)g[k] * g[k];
  }
  float max_norm = (float)(sqrt(ss) / 3);
  if (!ok(nncl_model_clip_grad_norm(m, max_norm, &norm), "clip_grad_norm")) goto done;
  for (int i = 0; i < NP; i++) {
    nncl_tensor *v, *gr;
    const char *pn;
    nncl_model_param(m, i, &pn, &v, &gr);
    nncl_tensor_read(gr, g, (size_t)nncl_tensor_numel(gr) * 4);
    for (int64_t k = 0; k < nncl_tensor_numel(gr); k++) ss2 += (double)g[k] * g[k];
  }
  if (fabs(norm - sqrt(ss)) > 1e-5 * sqrt(ss) || fabs(sqrt(ss2) - max_norm) > 1e-5 * max_norm)
    FAIL("clip_grad_norm: norm %.9g (host %.9g), after clipping %.9g (want %.9g)", (double)norm, sqrt(ss), sqrt(ss2), (double)max_norm);
  else printf("ok   clip_grad_norm: total norm %.6g, clipped to %.6g\n", (double)norm, sqrt(ss2));
  if (nncl_model_clip_grad_norm(m, 0, NULL) != NNCL_EINVAL || nncl_model_clip_grad_value(m, -1) != NNCL_EINVAL)
    FAIL("clip with a limit <= 0 accepted");
done:
  nncl_tensor_destroy(tx), nncl_tensor_destroy(ty), nncl_tensor_destroy(tdy);
  nncl_model_destroy(m);
}

/* ---- the NaN/Inf guard ------------------------------------------------------------ */

static unsigned char *slurp(const char *path, long *n) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  *n = ftell(f);
  fseek(f, 0, SEEK_SET);
  unsigned char *b = malloc((size_t)*n + 1);
  if (b && fread(b, 1, (size_t)*n, f) != (size_t)*n) free(b), b = NULL;
  fclose(f);
  return b;
}

/* Whether every parameter value of m is finite. */
static int params_finite(nncl_model *m) {
  for (int i = 0; i < nncl_model_param_count(m); i++) {
    nncl_tensor *v;
    if (nncl_model_param(m, i, NULL, &v, NULL)) return 0;
    size_t n = (size_t)nncl_tensor_numel(v);
    float *h = malloc(n * sizeof *h);
    int fin = h && !nncl_tensor_read(v, h, n * sizeof *h);
    for (size_t k = 0; k < n && fin; k++) fin = isfinite(h[k]);
    free(h);
    if (!fin) return 0;
  }
  return 1;
}

static void test_guard(void) {
  enum { M = 32 };
  float x[M * IN];
  int32_t y[M];
  for (int i = 0; i < M * IN; i++) x[i] = (float)sin(i * 0.7);
  for (int i = 0; i < M; i++) y[i] = i % OUT;
  int64_t shape = IN;
  nncl_dataset *d = NULL, *dn = NULL;
  nncl_model *m = model_relu(8);
  nncl_optim *o = NULL;
  char path[256];
  snprintf(path, sizeof path, "/tmp/nncl_guard_%d.safetensors", (int)getpid());
  unsigned char *before = NULL, *after = NULL;
  long nb = 0, na = 0;
  nncl_optim_params op;
  nncl_optim_params_init(&op);
  op.kind = NNCL_OPT_SGD, op.lr = 0.1f;
  nncl_fit_params fp;
  nncl_fit_params_init(&fp);
  fp.batch = 8, fp.shuffle = 0, fp.checkpoint = path;
  if (!m || !ok(nncl_dataset_from_arrays(ctx, M, 1, &shape, x, y, OUT, &d), "dataset") ||
      !ok(nncl_optim_create(m, &op, &o), "optim") || !ok(nncl_fit(m, o, d, NULL, &fp), "first epoch") ||
      !(before = slurp(path, &nb)))
    goto done;
  /* a rate of 1e30: the first update leaves huge finite weights, the second forward
   * overflows in the second layer */
  nncl_optim_set_lr(o, 1e30f);
  fp.epochs = 3;
  int64_t steps = nncl_optim_steps(o);
  int r = nncl_fit(m, o, d, NULL, &fp);
  const char *msg = nncl_errmsg(ctx);
  if (r != NNCL_ENUMERIC || !strstr(msg, "epoch 1, batch 2") || !strstr(msg, "layer 'dense2'") || !strstr(msg, "matmul"))
    FAIL("diverging run: status %d, message '%s' (want ENUMERIC at epoch 1, batch 2, op matmul in layer dense2)", r, msg);
  else printf("ok   guard: %s\n", msg);
  if (nncl_optim_steps(o) != steps + 1) FAIL("guard: %lld steps taken, want 1 (no update on the bad batch)", (long long)(nncl_optim_steps(o) - steps));
  /* the bad batch's update, and that of the batch queued after it, were skipped */
  if (!params_finite(m)) FAIL("guard: a parameter is not finite after the diverging run");
  else printf("ok   guard: the parameters are those before the bad batch (finite)\n");
  if (!(after = slurp(path, &na)) || na != nb || memcmp(before, after, (size_t)nb))
    FAIL("guard: the checkpoint on disk changed during the diverging run");
  else printf("ok   guard: the checkpoint on disk is untouched (%ld bytes)\n", nb);
  /* a NaN in the data: the input batch is named */
  x[3 * IN + 2] = NAN;
  nncl_optim_set_lr(o, 0.1f);
  nncl_model *m2 = model(8);
  nncl_optim *o2 = NULL;
  fp.checkpoint = NULL;
  if (m2 && ok(nncl_dataset_from_arrays(ctx, M, 1, &shape, x, y, OUT, &dn), "dataset") && ok(nncl_optim_create(m2, &op, &o2), "optim")) {
    r = nncl_fit(m2, o2, dn, NULL, &fp);
    msg = nncl_errmsg(ctx);
    if (r != NNCL_ENUMERIC || !strstr(msg, "batch 1") || !strstr(msg, "input batch")) FAIL("NaN input: status %d, message '%s'", r, msg);
    else printf("ok   guard: %s\n", msg);
  }
  nncl_optim_destroy(o2);
  nncl_model_destroy(m2);
done:
  free(before), free(after);
  remove(path);
  nncl_dataset_destroy(d);
  nncl_dataset_destroy(dn);
  nncl_optim_destroy(o);
  nncl_model_destroy(m);
}

/* ---- lr-find ------------------------------------------------------------------------ */

static void test_lr_find(void) {
  enum { M = 96 };
  float x[M * IN];
  int32_t y[M];
  for (int i = 0; i < M; i++) { /* a weak signal in noise: learnable at first, then the rate blows it up */
    y[i] = (i * 5 + i / 7) % OUT;
    for (int k = 0; k < IN; k++) x[i * IN + k] = (float)(0.2 * (k % OUT == y[i]) + sin(i * 1.3 + k * 0.7));
  }
  int64_t shape = IN;
  nncl_dataset *d = NULL;
  nncl_model *m = model_relu(8);
  nncl_optim *o = NULL;
  nncl_optim_params op;
  nncl_optim_params_init(&op);
  op.kind = NNCL_OPT_SGD, op.momentum = 0.9f, op.lr = 0.05f;
  nncl_lr_find_params lp;
  nncl_lr_find_params_init(&lp);
  lp.batch = 8, lp.steps = 40, lp.start_lr = 1e-4f, lp.end_lr = 1e3f;
  nncl_lr_find_result res = {0};
  float w0[256], w1[256];
  if (!m || !ok(nncl_dataset_from_arrays(ctx, M, 1, &shape, x, y, OUT, &d), "dataset") || !ok(nncl_optim_create(m, &op, &o), "optim"))
    goto done;
  nncl_tensor *v, *g;
  const char *pn;
  nncl_model_param(m, 0, &pn, &v, &g);
  size_t n = (size_t)nncl_tensor_numel(v);
  if (!ok(nncl_tensor_read(v, w0, n * 4), "read") || !ok(nncl_lr_find(m, o, d, &lp, &res), "lr_find") ||
      !ok(nncl_tensor_read(v, w1, n * 4), "read"))
    goto done;
  int good = res.n >= 5 && res.n <= lp.steps && nncl_optim_steps(o) == 0 && nncl_optim_lr(o) == 0.05f;
  for (int i = 1; i < res.n && good; i++) good = res.lr[i] > res.lr[i - 1];
  good = good && res.lr_steepest >= lp.start_lr && res.lr_steepest <= lp.end_lr && res.lr_min10 > 0;
  if (!good)
    FAIL("lr_find: %d points, steps now %lld, lr %g, suggestions %g %g", res.n, (long long)nncl_optim_steps(o),
         (double)nncl_optim_lr(o), res.lr_steepest, res.lr_min10);
  else if (memcmp(w0, w1, n * 4)) FAIL("lr_find: the weights were not restored");
  else
    printf("ok   lr_find: %d points%s, steepest %.3g, min/10 %.3g; weights and optimizer restored\n", res.n,
           res.diverged ? " (stopped on divergence)" : "", res.lr_steepest, res.lr_min10);
  if (!res.diverged) FAIL("lr_find: a sweep up to lr 1e3 did not diverge");
done:
  nncl_lr_find_result_free(&res);
  nncl_dataset_destroy(d);
  nncl_optim_destroy(o);
  nncl_model_destroy(m);
}

int main(void) {
  const char *dir = getenv("NNCL_TEST_DATA");
  char path[4096], err[512];
  snprintf(path, sizeof path, "%s/golden_optim.safetensors", dir ? dir : NNCL_SOURCE_DIR "/tests/data");
  nncl_ctx_params p;
  nncl_ctx_params_init(&p);
  p.threads = 2;
  int r = nncl_ctx_create(&p, &ctx, err, sizeof err);
  if (r == NNCL_ENODEV) {
    printf("SKIP no device: %s\n", err);
    return 77;
  }
  if (r) {
    printf("FAIL context: %s\n", err);
    return 1;
  }
  printf("device: %s\n", nncl_ctx_device(ctx));
  if ((r = nncl_st_open(ctx, path, &golden))) {
    printf("FAIL cannot open %s: %s (regenerate with /usr/bin/python3 tests/gen_golden_optim.py)\n", path, nncl_errmsg(ctx));
    nncl_ctx_destroy(ctx);
    return 1;
  }
  test_trajectories();
  test_schedules();
  test_schedule_resume();
  nncl_dataset *d = batch_data();
  if (d) test_clip_norm(d);
  nncl_dataset_destroy(d);
  test_guard();
  test_lr_find();
  nncl_st_close(golden);
  nncl_ctx_destroy(ctx);
  printf("%s\n", failures ? "FAILED" : "PASSED");
  return failures ? 1 : 0;
}
