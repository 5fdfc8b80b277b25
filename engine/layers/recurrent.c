/* recurrent.c - Elman RNN, LSTM and GRU layers as PyTorch's nn.RNN / nn.LSTM / nn.GRU with
 * batch_first=True: x (N, T, D) -> (N, T, H dirs) (return=sequence, torch's output) or
 * (N, H dirs) (return=last, torch's h_n[-dirs:] concatenated: the forward direction's
 * h at T-1 and the backward direction's h at 0).
 *
 * Parameters as torch's state_dict, per layer l and direction (suffix "_reverse"):
 *   <layer>.weight_ih_l<l> (G H, in), weight_hh_l<l> (G H, H), bias_ih_l<l>, bias_hh_l<l> (G H)
 * with G = 1 (rnn), 4 (lstm: gates i, f, g, o), 3 (gru: r, z, n); in = D for l = 0 and
 * H dirs above; all uniform(-1/sqrt(H), 1/sqrt(H)) as torch.
 * Initial state: zeros, or with initial=learned trainable <layer>.h0 (and for lstm
 * <layer>.c0), shape (L dirs, H) as torch's h_0 for one sample, broadcast over the batch
 * (their gradient is summed over it). These two are nncl's own: a torch module takes them
 * as forward arguments (h0.unsqueeze(1).expand(-1, N, -1)).
 *
 * One composite node runs the whole stack, time-major inside so every step's rows are
 * contiguous: xt = transpose(x) (T, N, D). Per layer and direction:
 *   gates (T N, G H) = in W_ih^T                      one GEMM for all steps
 *   per step t: rnn/lstm  gates_t += h_prev W_hh^T; cell (biases and activations fused)
 *               gru       hg = h_prev W_hh^T; cell
 * aux keeps per layer and direction the gate activations, h (and c) of every step in
 * time order with the initial state in an extra slot (slot 0 forward, slot T reverse),
 * GRU's hn = W_hn h + b_hn, and per layer the output sequence (T, N, H dirs).
 * Backward through time runs the steps in reverse: dh_t = dy_t + dG_next W_hh (+ dh z
 * for gru), the cell gradient writes dG (workspace), and after the loop
 *   dW_ih = dG^T in;  dW_hh = dGh^T h_prev;  db = column sums;  din (+)= dG W_ih
 * with dGh = dG (rnn, lstm) or GRU's hidden-side gradient. */
#include <stdio.h>
#include <string.h>

#include "model.h"

enum { R_CELL, R_T, R_D, R_H, R_L, R_DIRS, R_SEQ, R_RELU, R_P0, R_LEARNED };

typedef struct rgeo {
  int cell, seq, relu, learned, p0;
  size_t G, T, D, H, L, dirs, N, HD, TN;
} rgeo;

static rgeo geo_of(const nncl_node *n, size_t rows) {
  const int64_t *q = n->geo;
  rgeo r = {0};
  r.cell = (int)q[R_CELL], r.seq = (int)q[R_SEQ], r.relu = (int)q[R_RELU], r.learned = (int)q[R_LEARNED], r.p0 = (int)q[R_P0];
  r.G = r.cell == NNCL_CELL_LSTM ? 4 : r.cell == NNCL_CELL_GRU ? 3 : 1;
  r.T = (size_t)q[R_T], r.D = (size_t)q[R_D], r.H = (size_t)q[R_H], r.L = (size_t)q[R_L], r.dirs = (size_t)q[R_DIRS];
  r.N = rows, r.HD = r.H * r.dirs, r.TN = r.T * rows;
  return r;
}

/* aux per (layer, direction): gates, h slots, c slots (lstm), hn (gru) */
static size_t gates_f(const rgeo *r) { return r->TN * r->G * r->H; }
static size_t slots_f(const rgeo *r) { return (r->T + 1) * r->N * r->H; }
static size_t block_f(const rgeo *r) {
  return gates_f(r) + slots_f(r) * (r->cell == NNCL_CELL_LSTM ? 2 : 1) + (r->cell == NNCL_CELL_GRU ? r->TN * r->H : 0);
}
static size_t rnn_aux(const nncl_node *n, int batch) {
  rgeo r = geo_of(n, (size_t)batch);
  return r.L * r.dirs * block_f(&r) + r.L * r.TN * r.HD;
}

/* ws: xt (T N D) | two ping-pong sequence gradients | dh, dc, dhd (N H) | dG (T N G H),
 * the pre-activation gradients of every step | W_hh^T (H, G H) | gru: hg (N 3H),
 * dhg (T N 3H) */
