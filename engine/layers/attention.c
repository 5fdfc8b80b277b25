/* attention.c - multi-head self-attention (nn.MultiheadAttention, batch_first) and the
 * transformer encoder block (nn.TransformerEncoderLayer, batch_first).
 *
 * attention, x (T, D), H heads of dh = D / H:
 *   qkv = x W_in^T + b_in                 (T, 3D): q | k | v, head h at columns h dh
 *   P_h = softmax(q_h k_h^T / sqrt(dh))   (T, T), masked keys (causal, padding) get 0
 *   o_h = dropout(P_h) v_h;  y = [o_1 .. o_H] W_out^T + b_out
 * The projections are dense-on-sequence nodes; the core (P and o) is one composite node
 * over qkv with P (and dropout(P)) kept as aux. Backward of the core, per head:
 *   dP' = do v^T; dv = P'^T do; dP = dropout'(dP'); dS = P (dP - rowsum(dP P));
 *   dq = dS k / sqrt(dh); dk = dS^T q / sqrt(dh).
 * transformer, post-norm:  h = LN1(x + drop(SA(x)));  y = LN2(h + drop(FF(h)))
 *              pre-norm:   h = x + drop(SA(LN1(x)));  y = h + drop(FF(LN2(h)))
 *   FF(h) = linear2(drop(act(linear1(h)))). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "model.h"

enum { A_T, A_D, A_H, A_MASK_K, A_MASK_S }; /* geo of the core node */
#define DROP_STREAM 0x40000000 /* dropout stream of P: the node index plus this */

static size_t core_aux(const nncl_node *n, int batch) {
  size_t p = (size_t)batch * (size_t)(n->geo[A_H] * n->geo[A_T] * n->geo[A_T]);
  return n->f[0] > 0 ? 2 * p : p;
}
static size_t core_ws(const nncl_node *n, int batch) { return 2 * (size_t)batch * (size_t)(n->geo[A_H] * n->geo[A_T] * n->geo[A_T]); }

/* One MATMUL_BATCHED over (sample, head) pairs: C_(s,h) = alpha op(A_(s,h)) op(B_(s,h)) + 0;
 * strides per sample and per head in s[0..5] (A, B, C); leading dims ld[0..2]. */
static int bgemm(nncl_graph *g, int ta, int tb, size_t m, size_t n, size_t k, float alpha, nncl_ref A, nncl_ref B, nncl_ref C,
                 const size_t ld[3], const size_t s[6], size_t H) {
  nncl_args a = {0};
  a.t[0] = A, a.t[1] = B, a.t[2] = C;
  a.n[0] = m, a.n[1] = n, a.n[2] = k, a.n[3] = (size_t)g->rows, a.n[4] = H;
  a.n[5] = ld[0], a.n[6] = ld[1], a.n[7] = ld[2];
  a.f[0] = alpha, a.f[1] = 0;
  a.i[0] = ta, a.i[1] = tb;
  for (int j = 0; j < 6; j++) a.i[2 + j] = (int)s[j];
  return nncl_run(nncl_ctx_be(g->ctx), NNCL_OP_MATMUL_BATCHED, &a);
}

static int dropped(const nncl_graph *g, const nncl_node *n) { return g->training && n->f[0] > 0; }

static void drop_args(const nncl_graph *g, int i, nncl_args *a) {
  const nncl_node *n = &g->nodes[i];
  a->n[0] = (size_t)g->rows * (size_t)(n->geo[A_H] * n->geo[A_T] * n->geo[A_T]);
  a->n[1] = (size_t)n->step;
  a->f[0] = n->f[0];
  a->i[0] = (int)(uint32_t)g->seed, a->i[1] = (int)(uint32_t)(g->seed >> 32), a->i[2] = i + DROP_STREAM;
}

