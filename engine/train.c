/* train.c - the fit loop, evaluation and prediction.
 * Losses are reduced on the device into running sums; the host reads them only when it
 * reports progress, so an OpenCL queue is not drained every batch. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "data/dataset.h"
#include "optim.h"

void nncl_fit_params_init(nncl_fit_params *p) {
  memset(p, 0, sizeof *p);
  p->epochs = 1;
  p->batch = 64;
  p->shuffle = 1;
  p->loss = NNCL_LOSS_XENT;
}

/* Per-run buffers: batch staging on host and device, loss rows, running sums. */
typedef struct workspace {
  nncl_model *m;
  int loss, batch;
  int64_t in, out;
  float *hx, *ht;            /* host batch inputs and float targets (MSE/BCE) */
  int32_t *hy;
  nncl_buf *x, *y, *t, *probs, *rows, *sums; /* sums: [loss, correct, tmp loss, tmp correct] */
} workspace;

static void ws_free(workspace *w) {
  nncl_backend *be = nncl_ctx_be(w->m->ctx);
  nncl_buf *bufs[] = {w->x, w->y, w->t, w->probs, w->rows, w->sums};
  for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++)
    if (bufs[i]) be->release(be, bufs[i]);
  free(w->hx), free(w->ht), free(w->hy);
}

static int ws_init(workspace *w, nncl_model *m, int loss) {
  memset(w, 0, sizeof *w);
  nncl_backend *be = nncl_ctx_be(m->ctx);
  w->m = m, w->loss = loss, w->batch = m->g.batch;
  w->in = nncl_model_input_size(m), w->out = nncl_model_output_size(m);
  size_t B = (size_t)w->batch;
  w->hx = malloc(B * (size_t)w->in * sizeof(float));
  w->ht = malloc(B * (size_t)w->out * sizeof(float));
  w->hy = malloc(B * sizeof(int32_t));
  if (!w->hx || !w->ht || !w->hy) return nncl_err(m->ctx, NNCL_ENOMEM, "out of memory for batch buffers");
  int r;
  if ((r = be->alloc(be, B * (size_t)w->in * 4, &w->x)) || (r = be->alloc(be, B * 4, &w->y)) ||
      (r = be->alloc(be, B * (size_t)w->out * 4, &w->t)) || (r = be->alloc(be, B * (size_t)w->out * 4, &w->probs)) ||
      (r = be->alloc(be, B * 4, &w->rows)) || (r = be->alloc(be, 4 * 4, &w->sums)))
    return r;
  return 0;
}

static int ws_reset_sums(workspace *w) {
  nncl_args a = {0};
  a.t[0] = (nncl_ref){w->sums, 0};
  a.n[0] = 2;
  return nncl_run(nncl_ctx_be(w->m->ctx), NNCL_OP_FILL, &a);
}

/* Loads n samples order[start..) into the device batch. */
static int ws_load(workspace *w, const nncl_dataset *d, const int64_t *order, int64_t start, int n) {
  nncl_backend *be = nncl_ctx_be(w->m->ctx);
  nncl_dataset_batch(d, order, start, n, w->hx, w->hy);
  int r = be->write(be, w->x, 0, w->hx, (size_t)n * (size_t)w->in * 4);
  if (!r) r = be->write(be, w->y, 0, w->hy, (size_t)n * 4);
  if (r || w->loss == NNCL_LOSS_XENT) return r;
  /* MSE/BCE targets: the label itself for one output, one-hot otherwise */
  for (int i = 0; i < n; i++)
    for (int64_t c = 0; c < w->out; c++)
      w->ht[(size_t)i * (size_t)w->out + (size_t)c] = w->out == 1 ? (float)w->hy[i] : (float)(w->hy[i] == c);
  return be->write(be, w->t, 0, w->ht, (size_t)n * (size_t)w->out * 4);
}