static size_t wide_f(const rgeo *r) { return r->TN * (r->HD > r->D ? r->HD : r->D); }
static size_t ws_dh(const rgeo *r) { return r->TN * r->D + 2 * wide_f(r); }
static size_t ws_dg(const rgeo *r) { return ws_dh(r) + 3 * r->N * r->H; }
static size_t ws_wt(const rgeo *r) { return ws_dg(r) + gates_f(r); }
static size_t ws_hg(const rgeo *r) { return ws_wt(r) + r->G * r->H * r->H; }
static size_t rnn_ws(const nncl_node *n, int batch) {
  rgeo r = geo_of(n, (size_t)batch);
  return ws_hg(&r) + (r.cell == NNCL_CELL_GRU ? r.N * 3 * r.H + r.TN * 3 * r.H : 0);
}

typedef struct rbufs {
  nncl_ref gates, hs, cs, hn; /* of one (layer, direction) */
} rbufs;

static rbufs bufs_of(const nncl_node *n, const rgeo *r, size_t l, size_t d) {
  rbufs b;
  b.gates = nncl_ref_at(n->aux, (l * r->dirs + d) * block_f(r));
  b.hs = nncl_ref_at(b.gates, gates_f(r));
  b.cs = nncl_ref_at(b.hs, slots_f(r));
  b.hn = nncl_ref_at(b.hs, slots_f(r) * (r->cell == NNCL_CELL_LSTM ? 2 : 1));
  return b;
}
static nncl_ref seq_of(const nncl_node *n, const rgeo *r, size_t l) {
  return nncl_ref_at(n->aux, r->L * r->dirs * block_f(r) + l * r->TN * r->HD);
}
static nncl_ref slot(nncl_ref s, const rgeo *r, size_t k) { return nncl_ref_at(s, k * r->N * r->H); }

/* Parameter k of the layer: (l dirs + d) 4 + {0 w_ih, 1 w_hh, 2 b_ih, 3 b_hh}; then h0, c0. */
static nncl_node *pnode(nncl_graph *g, const rgeo *r, size_t k) { return &g->nodes[g->params[r->p0 + (int)k].node]; }
static size_t pidx(const rgeo *r, size_t l, size_t d, size_t what) { return (l * r->dirs + d) * 4 + what; }

static int mm(nncl_backend *be, nncl_ref A, int ta, nncl_ref B, int tb, nncl_ref C, size_t m, size_t n, size_t k, float beta) {
  nncl_args a = {0};
  a.t[0] = A, a.t[1] = B, a.t[2] = C;
  a.n[0] = m, a.n[1] = n, a.n[2] = k;
  a.f[0] = 1, a.f[1] = beta;
  a.i[0] = ta, a.i[1] = tb;
  return nncl_run(be, NNCL_OP_MATMUL, &a);
}

static int transpose(nncl_backend *be, nncl_ref src, nncl_ref dst, size_t A, size_t B, size_t C) {
  nncl_args a = {0};
  a.t[0] = src, a.t[1] = dst, a.n[0] = A, a.n[1] = B, a.n[2] = C;
  return nncl_run(be, NNCL_OP_TRANSPOSE_AB, &a);
}

/* y[r ldy + c] = x[r ldx + c] */
static int copy2d(nncl_backend *be, nncl_ref x, nncl_ref y, size_t rows, size_t cols, size_t ldx, size_t ldy) {
  nncl_args a = {0};
  a.t[0] = x, a.t[1] = y, a.n[0] = rows, a.n[1] = cols, a.n[2] = ldx, a.n[3] = ldy;
  return nncl_run(be, NNCL_OP_COPY2D, &a);
}

static int fill0(nncl_backend *be, nncl_ref x, size_t n) {
  nncl_args a = {0};
  a.t[0] = x, a.n[0] = n;
  return nncl_run(be, NNCL_OP_FILL, &a);
}

/* Initial state slot: zeros, plus the learned row (N rows broadcast) */
static int init_state(nncl_graph *g, const rgeo *r, nncl_ref s, size_t which, size_t row) {
  nncl_backend *be = nncl_ctx_be(g->ctx);
  int e = fill0(be, s, r->N * r->H);
  if (e || !r->learned) return e;
  nncl_args a = {0};
  a.t[0] = s, a.t[1] = s, a.t[2] = nncl_ref_at(pnode(g, r, r->L * r->dirs * 4 + which)->val, row * r->H);
  a.n[0] = r->N, a.n[1] = r->H;
  return nncl_run(be, NNCL_OP_BIAS_ADD, &a);
}

