/* train.c - the fit loop, evaluation and prediction.
 * Losses are reduced on the device into running sums; the host reads them only when it
 * reports progress. A training batch is uploaded from one of two host staging buffers
 * without waiting, and its NaN/Inf guard flag is read back while the next batch runs, so
 * an OpenCL queue is not drained every batch. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/dataset.h"
#include "fit.h"
#include "optim.h"

void nncl_fit_params_init(nncl_fit_params *p) {
  memset(p, 0, sizeof *p);
  p->epochs = 1;
  p->batch = 64;
  p->shuffle = 1;
  p->loss = NNCL_LOSS_XENT;
  p->focal_gamma = 2;
}

/* Per-run buffers: batch staging on host and device, loss rows, running sums. */
typedef struct workspace {
  nncl_model *m;
  int loss, batch;
  int64_t in, out;
  int L;                     /* labels per sample: loss rows per sample (sequence targets) */
  int64_t C;                 /* classes per loss row: out / L */
  struct staging {           /* host batch inputs, labels, float targets (MSE/BCE) */
    float *x, *t;
    int32_t *y;
  } stage[2];                /* batch k uploads from stage[k % 2] */
  int slot;
  float *hx, *ht;            /* the staging buffers of the current batch */
  int32_t *hy;
  nncl_buf *x, *y, *t, *probs, *rows, *sums; /* sums: [loss, correct, tmp loss, tmp correct] */
  /* weighted losses (FOCAL, XENT with class weights): the FOCAL op with weights cw */
  int weighted;
  float gamma, *hw;          /* host copy of the class weights */
  nncl_buf *cw;
  double wsum;               /* sum of the weights of the samples summed (their count if unweighted) */
  void *fence[2];            /* evaluation: a small read queued after batch k % 2 (ws_fence) */
  float mark[2];
  const nncl_augment *aug;   /* training batches: augmentation and its epoch */
  int64_t aug_epoch;
} workspace;

/* Waits for the evaluation reads still in flight (ws_fence) and releases them; the first
 * error. */
static int ws_fence_drain(workspace *w) {
  int r = 0;
  for (int k = 0; k < 2; k++) {
    int r2 = nncl_read_wait(nncl_ctx_be(w->m->ctx), w->fence[k]);
    w->fence[k] = NULL;
    if (!r) r = r2;
  }
  return r;
}

static void ws_free(workspace *w) {
  nncl_backend *be = nncl_ctx_be(w->m->ctx);
  ws_fence_drain(w);
  be->finish(be); /* uploads from the staging buffers may still be queued */
  nncl_buf *bufs[] = {w->x, w->y, w->t, w->probs, w->rows, w->sums, w->cw};
  for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++)
    if (bufs[i]) be->release(be, bufs[i]);
  for (int k = 0; k < 2; k++) free(w->stage[k].x), free(w->stage[k].t), free(w->stage[k].y);
  free(w->hw);
}

/* A run of m with `loss` over data with L labels per sample (check_data made sure that
 * L divides the output). */
static int ws_init(workspace *w, nncl_model *m, int loss, int L) {
  memset(w, 0, sizeof *w);
  nncl_backend *be = nncl_ctx_be(m->ctx);
  w->m = m, w->loss = loss, w->batch = m->g.batch;
  w->in = nncl_model_input_size(m), w->out = nncl_model_output_size(m);
  w->L = L, w->C = w->out / L;
  size_t B = (size_t)w->batch, BL = B * (size_t)L;
  for (int k = 0; k < 2; k++) {
    struct staging *st = &w->stage[k];
    st->x = malloc(B * (size_t)w->in * sizeof(float));
    st->t = malloc(B * (size_t)w->out * sizeof(float));
    st->y = malloc(BL * sizeof(int32_t));
    if (!st->x || !st->t || !st->y) return nncl_err(m->ctx, NNCL_ENOMEM, "out of memory for batch buffers");
  }
  int r;
  if ((r = be->alloc(be, B * (size_t)w->in * 4, &w->x)) || (r = be->alloc(be, BL * 4, &w->y)) ||
      (r = be->alloc(be, B * (size_t)w->out * 4, &w->t)) || (r = be->alloc(be, B * (size_t)w->out * 4, &w->probs)) ||
      (r = be->alloc(be, BL * 4, &w->rows)) || (r = be->alloc(be, 4 * 4, &w->sums)))
    return r;
  return 0;
}