static int core_forward(nncl_graph *g, int i) {
  nncl_node *n = &g->nodes[i];
  nncl_backend *be = nncl_ctx_be(g->ctx);
  size_t T = (size_t)n->geo[A_T], D = (size_t)n->geo[A_D], H = (size_t)n->geo[A_H], dh = D / H, TT = T * T;
  nncl_ref qkv = g->nodes[n->in[0]].val, P = n->aux, Pd = dropped(g, n) ? nncl_ref_at(P, (size_t)g->rows * H * TT) : P;
  /* S = q k^T into ws */
  int r = bgemm(g, 0, 1, T, T, dh, 1.0f, qkv, nncl_ref_at(qkv, D), g->ws, (const size_t[]){3 * D, 3 * D, T},
                (const size_t[]){3 * D * T, dh, 3 * D * T, dh, H * TT, TT}, H);
  if (r) return r;
  nncl_args a = {0};
  a.t[0] = g->ws, a.t[1] = P;
  if (n->i[1]) a.t[2] = g->nodes[n->in[1]].val;
  a.n[0] = (size_t)g->rows * H * T, a.n[1] = T, a.n[2] = T, a.n[3] = H * T;
  a.n[4] = (size_t)n->geo[A_MASK_K], a.n[5] = (size_t)n->geo[A_MASK_S];
  a.f[0] = n->f[1], a.f[1] = n->f[2];
  a.i[0] = n->i[0], a.i[1] = n->i[1];
  if ((r = nncl_run(be, NNCL_OP_ATTN_SOFTMAX, &a))) return r;
  if (dropped(g, n)) {
    n->step = g->step;
    nncl_args d = {0};
    d.t[0] = P, d.t[1] = Pd;
    drop_args(g, i, &d);
    if ((r = nncl_run(be, NNCL_OP_DROPOUT, &d))) return r;
  }
  /* o_h = P'_h v_h, written at column h dh of y (T, D) */
  return bgemm(g, 0, 0, T, dh, T, 1.0f, Pd, nncl_ref_at(qkv, 2 * D), n->val, (const size_t[]){T, 3 * D, D},
               (const size_t[]){H * TT, TT, 3 * D * T, dh, D * T, dh}, H);
}

static int core_backward(nncl_graph *g, int i) {
  nncl_node *n = &g->nodes[i];
  nncl_backend *be = nncl_ctx_be(g->ctx);
  int x = n->in[0];
  if (!g->nodes[x].requires_grad) return 0;
  if (dropped(g, n) && n->step != g->step)
    return nncl_err(g->ctx, NNCL_ESTATE, "attention backward needs the forward of the same training step");
  size_t T = (size_t)n->geo[A_T], D = (size_t)n->geo[A_D], H = (size_t)n->geo[A_H], dh = D / H, TT = T * T;
  size_t PN = (size_t)g->rows * H * TT;
  nncl_ref qkv = g->nodes[x].val, P = n->aux, Pd = dropped(g, n) ? nncl_ref_at(P, PN) : P;
  nncl_ref dqkv = nncl_grad_target(g, x), w0 = g->ws, w1 = nncl_ref_at(g->ws, PN);
  const size_t s_o[2] = {D * T, dh}, s_qkv[2] = {3 * D * T, dh}, s_p[2] = {H * TT, TT};
  /* dP' = do v^T (w0);  dv = P'^T do */
  int r = bgemm(g, 0, 1, T, T, dh, 1.0f, n->grad, nncl_ref_at(qkv, 2 * D), w0, (const size_t[]){D, 3 * D, T},
                (const size_t[]){s_o[0], s_o[1], s_qkv[0], s_qkv[1], s_p[0], s_p[1]}, H);
  if (r || (r = bgemm(g, 1, 0, T, dh, T, 1.0f, Pd, n->grad, nncl_ref_at(dqkv, 2 * D), (const size_t[]){T, D, 3 * D},
                      (const size_t[]){s_p[0], s_p[1], s_o[0], s_o[1], s_qkv[0], s_qkv[1]}, H)))
    return r;
  nncl_ref dP = w0, dS = w1;
  if (dropped(g, n)) {
    nncl_args d = {0};
    d.t[0] = w0, d.t[1] = w1;
    drop_args(g, i, &d);
    if ((r = nncl_run(be, NNCL_OP_DROPOUT_GRAD, &d))) return r;
    dP = w1, dS = w0;
  }
  nncl_args a = {0};
  a.t[0] = P, a.t[1] = dP, a.t[2] = dS;
  a.n[0] = (size_t)g->rows * H * T, a.n[1] = T;
  if ((r = nncl_run(be, NNCL_OP_SOFTMAX_GRAD, &a))) return r;
  /* dq = scale dS k;  dk = scale dS^T q */
  float scale = n->f[1];
  if ((r = bgemm(g, 0, 0, T, dh, T, scale, dS, nncl_ref_at(qkv, D), dqkv, (const size_t[]){T, 3 * D, 3 * D},
                 (const size_t[]){s_p[0], s_p[1], s_qkv[0], s_qkv[1], s_qkv[0], s_qkv[1]}, H)) ||
      (r = bgemm(g, 1, 0, T, dh, T, scale, dS, qkv, nncl_ref_at(dqkv, D), (const size_t[]){T, 3 * D, 3 * D},
                 (const size_t[]){s_p[0], s_p[1], s_qkv[0], s_qkv[1], s_qkv[0], s_qkv[1]}, H)))
    return r;
  return nncl_grad_commit(g, x);
}

static const int core_uses[] = {NNCL_OP_MATMUL_BATCHED, NNCL_OP_ATTN_SOFTMAX, NNCL_OP_SOFTMAX_GRAD, NNCL_OP_DROPOUT, -1};
static const nncl_node_ops core_ops = {"attention", core_forward, core_backward, core_aux, core_ws, core_uses, NULL};