/* One layer and direction over all steps; in (T N, din) time-major. */
static int run_dir(nncl_graph *g, nncl_node *n, const rgeo *r, size_t l, size_t d, nncl_ref in, size_t din) {
  nncl_backend *be = nncl_ctx_be(g->ctx);
  rbufs b = bufs_of(n, r, l, d);
  nncl_ref wih = pnode(g, r, pidx(r, l, d, 0))->val, whh = pnode(g, r, pidx(r, l, d, 1))->val;
  nncl_ref bih = pnode(g, r, pidx(r, l, d, 2))->val, bhh = pnode(g, r, pidx(r, l, d, 3))->val;
  size_t N = r->N, H = r->H, GH = r->G * H, row = l * r->dirs + d;
  nncl_ref hg = nncl_ref_at(g->ws, ws_hg(r)), wt = nncl_ref_at(g->ws, ws_wt(r));
  /* W_hh^T once, so the per-step GEMMs read B in place (no per-step packing on C) */
  int e = transpose(be, whh, wt, GH, H, 1);
  if (!e) e = nncl_gemm(be, in, 0, wih, 1, b.gates, r->TN, GH, din);
  if (!e) e = init_state(g, r, slot(b.hs, r, d ? r->T : 0), 0, row);
  if (!e && r->cell == NNCL_CELL_LSTM) e = init_state(g, r, slot(b.cs, r, d ? r->T : 0), 1, row);
  for (size_t s = 0; !e && s < r->T; s++) {
    size_t t = d ? r->T - 1 - s : s;
    nncl_ref hp = slot(b.hs, r, t + d), hc = slot(b.hs, r, t + 1 - d), gt = nncl_ref_at(b.gates, t * N * GH);
    nncl_args a = {0};
    a.n[0] = N, a.n[1] = H;
    if (r->cell == NNCL_CELL_GRU) {
      if ((e = nncl_gemm(be, hp, 0, wt, 0, hg, N, GH, H))) break;
      a.t[0] = gt, a.t[1] = hg, a.t[2] = bih, a.t[3] = bhh, a.t[4] = hp, a.t[5] = hc, a.t[6] = nncl_ref_at(b.hn, t * N * H);
      e = nncl_run(be, NNCL_OP_GRU_CELL, &a);
      continue;
    }
    if ((e = mm(be, hp, 0, wt, 0, gt, N, GH, H, 1))) break;
    a.t[0] = gt, a.t[1] = bih, a.t[2] = bhh;
    if (r->cell == NNCL_CELL_LSTM) {
      a.t[3] = slot(b.cs, r, t + d), a.t[4] = slot(b.cs, r, t + 1 - d), a.t[5] = hc;
      e = nncl_run(be, NNCL_OP_LSTM_CELL, &a);
    } else {
      a.t[3] = hc, a.i[0] = r->relu;
      e = nncl_run(be, NNCL_OP_RNN_CELL, &a);
    }
  }
  /* h of every step in time order (slots 1..T forward, 0..T-1 reverse) as the next layer's
   * input or the output sequence; return=last reads the final slots instead */
  if (e || (l == r->L - 1 && !r->seq)) return e;
  return copy2d(be, slot(b.hs, r, 1 - d), nncl_ref_at(seq_of(n, r, l), d * H), r->TN, H, H, r->HD);
}

static int rnn_forward(nncl_graph *g, int i) {
  nncl_node *n = &g->nodes[i];
  nncl_backend *be = nncl_ctx_be(g->ctx);
  rgeo r = geo_of(n, (size_t)g->rows);
  n->step = g->step;
  int e = transpose(be, g->nodes[n->in[0]].val, g->ws, r.N, r.T, r.D);
  for (size_t l = 0; !e && l < r.L; l++)
    for (size_t d = 0; !e && d < r.dirs; d++)
      e = run_dir(g, n, &r, l, d, l ? seq_of(n, &r, l - 1) : g->ws, l ? r.HD : r.D);
  if (e) return e;
  if (r.seq) return transpose(be, seq_of(n, &r, r.L - 1), n->val, r.T, r.N, r.HD);
  for (size_t d = 0; !e && d < r.dirs; d++) {
    rbufs b = bufs_of(n, &r, r.L - 1, d);
    e = copy2d(be, slot(b.hs, &r, d ? 0 : r.T), nncl_ref_at(n->val, d * r.H), r.N, r.H, r.H, r.HD);
  }
  return e;
}

