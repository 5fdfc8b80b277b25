/* nncl.c - the command line: devices | summary | train | eval | predict | lr-find. */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lr_plot.h"
#include "nncl.h"

#define DEFAULT_DATA "/usr/share/datasets/fashion-mnist"

static const char *prog = "nncl";

static int fail(const char *fmt, const char *a, const char *b) {
  fprintf(stderr, "%s: ", prog);
  fprintf(stderr, fmt, a, b);
  fputc('\n', stderr);
  return 1;
}

/* One-line reason for a failed library call. */
static int fail_ctx(nncl_ctx *ctx, int status, const char *what) {
  const char *msg = nncl_errmsg(ctx);
  fprintf(stderr, "%s: %s: %s%s%s\n", prog, what, nncl_strerror(status), *msg ? ": " : "", msg);
  return 1;
}

static void print_line(void *user, const char *line) { fprintf(user ? (FILE *)user : stdout, "%s\n", line); }

static void ignore_line(void *user, const char *line) { (void)user, (void)line; }

static void log_stderr(void *user, int level, const char *msg) {
  (void)user;
  if (level <= NNCL_LOG_WARN) fprintf(stderr, "%s: %s\n", level == NNCL_LOG_ERROR ? "error" : "warning", msg);
  else fprintf(stderr, "%s\n", msg);
}

/* ---- options ------------------------------------------------------------------------- */

typedef struct opts {
  const char *data, *device, *out, *optimizer, *images, *model;
  int epochs, batch, threads, count, verbose;
  double lr, val, momentum, weight_decay;
  unsigned long long seed;
  const char *schedule, *wd_mode;              /* the training toolbox */
  double clip_norm, clip_value, start_lr, end_lr;
  int steps;
} opts;

static int parse_num(const char *s, double lo, double hi, double *out) {
  char *end;
  errno = 0;
  double v = strtod(s, &end);
  if (errno || end == s || *end || !(v >= lo && v <= hi)) return -1;
  *out = v;
  return 0;
}

/* Parses --key value options; positional arguments go to pos[]. */
static int parse_opts(int argc, char **argv, opts *o, const char **pos, int maxpos, int *npos, const char *usage) {
  *npos = 0;
  for (int i = 0; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
      fputs(usage, stdout);
      exit(0);
    }
    if (a[0] != '-' || !a[1]) {
      if (*npos >= maxpos) return fail("unexpected argument '%s'%s (see --help)", a, "");
      pos[(*npos)++] = a;
      continue;
    }
    if (!strcmp(a, "-v") || !strcmp(a, "--verbose")) {
      o->verbose = 1;
      continue;
    }
    if (i + 1 >= argc) return fail("option %s needs a value%s", a, "");
    const char *v = argv[++i];
    double d;
    struct { const char *name; const char **s; int *i; double *d; double lo, hi; } table[] = {
      {"--data", &o->data, 0, 0, 0, 0}, {"--device", &o->device, 0, 0, 0, 0}, {"--out", &o->out, 0, 0, 0, 0},
      {"--optimizer", &o->optimizer, 0, 0, 0, 0}, {"--images", &o->images, 0, 0, 0, 0},
      {"--epochs", 0, &o->epochs, 0, 1, 100000}, {"--batch", 0, &o->batch, 0, 1, 1 << 20},
      {"--threads", 0, &o->threads, 0, 0, 1024}, {"--count", 0, &o->count, 0, 1, INT_MAX},
      {"--lr", 0, 0, &o->lr, 1e-12, 1e3}, {"--val", 0, 0, &o->val, 0, 0.9},
      {"--momentum", 0, 0, &o->momentum, 0, 0.999999}, {"--weight-decay", 0, 0, &o->weight_decay, 0, 10},
      {"--schedule", &o->schedule, 0, 0, 0, 0}, {"--weight-decay-mode", &o->wd_mode, 0, 0, 0, 0},
      {"--clip-norm", 0, 0, &o->clip_norm, 1e-12, 1e12}, {"--clip-value", 0, 0, &o->clip_value, 1e-12, 1e12},
      {"--start-lr", 0, 0, &o->start_lr, 1e-12, 1e6}, {"--end-lr", 0, 0, &o->end_lr, 1e-12, 1e6},
      {"--steps", 0, &o->steps, 0, 2, 1000000},
    };
    size_t k;
    for (k = 0; k < sizeof table / sizeof *table; k++)
      if (!strcmp(a, table[k].name)) break;
    if (!strcmp(a, "--seed")) {
      if (parse_num(v, 0, 1.8e19, &d)) return fail("--seed expects a non-negative integer, got '%s'%s", v, "");
      o->seed = (unsigned long long)d;
      continue;
    }
    if (k == sizeof table / sizeof *table) return fail("unknown option '%s'%s (see --help)", a, "");
    if (table[k].s) *table[k].s = v;
    else if (parse_num(v, table[k].lo, table[k].hi, &d) || (table[k].i && d != floor(d)))
      return fail("%s: bad value '%s'", a, v);
    else if (table[k].i) *table[k].i = (int)d;
    else *table[k].d = d;
  }
  return 0;
}

