/* nncl.c - the command line: devices | summary | train | finetune | eval | predict. */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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
  const char *classes, *freeze;  /* class subset "5-9" or "1,3"; layers to freeze */
  int epochs, batch, threads, count, verbose;
  int limit, head, unfreeze_at;  /* samples kept per subset; new head size; epoch */
  double lr, val, momentum, weight_decay, unfreeze_lr;
  unsigned long long seed;
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
      {"--classes", &o->classes, 0, 0, 0, 0}, {"--freeze", &o->freeze, 0, 0, 0, 0},
      {"--limit", 0, &o->limit, 0, 1, INT_MAX}, {"--head", 0, &o->head, 0, 1, 1 << 24},
      {"--unfreeze-at", 0, &o->unfreeze_at, 0, 1, 100000}, {"--unfreeze-lr", 0, 0, &o->unfreeze_lr, 1e-12, 1e3},
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
  "  Trains MODEL (a model description, or a checkpoint to continue) on the IDX files in DIR\n"
  "  (train-*-ubyte[.gz] for training, t10k-*-ubyte[.gz] for the final test).\n"
  "  --epochs N        epochs (default 5)\n"
  "  --batch N         batch size (default 64)\n"
  "  --lr F            learning rate (default 1e-3)\n"
  "  --optimizer NAME  adam | adamw | sgd (default adam)\n"
  "  --momentum F      SGD momentum (default 0)\n"
  "  --weight-decay F  L2 (sgd, adam) or decoupled (adamw) weight decay (default 0)\n"
  "  --val F           fraction of the training set held out for validation (default 0)\n"
  "  --device DEV      auto | c | cl[:name][:gpu|cpu|acc][:index] (default $NNCL_DEVICE or auto)\n"
  "  --threads N       C backend threads (default: all cores)\n"
  "  --seed N          random seed (default 42)\n"
  "  --classes LIST    train and test on these classes only, relabelled 0..k-1 (e.g. 0-4)\n"
  "  --limit N         keep N training samples (drawn with the seed)\n"
  "  --freeze LAYERS   layers whose parameters stay fixed (see nncl finetune --help)\n"
  "  --out FILE        checkpoint written after every epoch (.safetensors)\n"
  "  -v, --verbose     log device selection and kernel builds\n";

static int optim_params(const opts *o, double lr, nncl_optim_params *op) {
  nncl_optim_params_init(op);
  if (!strcmp(o->optimizer, "adam")) op->kind = NNCL_OPT_ADAM;
  else if (!strcmp(o->optimizer, "adamw")) op->kind = NNCL_OPT_ADAMW;
  else if (!strcmp(o->optimizer, "sgd")) op->kind = NNCL_OPT_SGD;
  else return fail("unknown optimizer '%s'%s (adam, adamw, sgd)", o->optimizer, "");
  op->lr = (float)lr;
  op->momentum = (float)o->momentum;
  op->weight_decay = (float)o->weight_decay;
  return 0;
}

/* "5-9" or "1,3,7" (or a mix) -> classes[]; returns the count or -1. */
static int parse_classes(const char *s, int *classes, int max) {
  int n = 0;
  while (*s) {
    char *end;
    long lo = strtol(s, &end, 10), hi = lo;
    if (end == s || lo < 0) return -1;
    if (*end == '-' && (hi = strtol(end + 1, &end, 10)) < lo) return -1;
    for (long c = lo; c <= hi; c++) {
      if (n >= max || c > INT_MAX) return -1;
      classes[n++] = (int)c;
    }
    if (*end && *end != ',') return -1;
    s = *end ? end + 1 : end;
  }
  return n ? n : -1;
}

/* Training data as the options ask: DIR's train and t10k sets, restricted to --classes
 * (relabelled 0..k-1) and --limit training samples, with --val held out. */
typedef struct data {
  nncl_dataset *all, *test, *cls_all, *cls_test, *train, *val, *tst;
} data;

static void data_free(data *d) {
  if (d->val) nncl_dataset_destroy(d->train);
  nncl_dataset_destroy(d->val);
  nncl_dataset_destroy(d->cls_all);
  nncl_dataset_destroy(d->cls_test);
  nncl_dataset_destroy(d->all);
  nncl_dataset_destroy(d->test);
}

