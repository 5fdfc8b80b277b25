/* graph.h - the op graph (a DAG of nodes), its memory plan and execution. Internal.
 *
 * A node's value is (rows, cols) row-major where rows = batch (for batched nodes) and
 * cols = product of the per-sample shape; parameters are unbatched. Nodes are appended
 * in topological order, so index order is a valid execution order.
 */
#ifndef NNCL_GRAPH_H
#define NNCL_GRAPH_H

#include "internal.h"

enum nncl_node_kind {
  NNCL_NODE_INPUT = -1, /* batch input, set per call */
  NNCL_NODE_PARAM = -2, /* a view into the parameter arena */
  NNCL_NODE_COMPOSITE = -3, /* several ops with their own forward and backward (ops) */
  /* values >= 0 are forward ops from ops.def */
};

#define NNCL_NODE_MAX_IN 8

struct nncl_graph;
struct nncl_node;

/* A composite node (convolution, pooling, normalisation, ...): its forward runs ops into
 * the node's value, its backward adds contributions to its inputs' gradients (like the
 * rules in autodiff.c). aux is kept from forward to backward (per node), ws is a
 * workspace shared by all nodes (valid only during one forward or backward call). */
typedef struct nncl_node_ops {
  const char *name;
  int (*forward)(struct nncl_graph *g, int node);
  int (*backward)(struct nncl_graph *g, int node);
  size_t (*aux_floats)(const struct nncl_node *n, int batch); /* may be NULL */
  size_t (*ws_floats)(const struct nncl_node *n, int batch);  /* may be NULL */
  const int *uses;  /* ops that forward and backward run, ended by -1 (backend prepare); may be NULL */
  /* May be NULL. Reads back what the last forward flagged on the device (bad input) and
   * reports it: run once after the whole forward pass, not between ops; skipped while
   * the graph defers checks (the forward then leaves NaN where it flagged). */
  int (*check)(struct nncl_graph *g, int node);
} nncl_node_ops;

typedef struct nncl_node {
  int kind;                    /* nncl_node_kind or NNCL_OP_* */
  int nin;
  int in[NNCL_NODE_MAX_IN];    /* input node indices (< this node's index) */
  int batched;                 /* first dim is the batch */
  int ndim;                    /* per-sample dims (unbatched: all dims) */
  int64_t shape[NNCL_MAX_DIMS];
  int64_t cols;                /* product of shape */
  float f[4];                  /* op parameters (alpha, ...) */
  int i[4];                    /* op flags (transpose, ...) */
  const nncl_node_ops *ops;    /* composite nodes */
  int64_t geo[16];             /* composite nodes: geometry (kernel, stride, ...) */
  int param;                   /* parameter index for PARAM nodes, else -1 */
  int requires_grad;           /* depends on a trainable parameter */
  int layer;                   /* owning layer index */
  /* set by compile */
  nncl_ref val, grad;          /* grad.buf NULL when no gradient is planned */
  nncl_ref aux;                /* composite nodes: kept from forward to backward */
  uint64_t step;               /* composite nodes: training step of the last forward */
  int grad_written;            /* during backward: first contribution written */
} nncl_node;

typedef struct nncl_param {
  char name[80];               /* "<layer>.weight" */
  int node;
  int ndim;
  int64_t shape[NNCL_MAX_DIMS];
  int64_t numel;
  size_t off;                  /* element offset in the parameter arena */
  int trainable;
  int buffer;                  /* state, not a parameter (running mean): never trained */
  int init;                    /* nncl_init; for buffers NNCL_INIT_ZEROS, -1 = ones, -2 = sinusoidal (T, D) */
  int64_t fan_in, fan_out;
  int64_t zero_row;            /* 1 + a row (first dim) zeroed after init (padding_idx), 0 none */
} nncl_param;

