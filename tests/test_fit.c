/* test_fit.c - the training loop's extras on the device under test ($NNCL_DEVICE):
 *  - early stopping: a run whose validation loss gets worse (validation labels are the
 *    training labels permuted) stops `patience` epochs after its best epoch; the best
 *    checkpoint holds exactly that epoch's weights, the last checkpoint the last epoch's;
 *    nncl_fit_result reports both; monitoring val_accuracy (max mode, min_delta) picks the
 *    first epoch of the highest accuracy and stops `patience` epochs later;
 *  - resume: a run (dropout, shuffle, Adam, validation, augmentation noise) interrupted
 *    after 2 of 5 epochs and resumed in a fresh context with another seed gives
 *    bit-identical weights, optimizer step and per-epoch losses to the uninterrupted run;
 *  - class weights: the reported loss is PyTorch's weighted mean, computed here from the
 *    model's outputs; focal loss trains; balanced weights are n / (C n_c);
 *  - metrics: confusion matrix, precision, recall and F1 of a model with set weights.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "nncl.h"

static int failures;
static char dir[64];

#define FAIL(...) (printf("FAIL " __VA_ARGS__), putchar('\n'), failures++)

static const char *device(void) {
  const char *d = getenv("NNCL_DEVICE");
  return d && *d ? d : "c";
}

static int open_ctx(uint64_t seed, nncl_ctx **ctx) {
  nncl_ctx_params p;
  char err[512];
  nncl_ctx_params_init(&p);
  p.device = device();
  p.threads = 2;
  p.seed = seed;
  int r = nncl_ctx_create(&p, ctx, err, sizeof err);
  if (r) printf("%s cannot open '%s': %s\n", strncmp(device(), "cl", 2) ? "FAIL" : "SKIP", device(), err);
  return r;
}

static const char *tmp(const char *name) {
  static char buf[4][256];
  static int k;
  k = (k + 1) % 4;
  snprintf(buf[k], sizeof buf[k], "%s/%s", dir, name);
  return buf[k];
}

static int ok(nncl_ctx *ctx, int r, const char *what) {
  if (r) FAIL("%s: %s: %s", what, nncl_strerror(r), nncl_errmsg(ctx));
  return !r;
}

static float urand(uint64_t *s) {
  *s = *s * 6364136223846793005ull + 1442695040888963407ull;
  return (float)((double)(*s >> 11) / 9007199254740992.0 * 2 - 1);
}

/* n samples of F features: class = which of the first 3 features is largest. */
static nncl_dataset *make_data(nncl_ctx *ctx, int64_t n, int F, uint64_t seed, int permute_labels) {
  float *x = malloc((size_t)(n * F) * sizeof *x);
  int32_t *y = malloc((size_t)n * sizeof *y);
  for (int64_t i = 0; i < n * F; i++) x[i] = urand(&seed);
  for (int64_t i = 0; i < n; i++) {
    int c = 0;
    for (int k = 1; k < 3; k++)
      if (x[i * F + k] > x[i * F + c]) c = k;
    y[i] = permute_labels ? (c + 1) % 3 : c;
  }
  int64_t shape[1] = {F};
  nncl_dataset *d = NULL;
  ok(ctx, nncl_dataset_from_arrays(ctx, n, 1, shape, x, y, 3, &d), "dataset");
  free(x), free(y);
  return d;
}

/* All parameters (and buffers) of m as one host array (malloc'd); *n their count. */
static float *params_of(nncl_model *m, int64_t *n) {
  int np = nncl_model_param_count(m);
  int64_t total = 0;
  for (int i = 0; i < np; i++) {
    nncl_tensor *v;
    nncl_model_param(m, i, NULL, &v, NULL);
    total += nncl_tensor_numel(v);
  }
  float *h = malloc((size_t)total * sizeof *h), *p = h;
  for (int i = 0; i < np; i++) {
    nncl_tensor *v;
    nncl_model_param(m, i, NULL, &v, NULL);
    int64_t k = nncl_tensor_numel(v);
    nncl_tensor_read(v, p, (size_t)k * sizeof *p);
    p += k;
  }
  *n = total;
  return h;
}

/* ---- early stopping ------------------------------------------------------------------- */

