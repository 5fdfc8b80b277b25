/* fit.h - the fit loop's extras: resumable training state, early stopping, training
 * curves. Internal. */
#ifndef NNCL_FIT_H
#define NNCL_FIT_H

#include "model.h"
#include "safetensors.h"

/* nncl_save with extra metadata pairs (copied into the file as given). */
int nncl_save_ex(const nncl_model *m, const nncl_optim *o, int epoch, const char *path, const nncl_st_kv *extra,
                 int nextra);

/* ---- curves (curves.c) */

typedef struct nncl_curve_row {
  int epoch;
  double train_loss, train_acc, val_loss, val_acc, lr, seconds; /* val_* -1 without validation */
} nncl_curve_row;

typedef struct nncl_history {
  nncl_curve_row *rows;
  int n, cap;
} nncl_history;

int nncl_history_add(struct nncl_ctx *ctx, nncl_history *h, const nncl_curve_row *r);
void nncl_history_free(nncl_history *h);
/* The rows as CSV with a header line (malloc'd; NULL when out of memory). */
char *nncl_history_csv(const nncl_history *h);
/* Parses nncl_history_csv's output into h (emptied first); `what` names it in errors. */
int nncl_history_parse(struct nncl_ctx *ctx, const char *csv, nncl_history *h, const char *what);
/* Writes "<stem>.csv" and "<stem>.svg" (each to a temporary file, then renamed). */
int nncl_curves_write(struct nncl_ctx *ctx, const char *stem, const nncl_history *h);

/* ---- early stopping (early_stop.c) */

typedef struct nncl_early_stop {
  int monitor, maximize, patience;
  double min_delta;
  int best_epoch;    /* 0 = none yet */
  double best;
  int wait;          /* epochs since the best */
} nncl_early_stop;

void nncl_early_stop_init(nncl_early_stop *e, const nncl_fit_params *p);
/* The monitored value of an epoch's stats. */
double nncl_early_stop_metric(const nncl_early_stop *e, const nncl_epoch_stats *s);
/* Records an epoch's metric; returns 1 if it is a new best. */
int nncl_early_stop_update(nncl_early_stop *e, int epoch, double metric);
/* 1 when patience is set and exhausted. */
int nncl_early_stop_done(const nncl_early_stop *e);

/* ---- resumable state (fit_state.c) */

typedef struct nncl_train_state {
  int epoch;               /* epochs completed */
  uint64_t rng[6];         /* the context's generator after that epoch */
  uint64_t dropout_seed, dropout_step;
  uint64_t augment_seed;
  nncl_early_stop es;
} nncl_train_state;

/* One line "key=value ..." (malloc'd; NULL when out of memory). */
char *nncl_train_state_text(const nncl_train_state *s);
int nncl_train_state_parse(struct nncl_ctx *ctx, const char *text, nncl_train_state *s, const char *path);

#endif
