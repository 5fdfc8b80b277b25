/* inspect.c - looking inside hidden layers: per-layer activation statistics and gradient
 * norms from one training-mode pass, saliency maps (gradient of a class score with
 * respect to the input), and layer ablation. Each leaves the model as it found it. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "data/dataset.h"
#include "model.h"

/* Device copies of one batch and host copies of what a pass may change (parameters with
 * running statistics, the dropout step, the training flag). */
typedef struct probe {
  nncl_model *m;
  int n;
  nncl_buf *x, *y, *probs, *rows;
  float *params;
  uint64_t step;
  int training;
} probe;

static int probe_begin(probe *p, nncl_model *m, const nncl_dataset *d, int64_t start, int n) {
  memset(p, 0, sizeof *p);
  p->m = m, p->n = n;
  nncl_graph *g = &m->g;
  nncl_backend *be = nncl_ctx_be(m->ctx);
  if (!d || d->ctx != m->ctx) return nncl_err(m->ctx, NNCL_EINVAL, "inspect: dataset missing or from another context");
  if (g->mode != NNCL_MODE_TRAIN || g->batch < n || n < 1)
    return nncl_err(m->ctx, NNCL_ESTATE, "inspect: needs a train-mode compile for at least %d samples", n);
  if (d->sample_size != nncl_model_input_size(m))
    return nncl_err(m->ctx, NNCL_ESHAPE, "inspect: samples of %lld values, the model takes %lld", (long long)d->sample_size,
                    (long long)nncl_model_input_size(m));
  if (start < 0 || start > d->n - n)
    return nncl_err(m->ctx, NNCL_EINVAL, "inspect: samples %lld..%lld outside the dataset", (long long)start, (long long)(start + n - 1));
  if (nncl_model_logits(m) < 0) return nncl_err(m->ctx, NNCL_EINVAL, "inspect: needs a classifier ending in softmax");
  int64_t in = nncl_model_input_size(m), out = nncl_model_output_size(m);
  size_t pbytes = (size_t)g->param_elems * sizeof(float);
  float *hx = malloc((size_t)n * (size_t)in * sizeof *hx);
  int32_t *hy = malloc((size_t)n * sizeof *hy);
  p->params = malloc(pbytes ? pbytes : 1);
  int r = !hx || !hy || !p->params ? nncl_err(m->ctx, NNCL_ENOMEM, "inspect: out of memory") : 0;
  if (!r) r = be->alloc(be, (size_t)n * (size_t)in * 4, &p->x);
  if (!r) r = be->alloc(be, (size_t)n * 4, &p->y);
  if (!r) r = be->alloc(be, (size_t)n * (size_t)out * 4, &p->probs);
  if (!r) r = be->alloc(be, (size_t)n * 4, &p->rows);
  if (!r && pbytes) r = be->read(be, g->param_arena, 0, p->params, pbytes);
  if (!r) nncl_dataset_batch(d, NULL, start, n, hx, hy);
  if (!r) r = be->write(be, p->x, 0, hx, (size_t)n * (size_t)in * 4);
  if (!r) r = be->write(be, p->y, 0, hy, (size_t)n * 4);
  free(hx);
  free(hy);
  p->step = g->step, p->training = g->training;
  return r;
}

/* Restores what the pass changed; keeps status r. */
static int probe_end(probe *p, int r) {
  nncl_graph *g = &p->m->g;
  nncl_backend *be = nncl_ctx_be(p->m->ctx);
  size_t pbytes = (size_t)g->param_elems * sizeof(float);
  if (p->params && pbytes) {
    int w = be->write(be, g->param_arena, 0, p->params, pbytes);
    if (!r) r = w;
  }
  g->step = p->step, g->training = p->training;
  nncl_buf *bufs[] = {p->x, p->y, p->probs, p->rows};
  for (size_t k = 0; k < sizeof bufs / sizeof *bufs; k++)
    if (bufs[k]) be->release(be, bufs[k]);
  free(p->params);
  return r;
}

/* Training-mode forward of the batch, then the backward pass from `dlogits`: the mean
 * cross-entropy's gradient (one_class < 0), or one_class's score of row 0 alone. */
