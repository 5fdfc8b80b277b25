/* lr_find.c - the learning-rate range test (Smith 2015; fastai's lr_find): nncl_fit with
 * a rate that grows exponentially per batch, the loss recorded through the guard's
 * per-batch hook, then every weight and optimizer state restored. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "data/dataset.h"
#include "optim.h"

struct nncl_lr_sweep {
  const nncl_lr_find_params *p;
  nncl_lr_find_result *res;
  double avg, best;
};

void nncl_lr_find_params_init(nncl_lr_find_params *p) {
  memset(p, 0, sizeof *p);
  p->start_lr = 1e-7f, p->end_lr = 10;
  p->steps = 100, p->batch = 64;
  p->loss = NNCL_LOSS_XENT;
  p->smooth = 0.98f, p->diverge = 4;
}

void nncl_lr_find_result_free(nncl_lr_find_result *res) {
  if (!res) return;
  free(res->lr), free(res->loss), free(res->smoothed);
  memset(res, 0, sizeof *res);
}

/* lr_i = start (end/start)^(i/(steps-1)) */
static double sweep_lr(const nncl_lr_find_params *p, int i) {
  return p->steps > 1 ? p->start_lr * pow((double)p->end_lr / p->start_lr, (double)i / (p->steps - 1)) : p->start_lr;
}

int nncl_lr_find_record(nncl_optim *o, double loss, int finite, int *stop) {
  struct nncl_lr_sweep *s = o->sweep;
  nncl_lr_find_result *res = s->res;
  int i = res->n;
  double beta = s->p->smooth;
  s->avg = beta * s->avg + (1 - beta) * loss;
  double sm = s->avg / (1 - pow(beta, i + 1));
  res->lr[i] = o->lr, res->loss[i] = loss, res->smoothed[i] = sm;
  res->n++;
  if (i == 0 || sm < s->best) s->best = sm;
  if (!finite || !isfinite(sm) || sm > s->p->diverge * s->best) {
    res->diverged = 1;
    *stop = 1;
  } else if (res->n >= s->p->steps) *stop = 1;
  else o->lr = (float)sweep_lr(s->p, res->n);
  return 0;
}

/* fastai's suggestions over [n/10, n-5): steepest descent of the smoothed loss against
 * log(lr), and the rate of its minimum / 10. Points with a non-finite loss are left out. */
static void suggest(nncl_lr_find_result *res) {
  int n = res->n;
  while (n > 0 && !isfinite(res->smoothed[n - 1])) n--;
  int lo = n / 10, hi = n - 5;
  if (hi - lo < 2) lo = 0, hi = n;
  int steep = lo, mini = lo;
  double best = INFINITY;
  for (int i = lo; i < hi; i++) {
    if (res->smoothed[i] < res->smoothed[mini]) mini = i;
    if (i + 1 < hi) {
      double gr = (res->smoothed[i + 1] - res->smoothed[i]) / (log(res->lr[i + 1]) - log(res->lr[i]));
      if (gr < best) best = gr, steep = i;
    }
  }
  res->lr_steepest = n ? res->lr[steep] : 0;
  res->lr_min10 = n ? res->lr[mini] / 10 : 0;
}

/* Host copy of an arena-shaped device buffer (n floats), or the reverse. */
static int copy_arena(nncl_model *m, nncl_buf *buf, float *host, size_t n, int to_host) {
  nncl_backend *be = nncl_ctx_be(m->ctx);
  return to_host ? be->read(be, buf, 0, host, n * sizeof(float)) : be->write(be, buf, 0, host, n * sizeof(float));
}

int nncl_lr_find(nncl_model *m, nncl_optim *o, const nncl_dataset *d, const nncl_lr_find_params *p, nncl_lr_find_result *res) {
  if (!m || !o || !d || !p || !res || o->model != m) return nncl_err(m ? m->ctx : NULL, NNCL_EINVAL, "lr-find: bad arguments");
  memset(res, 0, sizeof *res);
  if (!(p->start_lr > 0) || !(p->end_lr > p->start_lr) || !isfinite(p->end_lr) || p->steps < 2 || p->batch < 1 ||
      !(p->smooth >= 0 && p->smooth < 1) || !(p->diverge > 1))
    return nncl_err(m->ctx, NNCL_EINVAL, "lr-find: need 0 < start_lr < end_lr, steps >= 2, batch >= 1, smooth in [0,1), diverge > 1");
  if (d->n < 1) return nncl_err(m->ctx, NNCL_EINVAL, "lr-find: empty dataset");
  int r = nncl_graph_alloc_params(&m->g);
  if (r) return r;
  size_t n = (size_t)(m->g.param_elems ? m->g.param_elems : 1);
  float *saved = malloc(n * sizeof(float) * (size_t)(1 + o->nstate));
  res->lr = malloc((size_t)p->steps * sizeof(double));
  res->loss = malloc((size_t)p->steps * sizeof(double));
  res->smoothed = malloc((size_t)p->steps * sizeof(double));
  if (!saved || !res->lr || !res->loss || !res->smoothed) {
    free(saved);
    nncl_lr_find_result_free(res);
    return nncl_err(m->ctx, NNCL_ENOMEM, "lr-find: out of memory");
  }
  r = copy_arena(m, m->g.param_arena, saved, n, 1);
  for (int k = 0; k < o->nstate && !r; k++) r = copy_arena(m, o->state[k], saved + n * (size_t)(1 + k), n, 1);
  nncl_optim keep = *o;
  struct nncl_lr_sweep sw = {.p = p, .res = res};
  if (!r) {
    o->has_sched = 0;
    o->sweep = &sw;
    o->lr = (float)sweep_lr(p, 0);
    int64_t batches = (d->n + p->batch - 1) / p->batch;
    nncl_fit_params fp;
    nncl_fit_params_init(&fp);
    fp.batch = p->batch;
    fp.loss = p->loss;
    fp.epochs = (int)((p->steps + batches - 1) / batches);
    r = nncl_fit(m, o, d, NULL, &fp);
  }
  /* restore weights, state and settings whatever happened */
  int r2 = copy_arena(m, m->g.param_arena, saved, n, 0);
  for (int k = 0; k < o->nstate && !r2; k++) r2 = copy_arena(m, o->state[k], saved + n * (size_t)(1 + k), n, 0);
  o->t = keep.t, o->lr = keep.lr, o->mom = keep.mom, o->has_sched = keep.has_sched, o->sched = keep.sched;
  o->plateau = keep.plateau, o->sweep = NULL;
  free(saved);
  if (!r) r = r2;
  if (r) {
    nncl_lr_find_result_free(res);
    return r;
  }
  suggest(res);
  return 0;
}