/* The weighted path: class weights cw (NULL = all 1) and gamma (0 for weighted XENT). */
static int ws_weights(workspace *w, const float *cw, float gamma) {
  nncl_ctx *ctx = w->m->ctx;
  nncl_backend *be = nncl_ctx_be(ctx);
  size_t C = (size_t)w->C;
  w->weighted = 1, w->gamma = gamma;
  if (!(w->hw = malloc(C * sizeof *w->hw))) return nncl_err(ctx, NNCL_ENOMEM, "out of memory for class weights");
  for (size_t c = 0; c < C; c++) {
    w->hw[c] = cw ? cw[c] : 1.0f;
    if (!(w->hw[c] >= 0 && isfinite(w->hw[c])))
      return nncl_err(ctx, NNCL_EINVAL, "class weight %zu is %g: weights must be finite and >= 0", c, (double)w->hw[c]);
  }
  int r = be->alloc(be, C * sizeof(float), &w->cw);
  return r ? r : be->write(be, w->cw, 0, w->hw, C * sizeof(float));
}

static int ws_reset_sums(workspace *w) {
  w->wsum = 0;
  nncl_args a = {0};
  a.t[0] = (nncl_ref){w->sums, 0};
  a.n[0] = 2;
  return nncl_run(nncl_ctx_be(w->m->ctx), NNCL_OP_FILL, &a);
}

/* Loads n samples order[start..) into the device batch; with async, without waiting for
 * the copy (the staging buffer it fills must be free: the batch before the previous one is
 * known to be done). */
static int ws_load(workspace *w, const nncl_dataset *d, const int64_t *order, int64_t start, int n, int async) {
  nncl_backend *be = nncl_ctx_be(w->m->ctx);
  int (*write)(nncl_backend *, nncl_buf *, size_t, const void *, size_t) = async ? nncl_write_async : be->write;
  struct staging *st = &w->stage[w->slot ^= 1];
  w->hx = st->x, w->hy = st->y, w->ht = st->t;
  int r = 0;
  if (w->aug) r = nncl_augment_batch(d, w->aug, w->aug_epoch, order, start, n, w->hx, w->hy);
  else nncl_dataset_batch(d, order, start, n, w->hx, w->hy);
  if (!r) r = write(be, w->x, 0, w->hx, (size_t)n * (size_t)w->in * 4);
  size_t nr = (size_t)n * (size_t)w->L; /* loss rows */
  if (!r) r = write(be, w->y, 0, w->hy, nr * 4);
  if (r || w->loss == NNCL_LOSS_XENT || w->loss == NNCL_LOSS_FOCAL) return r;
  /* MSE/BCE targets: the label itself for one output, one-hot otherwise */
  for (size_t i = 0; i < nr; i++)
    for (int64_t c = 0; c < w->C; c++)
      w->ht[i * (size_t)w->C + (size_t)c] = w->C == 1 ? (float)w->hy[i] : (float)(w->hy[i] == c);
  return write(be, w->t, 0, w->ht, (size_t)n * (size_t)w->out * 4);
}

/* Forward, loss rows, running sums; with grad, dL/d(logits) into the graph and backward.
 * defer_checks: the graph leaves its nodes' checks to the NaN/Inf guard (graph.h). */
