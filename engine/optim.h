/* optim.h - optimizer state, and the training toolbox around it (clipping, schedules,
 * the NaN/Inf guard, the learning-rate range test). Internal. */
#ifndef NNCL_OPTIM_H
#define NNCL_OPTIM_H

#include "model.h"

#define NNCL_OPTIM_MAX_STATE 3

/* ReduceLROnPlateau's state (torch's names). */
typedef struct nncl_plateau {
  double best;             /* +inf before the first epoch */
  int num_bad, cooldown_counter;
  double lr;               /* the plateau's current rate, before warm-up and scaling */
} nncl_plateau;

struct nncl_lr_sweep;

struct nncl_optim {
  nncl_model *model;
  nncl_optim_params p;
  nncl_buf *state[NNCL_OPTIM_MAX_STATE]; /* same layout as the parameter arena */
  const char *state_name[NNCL_OPTIM_MAX_STATE]; /* PyTorch's state names */
  int nstate;
  int64_t t;               /* steps taken */
  float lr;                /* rate of the next step */
  float mom;               /* momentum (SGD, RMSprop) or beta1 (Adam) of the next step */
  int has_sched;
  nncl_schedule_params sched;
  nncl_plateau plateau;
  nncl_buf *scal;          /* device scalars: [0] sum of squares, [1] batch loss, [2] the
                              guard's flag (raised: the updates skip) */
  struct nncl_lr_sweep *sweep; /* lr-find in progress, or NULL */
};

/* Names of the optimizer's state tensors in a checkpoint ("velocity", "m", "v", ...). */
const char *nncl_optim_state_name(const struct nncl_optim *o, int k);
const char *nncl_optim_kind_name(int kind);
int nncl_optim_kind_parse(const char *s);  /* -1 if unknown */

/* ---- clip.c ---------------------------------------------------------------------- */
/* Calls fn(m, off, n, user) for every maximal run of contiguous trainable parameters
 * (element offset and count in the arenas); stops at the first non-zero return. */
int nncl_trainable_runs(nncl_model *m, int (*fn)(nncl_model *m, size_t off, size_t n, void *user),
                        void *user);
/* Global-norm clipping with the sum of squares in scalar[0] (a device buffer). */
int nncl_clip_norm(nncl_model *m, nncl_buf *scalar, float max_norm);
int nncl_clip_value(nncl_model *m, float clip_value);

/* ---- schedule.c ------------------------------------------------------------------ */
/* The rate of step t + 1 (t steps taken) from base (after the scaling rule; PLATEAU: its
 * current rate): nncl.h's formula with the warm-up. *mom (if non-NULL) receives ONECYCLE's
 * cycled momentum with cycle_momentum, else it is left alone. */
double nncl_sched_lr(const nncl_schedule_params *p, double base, int64_t t, double *mom);
/* Checks p (with steps_per_epoch/epochs possibly still 0); 0 or NNCL_EINVAL with why. */
int nncl_sched_check(const nncl_schedule_params *p, char *why, size_t n);
/* Sets o->lr (and o->mom) for step o->t + 1 from the schedule. */
void nncl_sched_apply(struct nncl_optim *o);
/* nncl_fit's start: fills steps_per_epoch, epochs (and the defaults derived from them). */
int nncl_sched_fit_begin(struct nncl_optim *o, int64_t batches_per_epoch, int epochs);

/* The schedule's own state for checkpoints (ReduceLROnPlateau's; "none" otherwise), and
 * its restore when o has a PLATEAU schedule (then the rate of step o->t + 1 is set). */
void nncl_sched_state_text(const struct nncl_optim *o, char *buf, size_t n);
int nncl_sched_state_parse(struct nncl_optim *o, const char *text);

/* ---- guard.c --------------------------------------------------------------------- */
/* After forward, loss and backward of a training batch (loss rows t = rows, n of them):
 * queues the finite checks of the rows and the trainable gradients, which raise the
 * optimizer's flag (o->scal[2]) on the device; the updates skip while it is raised. It
 * stays raised until nncl_guard_lower. */
int nncl_guard_enqueue(struct nncl_optim *o, nncl_ref rows, int n);
int nncl_guard_lower(struct nncl_optim *o);
/* The same checks, waited for (the flag lowered first). Non-finite: NNCL_ENUMERIC,
 * naming the epoch, batch, step and the first parameter, op or layer (in graph order)
 * whose value is not finite, the flag lowered again; no update has been made. During
 * lr-find it records the loss and sets *stop when the sweep is over. */
int nncl_guard_batch(struct nncl_optim *o, nncl_ref rows, int n, int epoch, int64_t batch, int *stop);
/* For a batch whose queued checks raised the flag, run again with the same weights: the
 * error nncl_guard_batch gives for it (one that says so if it is finite this time). */
int nncl_guard_recheck(struct nncl_optim *o, nncl_ref rows, int n, int epoch, int64_t batch);

/* ---- lr_find.c ------------------------------------------------------------------- */
/* lr-find's hook (through nncl_guard_batch): records (rate, batch loss), sets the next
 * rate, *stop = 1 after the last step or when the loss diverges. */
int nncl_lr_find_record(struct nncl_optim *o, double loss, int finite, int *stop);

#endif
