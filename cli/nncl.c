/* nncl.c - the command line: devices | summary | train | eval | predict. */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
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
  /* training loop and data layer */
  const char *monitor, *mode, *resume, *curves, *class_weights, *loss, *augment, *csv, *label, *header;
  int early_stop;
  double min_delta, gamma, test;
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
      {"--monitor", &o->monitor, 0, 0, 0, 0}, {"--mode", &o->mode, 0, 0, 0, 0}, {"--resume", &o->resume, 0, 0, 0, 0},
      {"--curves", &o->curves, 0, 0, 0, 0}, {"--class-weights", &o->class_weights, 0, 0, 0, 0},
      {"--loss", &o->loss, 0, 0, 0, 0}, {"--augment", &o->augment, 0, 0, 0, 0}, {"--csv", &o->csv, 0, 0, 0, 0},
      {"--label", &o->label, 0, 0, 0, 0}, {"--header", &o->header, 0, 0, 0, 0}, {"--early-stop", 0, &o->early_stop, 0, 1, 100000},
      {"--min-delta", 0, 0, &o->min_delta, 0, 1e9}, {"--gamma", 0, 0, &o->gamma, 0, 100}, {"--test", 0, 0, &o->test, 0, 0.9},
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
  "       nncl train MODEL --csv FILE --label COLUMN [options]\n"
  "       nncl train --resume CHECKPOINT [options]\n"
  "  Trains MODEL (a model description, or a checkpoint to continue) on the IDX files in DIR\n"
  "  (train-*-ubyte[.gz] for training, t10k-*-ubyte[.gz] for the final test), or on a CSV\n"
  "  file (a header line, numeric features, a label column).\n"
  "  --epochs N        epochs (default 5; with --resume the total to reach)\n"
  "  --batch N         batch size (default 64)\n"
  "  --lr F            learning rate (default 1e-3)\n"
  "  --optimizer NAME  adam | adamw | sgd (default adam)\n"
  "  --momentum F      SGD momentum (default 0)\n"
  "  --weight-decay F  L2 (sgd, adam) or decoupled (adamw) weight decay (default 0)\n"
  "  --val F           fraction of the training set held out for validation (default 0)\n"
  "  --csv FILE        tabular data: features standardised on the training part only (saved\n"
  "                    with the model for eval and predict)\n"
  "  --label COLUMN    CSV label column: name or 0-based index (default: the last)\n"
  "  --header KIND     CSV first line: names (column names, default) | none | sklearn\n"
  "                    (scikit-learn's \"n_samples,n_features,class names\" files)\n"
  "  --test F          CSV: fraction held out for the final test (default 0.2; seeded)\n"
  "  --loss NAME       xent | focal (default xent)\n"
  "  --gamma F         focal loss gamma (default 2)\n"
  "  --class-weights W comma-separated weight per class, or 'balanced' (n / (C n_c))\n"
  "  --augment LIST    image augmentation of training batches: crop=PIXELS (zero-padded random\n"
  "                    crop), flip (random horizontal flip), noise=STD (Gaussian), e.g.\n"
  "                    crop=4,flip,noise=0.1\n"
  "  --early-stop N    stop after N epochs without improvement of the monitored metric\n"
  "  --monitor M       val_loss | val_accuracy (default val_loss; needs --val)\n"
  "  --mode M          min | max (default: min for val_loss, max for val_accuracy)\n"
  "  --min-delta F     smallest change that counts as an improvement (default 0)\n"
  "  --resume CKPT     continue the run saved in CKPT exactly (optimizer, RNG, epoch)\n"
  "  --curves STEM     training curves STEM.csv and STEM.svg (default: next to --out,\n"
  "                    <out without .safetensors>.curves.*)\n"
  "  --device DEV      auto | c | cl[:name][:gpu|cpu|acc][:index] (default $NNCL_DEVICE or auto)\n"
  "  --threads N       C backend threads (default: all cores)\n"
  "  --seed N          random seed (default 42)\n"
  "  --out FILE        checkpoint written after every epoch (.safetensors); with --val also\n"
  "                    the best epoch's weights in <FILE without .safetensors>.best.safetensors\n"
  "  -v, --verbose     log device selection and kernel builds\n";