static int ws_step(workspace *w, int n, int grad, int defer_checks) {
  nncl_model *m = w->m;
  nncl_graph *g = &m->g;
  nncl_backend *be = nncl_ctx_be(m->ctx);
  g->nodes[m->layers[0].out].val = (nncl_ref){w->x, 0};
  g->training = grad; /* batch statistics and dropout only while training */
  g->defer_checks = defer_checks;
  int r = nncl_graph_forward(g, n);
  g->defer_checks = 0;
  if (r) return r;
  int logits = w->loss == NNCL_LOSS_XENT || w->loss == NNCL_LOSS_FOCAL ? nncl_model_logits(m) : -1;
  if (logits < 0) logits = g->output;
  nncl_ref lg = g->nodes[logits].val, rows = {w->rows, 0}, sums = {w->sums, 0};
  /* the logits as a matrix of nr loss rows (a sample's L steps) by C classes */
  size_t C = (size_t)w->C, nr = (size_t)n * (size_t)w->L;
  nncl_args a = {0};
  a.n[0] = nr, a.n[1] = C;
  double bw = (double)nr; /* sum of the batch's sample weights */
  if (w->weighted) {
    bw = 0;
    for (size_t i = 0; i < nr; i++) bw += w->hy[i] >= 0 && w->hy[i] < w->C ? w->hw[w->hy[i]] : 0;
    a.t[0] = lg, a.t[1] = (nncl_ref){w->y, 0}, a.t[2] = (nncl_ref){w->cw, 0}, a.t[3] = rows, a.f[0] = w->gamma;
    r = nncl_run(be, NNCL_OP_FOCAL, &a);
  } else if (w->loss == NNCL_LOSS_XENT) {
    a.t[0] = lg, a.t[1] = (nncl_ref){w->y, 0}, a.t[2] = (nncl_ref){w->probs, 0}, a.t[3] = rows;
    r = nncl_run(be, NNCL_OP_SOFTMAX_XENT, &a);
  } else {
    a.t[0] = lg, a.t[1] = (nncl_ref){w->t, 0}, a.t[2] = rows;
    r = nncl_run(be, w->loss == NNCL_LOSS_MSE ? NNCL_OP_MSE : NNCL_OP_BCE, &a);
  }
  if (r) return r;
  w->wsum += bw;
  /* sums[0] += sum(rows); sums[1] += correct */
  nncl_args s = {0};
  s.t[0] = rows, s.t[1] = nncl_ref_at(sums, 2), s.n[0] = nr;
  if ((r = nncl_run(be, NNCL_OP_SUM, &s))) return r;
  nncl_args c = {0};
  c.t[0] = lg, c.t[1] = (nncl_ref){w->y, 0}, c.t[2] = nncl_ref_at(sums, 3), c.n[0] = nr, c.n[1] = C;
  if (w->loss == NNCL_LOSS_XENT || w->loss == NNCL_LOSS_FOCAL || C > 1) {
    if ((r = nncl_run(be, NNCL_OP_ACCURACY, &c))) return r;
  } else { /* one output: accuracy needs a threshold the ops lack; count nothing */
    nncl_args f = {0};
    f.t[0] = nncl_ref_at(sums, 3), f.n[0] = 1;
    if ((r = nncl_run(be, NNCL_OP_FILL, &f))) return r;
  }
  nncl_args add = {0};
  add.t[0] = sums, add.t[1] = nncl_ref_at(sums, 2), add.t[2] = sums, add.n[0] = 2;
  if ((r = nncl_run(be, NNCL_OP_ADD, &add)) || !grad) return r;
  /* dL/dlogits with L the batch mean */
  nncl_node *ln = &g->nodes[logits];
  if (!ln->grad.buf) return nncl_err(m->ctx, NNCL_ESTATE, "no trainable parameter: nothing to train");
  nncl_args d = {0};
  d.n[0] = nr, d.n[1] = C;
  d.t[2] = ln->grad;
  if (w->weighted) { /* L = sum_r w l_r / sum_r w, as PyTorch's weighted mean */
    d.t[0] = lg, d.t[1] = (nncl_ref){w->y, 0}, d.t[2] = (nncl_ref){w->cw, 0}, d.t[3] = ln->grad;
    d.f[0] = w->gamma, d.f[1] = bw > 0 ? (float)(1.0 / bw) : 0.0f;
    r = nncl_run(be, NNCL_OP_FOCAL_GRAD, &d);
  } else if (w->loss == NNCL_LOSS_XENT) {
    d.t[0] = (nncl_ref){w->probs, 0}, d.t[1] = (nncl_ref){w->y, 0}, d.f[0] = 1.0f / (float)nr;
    r = nncl_run(be, NNCL_OP_SOFTMAX_XENT_GRAD, &d);
  } else {
    d.t[0] = lg, d.t[1] = (nncl_ref){w->t, 0}, d.f[0] = 1.0f / (float)(nr * C);
    d.n[0] = nr * C;
    r = nncl_run(be, w->loss == NNCL_LOSS_MSE ? NNCL_OP_MSE_GRAD : NNCL_OP_BCE_GRAD, &d);
  }
  return r ? r : nncl_graph_backward(g, logits);
}