/* Backward through one layer and direction. dout (T N, H dirs) is dL/d(its output
 * sequence); din (T N, din) receives (d = 0) or gains (d = 1) dL/d(its input) when wanted. */
static int back_dir(nncl_graph *g, nncl_node *n, const rgeo *r, size_t l, size_t d, nncl_ref in, size_t dn, nncl_ref dout,
                    nncl_ref *din, int pneeds) {
  /* return=last: the top layer's dout is zero but at the final step (no copies of zeros) */
  int only_final = !r->seq && l == r->L - 1;
  nncl_backend *be = nncl_ctx_be(g->ctx);
  rbufs b = bufs_of(n, r, l, d);
  nncl_ref wih = pnode(g, r, pidx(r, l, d, 0))->val, whh = pnode(g, r, pidx(r, l, d, 1))->val;
  size_t N = r->N, H = r->H, GH = r->G * H, T = r->T;
  nncl_ref dh = nncl_ref_at(g->ws, ws_dh(r)), dc = nncl_ref_at(dh, N * H), dhd = nncl_ref_at(dc, N * H);
  nncl_ref dG = nncl_ref_at(g->ws, ws_dg(r)), dhg = nncl_ref_at(g->ws, ws_hg(r) + N * 3 * H); /* after the forward's hg */
  nncl_ref dgh = r->cell == NNCL_CELL_GRU ? dhg : dG; /* hidden-side pre-activation gradients */
  int e = r->cell == NNCL_CELL_LSTM ? fill0(be, dc, N * H) : 0;
  for (size_t s = T; !e && s-- > 0;) {
    size_t t = d ? T - 1 - s : s;
    nncl_ref gt = nncl_ref_at(b.gates, t * N * GH), dgt = nncl_ref_at(dG, t * N * GH);
    int zero = only_final && s + 1 < T; /* dout_t = 0: dh starts from the recurrent part */
    if (!zero && (e = copy2d(be, nncl_ref_at(dout, t * N * r->HD + d * H), dh, N, H, r->HD, H))) break;
    if (s + 1 < T) { /* the step after t in forward order */
      size_t tn = d ? t - 1 : t + 1;
      if (r->cell == NNCL_CELL_GRU) {
        nncl_args a = {0};
        a.t[0] = dh, a.t[1] = dhd, a.t[2] = dh, a.n[0] = N * H;
        if (zero) a.t[0] = dhd, a.t[1] = dh;
        if ((e = nncl_run(be, zero ? NNCL_OP_COPY : NNCL_OP_ADD, &a))) break;
        zero = 0;
      }
      if ((e = mm(be, nncl_ref_at(dgh, tn * N * GH), 0, whh, 0, dh, N, H, GH, zero ? 0.0f : 1.0f))) break;
    }
    nncl_args a = {0};
    if (r->cell == NNCL_CELL_RNN) {
      a.t[0] = slot(b.hs, r, t + 1 - d), a.t[1] = dh, a.t[2] = dgt, a.n[0] = N * H;
      e = nncl_run(be, r->relu ? NNCL_OP_RELU_GRAD : NNCL_OP_TANH_GRAD, &a);
    } else if (r->cell == NNCL_CELL_LSTM) {
      a.t[0] = gt, a.t[1] = slot(b.cs, r, t + d), a.t[2] = slot(b.cs, r, t + 1 - d), a.t[3] = dh, a.t[4] = dc, a.t[5] = dgt;
      a.n[0] = N, a.n[1] = H;
      e = nncl_run(be, NNCL_OP_LSTM_CELL_GRAD, &a);
    } else {
      a.t[0] = gt, a.t[1] = nncl_ref_at(b.hn, t * N * H), a.t[2] = slot(b.hs, r, t + d), a.t[3] = dh;
      a.t[4] = dgt, a.t[5] = nncl_ref_at(dhg, t * N * GH), a.t[6] = dhd;
      a.n[0] = N, a.n[1] = H;
      e = nncl_run(be, NNCL_OP_GRU_CELL_GRAD, &a);
    }
  }
  if (e) return e;
  if (pneeds) {
    size_t row = l * r->dirs + d, first = d ? T - 1 : 0;
    if (r->learned) { /* dL/d(initial h) = dGh_first W_hh (+ dh z), summed over the batch */
      nncl_node *h0 = pnode(g, r, r->L * r->dirs * 4);
      nncl_args a = {0};
      if ((e = mm(be, nncl_ref_at(dgh, first * N * GH), 0, whh, 0, dh, N, H, GH, 0))) return e;
      if (r->cell == NNCL_CELL_GRU) {
        a.t[0] = dh, a.t[1] = dhd, a.t[2] = dh, a.n[0] = N * H;
        if ((e = nncl_run(be, NNCL_OP_ADD, &a))) return e;
      }
      a = (nncl_args){0};
      a.t[0] = dh, a.t[1] = nncl_ref_at(h0->grad, row * H), a.n[0] = N, a.n[1] = H;
      if ((e = nncl_run(be, NNCL_OP_SUM_ROWS, &a))) return e;
      if (r->cell == NNCL_CELL_LSTM) {
        a.t[0] = dc, a.t[1] = nncl_ref_at(pnode(g, r, r->L * r->dirs * 4 + 1)->grad, row * H);
        if ((e = nncl_run(be, NNCL_OP_SUM_ROWS, &a))) return e;
      }
    }
    nncl_args a = {0};
    if ((e = nncl_gemm(be, dG, 1, in, 0, pnode(g, r, pidx(r, l, d, 0))->grad, GH, dn, r->TN)) ||
        (e = nncl_gemm(be, dgh, 1, slot(b.hs, r, d), 0, pnode(g, r, pidx(r, l, d, 1))->grad, GH, H, r->TN)))
      return e;
    a.t[0] = dG, a.t[1] = pnode(g, r, pidx(r, l, d, 2))->grad, a.n[0] = r->TN, a.n[1] = GH;
    if ((e = nncl_run(be, NNCL_OP_SUM_ROWS, &a))) return e;
    if (r->cell == NNCL_CELL_GRU) {
      a.t[0] = dgh, a.t[1] = pnode(g, r, pidx(r, l, d, 3))->grad;
      e = nncl_run(be, NNCL_OP_SUM_ROWS, &a);
    } else { /* both biases enter the same sum: the same gradient */
      a = (nncl_args){0};
      a.t[0] = pnode(g, r, pidx(r, l, d, 2))->grad, a.t[1] = pnode(g, r, pidx(r, l, d, 3))->grad, a.n[0] = GH;
      e = nncl_run(be, NNCL_OP_COPY, &a);
    }
    if (e) return e;
  }
  return din ? mm(be, dG, 0, wih, 0, *din, r->TN, dn, GH, d ? 1.0f : 0.0f) : 0;
}