/* y = x W^T (+ b) over the last dim, W (out, in) named wname, b named bname. */
static int linear(struct nncl_model *m, int x, int64_t out, const char *wname, const char *bname, int init, int li) {
  nncl_graph *g = &m->g;
  const nncl_node *xn = &g->nodes[x];
  int64_t in = xn->shape[xn->ndim - 1], wshape[2] = {out, in}, shape[NNCL_MAX_DIMS];
  memcpy(shape, xn->shape, sizeof shape);
  shape[xn->ndim - 1] = out;
  int nd = xn->ndim;
  int w = nncl_graph_param(g, wname, 2, wshape, init, in, out, li);
  if (w < 0) return w;
  int ins[2] = {x, w};
  int y = nncl_graph_add(g, NNCL_OP_MATMUL, 2, ins, 1, nd, shape);
  if (y < 0) return y;
  g->nodes[y].i[1] = 1;
  g->nodes[y].layer = li;
  if (!bname) return y;
  int b = nncl_graph_param(g, bname, 1, &out, NNCL_INIT_ZEROS, in, out, li);
  if (b < 0) return b;
  ins[0] = y, ins[1] = b;
  y = nncl_graph_add(g, NNCL_OP_BIAS_ADD, 2, ins, 1, nd, shape);
  if (y >= 0) g->nodes[y].layer = li;
  return y;
}

/* "<layer>.<prefix><what>" into buf (at most 47 + 1 + 31 characters: fits a parameter name) */
#define PNAME 128
static const char *pname(char buf[PNAME], const struct nncl_model *m, int li, const char *prefix, const char *what) {
  snprintf(buf, PNAME, "%s.%s%s", m->layers[li].name, prefix, what);
  return buf;
}

/* Self-attention on node x; parameters "<layer>.<prefix>in_proj_weight" and so on. */
static int attention_nodes(struct nncl_model *m, int x, const nncl_seq_spec *sp, const char *prefix, int li) {
  nncl_graph *g = &m->g;
  const nncl_node *xn = &g->nodes[x];
  int64_t T = xn->shape[0], D = xn->shape[1];
  char w[PNAME], b[PNAME];
  pname(w, m, li, prefix, "in_proj_weight");
  pname(b, m, li, prefix, "in_proj_bias");
  int qkv = linear(m, x, 3 * D, w, sp->bias ? b : NULL, NNCL_INIT_XAVIER_UNIFORM, li);
  if (qkv < 0) return qkv;
  int ins[2] = {qkv, 0}, nin = 1;
  if (sp->mask_layer >= 0) ins[nin++] = m->layers[sp->mask_layer].out;
  int64_t shape[2] = {T, D};
  int core = nncl_graph_composite(g, &core_ops, nin, ins, 2, shape, li);
  if (core < 0) return core;
  nncl_node *cn = &g->nodes[core];
  cn->geo[A_T] = T, cn->geo[A_D] = D, cn->geo[A_H] = sp->heads;
  if (sp->mask_layer >= 0) {
    const nncl_node *mk = &g->nodes[ins[1]];
    cn->geo[A_MASK_K] = mk->cols / T, cn->geo[A_MASK_S] = mk->cols;
  }
  cn->f[0] = sp->dropout, cn->f[1] = (float)(1.0 / sqrt((double)(D / sp->heads))), cn->f[2] = sp->mask_pad;
  cn->i[0] = sp->causal, cn->i[1] = sp->mask_layer >= 0 ? sp->mask_mode : 0;
  pname(w, m, li, prefix, "out_proj.weight");
  pname(b, m, li, prefix, "out_proj.bias");
  return linear(m, core, D, w, sp->bias ? b : NULL, NNCL_INIT_XAVIER_UNIFORM, li);
}