static int ws_read_sums(workspace *w, double *loss_sum, double *correct) {
  float s[2];
  int r = nncl_ctx_be(w->m->ctx)->read(nncl_ctx_be(w->m->ctx), w->sums, 0, s, sizeof s);
  *loss_sum = s[0], *correct = s[1];
  return r;
}

static int check_data(nncl_model *m, const nncl_dataset *d, int loss) {
  if (!d || d->ctx != m->ctx) return nncl_err(m->ctx, NNCL_EINVAL, "dataset missing or from another context");
  if (d->sample_size != nncl_model_input_size(m))
    return nncl_err(m->ctx, NNCL_ESHAPE, "dataset samples have %lld values, the model takes %lld", (long long)d->sample_size,
                    (long long)nncl_model_input_size(m));
  int64_t L = nncl_ds_label_len(d), out = nncl_model_output_size(m);
  if (out % L)
    return nncl_err(m->ctx, NNCL_ESHAPE, "dataset samples have %lld labels, which do not divide the model's %lld outputs",
                    (long long)L, (long long)out);
  out /= L; /* outputs per label */
  if ((loss == NNCL_LOSS_XENT || loss == NNCL_LOSS_FOCAL || out > 1) && d->nclasses > out)
    return nncl_err(m->ctx, NNCL_ESHAPE, "dataset has %d classes, the model outputs %lld%s", d->nclasses, (long long)out,
                    L > 1 ? " per step" : "");
  if (loss < NNCL_LOSS_XENT || loss > NNCL_LOSS_FOCAL) return nncl_err(m->ctx, NNCL_EINVAL, "unknown loss %d", loss);
  return 0;
}

/* After an evaluation batch: queues a 4-byte read behind it and waits for the one behind
 * the batch before, so the device always has a batch queued, and the staging buffer the
 * next batch fills (that of the batch before this one) is free. */
static int ws_fence(workspace *w) {
  nncl_backend *be = nncl_ctx_be(w->m->ctx);
  int k = w->slot, r = nncl_read_start(be, w->sums, 0, &w->mark[k], sizeof(float), &w->fence[k]);
  void *prev = w->fence[!k];
  w->fence[!k] = NULL;
  int r2 = nncl_read_wait(be, prev);
  return r ? r : r2;
}

static int eval_ws(workspace *w, const nncl_dataset *d, double *mean_loss, double *accuracy) {
  int r = ws_reset_sums(w);
  for (int64_t s = 0; !r && s < d->n; s += w->batch) {
    int n = (int)(d->n - s < w->batch ? d->n - s : w->batch);
    if (!(r = ws_load(w, d, NULL, s, n, 1)) && !(r = ws_step(w, n, 0, 0))) r = ws_fence(w);
  }
  int r2 = ws_fence_drain(w); /* the last batch's read (the sums are read below anyway) */
  if (!r) r = r2;
  double ls, cs;
  if (r || (r = ws_read_sums(w, &ls, &cs))) return r;
  if (mean_loss) *mean_loss = w->wsum > 0 ? ls / w->wsum : 0;
  if (accuracy) *accuracy = cs / ((double)d->n * w->L);
  return 0;
}

int nncl_evaluate(nncl_model *m, const nncl_dataset *d, int loss, double *mean_loss, double *accuracy) {
  if (!m) return NNCL_EINVAL;
  int r = check_data(m, d, loss);
  if (r || (!m->g.batch && (r = nncl_model_compile(m, 256, NNCL_MODE_INFER)))) return r;
  workspace w;
  int training = m->g.training;
  if (!(r = ws_init(&w, m, loss, nncl_ds_label_len(d))) && (loss != NNCL_LOSS_FOCAL || !(r = ws_weights(&w, NULL, 2))))
    r = eval_ws(&w, d, mean_loss, accuracy);
  ws_free(&w);
  m->g.training = training;
  return r;
}

/* Restores what p->resume's checkpoint holds beyond the weights. */
static int resume_load(nncl_model *m, nncl_optim *o, const char *path, nncl_train_state *ts, nncl_history *h) {
  nncl_st_file *f;
  int r = nncl_st_open(m->ctx, path, &f);
  if (r) return r;
  const char *st = nncl_st_meta(f, "train_state"), *hist = nncl_st_meta(f, "history");
  char what[4200];
  snprintf(what, sizeof what, "%s (history metadata)", path);
  if (!st || !hist) r = nncl_err(m->ctx, NNCL_EFORMAT, "%s: no training state: not written by nncl_fit", path);
  else if (!(r = nncl_train_state_parse(m->ctx, st, ts, path)) && !(r = nncl_history_parse(m->ctx, hist, h, what)))
    r = nncl_load_optim(o, path);
  nncl_st_close(f);
  if (r) return r;
  nncl_rng_set(m->ctx, ts->rng);
  m->g.seed = ts->dropout_seed, m->g.step = ts->dropout_step;
  return 0;
}