static int open_ctx(const opts *o, nncl_ctx **ctx) {
  nncl_ctx_params p;
  nncl_ctx_params_init(&p);
  p.device = o->device;
  p.threads = o->threads;
  p.seed = o->seed;
  p.log = log_stderr;
  p.log_level = o->verbose ? NNCL_LOG_DEBUG : NNCL_LOG_WARN;
  char err[1024];
  int r = nncl_ctx_create(&p, ctx, err, sizeof err);
  if (r) return fail("cannot open device: %s%s", err, "");
  return 0;
}

/* A model from a text description or a checkpoint (.safetensors). */
static int load_model(nncl_ctx *ctx, const char *path, nncl_model **m) {
  size_t n = strlen(path);
  int r = n > 12 && !strcmp(path + n - 12, ".safetensors") ? nncl_load(ctx, path, m, NULL) : nncl_model_parse_file(ctx, path, m);
  return r ? fail_ctx(ctx, r, "cannot load model") : 0;
}

/* Optimizer settings from --optimizer, --lr, --momentum, --weight-decay[-mode], --clip-*. */
static int optim_from_opts(const opts *o, nncl_optim_params *op) {
  nncl_optim_params_init(op);
  static const struct { const char *name; int kind; } kinds[] = {
    {"adam", NNCL_OPT_ADAM}, {"adamw", NNCL_OPT_ADAMW}, {"sgd", NNCL_OPT_SGD}, {"rmsprop", NNCL_OPT_RMSPROP}, {"adagrad", NNCL_OPT_ADAGRAD},
  };
  size_t k = 0;
  while (k < sizeof kinds / sizeof *kinds && strcmp(o->optimizer, kinds[k].name)) k++;
  if (k == sizeof kinds / sizeof *kinds) return fail("unknown optimizer '%s'%s (adam, adamw, sgd, rmsprop, adagrad)", o->optimizer, "");
  op->kind = kinds[k].kind;
  if (op->kind == NNCL_OPT_ADAGRAD) op->eps = 1e-10f; /* PyTorch's Adagrad default */
  op->lr = (float)o->lr;
  op->momentum = (float)o->momentum;
  op->weight_decay = (float)o->weight_decay;
  if (o->wd_mode && strcmp(o->wd_mode, "l2") && strcmp(o->wd_mode, "decoupled"))
    return fail("--weight-decay-mode: '%s'%s (l2 or decoupled)", o->wd_mode, "");
  op->decoupled_wd = o->wd_mode && !strcmp(o->wd_mode, "decoupled");
  op->clip_norm = (float)o->clip_norm;
  op->clip_value = (float)o->clip_value;
  return 0;
}

/* ---- devices, summary ------------------------------------------------------------- */

static int cmd_devices(int argc, char **argv) {
  opts o = {0};
  const char *pos[1];
  int np;
  if (parse_opts(argc, argv, &o, pos, 0, &np,
                 "usage: nncl devices\n  Lists every OpenCL platform and device, and which one 'auto' picks and why.\n"))
    return 1;
  int r = nncl_devices_report(print_line, stdout);
  if (r) return fail("device query failed: %s%s", nncl_strerror(r), "");
  return 0;
}

static int cmd_summary(int argc, char **argv) {
  opts o = {0};
  const char *pos[1];
  int np;
  if (parse_opts(argc, argv, &o, pos, 1, &np,
                 "usage: nncl summary MODEL\n  Per-layer output shape and parameters of a model description or checkpoint.\n"))
    return 1;
  if (np != 1) return fail("summary needs a MODEL file%s%s", "", "");
  o.device = "c";
  nncl_ctx *ctx;
  nncl_model *m;
  if (open_ctx(&o, &ctx)) return 1;
  int rc = load_model(ctx, pos[0], &m);
  if (!rc) nncl_model_summary(m, print_line, stdout, NULL);
  nncl_model_destroy(m);
  nncl_ctx_destroy(ctx);
  return rc;
}

