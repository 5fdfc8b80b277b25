/* autodiff.c - one backward rule per forward op, written as calls to table ops.
 * Each rule reads dy = the node's gradient and adds its contribution to every input that
 * requires a gradient (nncl_grad_target / nncl_grad_commit handle accumulation). */
#include <string.h>

#include "graph.h"

static int needs(const nncl_graph *g, int node) { return g->nodes[node].requires_grad; }

/* Elementwise grad op: dx = op(t0 = x or y, dy). */
static int unary_grad(nncl_graph *g, int i, int grad_op, int use_output) {
  nncl_node *n = &g->nodes[i];
  int x = n->in[0];
  if (!needs(g, x)) return 0;
  nncl_args a = {0};
  a.t[0] = use_output ? n->val : g->nodes[x].val;
  a.t[1] = n->grad;
  a.t[2] = nncl_grad_target(g, x);
  a.n[0] = (size_t)n->cols * (size_t)(n->batched ? g->rows : 1);
  memcpy(a.f, n->f, sizeof n->f);
  int r = nncl_run(nncl_ctx_be(g->ctx), grad_op, &a);
  return r ? r : nncl_grad_commit(g, x);
}

/* C = A op(B) with A (M, K) batched (M = rows times the leading per-sample dims), B a
 * matrix: dA = dC op(B)^T;  dB = dC^T A (B stored N x K, transposed) or A^T dC (B stored K x N). */
static int matmul_grad(nncl_graph *g, int i) {
  nncl_node *n = &g->nodes[i];
  nncl_backend *be = nncl_ctx_be(g->ctx);
  int A = n->in[0], B = n->in[1], tb = n->i[1], r;
  size_t N = nncl_node_last(n), M = nncl_node_elems(g, n) / N, K = nncl_node_last(&g->nodes[A]);
  if (needs(g, A) && ((r = nncl_gemm(be, n->grad, 0, g->nodes[B].val, !tb, nncl_grad_target(g, A), M, K, N)) ||
                      (r = nncl_grad_commit(g, A))))
    return r;
  if (needs(g, B)) {
    nncl_ref dB = nncl_grad_target(g, B);
    r = tb ? nncl_gemm(be, n->grad, 1, g->nodes[A].val, 0, dB, N, K, M)  /* dB (N, K) = dC^T (N, M) A (M, K) */
           : nncl_gemm(be, g->nodes[A].val, 1, n->grad, 0, dB, K, N, M); /* dB (K, N) = A^T (K, M) dC (M, N) */
    if (r || (r = nncl_grad_commit(g, B))) return r;
  }
  return 0;
}

/* y = x + b (b broadcast over rows): dx = dy; db = sum_rows dy */
static int bias_add_grad(nncl_graph *g, int i) {
  nncl_node *n = &g->nodes[i];
  nncl_backend *be = nncl_ctx_be(g->ctx);
  int x = n->in[0], b = n->in[1], r;
  if (needs(g, x)) {
    nncl_args a = {0};
    a.t[0] = n->grad, a.t[1] = nncl_grad_target(g, x);
    a.n[0] = (size_t)n->cols * (size_t)g->rows;
    if ((r = nncl_run(be, NNCL_OP_COPY, &a)) || (r = nncl_grad_commit(g, x))) return r;
  }
  if (needs(g, b)) {
    nncl_args a = {0};
    a.t[0] = n->grad, a.t[1] = nncl_grad_target(g, b);
    a.n[1] = nncl_node_last(n), a.n[0] = nncl_node_elems(g, n) / a.n[1];
    a.f[1] = 0;
    if ((r = nncl_run(be, NNCL_OP_SUM_ROWS, &a)) || (r = nncl_grad_commit(g, b))) return r;
  }
  return 0;
}

/* y = a + b: da = dy, db = dy;  y = copy(x): dx = dy */
static int pass_grad(nncl_graph *g, int i) {
  nncl_node *n = &g->nodes[i];
  for (int k = 0; k < n->nin; k++) {
    int x = n->in[k];
    if (!needs(g, x)) continue;
    nncl_args a = {0};
    a.t[0] = n->grad, a.t[1] = nncl_grad_target(g, x);
    a.n[0] = (size_t)n->cols * (size_t)(n->batched ? g->rows : 1);
    int r = nncl_run(nncl_ctx_be(g->ctx), NNCL_OP_COPY, &a);
    if (r || (r = nncl_grad_commit(g, x))) return r;
  }
  return 0;
}

/* y = f0 x: dx = f0 dy */
static int scale_grad(nncl_graph *g, int i) {
  nncl_node *n = &g->nodes[i];
  int x = n->in[0];
  if (!needs(g, x)) return 0;
  nncl_args a = {0};
  a.t[0] = n->grad, a.t[1] = nncl_grad_target(g, x);
  a.n[0] = (size_t)n->cols * (size_t)(n->batched ? g->rows : 1);
  a.f[0] = n->f[0];
  int r = nncl_run(nncl_ctx_be(g->ctx), NNCL_OP_SCALE, &a);
  return r ? r : nncl_grad_commit(g, x);
}

/* y = softmax(x) over the last dim: dx = y (dy - sum(dy y)) */
static int softmax_grad(nncl_graph *g, int i) {
  nncl_node *n = &g->nodes[i];
  int x = n->in[0];
  if (!needs(g, x)) return 0;
  nncl_args a = {0};
  a.t[0] = n->val, a.t[1] = n->grad, a.t[2] = nncl_grad_target(g, x);
  a.n[1] = nncl_node_last(n);
  a.n[0] = nncl_node_elems(g, n) / a.n[1];
  int r = nncl_run(nncl_ctx_be(g->ctx), NNCL_OP_SOFTMAX_GRAD, &a);
  return r ? r : nncl_grad_commit(g, x);
}

int nncl_backward_rule(nncl_graph *g, int i) {
  switch (g->nodes[i].kind) {
  case NNCL_NODE_COMPOSITE: return g->nodes[i].ops->backward(g, i);
  case NNCL_OP_MATMUL: return matmul_grad(g, i);
  case NNCL_OP_BIAS_ADD: return bias_add_grad(g, i);
  case NNCL_OP_ADD:
  case NNCL_OP_COPY: return pass_grad(g, i);
  case NNCL_OP_SCALE: return scale_grad(g, i);
  case NNCL_OP_SOFTMAX: return softmax_grad(g, i);
  case NNCL_OP_RELU: return unary_grad(g, i, NNCL_OP_RELU_GRAD, 0);
  case NNCL_OP_LEAKY_RELU: return unary_grad(g, i, NNCL_OP_LEAKY_RELU_GRAD, 0);
  case NNCL_OP_ELU: return unary_grad(g, i, NNCL_OP_ELU_GRAD, 0);
  case NNCL_OP_GELU: return unary_grad(g, i, NNCL_OP_GELU_GRAD, 0);
  case NNCL_OP_SIGMOID: return unary_grad(g, i, NNCL_OP_SIGMOID_GRAD, 1);
  case NNCL_OP_TANH: return unary_grad(g, i, NNCL_OP_TANH_GRAD, 1);
  }
  return nncl_err(g->ctx, NNCL_EUNSUPPORTED, "no backward rule for op %s",
                  nncl_op_name(g->nodes[i].kind) ? nncl_op_name(g->nodes[i].kind) : "?");
}
