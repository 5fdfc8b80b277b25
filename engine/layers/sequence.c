/* sequence.c - positional encodings and pooling of a sequence x (T, D) to a vector.
 *
 * posenc: y[t] = x[t] + pe[t], pe (max_len, D): sinusoidal (buffer "<layer>.pe", saved,
 *   Vaswani 2017) or learned (parameter "<layer>.weight"); dx = dy, dpe[t] = sum_n dy[n, t]
 *   for t < T.
 * seqpool: mean y = mean_t x[t] (x.mean(dim=1)); max y[d] = max_t x[t, d] (first maximum);
 *   last y = x[T-1]. As pooling with a (T, 1) window over the (T, D) plane, or a copy. */
#include <stdio.h>
#include <string.h>

#include "model.h"

/* ---- positional encoding ------------------------------------------------------------ */

static int pe_forward(nncl_graph *g, int i) {
  nncl_node *n = &g->nodes[i];
  nncl_args a = {0};
  a.t[0] = g->nodes[n->in[0]].val, a.t[1] = n->val, a.t[2] = g->nodes[n->in[1]].val;
  a.n[0] = (size_t)g->rows, a.n[1] = (size_t)n->cols;
  return nncl_run(nncl_ctx_be(g->ctx), NNCL_OP_BIAS_ADD, &a);
}

static int pe_backward(nncl_graph *g, int i) {
  nncl_node *n = &g->nodes[i];
  nncl_backend *be = nncl_ctx_be(g->ctx);
  int x = n->in[0], pe = n->in[1], r;
  if (g->nodes[x].requires_grad) {
    nncl_args a = {0};
    a.t[0] = n->grad, a.t[1] = nncl_grad_target(g, x);
    a.n[0] = nncl_node_elems(g, n);
    if ((r = nncl_run(be, NNCL_OP_COPY, &a)) || (r = nncl_grad_commit(g, x))) return r;
  }
  if (g->nodes[pe].requires_grad) {
    /* the table's rows past T keep a zero gradient (the arena is zeroed at compile) */
    if (g->nodes[pe].grad_written)
      return nncl_err(g->ctx, NNCL_EUNSUPPORTED, "posenc: a learned table is used by one layer only");
    nncl_args a = {0};
    a.t[0] = n->grad, a.t[1] = nncl_grad_target(g, pe);
    a.n[0] = (size_t)g->rows, a.n[1] = (size_t)n->cols;
    if ((r = nncl_run(be, NNCL_OP_SUM_ROWS, &a)) || (r = nncl_grad_commit(g, pe))) return r;
  }
  return 0;
}

static const int pe_uses[] = {NNCL_OP_BIAS_ADD, NNCL_OP_SUM_ROWS, NNCL_OP_COPY, -1};
static const nncl_node_ops pe_ops = {"posenc", pe_forward, pe_backward, NULL, NULL, pe_uses, NULL};

int nncl_layer_posenc(struct nncl_model *m, const char *name, int learned, int64_t max_len) {
  if (m->nlayers == 0) return nncl_err(m->ctx, NNCL_ESTATE, "posenc: the model has no input layer");
  int li = nncl_model_add_layer(m, name, "posenc", NNCL_LAYER_POSENC);
  if (li < 0) return li;
  int r = nncl_layer_single_input(m, li);
  if (r) return r;
  nncl_layer *L = &m->layers[li];
  int x = nncl_layer_input(m, li, 0);
  nncl_node xn = m->g.nodes[x];
  if (xn.ndim != 2) return nncl_err(m->ctx, NNCL_ESHAPE, "posenc '%s': input must be a sequence (T, D)", L->name);
  if (max_len < xn.shape[0] || max_len > (1 << 24))
    return nncl_err(m->ctx, NNCL_EINVAL, "posenc '%s': max_len must be T = %lld .. 2^24, got %lld", L->name,
                    (long long)xn.shape[0], (long long)max_len);
  L->seq.pe_learned = learned, L->seq.max_len = max_len;
  char pname[80];
  int64_t shape[2] = {max_len, xn.shape[1]};
  int ins[2] = {x};
  /* learned: as BERT's position embeddings, small normal values (Xavier normal here) */
  snprintf(pname, sizeof pname, "%s.%s", L->name, learned ? "weight" : "pe");
  ins[1] = learned ? nncl_graph_param(&m->g, pname, 2, shape, NNCL_INIT_XAVIER_NORMAL, shape[1], shape[1], li)
                   : nncl_graph_buffer(&m->g, pname, 2, shape, -2, li);
  if (ins[1] < 0) return ins[1];
  int y = nncl_graph_composite(&m->g, &pe_ops, 2, ins, 2, xn.shape, li);
  if (y < 0) return y;
  m->layers[li].out = y;
  return 0;
}

/* ---- sequence pooling --------------------------------------------------------------- */

enum { P_T, P_D, P_MODE };

static size_t sp_aux(const nncl_node *n, int batch) { return n->geo[P_MODE] == NNCL_SEQPOOL_MAX ? (size_t)batch * (size_t)n->geo[P_D] : 0; }