/* ---- train ----------------------------------------------------------------------- */

typedef struct progress {
  int tty;
} progress;

static int on_progress(void *user, const nncl_epoch_stats *s, int epoch_end) {
  progress *p = user;
  if (!epoch_end) {
    if (!p->tty) return 0;
    double frac = (double)s->batch / (double)s->batches, eta = s->elapsed_s * (1 - frac) / (frac > 0 ? frac : 1);
    int w = 24, fill = (int)(frac * w);
    char bar[32];
    for (int i = 0; i < w; i++) bar[i] = i < fill ? '#' : '.';
    bar[w] = 0;
    fprintf(stderr, "\repoch %d/%d [%s] %3.0f%%  loss %.4f  acc %.2f%%  %.0f samples/s  ETA %.1fs ", s->epoch, s->epochs, bar,
            100 * frac, s->train_loss, 100 * s->train_acc, s->samples_per_s, eta);
    fflush(stderr);
    return 0;
  }
  if (p->tty) fprintf(stderr, "\r\033[K");
  printf("epoch %d/%d  loss %.4f  acc %.2f%%", s->epoch, s->epochs, s->train_loss, 100 * s->train_acc);
  if (s->val_loss >= 0) printf("  val_loss %.4f  val_acc %.2f%%", s->val_loss, 100 * s->val_acc);
  printf("  %.0f samples/s  %.1fs\n", s->samples_per_s, s->elapsed_s);
  fflush(stdout);
  return 0;
}

static const char train_usage[] =
  "usage: nncl train MODEL --data DIR [options]\n"
  "  Trains MODEL (a model description, or a checkpoint to continue) on the IDX files in DIR\n"
  "  (train-*-ubyte[.gz] for training, t10k-*-ubyte[.gz] for the final test).\n"
  "  --epochs N        epochs (default 5)\n"
  "  --batch N         batch size (default 64)\n"
  "  --lr F            learning rate (default 1e-3)\n"
  "  --optimizer NAME  adam | adamw | sgd | rmsprop | adagrad (default adam)\n"
  "  --momentum F      SGD and RMSprop momentum (default 0)\n"
  "  --weight-decay F  weight decay (default 0): an L2 penalty added to the gradient, except\n"
  "                    adamw's, which is decoupled (w *= 1 - lr wd)\n"
  "  --weight-decay-mode l2|decoupled  choose that for any optimizer (default l2; adamw: decoupled)\n"
  "  --clip-norm F     clip the gradients' global L2 norm to F before each step\n"
  "  --clip-value F    clamp every gradient to [-F, F] before each step\n"
  "  --schedule SPEC   learning-rate schedule KIND[:key=value,...] (see README): constant,\n"
  "                    step, multistep, exponential, cosine, cosine-restarts, plateau\n"
  "                    (on the validation loss), onecycle; keys warmup=STEPS and\n"
  "                    base_batch=N (lr * batch / N) combine with any kind\n"
  "  --val F           fraction of the training set held out for validation (default 0)\n"
  "  --device DEV      auto | c | cl[:name][:gpu|cpu|acc][:index] (default $NNCL_DEVICE or auto)\n"
  "  --threads N       C backend threads (default: all cores)\n"
  "  --seed N          random seed (default 42)\n"
  "  --out FILE        checkpoint written after every epoch (.safetensors)\n"
  "  -v, --verbose     log device selection and kernel builds\n";