/* Saves m and o with the training state and history to path. */
static int save_state(nncl_model *m, nncl_optim *o, const char *path, const nncl_train_state *ts, const nncl_history *h) {
  char *st = nncl_train_state_text(ts), *csv = nncl_history_csv(h);
  int r = !st || !csv ? nncl_err(m->ctx, NNCL_ENOMEM, "save: out of memory") : 0;
  if (!r) {
    nncl_st_kv kv[] = {{"train_state", st}, {"history", csv}};
    r = nncl_save_ex(m, o, ts->epoch, path, kv, 2);
  }
  free(st), free(csv);
  return r;
}

/* "<checkpoint without .safetensors>.best.safetensors" into out. */
static int best_path(nncl_ctx *ctx, const char *ckpt, char *out, size_t n) {
  size_t len = strlen(ckpt), ext = strlen(".safetensors");
  if (len > ext && !strcmp(ckpt + len - ext, ".safetensors")) len -= ext;
  if (snprintf(out, n, "%.*s.best.safetensors", (int)len, ckpt) >= (int)n) return nncl_err(ctx, NNCL_EINVAL, "checkpoint path too long");
  return 0;
}

static void row_stats(const nncl_curve_row *r, int epochs, nncl_epoch_stats *s) {
  memset(s, 0, sizeof *s);
  s->epoch = r->epoch, s->epochs = epochs;
  s->train_loss = r->train_loss, s->train_acc = r->train_acc, s->val_loss = r->val_loss, s->val_acc = r->val_acc;
  s->elapsed_s = r->seconds;
}

static int fit_checks(nncl_model *m, nncl_optim *o, const nncl_dataset *train, const nncl_dataset *val, const nncl_fit_params *p) {
  if (!m || !o || !p || o->model != m) return nncl_err(m ? m->ctx : NULL, NNCL_EINVAL, "fit: bad arguments");
  int r = check_data(m, train, p->loss);
  if (r || (val && (r = check_data(m, val, p->loss)))) return r;
  if (val && nncl_ds_label_len(val) != nncl_ds_label_len(train))
    return nncl_err(m->ctx, NNCL_EINVAL, "fit: training and validation samples have different label counts");
  if (p->epochs < 1 || p->batch < 1) return nncl_err(m->ctx, NNCL_EINVAL, "fit: epochs and batch must be >= 1");
  if (p->class_weights && p->loss != NNCL_LOSS_XENT && p->loss != NNCL_LOSS_FOCAL)
    return nncl_err(m->ctx, NNCL_EINVAL, "fit: class weights need the xent or focal loss");
  if (!(p->focal_gamma >= 0 && p->focal_gamma <= 100)) return nncl_err(m->ctx, NNCL_EINVAL, "fit: focal gamma must be in [0, 100]");
  if (p->patience < 0 || p->monitor < NNCL_MONITOR_VAL_LOSS || p->monitor > NNCL_MONITOR_VAL_ACC ||
      p->monitor_mode < NNCL_MONITOR_AUTO || p->monitor_mode > NNCL_MONITOR_MAX || !(p->min_delta >= 0))
    return nncl_err(m->ctx, NNCL_EINVAL, "fit: bad early-stopping settings (patience >= 0, min_delta >= 0)");
  if (p->patience > 0 && !val) return nncl_err(m->ctx, NNCL_EINVAL, "fit: early stopping needs a validation set");
  const nncl_augment *ag = &p->augment;
  if ((ag->crop || ag->flip || ag->noise > 0) && nncl_ds_label_len(train) > 1)
    return nncl_err(m->ctx, NNCL_EINVAL, "fit: augmentation is for images, not sequences of tokens");
  if (ag->crop < 0 || !(ag->noise >= 0 && ag->noise <= 1e3) || ((ag->crop || ag->flip) && train->ndim < 2))
    return nncl_err(m->ctx, NNCL_EINVAL, "fit: augmentation needs crop >= 0, noise in [0, 1000] and images (H, W) or (C, H, W)");
  return 0;
}