#define MAX_EPOCHS 30
typedef struct snapshots {
  nncl_model *m;
  float *w[MAX_EPOCHS + 1];
  int64_t n;
} snapshots;

static int snap(void *user, const nncl_epoch_stats *s, int end) {
  snapshots *sn = user;
  if (end && s->epoch <= MAX_EPOCHS) sn->w[s->epoch] = params_of(sn->m, &sn->n);
  return 0;
}

static int same(const float *a, const float *b, int64_t n, const char *what) {
  for (int64_t i = 0; i < n; i++)
    if (memcmp(&a[i], &b[i], sizeof *a)) {
      FAIL("%s: first difference at value %lld: %.9g vs %.9g", what, (long long)i, a[i], b[i]);
      return 0;
    }
  return 1;
}

static void test_early_stop(void) {
  nncl_ctx *ctx;
  if (open_ctx(3, &ctx)) return;
  nncl_model *m = NULL;
  nncl_optim *o = NULL;
  nncl_dataset *train = make_data(ctx, 256, 6, 11, 0), *val = make_data(ctx, 128, 6, 12, 1);
  snapshots sn = {0};
  nncl_optim_params op;
  nncl_optim_params_init(&op);
  op.lr = 0.02f;
  if (!train || !val || !ok(ctx, nncl_model_parse(ctx, "input shape=6\ndense units=16 act=relu\ndense units=3\nsoftmax\n", "es", &m), "parse") ||
      !ok(ctx, nncl_model_compile(m, 32, NNCL_MODE_TRAIN), "compile") || !ok(ctx, nncl_optim_create(m, &op, &o), "optim"))
    goto done;
  sn.m = m;
  nncl_fit_params fp;
  nncl_fit_result res;
  nncl_fit_params_init(&fp);
  fp.epochs = MAX_EPOCHS;
  fp.batch = 32;
  fp.patience = 3;
  fp.checkpoint = tmp("es.safetensors");
  fp.curves = tmp("es.curves");
  fp.progress = snap;
  fp.user = &sn;
  fp.result = &res;
  if (!ok(ctx, nncl_fit(m, o, train, val, &fp), "fit with early stopping")) goto done;
  printf("early stopping: stopped %d after epoch %d, best epoch %d (val_loss %.4f)\n", res.stopped_early, res.epochs_run,
         res.best_epoch, res.best_metric);
  if (!res.stopped_early || res.epochs_run != res.best_epoch + 3 || res.epochs_run >= MAX_EPOCHS)
    FAIL("early stopping: stopped %d at epoch %d with best epoch %d, patience 3", res.stopped_early, res.epochs_run, res.best_epoch);
  if (res.last.epoch != res.epochs_run || res.best.epoch != res.best_epoch || res.best.val_loss != res.best_metric ||
      !(res.last.val_loss > res.best_metric))
    FAIL("early stopping: result last epoch %d (val %.6f), best %d (val %.6f, metric %.6f)", res.last.epoch, res.last.val_loss,
         res.best.epoch, res.best.val_loss, res.best_metric);
  /* the best checkpoint: the best epoch's weights; the checkpoint: the last epoch's */
  const char *which[2] = {tmp("es.best.safetensors"), tmp("es.safetensors")};
  int want_epoch[2] = {res.best_epoch, res.epochs_run};
  for (int k = 0; k < 2 && res.best_epoch >= 1 && res.epochs_run <= MAX_EPOCHS; k++) {
    nncl_model *b = NULL;
    int ep = -1;
    if (!ok(ctx, nncl_load(ctx, which[k], &b, &ep), which[k])) continue;
    int64_t n;
    float *w = params_of(b, &n);
    if (ep != want_epoch[k]) FAIL("%s: epoch %d, want %d", which[k], ep, want_epoch[k]);
    if (n == sn.n && sn.w[want_epoch[k]]) same(w, sn.w[want_epoch[k]], n, which[k]);
    else FAIL("%s: %lld values, want %lld", which[k], (long long)n, (long long)sn.n);
    free(w);
    nncl_model_destroy(b);
  }
  FILE *f = fopen(tmp("es.curves.csv"), "r");
  int lines = 0;
  char line[512];
  while (f && fgets(line, sizeof line, f)) lines++;
  if (f) fclose(f);
  if (lines != res.epochs_run + 1) FAIL("curves CSV: %d lines for %d epochs", lines, res.epochs_run);
done:
  for (int i = 0; i <= MAX_EPOCHS; i++) free(sn.w[i]);
  nncl_optim_destroy(o);
  nncl_model_destroy(m);
  nncl_dataset_destroy(train), nncl_dataset_destroy(val);
  nncl_ctx_destroy(ctx);
}