static int cmd_train(int argc, char **argv) {
  opts o = {.epochs = 5, .batch = 64, .lr = 1e-3, .seed = 42, .optimizer = "adam", .data = DEFAULT_DATA};
  const char *pos[1];
  int np;
  if (parse_opts(argc, argv, &o, pos, 1, &np, train_usage)) return 1;
  if (np != 1) return fail("train needs a MODEL file (see --help)%s%s", "", "");
  nncl_optim_params op;
  nncl_schedule_params sp;
  char serr[256];
  nncl_schedule_params_init(&sp);
  if (optim_from_opts(&o, &op)) return 1;
  if (o.schedule && nncl_schedule_parse(o.schedule, &sp, serr, sizeof serr)) return fail("--schedule %s%s", serr, "");

  nncl_ctx *ctx;
  if (open_ctx(&o, &ctx)) return 1;
  nncl_model *m = NULL;
  nncl_optim *opt = NULL;
  nncl_dataset *all = NULL, *train = NULL, *val = NULL, *test = NULL;
  int r, rc = 1;
  printf("device: %s\n", nncl_ctx_device(ctx));
  if (load_model(ctx, pos[0], &m)) goto done;
  if ((r = nncl_dataset_load_idx_dir(ctx, o.data, "train", &all))) {
    fail_ctx(ctx, r, "cannot load training data");
    goto done;
  }
  if ((r = nncl_dataset_load_idx_dir(ctx, o.data, "t10k", &test))) {
    fail_ctx(ctx, r, "cannot load test data");
    goto done;
  }
  train = all;
  if (o.val > 0 && (r = nncl_dataset_split(all, o.val, &train, &val))) {
    fail_ctx(ctx, r, "cannot split the data");
    goto done;
  }
  if ((r = nncl_model_compile(m, o.batch, NNCL_MODE_TRAIN)) || (r = nncl_optim_create(m, &op, &opt)) ||
      (o.schedule && (r = nncl_optim_set_schedule(opt, &sp)))) {
    fail_ctx(ctx, r, "cannot prepare training");
    goto done;
  }
  int64_t nparams = 0;
  nncl_model_summary(m, o.verbose ? print_line : ignore_line, stdout, &nparams);
  printf("training %s: %lld parameters, %lld samples (%lld validation), batch %d, %s lr %g, %d epochs\n", pos[0],
         (long long)nparams, (long long)nncl_dataset_size(train), (long long)nncl_dataset_size(val), o.batch, o.optimizer, o.lr,
         o.epochs);
  progress pr = {.tty = isatty(fileno(stderr))};
  nncl_fit_params fp;
  nncl_fit_params_init(&fp);
  fp.epochs = o.epochs;
  fp.batch = o.batch;
  fp.progress = on_progress;
  fp.user = &pr;
  fp.checkpoint = o.out;
  if ((r = nncl_fit(m, opt, train, val, &fp))) {
    if (pr.tty) fprintf(stderr, "\n");
    fail_ctx(ctx, r, "training failed");
    goto done;
  }
  double loss, acc;
  if ((r = nncl_evaluate(m, test, NNCL_LOSS_XENT, &loss, &acc))) {
    fail_ctx(ctx, r, "evaluation failed");
    goto done;
  }
  printf("test: loss %.4f  accuracy %.2f%% (%lld samples)\n", loss, 100 * acc, (long long)nncl_dataset_size(test));
  if (o.out) printf("checkpoint: %s\n", o.out);
  rc = 0;
done:
  nncl_optim_destroy(opt);
  if (val) nncl_dataset_destroy(train);
  nncl_dataset_destroy(val);
  nncl_dataset_destroy(all);
  nncl_dataset_destroy(test);
  nncl_model_destroy(m);
  nncl_ctx_destroy(ctx);
  return rc;
}

/* ---- lr-find -------------------------------------------------------------------------- */

static const char lr_find_usage[] =
  "usage: nncl lr-find MODEL --data DIR [options]\n"
  "  The learning-rate range test (Smith 2015, fastai's lr_find): trains MODEL for up to\n"
  "  --steps batches of DIR's train IDX files while the rate grows exponentially, records\n"
  "  the loss, and suggests a rate (steepest descent of the smoothed loss, and the\n"
  "  minimum / 10). The model's weights are restored afterwards (a checkpoint is not\n"
  "  modified).\n"
  "  --start-lr F      first rate (default 1e-7)\n"
  "  --end-lr F        last rate (default 10)\n"
  "  --steps N         batches (default 100; stops early when the loss diverges)\n"
  "  --batch N         batch size (default 64)\n"
  "  --optimizer ...   and --momentum, --weight-decay, --weight-decay-mode, --clip-norm,\n"
  "                    --clip-value, --device, --threads, --seed as for train\n"
  "  --out PREFIX      writes PREFIX.csv (step,lr,loss,smoothed_loss) and PREFIX.svg\n"
  "                    (default lr_find)\n";