/* A training batch whose guard flag is on its way back to the host. */
typedef struct inflight {
  void *pending;              /* the read (NULL once waited for) */
  float flag;                 /* where it lands: non-zero, the batch was not finite */
  int busy;
  int64_t batch, start;       /* 1-based index in the epoch, first sample */
  int n;
  int64_t steps, dropout_step; /* o->t and the graph's dropout step before the batch */
} inflight;

/* The flagged batch f again, from the weights it saw (the updates since skipped): the
 * guard's diagnosis, or the error its forward pass reports once checked (a bad token id). */
static int replay(workspace *w, nncl_optim *o, const nncl_dataset *d, const int64_t *order, int ep, const inflight *f) {
  nncl_model *m = w->m;
  int r = nncl_ctx_be(m->ctx)->finish(nncl_ctx_be(m->ctx));
  if (r) return r;
  o->t = f->steps; /* the skipped steps were not taken */
  if (o->has_sched) nncl_sched_apply(o);
  m->g.step = f->dropout_step;
  /* checked at once: a bad token id, say, is reported as such */
  if ((r = ws_load(w, d, order, f->start, f->n, 0)) || (r = ws_step(w, f->n, 1, 0)))
    return nncl_err(m->ctx, r, "%s (training epoch %d, batch %lld; nothing was updated)", nncl_errmsg(m->ctx), ep,
                    (long long)f->batch);
  return nncl_guard_recheck(o, (nncl_ref){w->rows, 0}, f->n * w->L, ep, f->batch);
}

/* Waits for f's flag; raised: the replay's error. *other, still in flight, is waited for
 * first then (its batch ran after f's and is moot). */
static int settle(workspace *w, nncl_optim *o, const nncl_dataset *d, const int64_t *order, int ep, inflight *f,
                  inflight *other) {
  nncl_backend *be = nncl_ctx_be(w->m->ctx);
  if (!f->busy) return 0;
  f->busy = 0;
  int r = nncl_read_wait(be, f->pending);
  if (r || f->flag == 0) return r;
  if (other->busy && (r = nncl_read_wait(be, other->pending))) return r;
  other->busy = 0;
  return replay(w, o, d, order, ep, f);
}