/* val_accuracy, max mode: the best epoch has the highest accuracy (the first of ties
 * within min_delta), and the run stops `patience` epochs later. */
typedef struct accs {
  double v[MAX_EPOCHS + 1];
  int n;
} accs;

static int record_acc(void *user, const nncl_epoch_stats *s, int end) {
  accs *a = user;
  if (end && s->epoch <= MAX_EPOCHS) a->v[s->epoch] = s->val_acc, a->n = s->epoch;
  return 0;
}

static void test_monitor_accuracy(void) {
  nncl_ctx *ctx;
  if (open_ctx(8, &ctx)) return;
  nncl_model *m = NULL;
  nncl_optim *o = NULL;
  nncl_dataset *train = make_data(ctx, 256, 6, 31, 0), *val = make_data(ctx, 64, 6, 32, 0);
  nncl_optim_params op;
  nncl_optim_params_init(&op);
  op.lr = 0.02f;
  accs a = {{0}, 0};
  if (train && val && ok(ctx, nncl_model_parse(ctx, "input shape=6\ndense units=8 act=relu\ndense units=3\nsoftmax\n", "acc", &m), "parse") &&
      ok(ctx, nncl_model_compile(m, 32, NNCL_MODE_TRAIN), "compile") && ok(ctx, nncl_optim_create(m, &op, &o), "optim")) {
    nncl_fit_params fp;
    nncl_fit_result res;
    nncl_fit_params_init(&fp);
    fp.epochs = MAX_EPOCHS, fp.batch = 32, fp.patience = 3, fp.monitor = NNCL_MONITOR_VAL_ACC, fp.min_delta = 0.01;
    fp.progress = record_acc, fp.user = &a, fp.result = &res;
    if (ok(ctx, nncl_fit(m, o, train, val, &fp), "fit monitoring val_accuracy")) {
      int best = 1, wait = 0, stop = 0;
      for (int e = 2; e <= a.n; e++) {
        if (a.v[e] > a.v[best] + 0.01) best = e, wait = 0;
        else if (++wait >= 3) stop = e;
        if (stop) break;
      }
      printf("val_accuracy: best epoch %d (%.4f), stopped after %d\n", res.best_epoch, res.best_metric, res.epochs_run);
      if (res.best_epoch != best || res.best_metric != a.v[best] || (stop && (res.epochs_run != stop || !res.stopped_early)) ||
          (!stop && res.epochs_run != MAX_EPOCHS) || best < 3)
        FAIL("val_accuracy: best epoch %d (%.4f) stop %d; want best %d (%.4f) stop %d", res.best_epoch, res.best_metric, res.epochs_run,
             best, a.v[best], stop);
    }
  }
  nncl_optim_destroy(o);
  nncl_model_destroy(m);
  nncl_dataset_destroy(train), nncl_dataset_destroy(val);
  nncl_ctx_destroy(ctx);
}

/* ---- resume ----------------------------------------------------------------------------- */

static const char resume_model[] = "input shape=7\ndense units=24 act=relu\ndropout p=0.25\ndense units=3\nsoftmax\n";

typedef struct losses {
  double v[16];
} losses;

static int record(void *user, const nncl_epoch_stats *s, int end) {
  losses *l = user;
  if (end && s->epoch < 8) l->v[2 * s->epoch] = s->train_loss, l->v[2 * s->epoch + 1] = s->val_loss;
  return 0;
}