static int load_data(nncl_ctx *ctx, const opts *o, data *d) {
  int r, classes[4096], nc = 0;
  memset(d, 0, sizeof *d);
  if (o->classes && (nc = parse_classes(o->classes, classes, 4096)) < 0)
    return fail("--classes: bad list '%s'%s (e.g. 5-9 or 0,2,4)", o->classes, "");
  if ((r = nncl_dataset_load_idx_dir(ctx, o->data, "train", &d->all))) return fail_ctx(ctx, r, "cannot load training data");
  if ((r = nncl_dataset_load_idx_dir(ctx, o->data, "t10k", &d->test))) return fail_ctx(ctx, r, "cannot load test data");
  d->train = d->all, d->tst = d->test;
  if (!nc && o->limit) /* --limit alone: every class, in order */
    for (; nc < nncl_dataset_classes(d->all) && nc < 4096; nc++) classes[nc] = nc;
  if (nc && ((r = nncl_dataset_subset(d->all, classes, nc, o->limit, &d->cls_all)) ||
             (r = nncl_dataset_subset(d->test, classes, nc, 0, &d->cls_test))))
    return fail_ctx(ctx, r, "cannot select --classes/--limit");
  if (d->cls_all) d->train = d->cls_all, d->tst = d->cls_test;
  nncl_dataset *base = d->train;
  if (o->val > 0 && (r = nncl_dataset_split(base, o->val, &d->train, &d->val))) return fail_ctx(ctx, r, "cannot split the data");
  return 0;
}

/* Trains for `epochs` with a progress display; reports failure. */
static int fit_epochs(nncl_ctx *ctx, nncl_model *m, nncl_optim *opt, const data *d, const opts *o, int epochs) {
  progress pr = {.tty = isatty(fileno(stderr))};
  nncl_fit_params fp;
  nncl_fit_params_init(&fp);
  fp.epochs = epochs;
  fp.batch = o->batch;
  fp.progress = on_progress;
  fp.user = &pr;
  fp.checkpoint = o->out;
  int r = nncl_fit(m, opt, d->train, d->val, &fp);
  if (r) {
    if (pr.tty) fprintf(stderr, "\n");
    return fail_ctx(ctx, r, "training failed");
  }
  return 0;
}

static int report_test(nncl_ctx *ctx, nncl_model *m, const data *d, const opts *o) {
  double loss, acc;
  int r = nncl_evaluate(m, d->tst, NNCL_LOSS_XENT, &loss, &acc);
  if (r) return fail_ctx(ctx, r, "evaluation failed");
  printf("test: loss %.4f  accuracy %.2f%% (%lld samples)\n", loss, 100 * acc, (long long)nncl_dataset_size(d->tst));
  if (o->out) printf("checkpoint: %s\n", o->out);
  return 0;
}

static void print_plan(nncl_model *m, const data *d, const opts *o, const char *what, double lr, int epochs) {
  int64_t nparams = 0;
  nncl_model_summary(m, o->verbose ? print_line : ignore_line, stdout, &nparams);
  printf("%s: %lld parameters, %lld samples (%lld validation), batch %d, %s lr %g, %d epochs\n", what, (long long)nparams,
         (long long)nncl_dataset_size(d->train), (long long)nncl_dataset_size(d->val), o->batch, o->optimizer, lr, epochs);
}

static int cmd_train(int argc, char **argv) {
  opts o = {.epochs = 5, .batch = 64, .lr = 1e-3, .seed = 42, .optimizer = "adam", .data = DEFAULT_DATA};
  const char *pos[1];
  int np;
  if (parse_opts(argc, argv, &o, pos, 1, &np, train_usage)) return 1;
  if (np != 1) return fail("train needs a MODEL file (see --help)%s%s", "", "");
  nncl_optim_params op;
  if (optim_params(&o, o.lr, &op)) return 1;
  nncl_ctx *ctx;
  if (open_ctx(&o, &ctx)) return 1;
  nncl_model *m = NULL;
  nncl_optim *opt = NULL;
  data d = {0};
  int r, rc = 1;
  printf("device: %s\n", nncl_ctx_device(ctx));
  if (load_model(ctx, pos[0], &m)) goto done;
  /* compiling first lets an OpenCL device build its kernels while the data loads */
  if ((r = nncl_model_compile(m, o.batch, NNCL_MODE_TRAIN)) || (o.freeze && (r = nncl_model_freeze(m, o.freeze, 1))) ||
      (r = nncl_optim_create(m, &op, &opt))) {
    fail_ctx(ctx, r, "cannot prepare training");
    goto done;
  }
  if (load_data(ctx, &o, &d)) goto done;
  print_plan(m, &d, &o, "training", o.lr, o.epochs);
  if (fit_epochs(ctx, m, opt, &d, &o, o.epochs) || report_test(ctx, m, &d, &o)) goto done;
  rc = 0;
done:
  nncl_optim_destroy(opt);
  data_free(&d);
  nncl_model_destroy(m);
  nncl_ctx_destroy(ctx);
  return rc;
}