int nncl_fit(nncl_model *m, nncl_optim *o, const nncl_dataset *train, const nncl_dataset *val, const nncl_fit_params *p) {
  int r = fit_checks(m, o, train, val, p);
  if (r) return r;
  if (m->g.batch != p->batch || m->g.mode != NNCL_MODE_TRAIN) {
    if ((r = nncl_model_compile(m, p->batch, NNCL_MODE_TRAIN))) return r;
  }
  workspace w;
  nncl_history hist = {0};
  nncl_train_state ts;
  memset(&ts, 0, sizeof ts);
  nncl_early_stop *es = &ts.es;
  nncl_early_stop_init(es, p);
  nncl_augment aug = p->augment;
  int augmenting = aug.crop > 0 || aug.flip || aug.noise > 0, stopped = 0;
  char best[4200] = "";
  inflight fl[2] = {{0}};
  int64_t *order = malloc((size_t)train->n * sizeof *order);
  if (!order) return nncl_err(m->ctx, NNCL_ENOMEM, "fit: out of memory");
  if ((r = ws_init(&w, m, p->loss, nncl_ds_label_len(train)))) goto done;
  if ((p->class_weights || p->loss == NNCL_LOSS_FOCAL) &&
      (r = ws_weights(&w, p->class_weights, p->loss == NNCL_LOSS_FOCAL ? p->focal_gamma : 0)))
    goto done;
  if (val && p->checkpoint) {
    if (p->best_checkpoint) snprintf(best, sizeof best, "%s", p->best_checkpoint);
    else if ((r = best_path(m->ctx, p->checkpoint, best, sizeof best))) goto done;
  }
  if (p->resume) {
    if ((r = resume_load(m, o, p->resume, &ts, &hist))) goto done;
    es->monitor = p->monitor; /* settings from p, progress from the checkpoint */
    nncl_early_stop tmp;
    nncl_early_stop_init(&tmp, p);
    es->maximize = tmp.maximize, es->patience = tmp.patience, es->min_delta = tmp.min_delta;
    aug.seed = ts.augment_seed;
    stopped = nncl_early_stop_done(es);
  } else if (augmenting && !aug.seed) {
    aug.seed = nncl_rng_next(m->ctx);
  }
  ts.augment_seed = aug.seed;
  int64_t batches = (train->n + p->batch - 1) / p->batch;
  if ((r = nncl_sched_fit_begin(o, batches, p->epochs - ts.epoch)) || (r = nncl_guard_lower(o))) goto done;
  for (int ep = ts.epoch + 1; ep <= p->epochs && !r && !stopped; ep++) {
    /* each epoch shuffles the identity: the generator alone determines the order */
    for (int64_t i = 0; i < train->n; i++) order[i] = i;
    if (p->shuffle)
      for (int64_t i = train->n - 1; i > 0; i--) {
        int64_t j = (int64_t)(nncl_rng_next(m->ctx) % (uint64_t)(i + 1)), t = order[i];
        order[i] = order[j], order[j] = t;
      }
    nncl_epoch_stats st = {.epoch = ep, .epochs = p->epochs, .batches = batches, .val_loss = -1, .val_acc = -1};
    double t0 = nncl_now_s(), last_report = t0, ls = 0, cs = 0;
    if ((r = ws_reset_sums(&w))) break;
    w.aug = augmenting ? &aug : NULL, w.aug_epoch = ep;
    for (int64_t b = 0; b < batches && !r; b++) {
      int64_t s = b * p->batch;
      int n = (int)(train->n - s < p->batch ? train->n - s : p->batch);
      inflight *cur = &fl[b & 1], *prev = &fl[!(b & 1)];
      *cur = (inflight){.batch = b + 1, .start = s, .n = n, .steps = o->t, .dropout_step = m->g.step};
      nncl_ref rows = {w.rows, 0};
      /* the graph's checks left to the guard, except in lr-find, which checks each batch at once */
      if ((r = ws_load(&w, train, order, s, n, 1)) || (r = ws_step(&w, n, 1, !o->sweep))) break;
      if (o->sweep) { /* lr-find needs each batch's loss before the next step */
        int stop = 0;
        if ((r = nncl_guard_batch(o, rows, n * w.L, ep, b + 1, &stop))) break;
        if (stop) goto done;
        if ((r = nncl_optim_step(o))) break;
      } else { /* the update skips on the device if the checks fail; the host looks a batch later */
        if ((r = nncl_guard_enqueue(o, rows, n * w.L)) || (r = nncl_optim_step(o))) break;
        if ((r = nncl_read_start(nncl_ctx_be(m->ctx), o->scal, 2 * sizeof(float), &cur->flag, sizeof cur->flag, &cur->pending)))
          break;
        cur->busy = 1;
        if ((r = settle(&w, o, train, order, ep, prev, cur))) break;
      }
      if (ep == 1 && b == 0) {
        nncl_backend *be = nncl_ctx_be(m->ctx);
        if ((r = be->finish(be))) break;
        nncl_log(m->ctx, NNCL_LOG_INFO, "first training step done %.3f s after the context was created",
                 nncl_ctx_age_s(m->ctx));
      }
      double t = nncl_now_s();
      if (b + 1 < batches && !(p->progress && t - last_report >= 0.2)) continue;
      last_report = t;
      if ((r = settle(&w, o, train, order, ep, cur, prev)) || (r = ws_read_sums(&w, &ls, &cs))) break;
      int64_t seen = s + n;
      if (!isfinite(ls)) {
        r = nncl_err(m->ctx, NNCL_ENUMERIC, "training diverged: loss is %g at epoch %d, batch %lld (try a lower learning rate)",
                     ls, ep, (long long)(b + 1));
        break;
      }
      st.batch = b + 1;
      st.train_loss = w.wsum > 0 ? ls / w.wsum : 0, st.train_acc = cs / ((double)seen * w.L);
      st.elapsed_s = t - t0;
      st.samples_per_s = (double)seen / (t - t0 > 1e-9 ? t - t0 : 1e-9);
      if (b + 1 < batches && p->progress(p->user, &st, 0)) goto done;
    }
    w.aug = NULL;
    if (r) break;
    if (val && (r = eval_ws(&w, val, &st.val_loss, &st.val_acc))) break;
    nncl_curve_row row = {ep, st.train_loss, st.train_acc, st.val_loss, st.val_acc, o->lr, nncl_now_s() - t0};
    if ((r = nncl_history_add(m->ctx, &hist, &row))) break;
    if ((r = nncl_optim_epoch_end(o, val ? st.val_loss : st.train_loss))) break; /* reduce-on-plateau */
    int improved = val && nncl_early_stop_update(es, ep, nncl_early_stop_metric(es, &st));
    ts.epoch = ep;
    nncl_rng_get(m->ctx, ts.rng);
    ts.dropout_seed = m->g.seed, ts.dropout_step = m->g.step;
    if (p->checkpoint && (r = save_state(m, o, p->checkpoint, &ts, &hist))) break;
    if (improved && best[0] && (r = save_state(m, o, best, &ts, &hist))) break;
    if (p->curves && (r = nncl_curves_write(m->ctx, p->curves, &hist))) break;
    stopped = nncl_early_stop_done(es);
    if (stopped) nncl_log(m->ctx, NNCL_LOG_INFO, "early stopping after epoch %d: no improvement for %d epochs (best epoch %d)", ep,
                          es->wait, es->best_epoch);
    if (p->progress && p->progress(p->user, &st, 1)) break;
  }
  if (!r && p->result) {
    nncl_fit_result *res = p->result;
    memset(res, 0, sizeof *res);
    res->epochs_run = ts.epoch, res->stopped_early = stopped;
    res->best_epoch = es->best_epoch, res->best_metric = es->best_epoch ? es->best : 0;
    for (int i = 0; i < hist.n; i++) {
      if (hist.rows[i].epoch == ts.epoch) row_stats(&hist.rows[i], p->epochs, &res->last);
      if (hist.rows[i].epoch == es->best_epoch) row_stats(&hist.rows[i], p->epochs, &res->best);
    }
  }
done:
  for (int k = 0; k < 2; k++)
    if (fl[k].busy) nncl_read_wait(nncl_ctx_be(m->ctx), fl[k].pending); /* after an error: release */
  m->g.training = 1;
  ws_free(&w);
  nncl_history_free(&hist);
  free(order);
  return r;
}