static int cmd_lr_find(int argc, char **argv) {
  opts o = {.batch = 64, .lr = 1e-3, .seed = 42, .optimizer = "adam", .data = DEFAULT_DATA, .out = "lr_find",
            .start_lr = 1e-7, .end_lr = 10, .steps = 100};
  const char *pos[1];
  int np;
  if (parse_opts(argc, argv, &o, pos, 1, &np, lr_find_usage)) return 1;
  if (np != 1) return fail("lr-find needs a MODEL file (see --help)%s%s", "", "");
  if (!(o.end_lr > o.start_lr)) return fail("--end-lr must exceed --start-lr%s%s", "", "");
  nncl_optim_params op;
  if (optim_from_opts(&o, &op)) return 1;
  nncl_ctx *ctx;
  if (open_ctx(&o, &ctx)) return 1;
  nncl_model *m = NULL;
  nncl_optim *opt = NULL;
  nncl_dataset *train = NULL;
  nncl_lr_find_result res = {0};
  int r, rc = 1;
  char csv[4096], svg[4096];
  snprintf(csv, sizeof csv, "%s.csv", o.out);
  snprintf(svg, sizeof svg, "%s.svg", o.out);
  if (load_model(ctx, pos[0], &m)) goto done;
  if ((r = nncl_dataset_load_idx_dir(ctx, o.data, "train", &train))) {
    fail_ctx(ctx, r, "cannot load training data");
    goto done;
  }
  nncl_lr_find_params lp;
  nncl_lr_find_params_init(&lp);
  lp.start_lr = (float)o.start_lr, lp.end_lr = (float)o.end_lr, lp.steps = o.steps, lp.batch = o.batch;
  if ((r = nncl_model_compile(m, o.batch, NNCL_MODE_TRAIN)) || (r = nncl_optim_create(m, &op, &opt)) ||
      (r = nncl_lr_find(m, opt, train, &lp, &res))) {
    fail_ctx(ctx, r, "lr-find failed");
    goto done;
  }
  if (lr_find_write_csv(csv, &res) || lr_find_write_svg(svg, &res)) {
    fail("cannot write %s / %s", csv, svg);
    goto done;
  }
  printf("lr-find: %d steps from %g to %g (%s, batch %d)%s\n", res.n, res.lr[0], res.lr[res.n - 1], o.optimizer, o.batch,
         res.diverged ? ", stopped when the loss diverged" : "");
  printf("suggested learning rate: %.3g (steepest descent); %.3g (minimum / 10)\n", res.lr_steepest, res.lr_min10);
  printf("curve: %s, plot: %s\n", csv, svg);
  rc = 0;
done:
  nncl_lr_find_result_free(&res);
  nncl_optim_destroy(opt);
  nncl_dataset_destroy(train);
  nncl_model_destroy(m);
  nncl_ctx_destroy(ctx);
  return rc;
}

/* ---- eval, predict ------------------------------------------------------------------ */

static int cmd_eval(int argc, char **argv) {
  opts o = {.data = DEFAULT_DATA, .batch = 256, .seed = 42};
  const char *pos[1];
  int np;
  if (parse_opts(argc, argv, &o, pos, 1, &np,
                 "usage: nncl eval CHECKPOINT [--data DIR] [--batch N] [--device DEV] [--threads N]\n"
                 "  Loss and accuracy of a trained model on DIR's t10k IDX files.\n"))
    return 1;
  if (np != 1) return fail("eval needs a CHECKPOINT file (see --help)%s%s", "", "");
  nncl_ctx *ctx;
  if (open_ctx(&o, &ctx)) return 1;
  nncl_model *m = NULL;
  nncl_dataset *test = NULL;
  int r, rc = 1;
  double loss, acc;
  if ((r = nncl_load(ctx, pos[0], &m, NULL))) fail_ctx(ctx, r, "cannot load checkpoint");
  else if ((r = nncl_dataset_load_idx_dir(ctx, o.data, "t10k", &test))) fail_ctx(ctx, r, "cannot load test data");
  else if ((r = nncl_model_compile(m, o.batch, NNCL_MODE_INFER)) || (r = nncl_evaluate(m, test, NNCL_LOSS_XENT, &loss, &acc)))
    fail_ctx(ctx, r, "evaluation failed");
  else {
    printf("test: loss %.4f  accuracy %.2f%% (%lld samples, %s)\n", loss, 100 * acc, (long long)nncl_dataset_size(test),
           nncl_ctx_device(ctx));
    rc = 0;
  }
  nncl_dataset_destroy(test);
  nncl_model_destroy(m);
  nncl_ctx_destroy(ctx);
  return rc;
}

