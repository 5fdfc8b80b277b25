/* cli.h - what the nncl commands share: options, messages, contexts, models, data. */
#ifndef NNCL_CLI_H
#define NNCL_CLI_H

#include <stdio.h>

#include "nncl.h"

#define DEFAULT_DATA "/usr/share/datasets/fashion-mnist"

typedef struct opts {
  const char *data, *device, *out, *optimizer, *images, *model;
  const char *classes, *freeze;  /* class subset "5-9" or "1,3"; layers to freeze */
  const char *image, *filters;   /* inspect: saliency and filter images */
  int saliency, ablate;          /* inspect: sample index (-1 none); bypass layers */
  int inspect_every;             /* train: layer statistics every N epochs */
  int epochs, batch, threads, count, verbose;
  int limit, head, unfreeze_at;  /* samples kept per subset; new head size; epoch */
  double lr, val, momentum, weight_decay, unfreeze_lr;
  unsigned long long seed;
} opts;

/* Parses --key value options; positional arguments go to pos[]. --help prints usage and
 * exits. Returns 0, or 1 after printing why. */
int parse_opts(int argc, char **argv, opts *o, const char **pos, int maxpos, int *npos, const char *usage);

/* Print "nncl: <fmt with a, b>" to stderr; return 1. */
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

/* Training data as the options ask: DIR's train and t10k sets, restricted to --classes
 * (relabelled 0..k-1) and --limit training samples, with --val held out. */
typedef struct data {
  nncl_dataset *all, *test, *cls_all, *cls_test, *train, *val, *tst;
} data;
int load_data(nncl_ctx *ctx, const opts *o, data *d);
void data_free(data *d);

/* Commands in files of their own. */
int cmd_inspect(int argc, char **argv);
/* The table nncl inspect prints. */
void print_layer_stats(const nncl_layer_stats *s, int n);

#endif