/* Checks the input is (T, D) with H | D and the mask layer fits; records the spec. */
static int seq_layer(struct nncl_model *m, const char *name, const char *kind, int lkind, const nncl_seq_spec *sp, int *x) {
  if (m->nlayers == 0) return nncl_err(m->ctx, NNCL_ESTATE, "%s: the model has no input layer", kind);
  int mask = sp->mask_layer;
  int li = nncl_model_add_layer(m, name, kind, lkind);
  if (li < 0) return li;
  int r = nncl_layer_single_input(m, li);
  if (r) return r;
  nncl_layer *L = &m->layers[li];
  L->seq = *sp;
  *x = nncl_layer_input(m, li, 0);
  const nncl_node *xn = &m->g.nodes[*x];
  if (xn->ndim != 2 || !xn->batched)
    return nncl_err(m->ctx, NNCL_ESHAPE, "%s '%s': input must be a sequence (T, D), got %d dims", kind, L->name, xn->ndim);
  if (sp->heads < 1 || xn->shape[1] % sp->heads)
    return nncl_err(m->ctx, NNCL_EINVAL, "%s '%s': heads=%lld must divide the model width %lld", kind, L->name,
                    (long long)sp->heads, (long long)xn->shape[1]);
  if (!(sp->dropout >= 0 && sp->dropout < 1)) return nncl_err(m->ctx, NNCL_EINVAL, "%s '%s': dropout must be in [0, 1)", kind, L->name);
  /* MATMUL_BATCHED's strides are ints: H T^2 and 3 D T must stay below 2^31 */
  int64_t T = xn->shape[0], lim = ((int64_t)1 << 31) - 1;
  if (T > 46340 || sp->heads > lim / (T * T) || 3 * T * xn->shape[1] > lim)
    return nncl_err(m->ctx, NNCL_ELIMIT, "%s '%s': heads T^2 and 3 T D must stay below 2^31", kind, L->name);
  if (mask >= 0) {
    const nncl_node *mk = &m->g.nodes[m->layers[mask].out];
    if (mask >= li || !mk->batched || mk->shape[0] != xn->shape[0])
      return nncl_err(m->ctx, NNCL_ESHAPE, "%s '%s': mask layer '%s' must be an earlier layer with %lld steps first", kind, L->name,
                      mask < m->nlayers ? m->layers[mask].name : "?", (long long)xn->shape[0]);
  }
  return li;
}

int nncl_layer_attention(struct nncl_model *m, const char *name, const nncl_seq_spec *sp) {
  int x = 0, li = seq_layer(m, name, "attention", NNCL_LAYER_ATTENTION, sp, &x);
  if (li < 0) return li;
  int y = attention_nodes(m, x, sp, "", li);
  if (y < 0) return y;
  m->layers[li].out = y;
  return 0;
}

/* a + b (same shape) */
static int add_nodes(struct nncl_model *m, int a, int b, int li) {
  int ins[2] = {a, b};
  nncl_node an = m->g.nodes[a]; /* a copy: adding a node may move the node array */
  int y = nncl_graph_add(&m->g, NNCL_OP_ADD, 2, ins, 1, an.ndim, an.shape);
  if (y >= 0) m->g.nodes[y].layer = li;
  return y;
}

static int drop(struct nncl_model *m, int x, float p, int li) { return p > 0 ? nncl_dropout_node(m, x, p, li) : x; }

int nncl_layer_transformer(struct nncl_model *m, const char *name, const nncl_seq_spec *sp) {
  int x = 0, li = seq_layer(m, name, "transformer", NNCL_LAYER_TRANSFORMER, sp, &x);
  if (li < 0) return li;
  if (sp->ff < 1 || sp->ff > (1 << 24) || !(sp->eps > 0) || (sp->act != NNCL_ACT_RELU && sp->act != NNCL_ACT_GELU))
    return nncl_err(m->ctx, NNCL_EINVAL, "transformer '%s': ff must be 1..2^24, eps > 0, act relu or gelu", m->layers[li].name);
  int64_t D = m->g.nodes[x].shape[1];
  char n1[PNAME], n2[PNAME], w[PNAME], b[PNAME];
  pname(n1, m, li, "", "norm1");
  pname(n2, m, li, "", "norm2");
  /* attention block */
  int h = sp->norm_first ? nncl_layernorm_node(m, x, 1, sp->eps, n1, li) : x;
  if (h < 0 || (h = attention_nodes(m, h, sp, "self_attn.", li)) < 0 || (h = drop(m, h, sp->dropout, li)) < 0 ||
      (h = add_nodes(m, x, h, li)) < 0)
    return h;
  if (!sp->norm_first && (h = nncl_layernorm_node(m, h, 1, sp->eps, n1, li)) < 0) return h;
  /* feed-forward block */
  int f = sp->norm_first ? nncl_layernorm_node(m, h, 1, sp->eps, n2, li) : h;
  if (f < 0 || (f = linear(m, f, sp->ff, pname(w, m, li, "", "linear1.weight"), pname(b, m, li, "", "linear1.bias"),
                           NNCL_INIT_XAVIER_UNIFORM, li)) < 0 ||
      (f = nncl_act_node(m, f, sp->act, 0, li)) < 0 || (f = drop(m, f, sp->dropout, li)) < 0 ||
      (f = linear(m, f, D, pname(w, m, li, "", "linear2.weight"), pname(b, m, li, "", "linear2.bias"), NNCL_INIT_XAVIER_UNIFORM, li)) < 0 ||
      (f = drop(m, f, sp->dropout, li)) < 0 || (f = add_nodes(m, h, f, li)) < 0)
    return f;
  if (!sp->norm_first && (f = nncl_layernorm_node(m, f, 1, sp->eps, n2, li)) < 0) return f;
  m->layers[li].out = f;
  return 0;
}
