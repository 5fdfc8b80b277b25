/* cli.h - what the nncl commands share: options, messages, contexts, models, data sets,
 * and the commands that live in files of their own. */
#ifndef NNCL_CLI_H
#define NNCL_CLI_H

#include <stdio.h>

#include "nncl.h"

#define DEFAULT_DATA "/usr/share/datasets/fashion-mnist"

typedef struct opts {
  const char *data, *device, *out, *optimizer, *images, *model;
  int epochs, batch, threads, count, verbose;
  double lr, val, momentum, weight_decay;
  unsigned long long seed;
  /* training loop and data layer */
  const char *monitor, *mode, *resume, *curves, *class_weights, *loss, *augment, *csv, *label, *header;
  int early_stop;
  double min_delta, gamma, test;
  /* transfer learning */
  const char *classes, *freeze;  /* class subset "5-9" or "1,3"; layers to freeze */
  int limit, head, unfreeze_at;  /* training samples kept; new head size; epoch */
  double unfreeze_lr;
  /* looking inside */
  const char *image, *filters;   /* saliency and filter images */
  int saliency, ablate;          /* sample index (-1 none); bypass layers */
  int inspect_every;             /* train: layer statistics every N epochs */
  /* optimizers, schedules, lr-find */
  const char *schedule, *wd_mode;
  double clip_norm, clip_value, start_lr, end_lr;
  int steps;
} opts;

/* Parses --key value options; positional arguments go to pos[]. --help prints usage and
 * exits. Returns 0, or 1 after printing why. */
int parse_opts(int argc, char **argv, opts *o, const char **pos, int maxpos, int *npos, const char *usage);

/* Prints "nncl: <fmt with a, b>" to stderr; returns 1. */
int fail(const char *fmt, const char *a, const char *b);
/* One-line reason for a failed library call; returns 1. */
int fail_ctx(nncl_ctx *ctx, int status, const char *what);
/* Line callbacks for summaries: to the FILE in user (stdout if NULL), or nowhere. */
void print_line(void *user, const char *line);
void ignore_line(void *user, const char *line);

/* A context on the options' device, threads and seed, logging to stderr. */
int open_ctx(const opts *o, nncl_ctx **ctx);
/* A model from a text description or a checkpoint (.safetensors); 1 after a message. */
int load_model(nncl_ctx *ctx, const char *path, nncl_model **m);

/* Where samples come from: IDX files in `dir`, or a CSV file with a label column; and
 * which of them: classes (relabelled 0..k-1 in list order) and at most limit training
 * samples. */
typedef struct cli_data_opts {
  const char *dir, *csv, *label;
  const char *header;     /* names | none | sklearn; NULL = the model's, else names */
  double val, test;       /* fractions held out for validation and test (CSV test default: 0.2) */
  int test_set;           /* --test given */
  unsigned long long seed;
  const char *classes;    /* "5-9", "0,2,4" or NULL = all */
  int64_t limit;          /* 0 = all */
} cli_data_opts;

typedef struct cli_data {
  nncl_dataset *all, *pool, *train, *val, *test; /* pool = all minus test; train = pool minus val */
  nncl_dataset *parents[2]; /* views that class selections replaced, freed after them */
} cli_data;

/* The data options of o. */
cli_data_opts cli_data_options(const opts *o);
/* Training data (train, optional val, test when there is one) for model m. For CSV: the
 * class list and standardisation come from m's metadata when it has them (a resumed
 * model), else standardisation is fitted on the training part and stored in m with the
 * split settings. Prints the reason and returns 1 on failure. */
int cli_data_train(nncl_ctx *ctx, nncl_model *m, const cli_data_opts *o, cli_data *d);
/* Test data for a trained model m: IDX t10k files, or the CSV's held-out part (the split
 * m was trained with unless --test is given; the whole file with --test 0). */
int cli_data_test(nncl_ctx *ctx, const nncl_model *m, const cli_data_opts *o, cli_data *d);
void cli_data_free(cli_data *d);

/* "crop=4,flip,noise=0.1" -> a. 0 or 1 with a message printed. */
int cli_parse_augment(const char *s, nncl_augment *a);
/* "w0,w1,..." (exactly nclasses values) or "balanced" (from train) into w. */
int cli_class_weights(const char *s, const nncl_dataset *train, int nclasses, float *w);
/* Name of class c: the c-th of names "a,b,c", else its index. */
void cli_class_name(const char *names, int c, char *out, size_t n);
/* Accuracy, per-class precision/recall/F1/support and the confusion matrix. */
void cli_print_metrics(const nncl_metrics *mt, const char *class_names);

/* Optimizer settings from --optimizer, --lr (lr), --momentum, --weight-decay[-mode],
 * --clip-*; 1 after a message. */
int optim_params(const opts *o, double lr, nncl_optim_params *op);

/* Commands in files of their own. */
int cmd_inspect(int argc, char **argv);
int cmd_lr_find(int argc, char **argv);
/* The table nncl inspect prints. */
void print_layer_stats(const nncl_layer_stats *s, int n);

#endif