/* Trains to `epochs` (resuming from `resume` if non-NULL) and returns the weights. */
static float *run(uint64_t seed, int epochs, const char *resume, const char *ckpt, losses *l, int64_t *n, int64_t *steps) {
  nncl_ctx *ctx;
  if (open_ctx(seed, &ctx)) return NULL;
  nncl_model *m = NULL;
  nncl_optim *o = NULL;
  float *w = NULL;
  nncl_dataset *all = make_data(ctx, 300, 7, 5, 0), *train = NULL, *val = NULL;
  int r = resume ? nncl_load(ctx, resume, &m, NULL) : nncl_model_parse(ctx, resume_model, "resume", &m);
  nncl_optim_params op;
  nncl_optim_params_init(&op);
  op.lr = 0.01f;
  if (!ok(ctx, r, "model") || !all || !ok(ctx, nncl_dataset_split_seeded(all, 0.2, 9, &train, &val), "split") ||
      !ok(ctx, nncl_model_compile(m, 16, NNCL_MODE_TRAIN), "compile") || !ok(ctx, nncl_optim_create(m, &op, &o), "optim"))
    goto done;
  nncl_fit_params fp;
  nncl_fit_params_init(&fp);
  fp.epochs = epochs;
  fp.batch = 16;
  fp.checkpoint = ckpt;
  fp.resume = resume;
  fp.augment.noise = 0.05f;
  fp.progress = record;
  fp.user = l;
  if (ok(ctx, nncl_fit(m, o, train, val, &fp), resume ? "resumed fit" : "fit")) {
    w = params_of(m, n);
    *steps = nncl_optim_steps(o);
  }
done:
  nncl_optim_destroy(o);
  nncl_model_destroy(m);
  nncl_dataset_destroy(train), nncl_dataset_destroy(val), nncl_dataset_destroy(all);
  nncl_ctx_destroy(ctx);
  return w;
}

static void test_resume(void) {
  losses full = {{0}}, part = {{0}};
  int64_t n1 = 0, n2 = 0, s1 = 0, s2 = 0, s0 = 0, n0 = 0;
  float *a = run(21, 5, NULL, tmp("full.safetensors"), &full, &n1, &s1);
  float *b0 = run(21, 2, NULL, tmp("part.safetensors"), &part, &n0, &s0);
  float *b = run(999, 5, tmp("part.safetensors"), tmp("resumed.safetensors"), &part, &n2, &s2);
  if (!a || !b || !b0) FAIL("resume: a run failed");
  else {
    if (n1 != n2 || s1 != s2) FAIL("resume: %lld values after %lld steps, uninterrupted %lld after %lld", (long long)n2, (long long)s2,
                                   (long long)n1, (long long)s1);
    else if (same(a, b, n1, "resumed vs uninterrupted weights")) printf("resume: 5 epochs = 2 + resumed 3, bit for bit (%lld steps)\n", (long long)s1);
    for (int k = 2; k < 12; k++)
      if (memcmp(&full.v[k], &part.v[k], sizeof full.v[k])) {
        FAIL("resume: epoch %d %s loss %.9g, uninterrupted %.9g", k / 2, k % 2 ? "val" : "train", part.v[k], full.v[k]);
        break;
      }
  }
  free(a), free(b), free(b0);
  /* resuming a finished run trains nothing and keeps the weights */
  losses none = {{0}};
  int64_t n3 = 0, s3 = 0;
  float *c = run(5, 5, tmp("full.safetensors"), NULL, &none, &n3, &s3);
  if (!c || s3 != s1 || none.v[2] != 0) FAIL("resume of a finished run: trained or failed");
  free(c);
  /* a checkpoint without training state is refused */
  nncl_ctx *ctx;
  if (open_ctx(1, &ctx)) return;
  nncl_model *m = NULL;
  nncl_optim *o = NULL;
  nncl_optim_params op;
  nncl_optim_params_init(&op);
  nncl_dataset *d = make_data(ctx, 40, 7, 1, 0);
  if (ok(ctx, nncl_model_parse(ctx, resume_model, "r", &m), "parse") && ok(ctx, nncl_model_compile(m, 8, NNCL_MODE_TRAIN), "compile") &&
      ok(ctx, nncl_optim_create(m, &op, &o), "optim") && ok(ctx, nncl_save(m, o, 1, tmp("plain.safetensors")), "save")) {
    nncl_fit_params fp;
    nncl_fit_params_init(&fp);
    fp.batch = 8;
    fp.resume = tmp("plain.safetensors");
    int r = nncl_fit(m, o, d, NULL, &fp);
    if (r != NNCL_EFORMAT || !strstr(nncl_errmsg(ctx), "no training state"))
      FAIL("resume from a plain checkpoint: %s (%s)", nncl_strerror(r), nncl_errmsg(ctx));
  }
  nncl_dataset_destroy(d);
  nncl_optim_destroy(o);
  nncl_model_destroy(m);
  nncl_ctx_destroy(ctx);
}