static int cmd_predict(int argc, char **argv) {
  opts o = {.data = DEFAULT_DATA, .count = 10, .seed = 42};
  const char *pos[1];
  int np;
  if (parse_opts(argc, argv, &o, pos, 1, &np,
                 "usage: nncl predict CHECKPOINT [--data DIR] [--count N] [--device DEV]\n"
                 "  Class, confidence and true label of the first N test samples of DIR (t10k IDX files).\n"))
    return 1;
  if (np != 1) return fail("predict needs a CHECKPOINT file (see --help)%s%s", "", "");
  nncl_ctx *ctx;
  if (open_ctx(&o, &ctx)) return 1;
  nncl_model *m = NULL;
  nncl_dataset *test = NULL;
  float *x = NULL, *y = NULL;
  int32_t *lab = NULL;
  int r, rc = 1;
  if ((r = nncl_load(ctx, pos[0], &m, NULL))) {
    fail_ctx(ctx, r, "cannot load checkpoint");
    goto done;
  }
  if ((r = nncl_dataset_load_idx_dir(ctx, o.data, "t10k", &test))) {
    fail_ctx(ctx, r, "cannot load test data");
    goto done;
  }
  int64_t n = o.count < nncl_dataset_size(test) ? o.count : nncl_dataset_size(test);
  int64_t in = nncl_model_input_size(m), out = nncl_model_output_size(m);
  if (nncl_dataset_sample_size(test) != in) {
    fprintf(stderr, "%s: %s/t10k images have %lld values per sample, the model takes %lld\n", prog, o.data,
            (long long)nncl_dataset_sample_size(test), (long long)in);
    goto done;
  }
  x = malloc((size_t)(n * in) * sizeof *x);
  y = malloc((size_t)(n * out) * sizeof *y);
  lab = malloc((size_t)n * sizeof *lab);
  if (!x || !y || !lab) {
    fail("out of memory%s%s", "", "");
    goto done;
  }
  if ((r = nncl_dataset_read(test, 0, n, x, lab)) || (r = nncl_predict(m, n, x, y))) {
    fail_ctx(ctx, r, "prediction failed");
    goto done;
  }
  printf("sample  predicted  confidence  label\n");
  for (int64_t i = 0; i < n; i++) {
    int best = 0;
    for (int c = 1; c < out; c++)
      if (y[i * out + c] > y[i * out + best]) best = c;
    printf("%6lld  %9d  %9.2f%%  %5d%s\n", (long long)i, best, 100 * y[i * out + best], lab[i], best == lab[i] ? "" : "  (wrong)");
  }
  rc = 0;
done:
  free(x), free(y), free(lab);
  nncl_dataset_destroy(test);
  nncl_model_destroy(m);
  nncl_ctx_destroy(ctx);
  return rc;
}

static const char usage[] =
  "usage: nncl COMMAND [options]   (nncl COMMAND --help for details)\n"
  "  devices                   list OpenCL platforms and devices, and what 'auto' picks\n"
  "  summary MODEL             layers, output shapes and parameter counts\n"
  "  train MODEL --data DIR    train on IDX data (e.g. Fashion-MNIST) and report test accuracy\n"
  "  eval CKPT --data DIR      loss and accuracy of a checkpoint on the test set\n"
  "  predict CKPT --data DIR   predictions for the first test samples\n"
  "  lr-find MODEL --data DIR  learning-rate range test: loss-vs-rate CSV and SVG, a suggested rate\n"
  "  version                   print the version\n";

int main(int argc, char **argv) {
  if (argc < 2) {
    fputs(usage, stderr);
    return 2;
  }
  const char *cmd = argv[1];
  argc -= 2, argv += 2;
  if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) return fputs(usage, stdout), 0;
  if (!strcmp(cmd, "version") || !strcmp(cmd, "--version")) return printf("nncl %s\n", nncl_version()), 0;
  if (!strcmp(cmd, "devices")) return cmd_devices(argc, argv);
  if (!strcmp(cmd, "summary")) return cmd_summary(argc, argv);
  if (!strcmp(cmd, "train")) return cmd_train(argc, argv);
  if (!strcmp(cmd, "eval")) return cmd_eval(argc, argv);
  if (!strcmp(cmd, "predict")) return cmd_predict(argc, argv);
  if (!strcmp(cmd, "lr-find")) return cmd_lr_find(argc, argv);
  return fail("unknown command '%s'%s (see nncl --help)", cmd, "");
}
