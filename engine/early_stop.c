/* early_stop.c - early stopping on a validation metric: an epoch improves when
 * metric < best - min_delta (min mode) or metric > best + min_delta (max mode), as
 * Keras' EarlyStopping; `patience` epochs without improvement stop the run. */
#include <math.h>

#include "fit.h"

void nncl_early_stop_init(nncl_early_stop *e, const nncl_fit_params *p) {
  e->monitor = p->monitor;
  e->maximize = p->monitor_mode == NNCL_MONITOR_MAX || (p->monitor_mode == NNCL_MONITOR_AUTO && p->monitor == NNCL_MONITOR_VAL_ACC);
  e->patience = p->patience;
  e->min_delta = fabs(p->min_delta);
  e->best_epoch = 0;
  e->best = e->maximize ? -INFINITY : INFINITY;
  e->wait = 0;
}

double nncl_early_stop_metric(const nncl_early_stop *e, const nncl_epoch_stats *s) {
  return e->monitor == NNCL_MONITOR_VAL_ACC ? s->val_acc : s->val_loss;
}

int nncl_early_stop_update(nncl_early_stop *e, int epoch, double metric) {
  int better = e->best_epoch == 0 ? !isnan(metric)
                                  : e->maximize ? metric > e->best + e->min_delta : metric < e->best - e->min_delta;
  if (better) {
    e->best = metric, e->best_epoch = epoch, e->wait = 0;
    return 1;
  }
  e->wait++;
  return 0;
}

int nncl_early_stop_done(const nncl_early_stop *e) { return e->patience > 0 && e->wait >= e->patience; }