static int rnn_backward(nncl_graph *g, int i) {
  nncl_node *n = &g->nodes[i];
  nncl_backend *be = nncl_ctx_be(g->ctx);
  if (n->step != g->step || !g->training)
    return nncl_err(g->ctx, NNCL_ESTATE, "recurrent backward needs a forward in training mode");
  rgeo r = geo_of(n, (size_t)g->rows);
  int x = n->in[0], xneeds = g->nodes[x].requires_grad, pneeds = g->nodes[n->in[1]].requires_grad, e;
  nncl_ref xt = g->ws, dA = nncl_ref_at(g->ws, r.TN * r.D), dB = nncl_ref_at(dA, wide_f(&r));
  if (r.seq) e = transpose(be, n->grad, dA, r.N, r.T, r.HD);
  else { /* only the last output of each direction has a gradient */
    e = fill0(be, dA, r.TN * r.HD);
    for (size_t d = 0; !e && d < r.dirs; d++)
      e = copy2d(be, nncl_ref_at(n->grad, d * r.H), nncl_ref_at(dA, (d ? 0 : r.T - 1) * r.N * r.HD + d * r.H), r.N, r.H, r.HD, r.HD);
  }
  if (!e && pneeds) e = transpose(be, g->nodes[x].val, xt, r.N, r.T, r.D);
  for (size_t l = r.L; !e && l-- > 0;) {
    int want = l > 0 || xneeds;
    for (size_t d = 0; !e && d < r.dirs; d++)
      e = back_dir(g, n, &r, l, d, l ? seq_of(n, &r, l - 1) : xt, l ? r.HD : r.D, dA, want ? &dB : NULL, pneeds);
    nncl_ref t = dA;
    dA = dB, dB = t;
  }
  if (e || !xneeds) return e;
  if ((e = transpose(be, dA, nncl_grad_target(g, x), r.T, r.N, r.D))) return e;
  return nncl_grad_commit(g, x);
}