static int probe_pass(probe *p, int one_class) {
  nncl_model *m = p->m;
  nncl_graph *g = &m->g;
  nncl_backend *be = nncl_ctx_be(m->ctx);
  int logits = nncl_model_logits(m), C = (int)nncl_model_output_size(m);
  g->nodes[m->layers[0].out].val = (nncl_ref){p->x, 0};
  g->training = 1;
  int r = nncl_graph_forward(g, p->n);
  if (r) return r;
  nncl_node *ln = &g->nodes[logits];
  if (!ln->grad.buf) return nncl_err(m->ctx, NNCL_ESTATE, "inspect: nothing reaches the output with a gradient");
  nncl_args a = {0};
  a.n[0] = (size_t)p->n, a.n[1] = (size_t)C;
  if (one_class < 0) {
    a.t[0] = ln->val, a.t[1] = (nncl_ref){p->y, 0}, a.t[2] = (nncl_ref){p->probs, 0}, a.t[3] = (nncl_ref){p->rows, 0};
    if ((r = nncl_run(be, NNCL_OP_SOFTMAX_XENT, &a))) return r;
    nncl_args d = {0};
    d.n[0] = (size_t)p->n, d.n[1] = (size_t)C;
    d.t[0] = (nncl_ref){p->probs, 0}, d.t[1] = (nncl_ref){p->y, 0}, d.t[2] = ln->grad, d.f[0] = 1.0f / (float)p->n;
    r = nncl_run(be, NNCL_OP_SOFTMAX_XENT_GRAD, &d);
  } else {
    nncl_args f = {0};
    f.t[0] = ln->grad, f.n[0] = (size_t)p->n * (size_t)C;
    r = nncl_run(be, NNCL_OP_FILL, &f);
    f.t[0] = nncl_ref_at(ln->grad, (size_t)one_class), f.n[0] = 1, f.f[0] = 1;
    if (!r) r = nncl_run(be, NNCL_OP_FILL, &f);
  }
  return r ? r : nncl_graph_backward(g, logits);
}

/* Host copy of n floats at ref (malloc'd), or NULL after setting the error. */
static float *read_floats(nncl_model *m, nncl_ref ref, size_t n) {
  nncl_backend *be = nncl_ctx_be(m->ctx);
  float *h = malloc((n ? n : 1) * sizeof *h);
  if (!h) nncl_err(m->ctx, NNCL_ENOMEM, "inspect: out of memory");
  else if (n && be->read(be, ref.buf, ref.off, h, n * sizeof *h)) free(h), h = NULL;
  return h;
}

static double l2(const float *v, size_t n) {
  double s = 0;
  for (size_t k = 0; k < n; k++) s += (double)v[k] * v[k];
  return sqrt(s);
}

static int relu_output(const nncl_layer *L) {
  if (L->kind == NNCL_LAYER_CONV) return L->conv.act == NNCL_ACT_RELU;
  return (L->kind == NNCL_LAYER_DENSE || L->kind == NNCL_LAYER_ACT) && L->act == NNCL_ACT_RELU;
}

static int layer_stats(nncl_model *m, int li, int n, nncl_layer_stats *s) {
  nncl_graph *g = &m->g;
  const nncl_layer *L = &m->layers[li];
  const nncl_node *out = &g->nodes[L->out];
  size_t cols = (size_t)out->cols, total = cols * (size_t)n;
  s->name = L->name, s->kind = nncl_layer_kind_name(L);
  s->dead = s->grad_norm = s->out_grad_norm = -1;
  float *v = read_floats(m, out->val, total);
  if (!v) return nncl_err(m->ctx, NNCL_ENOMEM, "inspect: cannot read layer %s: %s", L->name, nncl_errmsg(m->ctx));
  double sum = 0, sq = 0;
  for (size_t k = 0; k < total; k++) sum += v[k];
  s->mean = sum / (double)total;
  for (size_t k = 0; k < total; k++) sq += (v[k] - s->mean) * (v[k] - s->mean);
  s->std = sqrt(sq / (double)total);
  if (relu_output(L)) {
    size_t dead = 0;
    for (size_t c = 0; c < cols; c++) {
      int alive = 0;
      for (int r = 0; r < n && !alive; r++) alive = v[(size_t)r * cols + c] > 0;
      dead += !alive;
    }
    s->dead = (double)dead / (double)cols;
  }
  free(v);
  if (out->requires_grad && out->grad.buf && out->grad_written) {
    float *gv = read_floats(m, out->grad, total);
    if (!gv) return NNCL_ENOMEM;
    s->out_grad_norm = l2(gv, total);
    free(gv);
  }
  double gsq = 0;
  int any = 0;
  for (int p = 0; p < g->nparams; p++) {
    const nncl_param *pp = &g->params[p];
    if (g->nodes[pp->node].layer != li || !pp->trainable || pp->buffer) continue;
    float *gv = read_floats(m, (nncl_ref){g->grad_arena, pp->off * sizeof(float)}, (size_t)pp->numel);
    if (!gv) return NNCL_ENOMEM;
    double nrm = l2(gv, (size_t)pp->numel);
    gsq += nrm * nrm, any = 1;
    free(gv);
  }
  if (any) s->grad_norm = sqrt(gsq);
  return 0;
}