/* ---- class weights, focal loss, metrics --------------------------------------------------- */

static void test_weights_and_metrics(void) {
  nncl_ctx *ctx;
  if (open_ctx(4, &ctx)) return;
  nncl_model *m = NULL;
  nncl_optim *o = NULL;
  nncl_metrics *mt = NULL;
  /* 2 features, 3 classes; logits = W x with W set: class = argmax(x0, x1, -x0 - x1) */
  enum { N = 10 };
  float x[N * 2] = {3, 0, 0, 3, -2, -2, 2, 1, 1, 2, -1, -3, 0.5f, 0.2f, 0.1f, 0.3f, -1, 0.5f, 0.2f, -2};
  int32_t y[N] = {0, 1, 2, 0, 1, 2, 1, 2, 1, 0};
  int64_t shape[1] = {2};
  nncl_dataset *d = NULL;
  float W[6] = {1, 0, 0, 1, -1, -1}, b[3] = {0, 0, 0};
  nncl_optim_params op;
  nncl_optim_params_init(&op);
  op.kind = NNCL_OPT_SGD;
  op.lr = 1e-30f;
  if (!ok(ctx, nncl_dataset_from_arrays(ctx, N, 1, shape, x, y, 3, &d), "dataset") ||
      !ok(ctx, nncl_model_parse(ctx, "input shape=2\ndense units=3\nsoftmax\n", "w", &m), "parse") ||
      !ok(ctx, nncl_model_compile(m, N, NNCL_MODE_TRAIN), "compile") || !ok(ctx, nncl_optim_create(m, &op, &o), "optim"))
    goto done;
  nncl_tensor *t;
  nncl_model_param(m, 0, NULL, &t, NULL);
  nncl_tensor_write(t, W, sizeof W);
  nncl_model_param(m, 1, NULL, &t, NULL);
  nncl_tensor_write(t, b, sizeof b);
  /* metrics: predictions argmax(x0, x1, -x0-x1) */
  int64_t conf[9] = {0};
  for (int i = 0; i < N; i++) {
    float l[3] = {x[2 * i], x[2 * i + 1], -x[2 * i] - x[2 * i + 1]};
    int p = l[1] > l[0] ? 1 : 0;
    p = l[2] > l[p] ? 2 : p;
    conf[y[i] * 3 + p]++;
  }
  if (ok(ctx, nncl_evaluate_metrics(m, d, &mt), "metrics")) {
    if (mt->nclasses != 3 || mt->n != N || memcmp(mt->confusion, conf, sizeof conf)) FAIL("metrics: confusion matrix differs");
    int64_t correct = conf[0] + conf[4] + conf[8];
    if (fabs(mt->accuracy - correct / (double)N) > 1e-12) FAIL("metrics: accuracy %g", mt->accuracy);
    for (int c = 0; c < 3; c++) {
      int64_t tp = conf[c * 4], pred = conf[c] + conf[3 + c] + conf[6 + c], sup = conf[3 * c] + conf[3 * c + 1] + conf[3 * c + 2];
      double P = pred ? (double)tp / pred : 0, R = sup ? (double)tp / sup : 0, F = P + R > 0 ? 2 * P * R / (P + R) : 0;
      if (fabs(mt->precision[c] - P) > 1e-12 || fabs(mt->recall[c] - R) > 1e-12 || fabs(mt->f1[c] - F) > 1e-12 || mt->support[c] != sup)
        FAIL("metrics: class %d precision %g recall %g f1 %g support %lld; want %g %g %g %lld", c, mt->precision[c], mt->recall[c],
             mt->f1[c], (long long)mt->support[c], P, R, F, (long long)sup);
    }
  }
  /* balanced weights: n / (C n_c) with counts 3, 4, 3 */
  float bw[3];
  if (ok(ctx, nncl_class_weights_balanced(d, bw), "balanced weights") &&
      (fabs(bw[0] - 10 / 9.0) > 1e-6 || fabs(bw[1] - 10 / 12.0) > 1e-6 || fabs(bw[2] - 10 / 9.0) > 1e-6))
    FAIL("balanced weights %g %g %g", bw[0], bw[1], bw[2]);
  /* weighted cross-entropy and focal loss as reported by fit (lr ~ 0: the set weights) */
  float cw[3] = {0.5f, 2.0f, 1.25f};
  for (int focal = 0; focal < 2; focal++) {
    double num = 0, den = 0, g = focal ? 2 : 0;
    for (int i = 0; i < N; i++) {
      double l[3] = {x[2 * i], x[2 * i + 1], -x[2 * i] - x[2 * i + 1]}, mx = fmax(l[0], fmax(l[1], l[2]));
      double lse = mx + log(exp(l[0] - mx) + exp(l[1] - mx) + exp(l[2] - mx)), lp = l[y[i]] - lse;
      num += -cw[y[i]] * pow(1 - exp(lp), g) * lp;
      den += cw[y[i]];
    }
    nncl_fit_params fp;
    nncl_fit_result res;
    nncl_fit_params_init(&fp);
    fp.batch = N;
    fp.shuffle = 0;
    fp.loss = focal ? NNCL_LOSS_FOCAL : NNCL_LOSS_XENT;
    fp.class_weights = cw;
    fp.result = &res;
    if (ok(ctx, nncl_fit(m, o, d, d, &fp), focal ? "focal fit" : "weighted fit") && fabs(res.last.train_loss - num / den) > 1e-5 * (num / den))
      FAIL("%s loss %.7f, want %.7f (PyTorch's weighted mean)", focal ? "focal" : "weighted cross-entropy", res.last.train_loss, num / den);
  }
  /* focal loss trains a small model */
  nncl_fit_params fp;
  nncl_fit_result res;
  nncl_fit_params_init(&fp);
  nncl_model *m2 = NULL;
  nncl_optim *o2 = NULL;
  nncl_dataset *tr = make_data(ctx, 400, 4, 77, 0);
  op.kind = NNCL_OPT_ADAM, op.lr = 0.01f;
  fp.epochs = 15, fp.batch = 32, fp.loss = NNCL_LOSS_FOCAL, fp.result = &res;
  if (ok(ctx, nncl_model_parse(ctx, "input shape=4\ndense units=16 act=relu\ndense units=3\nsoftmax\n", "f", &m2), "parse") &&
      ok(ctx, nncl_model_compile(m2, 32, NNCL_MODE_TRAIN), "compile") && ok(ctx, nncl_optim_create(m2, &op, &o2), "optim") &&
      ok(ctx, nncl_fit(m2, o2, tr, NULL, &fp), "focal training") && res.last.train_acc < 0.9)
    FAIL("focal loss training: accuracy %.3f after 15 epochs", res.last.train_acc);
  nncl_optim_destroy(o2);
  nncl_model_destroy(m2);
  nncl_dataset_destroy(tr);
done:
  nncl_metrics_destroy(mt);
  nncl_optim_destroy(o);
  nncl_model_destroy(m);
  nncl_dataset_destroy(d);
  nncl_ctx_destroy(ctx);
}

static void rm_dir(void) {
  const char *names[] = {"es.safetensors", "es.best.safetensors", "es.curves.csv", "es.curves.svg", "full.safetensors",
                         "part.safetensors", "resumed.safetensors", "plain.safetensors"};
  for (size_t i = 0; i < sizeof names / sizeof *names; i++) remove(tmp(names[i]));
  rmdir(dir);
}

int main(void) {
  snprintf(dir, sizeof dir, "/tmp/nncl-fit-XXXXXX");
  if (!mkdtemp(dir)) return printf("FAIL mkdtemp\n"), 1;
  nncl_ctx *probe;
  if (open_ctx(1, &probe)) return rm_dir(), strncmp(device(), "cl", 2) ? 1 : 77;
  nncl_ctx_destroy(probe);
  test_early_stop();
  test_monitor_accuracy();
  test_resume();
  test_weights_and_metrics();
  rm_dir();
  if (!failures) printf("PASS fit extras on %s\n", device());
  return failures ? 1 : 0;
}