/* Forward, loss rows, running sums; with grad, dL/d(logits) into the graph and backward. */
static int ws_step(workspace *w, int n, int grad) {
  nncl_model *m = w->m;
  nncl_graph *g = &m->g;
  nncl_backend *be = nncl_ctx_be(m->ctx);
  g->nodes[m->layers[0].out].val = (nncl_ref){w->x, 0};
  g->training = grad; /* batch statistics and dropout only while training */
  int r = nncl_graph_forward(g, n);
  if (r) return r;
  int logits = w->loss == NNCL_LOSS_XENT ? nncl_model_logits(m) : -1;
  if (logits < 0) logits = g->output;
  nncl_ref lg = g->nodes[logits].val, rows = {w->rows, 0}, sums = {w->sums, 0};
  size_t C = (size_t)w->out;
  nncl_args a = {0};
  a.n[0] = (size_t)n, a.n[1] = C;
  if (w->loss == NNCL_LOSS_XENT) {
    a.t[0] = lg, a.t[1] = (nncl_ref){w->y, 0}, a.t[2] = (nncl_ref){w->probs, 0}, a.t[3] = rows;
    r = nncl_run(be, NNCL_OP_SOFTMAX_XENT, &a);
  } else {
    a.t[0] = lg, a.t[1] = (nncl_ref){w->t, 0}, a.t[2] = rows;
    r = nncl_run(be, w->loss == NNCL_LOSS_MSE ? NNCL_OP_MSE : NNCL_OP_BCE, &a);
  }
  if (r) return r;
  /* sums[0] += sum(rows); sums[1] += correct */
  nncl_args s = {0};
  s.t[0] = rows, s.t[1] = nncl_ref_at(sums, 2), s.n[0] = (size_t)n;
  if ((r = nncl_run(be, NNCL_OP_SUM, &s))) return r;
  nncl_args c = {0};
  c.t[0] = lg, c.t[1] = (nncl_ref){w->y, 0}, c.t[2] = nncl_ref_at(sums, 3), c.n[0] = (size_t)n, c.n[1] = C;
  if (w->loss == NNCL_LOSS_XENT || C > 1) {
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
  d.n[0] = (size_t)n, d.n[1] = C;
  d.t[2] = ln->grad;
  if (w->loss == NNCL_LOSS_XENT) {
    d.t[0] = (nncl_ref){w->probs, 0}, d.t[1] = (nncl_ref){w->y, 0}, d.f[0] = 1.0f / (float)n;
    r = nncl_run(be, NNCL_OP_SOFTMAX_XENT_GRAD, &d);
  } else {
    d.t[0] = lg, d.t[1] = (nncl_ref){w->t, 0}, d.f[0] = 1.0f / (float)((size_t)n * C);
    d.n[0] = (size_t)n * C;
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
  int64_t out = nncl_model_output_size(m);
  if ((loss == NNCL_LOSS_XENT || out > 1) && d->nclasses > out)
    return nncl_err(m->ctx, NNCL_ESHAPE, "dataset has %d classes, the model outputs %lld", d->nclasses, (long long)out);
  if (loss < NNCL_LOSS_XENT || loss > NNCL_LOSS_BCE) return nncl_err(m->ctx, NNCL_EINVAL, "unknown loss %d", loss);
  return 0;
}

static int eval_ws(workspace *w, const nncl_dataset *d, double *mean_loss, double *accuracy) {
  int r = ws_reset_sums(w);
  for (int64_t s = 0; !r && s < d->n; s += w->batch) {
    int n = (int)(d->n - s < w->batch ? d->n - s : w->batch);
    if (!(r = ws_load(w, d, NULL, s, n))) r = ws_step(w, n, 0);
  }
  double ls, cs;
  if (r || (r = ws_read_sums(w, &ls, &cs))) return r;
  if (mean_loss) *mean_loss = ls / (double)d->n;
  if (accuracy) *accuracy = cs / (double)d->n;
  return 0;
}

int nncl_evaluate(nncl_model *m, const nncl_dataset *d, int loss, double *mean_loss, double *accuracy) {
  if (!m) return NNCL_EINVAL;
  int r = check_data(m, d, loss);
  if (r || (!m->g.batch && (r = nncl_model_compile(m, 256, NNCL_MODE_INFER)))) return r;
  workspace w;
  int training = m->g.training;
  if (!(r = ws_init(&w, m, loss))) r = eval_ws(&w, d, mean_loss, accuracy);
  ws_free(&w);
  m->g.training = training;
  return r;
}

int nncl_fit(nncl_model *m, nncl_optim *o, const nncl_dataset *train, const nncl_dataset *val, const nncl_fit_params *p) {
  if (!m || !o || !p || o->model != m) return nncl_err(m ? m->ctx : NULL, NNCL_EINVAL, "fit: bad arguments");
  int r = check_data(m, train, p->loss);
  if (r || (val && (r = check_data(m, val, p->loss)))) return r;
  if (p->epochs < 1 || p->batch < 1) return nncl_err(m->ctx, NNCL_EINVAL, "fit: epochs and batch must be >= 1");
  if (m->g.batch != p->batch || m->g.mode != NNCL_MODE_TRAIN) {
    if ((r = nncl_model_compile(m, p->batch, NNCL_MODE_TRAIN))) return r;
  }
  workspace w;
  int64_t *order = malloc((size_t)train->n * sizeof *order);
  if (!order) return nncl_err(m->ctx, NNCL_ENOMEM, "fit: out of memory");
  for (int64_t i = 0; i < train->n; i++) order[i] = i;
  if ((r = ws_init(&w, m, p->loss))) goto done;
  int64_t batches = (train->n + p->batch - 1) / p->batch;
  if ((r = nncl_sched_fit_begin(o, batches, p->epochs))) goto done;
  for (int ep = 1; ep <= p->epochs && !r; ep++) {
    if (p->shuffle)
      for (int64_t i = train->n - 1; i > 0; i--) {
        int64_t j = (int64_t)(nncl_rng_next(m->ctx) % (uint64_t)(i + 1)), t = order[i];
        order[i] = order[j], order[j] = t;
      }
    nncl_epoch_stats st = {.epoch = ep, .epochs = p->epochs, .batches = batches, .val_loss = -1, .val_acc = -1};
    double t0 = nncl_now_s(), last_report = t0, ls = 0, cs = 0;
    if ((r = ws_reset_sums(&w))) break;
    for (int64_t b = 0; b < batches && !r; b++) {
      int64_t s = b * p->batch;
      int n = (int)(train->n - s < p->batch ? train->n - s : p->batch);
      int stop = 0; /* the NaN/Inf guard (and lr-find's recorder) before the update */
      if ((r = ws_load(&w, train, order, s, n)) || (r = ws_step(&w, n, 1)) ||
          (r = nncl_guard_batch(o, (nncl_ref){w.rows, 0}, n, ep, b + 1, &stop)))
        break;
      if (stop) goto done;
      if ((r = nncl_optim_step(o))) break;
      if (ep == 1 && b == 0) {
        nncl_backend *be = nncl_ctx_be(m->ctx);
        if ((r = be->finish(be))) break;
        nncl_log(m->ctx, NNCL_LOG_INFO, "first training step done %.3f s after the context was created",
                 nncl_ctx_age_s(m->ctx));
      }
      double t = nncl_now_s();
      if (b + 1 < batches && !(p->progress && t - last_report >= 0.2)) continue;
      last_report = t;
      if ((r = ws_read_sums(&w, &ls, &cs))) break;
      int64_t seen = s + n;
      if (!isfinite(ls)) {
        r = nncl_err(m->ctx, NNCL_ENUMERIC, "training diverged: loss is %g at epoch %d, batch %lld (try a lower learning rate)",
                     ls, ep, (long long)(b + 1));
        break;
      }
      st.batch = b + 1;
      st.train_loss = ls / (double)seen, st.train_acc = cs / (double)seen;
      st.elapsed_s = t - t0;
      st.samples_per_s = (double)seen / (t - t0 > 1e-9 ? t - t0 : 1e-9);
      if (b + 1 < batches && p->progress(p->user, &st, 0)) goto done;
    }
    if (r) break;
    if (val && (r = eval_ws(&w, val, &st.val_loss, &st.val_acc))) break;
    if ((r = nncl_optim_epoch_end(o, val ? st.val_loss : st.train_loss))) break;
    if (p->checkpoint && (r = nncl_save(m, o, ep, p->checkpoint))) break;
    if (p->progress && p->progress(p->user, &st, 1)) break;
  }
done:
  m->g.training = 1;
  ws_free(&w);
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
  for (int64_t s = 0; s < n && !r; s += (int64_t)B) {
    int rows = (int)(n - s < (int64_t)B ? n - s : (int64_t)B);
    m->g.nodes[m->layers[0].out].val = (nncl_ref){xb, 0};
    if ((r = be->write(be, xb, 0, x + (size_t)s * (size_t)in, (size_t)rows * (size_t)in * 4))) break;
    if ((r = nncl_graph_forward(&m->g, rows))) break;
    nncl_node *y = &m->g.nodes[m->g.output];
    r = be->read(be, y->val.buf, y->val.off, out + (size_t)s * (size_t)outn, (size_t)rows * (size_t)outn * 4);
  }
  m->g.training = training;
  be->release(be, xb);
  return r;
}