/* "<path without .safetensors><suffix>" */
static char *with_suffix(const char *path, const char *suffix) {
  size_t n = strlen(path), ext = strlen(".safetensors");
  if (n > ext && !strcmp(path + n - ext, ".safetensors")) n -= ext;
  char *r = malloc(n + strlen(suffix) + 1);
  if (r) memcpy(r, path, n), strcpy(r + n, suffix);
  return r;
}

static int cmd_train(int argc, char **argv) {
  opts o = {.epochs = 5, .batch = 64, .lr = 1e-3, .seed = 42, .optimizer = "adam", .data = DEFAULT_DATA, .test = -1, .gamma = 2};
  const char *pos[1];
  int np;
  if (parse_opts(argc, argv, &o, pos, 1, &np, train_usage)) return 1;
  if (np != 1 && !(np == 0 && o.resume)) return fail("train needs a MODEL file or --resume CHECKPOINT (see --help)%s%s", "", "");
  const char *model_path = np ? pos[0] : o.resume;
  if (!o.out && o.resume) o.out = o.resume;
  nncl_optim_params op;
  nncl_optim_params_init(&op);
  if (!strcmp(o.optimizer, "adam")) op.kind = NNCL_OPT_ADAM;
  else if (!strcmp(o.optimizer, "adamw")) op.kind = NNCL_OPT_ADAMW;
  else if (!strcmp(o.optimizer, "sgd")) op.kind = NNCL_OPT_SGD;
  else return fail("unknown optimizer '%s'%s (adam, adamw, sgd)", o.optimizer, "");
  op.lr = (float)o.lr;
  op.momentum = (float)o.momentum;
  op.weight_decay = (float)o.weight_decay;
  nncl_fit_params fp;
  nncl_fit_params_init(&fp);
  if (o.loss && strcmp(o.loss, "xent") && strcmp(o.loss, "focal")) return fail("unknown loss '%s'%s (xent, focal)", o.loss, "");
  fp.loss = o.loss && !strcmp(o.loss, "focal") ? NNCL_LOSS_FOCAL : NNCL_LOSS_XENT;
  fp.focal_gamma = (float)o.gamma;
  if (o.monitor && strcmp(o.monitor, "val_loss") && strcmp(o.monitor, "val_accuracy"))
    return fail("unknown --monitor '%s'%s (val_loss, val_accuracy)", o.monitor, "");
  fp.monitor = o.monitor && !strcmp(o.monitor, "val_accuracy") ? NNCL_MONITOR_VAL_ACC : NNCL_MONITOR_VAL_LOSS;
  if (o.mode && strcmp(o.mode, "min") && strcmp(o.mode, "max")) return fail("unknown --mode '%s'%s (min, max)", o.mode, "");
  fp.monitor_mode = !o.mode ? NNCL_MONITOR_AUTO : !strcmp(o.mode, "min") ? NNCL_MONITOR_MIN : NNCL_MONITOR_MAX;
  fp.patience = o.early_stop;
  fp.min_delta = o.min_delta;
  if (o.early_stop && o.val <= 0) return fail("--early-stop needs a validation set (--val F)%s%s", "", "");
  if (o.augment && cli_parse_augment(o.augment, &fp.augment)) return 1;

  nncl_ctx *ctx;
  if (open_ctx(&o, &ctx)) return 1;
  nncl_model *m = NULL;
  nncl_optim *opt = NULL;
  cli_data data = {0};
  float *cw = NULL;
  char *curves = NULL;
  int r, rc = 1;
  printf("device: %s\n", nncl_ctx_device(ctx));
  if (load_model(ctx, model_path, &m)) goto done;
  cli_data_opts dop = {.dir = o.data, .csv = o.csv, .label = o.label, .header = o.header, .val = o.val, .test = o.test, .test_set = o.test >= 0,
                       .seed = o.seed};
  if (cli_data_train(ctx, m, &dop, &data)) goto done;
  if ((r = nncl_model_compile(m, o.batch, NNCL_MODE_TRAIN)) || (r = nncl_optim_create(m, &op, &opt))) {
    fail_ctx(ctx, r, "cannot prepare training");
    goto done;
  }
  int64_t nclasses = nncl_model_output_size(m);
  if (o.class_weights) {
    if (!(cw = malloc((size_t)nclasses * sizeof *cw))) goto done;
    if (cli_class_weights(o.class_weights, data.train, (int)nclasses, cw)) goto done;
    fp.class_weights = cw;
  }
  int64_t nparams = 0;
  nncl_model_summary(m, o.verbose ? print_line : ignore_line, stdout, &nparams);
  printf("training %s: %lld parameters, %lld samples (%lld validation), batch %d, %s lr %g, %d epochs\n", model_path,
         (long long)nparams, (long long)nncl_dataset_size(data.train), (long long)nncl_dataset_size(data.val), o.batch, o.optimizer,
         o.lr, o.epochs);
  progress pr = {.tty = isatty(fileno(stderr))};
  nncl_fit_result res;
  fp.epochs = o.epochs;
  fp.batch = o.batch;
  fp.progress = on_progress;
  fp.user = &pr;
  fp.checkpoint = o.out;
  fp.resume = o.resume;
  fp.result = &res;
  if (o.curves) fp.curves = o.curves;
  else if (o.out && (curves = with_suffix(o.out, ".curves"))) fp.curves = curves;
  if ((r = nncl_fit(m, opt, data.train, data.val, &fp))) {
    if (pr.tty) fprintf(stderr, "\n");
    fail_ctx(ctx, r, "training failed");
    goto done;
  }
  if (res.stopped_early) printf("early stop: no improvement of %s for %d epochs\n", o.monitor ? o.monitor : "val_loss", o.early_stop);
  printf("last epoch %d: loss %.4f  acc %.2f%%", res.last.epoch, res.last.train_loss, 100 * res.last.train_acc);
  if (res.last.val_loss >= 0) printf("  val_loss %.4f  val_acc %.2f%%", res.last.val_loss, 100 * res.last.val_acc);
  printf("\n");
  if (res.best_epoch)
    printf("best epoch %d: %s %.4f  (val_loss %.4f  val_acc %.2f%%)\n", res.best_epoch,
           fp.monitor == NNCL_MONITOR_VAL_ACC ? "val_accuracy" : "val_loss", res.best_metric, res.best.val_loss, 100 * res.best.val_acc);
  if (data.test) {
    double loss, acc;
    if ((r = nncl_evaluate(m, data.test, NNCL_LOSS_XENT, &loss, &acc))) {
      fail_ctx(ctx, r, "evaluation failed");
      goto done;
    }
    printf("test: loss %.4f  accuracy %.2f%% (%lld samples)\n", loss, 100 * acc, (long long)nncl_dataset_size(data.test));
  }
  if (o.out) printf("checkpoint: %s\n", o.out);
  if (o.out && res.best_epoch) {
    char *best = with_suffix(o.out, ".best.safetensors");
    if (best) printf("best checkpoint: %s (epoch %d)\n", best, res.best_epoch);
    free(best);
  }
  if (fp.curves) printf("curves: %s.csv %s.svg\n", fp.curves, fp.curves);
  rc = 0;
done:
  free(cw);
  free(curves);
  nncl_optim_destroy(opt);
  cli_data_free(&data);
  nncl_model_destroy(m);
  nncl_ctx_destroy(ctx);
  return rc;
}