typedef struct nncl_graph {
  struct nncl_ctx *ctx;
  nncl_node *nodes;
  int nnodes, cap;
  nncl_param *params;
  int nparams, pcap;
  int64_t param_elems;         /* size of the parameter arena in floats */
  nncl_buf *param_arena, *grad_arena; /* grad_arena only after a train compile */
  nncl_buf *act_arena, *act_grad_arena, *scratch, *aux_arena, *ws_arena;
  nncl_ref ws;                 /* shared workspace of composite nodes */
  int training;                /* forward in training mode (dropout, batch statistics) */
  int defer_checks;            /* forward skips the nodes' checks: the training loop's guard
                                  finds their NaN and replays the batch with them */
  int input_grad;              /* backward also computes dL/d(input) (saliency maps) */
  uint64_t seed, step;         /* dropout masks: seed and training forward counter */
  int batch, mode;             /* compiled batch and nncl_mode; batch 0 = not compiled */
  int rows;                    /* rows of the current run (<= batch) */
  int output;                  /* output node */
} nncl_graph;

/* Appends a node; returns its index or a negative status. Shape is per sample. */
int nncl_graph_add(nncl_graph *g, int kind, int nin, const int *in, int batched, int ndim,
                   const int64_t *shape);
/* Appends a composite node (batched) with the given ops; returns its index or a status. */
int nncl_graph_composite(nncl_graph *g, const nncl_node_ops *ops, int nin, const int *in, int ndim,
                         const int64_t *shape, int layer);
/* Adds a parameter of the given shape and its PARAM node; returns the node index. */
int nncl_graph_param(nncl_graph *g, const char *name, int ndim, const int64_t *shape, int init,
                     int64_t fan_in, int64_t fan_out, int layer);
/* Adds a state buffer (e.g. running mean) stored beside the parameters and saved with
 * them, never trained; init NNCL_INIT_ZEROS, -1 for ones or -2 for sinusoidal positions.
 * Returns the node index. */
int nncl_graph_buffer(nncl_graph *g, const char *name, int ndim, const int64_t *shape, int init, int layer);
/* Allocates the parameter arena (once, after all parameters exist) and initialises it. */
int nncl_graph_alloc_params(nncl_graph *g);
/* Plans activations (and gradients in train mode) for `batch` rows. */
int nncl_graph_compile(nncl_graph *g, int batch, int mode);
/* Runs nodes in order with `rows` rows; the input node's value must be set. */
int nncl_graph_forward(nncl_graph *g, int rows);
/* Back-propagates from node `from`, whose gradient must hold dL/d(from). Stops at nodes
 * that do not require a gradient. Parameter gradients are overwritten. */
int nncl_graph_backward(nncl_graph *g, int from);
void nncl_graph_free(nncl_graph *g);

/* Whether a node computes its value (an op or a composite), as opposed to an input or a
 * parameter whose value is given. */
static inline int nncl_node_computed(const nncl_node *n) { return n->kind >= 0 || n->kind == NNCL_NODE_COMPOSITE; }

/* Whether the plan gives node n an activation (and gradient) slot: computed nodes, and
 * the input when its gradient is asked for. */
static inline int nncl_node_planned(const nncl_node *n) {
  return nncl_node_computed(n) || (n->kind == NNCL_NODE_INPUT && n->requires_grad);
}

/* Rows of the current run times cols: the element count of a batched node's value. */
static inline size_t nncl_node_elems(const nncl_graph *g, const nncl_node *n) {
  return (size_t)n->cols * (size_t)(n->batched ? g->rows : 1);
}

/* Width of a node's last dim: MATMUL and BIAS_ADD act on it (dense on a sequence (T, D)
 * is a GEMM over N T rows). */
static inline size_t nncl_node_last(const nncl_node *n) { return (size_t)(n->ndim ? n->shape[n->ndim - 1] : n->cols); }

/* Reference `elems` floats past r. */
static inline nncl_ref nncl_ref_at(nncl_ref r, size_t elems) {
  r.off += elems * sizeof(float);
  return r;
}

/* MATMUL: C (m x n) = op(A) op(B) with op(A) (m x k), op(B) (k x n), C overwritten. */
int nncl_gemm(nncl_backend *be, nncl_ref A, int ta, nncl_ref B, int tb, nncl_ref C, size_t m, size_t n, size_t k);

/* Backward rule of one node (autodiff.c): adds the node's contribution to the gradients
 * of its inputs that require one. */
int nncl_backward_rule(nncl_graph *g, int node);
/* Target ref for a contribution to node's gradient and the commit after writing it
 * (accumulates through the scratch buffer when the gradient already holds a value). */
nncl_ref nncl_grad_target(nncl_graph *g, int node);
int nncl_grad_commit(nncl_graph *g, int node);

#endif
