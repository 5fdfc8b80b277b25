/* embedding.c - token embedding as nn.Embedding: (N, T) ids stored as floats ->
 * (N, T, dim), weight <layer>.weight (vocab, dim) initialised normal(0, 1) as torch.
 * padding_idx P: row P starts at zero and gets no gradient (the lookup reads it, as torch).
 * An id that is not an integer in [0, vocab) is an error of the forward call (NNCL_EINVAL
 * naming the layer), not a crash: the kernel looks up NaN for it and raises a flag that
 * the graph's check reads back once the forward pass is queued (the training loop skips
 * the read: its NaN/Inf guard finds the NaN a batch later and replays the batch).
 * Gradient: dW[v] = sum of dy over the tokens with id v, a gather in token order
 * (deterministic on both backends); the ids get none (a lookup is flat in them). */
#include <stdio.h>

#include "model.h"

static size_t emb_aux(const nncl_node *n, int batch) { (void)n, (void)batch; return 1; } /* the flag */

static void emb_args(nncl_graph *g, const nncl_node *n, nncl_args *a) {
  a->t[0] = g->nodes[n->in[0]].val;
  a->n[0] = (size_t)g->rows * (size_t)n->geo[0], a->n[1] = (size_t)n->geo[1], a->n[2] = (size_t)n->geo[2];
  a->i[0] = (int)n->geo[3];
}

static int emb_forward(nncl_graph *g, int i) {
  nncl_node *n = &g->nodes[i];
  nncl_backend *be = nncl_ctx_be(g->ctx);
  nncl_args a = {0}, f = {0};
  f.t[0] = n->aux, f.n[0] = 1;
  int r = nncl_run(be, NNCL_OP_FILL, &f);
  emb_args(g, n, &a);
  a.t[1] = g->nodes[n->in[1]].val, a.t[2] = n->val, a.t[3] = n->aux;
  return r ? r : nncl_run(be, NNCL_OP_EMBEDDING, &a);
}

static int emb_check(nncl_graph *g, int i) {
  const nncl_node *n = &g->nodes[i];
  nncl_backend *be = nncl_ctx_be(g->ctx);
  float flag = 0;
  int r = be->read(be, n->aux.buf, n->aux.off, &flag, sizeof flag);
  if (r || flag == 0) return r;
  return nncl_err(g->ctx, NNCL_EINVAL, "embedding (layer %d): a token id is not an integer in [0, %lld)", n->layer,
                  (long long)n->geo[1]);
}

static int emb_backward(nncl_graph *g, int i) {
  nncl_node *n = &g->nodes[i];
  nncl_backend *be = nncl_ctx_be(g->ctx);
  int x = n->in[0], w = n->in[1], r = 0;
  if (g->nodes[w].requires_grad) {
    nncl_args a = {0};
    emb_args(g, n, &a);
    a.t[1] = n->grad, a.t[2] = nncl_grad_target(g, w);
    if ((r = nncl_run(be, NNCL_OP_EMBEDDING_GRAD, &a)) || (r = nncl_grad_commit(g, w))) return r;
  }
  if (!g->nodes[x].requires_grad) return 0;
  nncl_args z = {0};
  z.t[0] = nncl_grad_target(g, x), z.n[0] = nncl_node_elems(g, &g->nodes[x]);
  return (r = nncl_run(be, NNCL_OP_FILL, &z)) ? r : nncl_grad_commit(g, x);
}

static const int emb_uses[] = {NNCL_OP_EMBEDDING, NNCL_OP_EMBEDDING_GRAD, -1};
static const nncl_node_ops emb_ops = {"embedding", emb_forward, emb_backward, emb_aux, NULL, emb_uses, emb_check};

int nncl_layer_embedding(struct nncl_model *m, const char *name, const nncl_embedding_spec *sp) {
  if (m->nlayers == 0) return nncl_err(m->ctx, NNCL_ESTATE, "embedding: the model has no input layer");
  int li = nncl_model_add_layer(m, name, "embedding", NNCL_LAYER_EMBEDDING);
  if (li < 0) return li;
  int r = nncl_layer_single_input(m, li);
  if (r) return r;
  nncl_layer *L = &m->layers[li];
  L->emb = *sp;
  int x = nncl_layer_input(m, li, 0);
  const nncl_node *xn = &m->g.nodes[x];
  if (xn->ndim != 1)
    return nncl_err(m->ctx, NNCL_ESHAPE, "embedding '%s' needs (N, T) token ids, got %d dims per sample", L->name, xn->ndim);
  if (sp->vocab < 1 || sp->vocab > (1 << 24) || sp->dim < 1 || sp->dim > (1 << 20) || sp->padding_idx < -1 ||
      sp->padding_idx >= sp->vocab)
    return nncl_err(m->ctx, NNCL_EINVAL, "embedding '%s': vocab must be 1..2^24, dim 1..2^20, padding_idx -1 (none) or below vocab",
                    L->name);
  int64_t T = xn->shape[0], wshape[2] = {sp->vocab, sp->dim};
  char pname[80];
  snprintf(pname, sizeof pname, "%s.weight", L->name);
  /* lecun_normal with fan_in 1: normal(0, 1) */
  int w = nncl_graph_param(&m->g, pname, 2, wshape, NNCL_INIT_LECUN_NORMAL, 1, sp->dim, li);
  if (w < 0) return w;
  m->g.params[m->g.nodes[w].param].zero_row = sp->padding_idx + 1;
  int64_t yshape[2] = {T, sp->dim};
  int y = nncl_graph_composite(&m->g, &emb_ops, 2, (int[]){x, w}, 2, yshape, li);
  if (y < 0) return y;
  int64_t *q = m->g.nodes[y].geo;
  q[0] = T, q[1] = sp->vocab, q[2] = sp->dim, q[3] = sp->padding_idx;
  L->out = y;
  return 0;
}