/* ---- eval, predict ------------------------------------------------------------------ */

static int cmd_eval(int argc, char **argv) {
  opts o = {.data = DEFAULT_DATA, .batch = 256, .seed = 42, .test = -1};
  const char *pos[1];
  int np;
  if (parse_opts(argc, argv, &o, pos, 1, &np,
                 "usage: nncl eval CHECKPOINT [--data DIR | --csv FILE [--label COLUMN] [--header KIND] [--test F]]\n"
                 "                 [--batch N] [--device DEV] [--threads N]\n"
                 "  Loss, accuracy, per-class precision/recall/F1 and the confusion matrix of a trained model\n"
                 "  on DIR's t10k IDX files, or on a CSV file's held-out part (the split and header kind the\n"
                 "  model was trained with; --test 0 for the whole file).\n"))
    return 1;
  if (np != 1) return fail("eval needs a CHECKPOINT file (see --help)%s%s", "", "");
  nncl_ctx *ctx;
  if (open_ctx(&o, &ctx)) return 1;
  nncl_model *m = NULL;
  nncl_metrics *mt = NULL;
  cli_data data = {0};
  int r, rc = 1;
  double loss, acc;
  cli_data_opts dop = {.dir = o.data, .csv = o.csv, .label = o.label, .header = o.header, .test = o.test, .test_set = o.test >= 0, .seed = o.seed};
  if ((r = nncl_load(ctx, pos[0], &m, NULL))) fail_ctx(ctx, r, "cannot load checkpoint");
  else if (cli_data_test(ctx, m, &dop, &data)) (void)0;
  else if ((r = nncl_model_compile(m, o.batch, NNCL_MODE_INFER)) || (r = nncl_evaluate(m, data.test, NNCL_LOSS_XENT, &loss, &acc)) ||
           (r = nncl_evaluate_metrics(m, data.test, &mt)))
    fail_ctx(ctx, r, "evaluation failed");
  else {
    printf("test: loss %.4f  accuracy %.2f%% (%lld samples, %s)\n", loss, 100 * acc, (long long)nncl_dataset_size(data.test),
           nncl_ctx_device(ctx));
    cli_print_metrics(mt, nncl_dataset_class_names(data.test));
    rc = 0;
  }
  nncl_metrics_destroy(mt);
  cli_data_free(&data);
  nncl_model_destroy(m);
  nncl_ctx_destroy(ctx);
  return rc;
}

