/* nncl.c - the command line: devices | summary | train | finetune | eval | predict;
 * inspect and lr-find in files of their own, shared pieces in common.c. */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

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
  int inspect_every, batch;     /* --inspect-every: layer statistics every N epochs */
  nncl_model *m;
  const nncl_dataset *probe;    /* samples the statistics come from */
} progress;

/* Layer statistics of the model in training, on the first batch of the probe set. */
static void inspect_epoch(progress *p, int epoch) {
  nncl_layer_stats st[512];
  int n = (int)(nncl_dataset_size(p->probe) < p->batch ? nncl_dataset_size(p->probe) : p->batch), k;
  if (nncl_model_inspect(p->m, p->probe, 0, n, st, 512, &k) == 0) {
    printf("layer statistics after epoch %d (%d test samples):\n", epoch, n);
    print_layer_stats(st, k);
  }
}

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
  if (p->inspect_every && s->epoch % p->inspect_every == 0) inspect_epoch(p, s->epoch);
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
  "  --classes LIST    train and test on these classes only, relabelled 0..k-1 (e.g. 0-4)\n"
  "  --limit N         keep N training samples (drawn with the seed)\n"
  "  --freeze LAYERS   layers whose parameters stay fixed (see nncl finetune --help)\n"
  "  --inspect-every N print per-layer activation statistics and gradient norms (as nncl\n"
  "                    inspect) every N epochs\n"
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

/* Trains for `epochs` with a progress display; reports failure. */
static int fit_epochs(nncl_ctx *ctx, nncl_model *m, nncl_optim *opt, const cli_data *d, const opts *o, int epochs) {
  progress pr = {.tty = isatty(fileno(stderr)), .inspect_every = o->inspect_every, .batch = o->batch, .m = m,
                 .probe = d->test ? d->test : d->train};
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

static int report_test(nncl_ctx *ctx, nncl_model *m, const cli_data *d, const opts *o) {
  double loss, acc;
  int r = nncl_evaluate(m, d->test, NNCL_LOSS_XENT, &loss, &acc);
  if (r) return fail_ctx(ctx, r, "evaluation failed");
  printf("test: loss %.4f  accuracy %.2f%% (%lld samples)\n", loss, 100 * acc, (long long)nncl_dataset_size(d->test));
  if (o->out) printf("checkpoint: %s\n", o->out);
  return 0;
}

static void print_plan(nncl_model *m, const cli_data *d, const opts *o, const char *what, double lr, int epochs) {
  int64_t nparams = 0;
  nncl_model_summary(m, o->verbose ? print_line : ignore_line, stdout, &nparams);
  printf("%s: %lld parameters, %lld samples (%lld validation), batch %d, %s lr %g, %d epochs\n", what, (long long)nparams,
         (long long)nncl_dataset_size(d->train), (long long)nncl_dataset_size(d->val), o->batch, o->optimizer, lr, epochs);
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
  nncl_schedule_params sp;
  char serr[256];
  nncl_schedule_params_init(&sp);
  if (optim_params(&o, o.lr, &op)) return 1;
  if (o.schedule && nncl_schedule_parse(o.schedule, &sp, serr, sizeof serr)) return fail("--schedule %s%s", serr, "");
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
  /* compiling first lets an OpenCL device build its kernels while the data loads */
  if ((r = nncl_model_compile(m, o.batch, NNCL_MODE_TRAIN)) || (o.freeze && (r = nncl_model_freeze(m, o.freeze, 1))) ||
      (r = nncl_optim_create(m, &op, &opt)) || (o.schedule && (r = nncl_optim_set_schedule(opt, &sp)))) {
    fail_ctx(ctx, r, "cannot prepare training");
    goto done;
  }
  cli_data_opts dop = cli_data_options(&o);
  if (cli_data_train(ctx, m, &dop, &data)) goto done;
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
  progress pr = {.tty = isatty(fileno(stderr)), .inspect_every = o.inspect_every, .batch = o.batch, .m = m,
                 .probe = data.test ? data.test : data.train};
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
  opts o = {.epochs = 5, .batch = 64, .lr = 1e-3, .seed = 42, .optimizer = "adam", .data = DEFAULT_DATA, .test = -1};
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
  cli_data d = {0};
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
  cli_data_opts dop = cli_data_options(&o);
  if (cli_data_train(ctx, m, &dop, &d)) goto done;
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
  cli_data_free(&d);
  nncl_model_destroy(m);
  nncl_model_destroy(base);
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
  cli_data_opts dop = cli_data_options(&o);
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
  cli_data_opts dop = cli_data_options(&o);
  if (cli_data_test(ctx, m, &dop, &data)) goto done;
  nncl_dataset *test = data.test;
  int64_t n = o.count < nncl_dataset_size(test) ? o.count : nncl_dataset_size(test);
  int64_t in = nncl_model_input_size(m), out = nncl_model_output_size(m);
  if (nncl_dataset_sample_size(test) != in) {
    char why[256];
    snprintf(why, sizeof why, "%lld values, the model takes %lld", (long long)nncl_dataset_sample_size(test), (long long)in);
    fail("%s samples have %s", o.csv ? o.csv : o.data, why);
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
  "  finetune CKPT --data DIR  transfer learning: new head, frozen layers, fine-tuning\n"
  "  inspect MODEL --data DIR  per-layer statistics, gradient norms, saliency, ablation\n"
  "  lr-find MODEL --data DIR  learning-rate range test: loss against rate, a suggestion\n"
  "  eval CKPT --data DIR      loss, accuracy, per-class metrics of a checkpoint on the test set\n"
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
  if (!strcmp(cmd, "inspect")) return cmd_inspect(argc, argv);
  if (!strcmp(cmd, "lr-find")) return cmd_lr_find(argc, argv);
  if (!strcmp(cmd, "eval")) return cmd_eval(argc, argv);
  if (!strcmp(cmd, "predict")) return cmd_predict(argc, argv);
  return fail("unknown command '%s'%s (see nncl --help)", cmd, "");
}