int nncl_model_inspect(nncl_model *m, const nncl_dataset *d, int64_t start, int n, nncl_layer_stats *stats, int max,
                       int *nlayers) {
  if (!m || !stats || !nlayers) return nncl_err(m ? m->ctx : NULL, NNCL_EINVAL, "inspect: NULL argument");
  probe p;
  int r = probe_begin(&p, m, d, start, n);
  if (!r) r = probe_pass(&p, -1);
  int k = 0;
  for (int li = 0; !r && li < m->nlayers && k < max; li++) r = layer_stats(m, li, n, &stats[k++]);
  if (!r) *nlayers = k;
  return probe_end(&p, r);
}

int nncl_model_saliency(nncl_model *m, const nncl_dataset *d, int64_t index, float *out, int *cls) {
  if (!m || !out) return nncl_err(m ? m->ctx : NULL, NNCL_EINVAL, "saliency: NULL argument");
  nncl_graph *g = &m->g;
  /* a batch starting at the sample, so that batch statistics are those of real data */
  int n = g->batch;
  if (d && index >= 0 && index < d->n && n > d->n - index) n = (int)(d->n - index);
  if (!d || index < 0 || index >= d->n) return nncl_err(m->ctx, NNCL_EINVAL, "saliency: no sample %lld", (long long)index);
  g->input_grad = 1;
  int r = nncl_model_replan(m);
  probe p = {0};
  if (!r) r = probe_begin(&p, m, d, index, n);
  if (!r) { /* the predicted class: forward once, read row 0 of the logits */
    g->nodes[m->layers[0].out].val = (nncl_ref){p.x, 0};
    g->training = 1;
    r = nncl_graph_forward(g, n);
  }
  int C = (int)nncl_model_output_size(m), best = 0;
  float *lg = r ? NULL : read_floats(m, g->nodes[nncl_model_logits(m)].val, (size_t)C);
  if (!r && !lg) r = NNCL_ENOMEM;
  for (int c = 1; lg && c < C; c++)
    if (lg[c] > lg[best]) best = c;
  free(lg);
  if (!r) r = probe_pass(&p, best);
  int64_t in = nncl_model_input_size(m);
  float *gx = r ? NULL : read_floats(m, g->nodes[m->layers[0].out].grad, (size_t)in);
  if (!r && !gx) r = NNCL_ENOMEM;
  for (int64_t k = 0; gx && k < in; k++) out[k] = fabsf(gx[k]);
  free(gx);
  if (!r && cls) *cls = best;
  r = probe_end(&p, r);
  g->input_grad = 0;
  int r2 = nncl_model_replan(m);
  return r ? r : r2;
}

int nncl_model_ablate(nncl_model *m, int layer, const nncl_dataset *d, double *loss, double *acc) {
  if (!m) return NNCL_EINVAL;
  nncl_graph *g = &m->g;
  if (layer < 1 || layer >= m->nlayers - 1)
    return nncl_err(m->ctx, NNCL_EINVAL, "ablate: layer %d is not a hidden layer (1..%d)", layer, m->nlayers - 2);
  const nncl_layer *L = &m->layers[layer];
  int out = L->out, src = nncl_layer_input(m, layer, 0);
  const nncl_node *a = &g->nodes[out], *b = &g->nodes[src];
  int same = a->ndim == b->ndim && a->cols == b->cols;
  for (int k = 0; same && k < a->ndim; k++) same = a->shape[k] == b->shape[k];
  if (!same) return nncl_err(m->ctx, NNCL_ESHAPE, "ablate: layer %s changes the shape: it cannot be bypassed", L->name);
  if (!g->batch) return nncl_err(m->ctx, NNCL_ESTATE, "ablate: the model is not compiled");
  /* consumers of the layer's output read its input instead, for one evaluation */
  int mode = g->mode, batch = g->batch, *moved = calloc((size_t)g->nnodes * NNCL_NODE_MAX_IN, sizeof *moved);
  if (!moved) return nncl_err(m->ctx, NNCL_ENOMEM, "ablate: out of memory");
  for (int i = out + 1; i < g->nnodes; i++)
    for (int k = 0; k < g->nodes[i].nin; k++)
      if (g->nodes[i].in[k] == out) g->nodes[i].in[k] = src, moved[i * NNCL_NODE_MAX_IN + k] = 1;
  int r = nncl_graph_compile(g, batch, NNCL_MODE_INFER);
  if (!r) r = nncl_evaluate(m, d, NNCL_LOSS_XENT, loss, acc);
  for (int i = out + 1; i < g->nnodes; i++)
    for (int k = 0; k < g->nodes[i].nin; k++)
      if (moved[i * NNCL_NODE_MAX_IN + k]) g->nodes[i].in[k] = out;
  free(moved);
  int r2 = nncl_graph_compile(g, batch, mode);
  return r ? r : r2;
}