int nncl_predict(nncl_model *m, int64_t n, const float *x, float *out) {
  if (!m || !x || !out || n < 1) return nncl_err(m ? m->ctx : NULL, NNCL_EINVAL, "predict: bad arguments");
  int r;
  if (!m->g.batch && (r = nncl_model_compile(m, 256, NNCL_MODE_INFER))) return r;
  nncl_backend *be = nncl_ctx_be(m->ctx);
  int64_t in = nncl_model_input_size(m), outn = nncl_model_output_size(m);
  size_t B = (size_t)m->g.batch;
  nncl_buf *xb = NULL;
  if ((r = be->alloc(be, B * (size_t)in * 4, &xb))) return r;
  int training = m->g.training;
  m->g.training = 0;
  /* x and out stay put until this returns: batches upload from x and their outputs land in
   * out without waiting; each read is waited for a batch later, the last ones at the end */
  void *pending[2] = {NULL, NULL};
  for (int64_t s = 0, b = 0; s < n && !r; s += (int64_t)B, b++) {
    int rows = (int)(n - s < (int64_t)B ? n - s : (int64_t)B);
    m->g.nodes[m->layers[0].out].val = (nncl_ref){xb, 0};
    if ((r = nncl_write_async(be, xb, 0, x + (size_t)s * (size_t)in, (size_t)rows * (size_t)in * 4))) break;
    if ((r = nncl_graph_forward(&m->g, rows))) break;
    nncl_node *y = &m->g.nodes[m->g.output];
    r = nncl_read_start(be, y->val.buf, y->val.off, out + (size_t)s * (size_t)outn, (size_t)rows * (size_t)outn * 4,
                        &pending[b & 1]);
    void *prev = pending[!(b & 1)];
    pending[!(b & 1)] = NULL;
    int r2 = nncl_read_wait(be, prev);
    if (!r) r = r2;
  }
  for (int k = 0; k < 2; k++) {
    int r2 = nncl_read_wait(be, pending[k]);
    if (!r) r = r2;
  }
  if (r) be->finish(be); /* an upload from x may still be queued */
  m->g.training = training;
  be->release(be, xb);
  return r;
}