static const int rnn_uses[] = {NNCL_OP_LSTM_CELL, NNCL_OP_LSTM_CELL_GRAD, NNCL_OP_TRANSPOSE_AB, NNCL_OP_COPY2D, -1};
static const nncl_node_ops rnn_ops = {"recurrent", rnn_forward, rnn_backward, rnn_aux, rnn_ws, rnn_uses, NULL};

static const char *cell_name(int cell) { return cell == NNCL_CELL_LSTM ? "lstm" : cell == NNCL_CELL_GRU ? "gru" : "rnn"; }

int nncl_layer_recurrent(struct nncl_model *m, const char *name, const nncl_rnn_spec *sp) {
  if (m->nlayers == 0) return nncl_err(m->ctx, NNCL_ESTATE, "%s: the model has no input layer", cell_name(sp->cell));
  int li = nncl_model_add_layer(m, name, cell_name(sp->cell), NNCL_LAYER_RNN);
  if (li < 0) return li;
  int e = nncl_layer_single_input(m, li);
  if (e) return e;
  nncl_layer *L = &m->layers[li];
  L->rnn = *sp;
  int x = nncl_layer_input(m, li, 0);
  const nncl_node *xn = &m->g.nodes[x];
  if (xn->ndim != 2)
    return nncl_err(m->ctx, NNCL_ESHAPE, "%s '%s' needs (N, T, D) input, got %d dims per sample", cell_name(sp->cell), L->name,
                    xn->ndim);
  if (sp->units < 1 || sp->units > (1 << 16) || sp->layers < 1 || sp->layers > 64 || (unsigned)sp->bidirectional > 1)
    return nncl_err(m->ctx, NNCL_EINVAL, "%s '%s': units must be 1..65536, layers 1..64, bidirectional 0 or 1", cell_name(sp->cell),
                    L->name);
  int64_t T = xn->shape[0], D = xn->shape[1], H = sp->units, G = sp->cell == NNCL_CELL_LSTM ? 4 : sp->cell == NNCL_CELL_GRU ? 3 : 1;
  int64_t dirs = sp->bidirectional + 1;
  if (nncl_shape_numel(4, (int64_t[]){T + 1, G, H, sp->layers * dirs * 2}) < 0)
    return nncl_err(m->ctx, NNCL_ELIMIT, "%s '%s': per-sample state exceeds 2^34 values", cell_name(sp->cell), L->name);
  int first = -1;
  char pname[80];
  for (int64_t l = 0; l < sp->layers; l++)
    for (int64_t d = 0; d < dirs; d++) {
      static const char *const what[4] = {"weight_ih", "weight_hh", "bias_ih", "bias_hh"};
      int64_t in = l ? H * dirs : D;
      for (int k = 0; k < 4; k++) {
        int64_t shape[2] = {G * H, k == 0 ? in : H};
        snprintf(pname, sizeof pname, "%s.%s_l%lld%s", L->name, what[k], (long long)l, d ? "_reverse" : "");
        /* lecun_uniform with fan_in 3H: bound sqrt(3 / 3H) = 1/sqrt(H), torch's */
        int p = nncl_graph_param(&m->g, pname, k < 2 ? 2 : 1, shape, NNCL_INIT_LECUN_UNIFORM, 3 * H, G * H, li);
        if (p < 0) return p;
        if (first < 0) first = p;
      }
    }
  for (int k = 0; sp->learned && k < (sp->cell == NNCL_CELL_LSTM ? 2 : 1); k++) {
    int64_t shape[2] = {sp->layers * dirs, H};
    snprintf(pname, sizeof pname, "%s.%s", L->name, k ? "c0" : "h0");
    int p = nncl_graph_param(&m->g, pname, 2, shape, NNCL_INIT_ZEROS, H, H, li);
    if (p < 0) return p;
  }
  int64_t yshape[2] = {T, H * dirs};
  int y = sp->sequence ? nncl_graph_composite(&m->g, &rnn_ops, 2, (int[]){x, first}, 2, yshape, li)
                       : nncl_graph_composite(&m->g, &rnn_ops, 2, (int[]){x, first}, 1, yshape + 1, li);
  if (y < 0) return y;
  int64_t *q = m->g.nodes[y].geo;
  q[R_CELL] = sp->cell, q[R_T] = T, q[R_D] = D, q[R_H] = H, q[R_L] = sp->layers, q[R_DIRS] = dirs;
  q[R_SEQ] = sp->sequence, q[R_RELU] = sp->relu, q[R_P0] = m->g.nodes[first].param, q[R_LEARNED] = sp->learned;
  L->out = y;
  return 0;
}