/* (T, 1) window over each sample's (T, D) plane */
static void window(const nncl_graph *g, const nncl_node *n, nncl_args *a) {
  a->n[0] = (size_t)g->rows, a->n[1] = (size_t)n->geo[P_T], a->n[2] = (size_t)n->geo[P_D], a->n[3] = 1, a->n[4] = (size_t)n->geo[P_D];
  a->i[0] = (int)n->geo[P_T], a->i[1] = 1, a->i[2] = 1, a->i[3] = 1;
  a->i[6] = 1;
}

static int sp_forward(nncl_graph *g, int i) {
  nncl_node *n = &g->nodes[i];
  size_t T = (size_t)n->geo[P_T], D = (size_t)n->geo[P_D];
  nncl_args a = {0};
  a.t[0] = g->nodes[n->in[0]].val, a.t[1] = n->val;
  switch (n->geo[P_MODE]) {
  case NNCL_SEQPOOL_LAST:
    a.t[0] = nncl_ref_at(a.t[0], (T - 1) * D);
    a.n[0] = (size_t)g->rows, a.n[1] = D, a.n[2] = T * D, a.n[3] = D;
    return nncl_run(nncl_ctx_be(g->ctx), NNCL_OP_COPY2D, &a);
  case NNCL_SEQPOOL_MAX:
    window(g, n, &a);
    a.t[2] = n->aux;
    return nncl_run(nncl_ctx_be(g->ctx), NNCL_OP_MAXPOOL2D, &a);
  default:
    window(g, n, &a);
    return nncl_run(nncl_ctx_be(g->ctx), NNCL_OP_AVGPOOL2D, &a);
  }
}

static int sp_backward(nncl_graph *g, int i) {
  nncl_node *n = &g->nodes[i];
  nncl_backend *be = nncl_ctx_be(g->ctx);
  int x = n->in[0], r;
  if (!g->nodes[x].requires_grad) return 0;
  size_t T = (size_t)n->geo[P_T], D = (size_t)n->geo[P_D];
  nncl_ref dx = nncl_grad_target(g, x);
  nncl_args a = {0};
  switch (n->geo[P_MODE]) {
  case NNCL_SEQPOOL_LAST:
    a.t[0] = dx, a.n[0] = (size_t)g->rows * T * D;
    if ((r = nncl_run(be, NNCL_OP_FILL, &a))) return r;
    a = (nncl_args){0};
    a.t[0] = n->grad, a.t[1] = nncl_ref_at(dx, (T - 1) * D);
    a.n[0] = (size_t)g->rows, a.n[1] = D, a.n[2] = D, a.n[3] = T * D;
    r = nncl_run(be, NNCL_OP_COPY2D, &a);
    break;
  case NNCL_SEQPOOL_MAX:
    window(g, n, &a);
    a.t[0] = n->aux, a.t[1] = n->grad, a.t[2] = dx;
    r = nncl_run(be, NNCL_OP_MAXPOOL2D_GRAD, &a);
    break;
  default:
    window(g, n, &a);
    a.t[0] = n->grad, a.t[1] = dx;
    r = nncl_run(be, NNCL_OP_AVGPOOL2D_GRAD, &a);
    break;
  }
  return r ? r : nncl_grad_commit(g, x);
}

static const int sp_uses[] = {NNCL_OP_AVGPOOL2D, NNCL_OP_AVGPOOL2D_GRAD, NNCL_OP_MAXPOOL2D, NNCL_OP_MAXPOOL2D_GRAD, NNCL_OP_COPY2D, -1};
static const nncl_node_ops sp_ops = {"seqpool", sp_forward, sp_backward, sp_aux, NULL, sp_uses, NULL};

int nncl_layer_seqpool(struct nncl_model *m, const char *name, int mode) {
  if (m->nlayers == 0) return nncl_err(m->ctx, NNCL_ESTATE, "seqpool: the model has no input layer");
  int li = nncl_model_add_layer(m, name, "seqpool", NNCL_LAYER_SEQPOOL);
  if (li < 0) return li;
  int r = nncl_layer_single_input(m, li);
  if (r) return r;
  nncl_layer *L = &m->layers[li];
  int x = nncl_layer_input(m, li, 0);
  nncl_node xn = m->g.nodes[x];
  if (xn.ndim != 2) return nncl_err(m->ctx, NNCL_ESHAPE, "seqpool '%s': input must be a sequence (T, D)", L->name);
  if (mode < NNCL_SEQPOOL_MEAN || mode > NNCL_SEQPOOL_LAST) return nncl_err(m->ctx, NNCL_EINVAL, "seqpool '%s': unknown mode %d", L->name, mode);
  L->seq.pool = mode;
  int y = nncl_graph_composite(&m->g, &sp_ops, 1, &x, 1, &xn.shape[1], li);
  if (y < 0) return y;
  nncl_node *yn = &m->g.nodes[y];
  yn->geo[P_T] = xn.shape[0], yn->geo[P_D] = xn.shape[1], yn->geo[P_MODE] = mode;
  L->out = y;
  return 0;
}