static int cmd_predict(int argc, char **argv) {
  opts o = {.data = DEFAULT_DATA, .count = 10, .seed = 42, .test = -1};
  const char *pos[1];
  int np;
  if (parse_opts(argc, argv, &o, pos, 1, &np,
                 "usage: nncl predict CHECKPOINT [--data DIR | --csv FILE [--label COLUMN] [--header KIND] [--test F]]\n"
                 "                    [--count N] [--device DEV]\n"
                 "  Class, confidence and true label of the first N test samples of DIR (t10k IDX files) or of\n"
                 "  a CSV file's held-out part (standardised as in training).\n"))
    return 1;
  if (np != 1) return fail("predict needs a CHECKPOINT file (see --help)%s%s", "", "");
  nncl_ctx *ctx;
  if (open_ctx(&o, &ctx)) return 1;
  nncl_model *m = NULL;
  cli_data data = {0};
  float *x = NULL, *y = NULL;
  int32_t *lab = NULL;
  int r, rc = 1;
  if ((r = nncl_load(ctx, pos[0], &m, NULL))) {
    fail_ctx(ctx, r, "cannot load checkpoint");
    goto done;
  }
  cli_data_opts dop = {.dir = o.data, .csv = o.csv, .label = o.label, .header = o.header, .test = o.test, .test_set = o.test >= 0, .seed = o.seed};
  if (cli_data_test(ctx, m, &dop, &data)) goto done;
  nncl_dataset *test = data.test;
  int64_t n = o.count < nncl_dataset_size(test) ? o.count : nncl_dataset_size(test);
  int64_t in = nncl_model_input_size(m), out = nncl_model_output_size(m);
  if (nncl_dataset_sample_size(test) != in) {
    fprintf(stderr, "%s: %s samples have %lld values, the model takes %lld\n", prog, o.csv ? o.csv : o.data,
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
    const char *names = nncl_dataset_class_names(test);
    if (*names) { /* CSV classes by name */
      char pn[32], ln[32];
      cli_class_name(names, best, pn, sizeof pn), cli_class_name(names, lab[i], ln, sizeof ln);
      printf("%6lld  %9s  %9.2f%%  %5s%s\n", (long long)i, pn, 100 * y[i * out + best], ln, best == lab[i] ? "" : "  (wrong)");
    } else
      printf("%6lld  %9d  %9.2f%%  %5d%s\n", (long long)i, best, 100 * y[i * out + best], lab[i], best == lab[i] ? "" : "  (wrong)");
  }
  rc = 0;
done:
  free(x), free(y), free(lab);
  cli_data_free(&data);
  nncl_model_destroy(m);
  nncl_ctx_destroy(ctx);
  return rc;
}

static const char usage[] =
  "usage: nncl COMMAND [options]   (nncl COMMAND --help for details)\n"
  "  devices                   list OpenCL platforms and devices, and what 'auto' picks\n"
  "  summary MODEL             layers, output shapes and parameter counts\n"
  "  train MODEL --data DIR    train on IDX data (e.g. Fashion-MNIST) and report test accuracy\n"
  "  train MODEL --csv FILE    train on tabular data (a CSV file with a label column)\n"
  "  eval CKPT --data DIR      loss and accuracy of a checkpoint on the test set\n"
  "  predict CKPT --data DIR   predictions for the first test samples\n"
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
  return fail("unknown command '%s'%s (see nncl --help)", cmd, "");
}
