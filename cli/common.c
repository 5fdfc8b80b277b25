/* common.c - what the nncl commands share: options, messages, contexts, models. */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char *prog = "nncl";

int fail(const char *fmt, const char *a, const char *b) {
  fprintf(stderr, "%s: ", prog);
  fprintf(stderr, fmt, a, b);
  fputc('\n', stderr);
  return 1;
}

/* One-line reason for a failed library call. */
int fail_ctx(nncl_ctx *ctx, int status, const char *what) {
  const char *msg = nncl_errmsg(ctx);
  fprintf(stderr, "%s: %s: %s%s%s\n", prog, what, nncl_strerror(status), *msg ? ": " : "", msg);
  return 1;
}

void print_line(void *user, const char *line) { fprintf(user ? (FILE *)user : stdout, "%s\n", line); }

void ignore_line(void *user, const char *line) { (void)user, (void)line; }

static void log_stderr(void *user, int level, const char *msg) {
  (void)user;
  if (level <= NNCL_LOG_WARN) fprintf(stderr, "%s: %s\n", level == NNCL_LOG_ERROR ? "error" : "warning", msg);
  else fprintf(stderr, "%s\n", msg);
}

/* ---- options ------------------------------------------------------------------------- */


static int parse_num(const char *s, double lo, double hi, double *out) {
  char *end;
  errno = 0;
  double v = strtod(s, &end);
  if (errno || end == s || *end || !(v >= lo && v <= hi)) return -1;
  *out = v;
  return 0;
}

int parse_opts(int argc, char **argv, opts *o, const char **pos, int maxpos, int *npos, const char *usage) {
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
    if (!strcmp(a, "--ablate")) {
      o->ablate = 1;
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
      {"--classes", &o->classes, 0, 0, 0, 0}, {"--freeze", &o->freeze, 0, 0, 0, 0},
      {"--limit", 0, &o->limit, 0, 1, INT_MAX}, {"--head", 0, &o->head, 0, 1, 1 << 24},
      {"--unfreeze-at", 0, &o->unfreeze_at, 0, 1, 100000}, {"--unfreeze-lr", 0, 0, &o->unfreeze_lr, 1e-12, 1e3},
      {"--image", &o->image, 0, 0, 0, 0}, {"--filters", &o->filters, 0, 0, 0, 0},
      {"--schedule", &o->schedule, 0, 0, 0, 0}, {"--weight-decay-mode", &o->wd_mode, 0, 0, 0, 0},
      {"--clip-norm", 0, 0, &o->clip_norm, 1e-12, 1e12}, {"--clip-value", 0, 0, &o->clip_value, 1e-12, 1e12},
      {"--start-lr", 0, 0, &o->start_lr, 1e-12, 1e6}, {"--end-lr", 0, 0, &o->end_lr, 1e-12, 1e6},
      {"--steps", 0, &o->steps, 0, 2, 1000000},
      {"--saliency", 0, &o->saliency, 0, 0, INT_MAX}, {"--inspect-every", 0, &o->inspect_every, 0, 1, 100000},
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

int open_ctx(const opts *o, nncl_ctx **ctx) {
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
int load_model(nncl_ctx *ctx, const char *path, nncl_model **m) {
  size_t n = strlen(path);
  int r = n > 12 && !strcmp(path + n - 12, ".safetensors") ? nncl_load(ctx, path, m, NULL) : nncl_model_parse_file(ctx, path, m);
  return r ? fail_ctx(ctx, r, "cannot load model") : 0;
}

int optim_params(const opts *o, double lr, nncl_optim_params *op) {
  nncl_optim_params_init(op);
  static const struct { const char *name; int kind; } kinds[] = {
    {"adam", NNCL_OPT_ADAM}, {"adamw", NNCL_OPT_ADAMW}, {"sgd", NNCL_OPT_SGD}, {"rmsprop", NNCL_OPT_RMSPROP}, {"adagrad", NNCL_OPT_ADAGRAD},
  };
  size_t k = 0;
  while (k < sizeof kinds / sizeof *kinds && strcmp(o->optimizer, kinds[k].name)) k++;
  if (k == sizeof kinds / sizeof *kinds) return fail("unknown optimizer '%s'%s (adam, adamw, sgd, rmsprop, adagrad)", o->optimizer, "");
  op->kind = kinds[k].kind;
  if (op->kind == NNCL_OPT_ADAGRAD) op->eps = 1e-10f; /* PyTorch's Adagrad default */
  op->lr = (float)lr;
  op->momentum = (float)o->momentum;
  op->weight_decay = (float)o->weight_decay;
  if (o->wd_mode && strcmp(o->wd_mode, "l2") && strcmp(o->wd_mode, "decoupled"))
    return fail("--weight-decay-mode: '%s'%s (l2 or decoupled)", o->wd_mode, "");
  op->decoupled_wd = o->wd_mode && !strcmp(o->wd_mode, "decoupled");
  op->clip_norm = (float)o->clip_norm;
  op->clip_value = (float)o->clip_value;
  return 0;
}