/* ---- finetune ------------------------------------------------------------------------ */

static const char finetune_usage[] =
  "usage: nncl finetune CHECKPOINT --data DIR [options]\n"
  "  Transfer learning: starts from a trained model, optionally with a new head (its last\n"
  "  dense layer with another output size, freshly initialised), trains with some layers\n"
  "  frozen, and optionally unfreezes them later at a lower learning rate.\n"
  "  --head N          new output size of the last dense layer\n"
  "  --freeze LAYERS   layers to keep fixed: names or 0-based indices, ranges first:last,\n"
  "                    comma-separated (e.g. c1,c2 or :f2); see nncl summary -v for names\n"
  "  --unfreeze-at E   after E epochs unfreeze them and go on with a new optimizer at\n"
  "  --unfreeze-lr F   this rate (default lr / 10)\n"
  "  --classes LIST    train and test on these classes only, relabelled 0..k-1 in order\n"
  "                    (e.g. 5-9 or 0,2,4)\n"
  "  --limit N         keep N training samples (drawn with the seed)\n"
  "  and train's --epochs --batch --lr --optimizer --momentum --weight-decay --val --device\n"
  "  --threads --seed --out -v\n";

static int cmd_finetune(int argc, char **argv) {
  opts o = {.epochs = 5, .batch = 64, .lr = 1e-3, .seed = 42, .optimizer = "adam", .data = DEFAULT_DATA};
  const char *pos[1];
  int np;
  if (parse_opts(argc, argv, &o, pos, 1, &np, finetune_usage)) return 1;
  if (np != 1) return fail("finetune needs a CHECKPOINT (see --help)%s%s", "", "");
  if (o.unfreeze_at && (!o.freeze || o.unfreeze_at >= o.epochs))
    return fail("--unfreeze-at needs --freeze and must be below --epochs%s%s", "", "");
  double lr2 = o.unfreeze_lr > 0 ? o.unfreeze_lr : o.lr / 10;
  nncl_optim_params op;
  if (optim_params(&o, o.lr, &op)) return 1;
  nncl_ctx *ctx;
  if (open_ctx(&o, &ctx)) return 1;
  nncl_model *base = NULL, *m = NULL;
  nncl_optim *opt = NULL;
  data d = {0};
  int r, rc = 1, first = o.unfreeze_at ? o.unfreeze_at : o.epochs;
  printf("device: %s\n", nncl_ctx_device(ctx));
  if ((r = nncl_load(ctx, pos[0], &base, NULL))) {
    fail_ctx(ctx, r, "cannot load checkpoint");
    goto done;
  }
  if (o.head && (r = nncl_model_new_head(base, o.head, &m))) {
    fail_ctx(ctx, r, "cannot replace the head");
    goto done;
  }
  if (!m) m = base, base = NULL;
  if ((r = nncl_model_compile(m, o.batch, NNCL_MODE_TRAIN)) || (o.freeze && (r = nncl_model_freeze(m, o.freeze, 1))) ||
      (r = nncl_optim_create(m, &op, &opt))) {
    fail_ctx(ctx, r, "cannot prepare training");
    goto done;
  }
  if (load_data(ctx, &o, &d)) goto done;
  print_plan(m, &d, &o, o.freeze ? "fine-tuning (frozen)" : "fine-tuning", o.lr, first);
  if (fit_epochs(ctx, m, opt, &d, &o, first)) goto done;
  if (o.unfreeze_at) {
    nncl_optim_destroy(opt);
    opt = NULL;
    if ((r = nncl_model_freeze(m, o.freeze, 0)) || (r = optim_params(&o, lr2, &op) ? NNCL_EINVAL : 0) ||
        (r = nncl_optim_create(m, &op, &opt))) {
      fail_ctx(ctx, r, "cannot unfreeze");
      goto done;
    }
    print_plan(m, &d, &o, "fine-tuning (unfrozen)", lr2, o.epochs - first);
    if (fit_epochs(ctx, m, opt, &d, &o, o.epochs - first)) goto done;
  }
  if (report_test(ctx, m, &d, &o)) goto done;
  rc = 0;
done:
  nncl_optim_destroy(opt);
  data_free(&d);
  nncl_model_destroy(m);
  nncl_model_destroy(base);
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
  "  finetune CKPT --data DIR  transfer learning: new head, frozen layers, fine-tuning\n"
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
  if (!strcmp(cmd, "finetune")) return cmd_finetune(argc, argv);
  if (!strcmp(cmd, "eval")) return cmd_eval(argc, argv);
  if (!strcmp(cmd, "predict")) return cmd_predict(argc, argv);
  return fail("unknown command '%s'%s (see nncl --help)", cmd, "");
}
