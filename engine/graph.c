/* graph.c - op graph construction, parameter arena, memory plan and forward execution. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "graph.h"

static int grow(void **p, int *cap, int need, size_t elem) {
  if (need <= *cap) return 0;
  int nc = *cap ? *cap * 2 : 16;
  while (nc < need) nc *= 2;
  void *q = realloc(*p, (size_t)nc * elem);
  if (!q) return NNCL_ENOMEM;
  memset((char *)q + (size_t)*cap * elem, 0, (size_t)(nc - *cap) * elem);
  *p = q;
  *cap = nc;
  return 0;
}

int nncl_graph_add(nncl_graph *g, int kind, int nin, const int *in, int batched, int ndim,
                   const int64_t *shape) {
  int64_t cols = nncl_shape_numel(ndim, shape);
  if (cols < 0 || nin > NNCL_NODE_MAX_IN)
    return nncl_err(g->ctx, NNCL_ELIMIT, "node shape out of range");
  if (grow((void **)&g->nodes, &g->cap, g->nnodes + 1, sizeof(nncl_node)))
    return nncl_err(g->ctx, NNCL_ENOMEM, "out of memory adding a node");
  nncl_node *n = &g->nodes[g->nnodes];
  memset(n, 0, sizeof *n);
  n->kind = kind;
  n->nin = nin;
  n->batched = batched;
  n->ndim = ndim;
  memcpy(n->shape, shape, (size_t)ndim * sizeof *shape);
  n->cols = cols;
  n->param = -1;
  for (int i = 0; i < nin; i++) {
    n->in[i] = in[i];
    n->requires_grad |= g->nodes[in[i]].requires_grad;
  }
  return g->nnodes++;
}

int nncl_graph_composite(nncl_graph *g, const nncl_node_ops *ops, int nin, const int *in, int ndim,
                         const int64_t *shape, int layer) {
  int node = nncl_graph_add(g, NNCL_NODE_COMPOSITE, nin, in, 1, ndim, shape);
  if (node < 0) return node;
  g->nodes[node].ops = ops;
  g->nodes[node].layer = layer;
  return node;
}

int nncl_graph_param(nncl_graph *g, const char *name, int ndim, const int64_t *shape, int init,
                     int64_t fan_in, int64_t fan_out, int layer) {
  if (g->param_arena) return nncl_err(g->ctx, NNCL_ESTATE, "parameters added after allocation");
  int node = nncl_graph_add(g, NNCL_NODE_PARAM, 0, NULL, 0, ndim, shape);
  if (node < 0) return node;
  if (grow((void **)&g->params, &g->pcap, g->nparams + 1, sizeof(nncl_param)))
    return nncl_err(g->ctx, NNCL_ENOMEM, "out of memory adding a parameter");
  nncl_param *p = &g->params[g->nparams];
  snprintf(p->name, sizeof p->name, "%s", name);
  p->node = node;
  p->ndim = ndim;
  memcpy(p->shape, shape, (size_t)ndim * sizeof *shape);
  p->numel = g->nodes[node].cols;
  if (p->numel > NNCL_MAX_PARAM_ELEMS) /* 8 GiB; beyond what devices allocate in one buffer */
    return nncl_err(g->ctx, NNCL_ELIMIT, "parameter %s has %lld values, more than the limit of 2^31", name, (long long)p->numel);
  if (g->param_elems > NNCL_MAX_ELEMS - p->numel)
    return nncl_err(g->ctx, NNCL_ELIMIT, "model has too many parameters");
  p->off = (size_t)g->param_elems;
  p->trainable = 1;
  p->init = init;
  p->fan_in = fan_in;
  p->fan_out = fan_out;
  g->param_elems += p->numel;
  g->nodes[node].param = g->nparams;
  g->nodes[node].requires_grad = 1;
  g->nodes[node].layer = layer;
  g->nparams++;
  return node;
}

int nncl_graph_buffer(nncl_graph *g, const char *name, int ndim, const int64_t *shape, int init, int layer) {
  int node = nncl_graph_param(g, name, ndim, shape, init, 1, 1, layer);
  if (node < 0) return node;
  nncl_param *p = &g->params[g->nodes[node].param];
  p->buffer = 1;
  p->trainable = 0;
  g->nodes[node].requires_grad = 0;
  return node;
}

/* Samples initial values for one parameter (Glorot 2010, He 2015, LeCun 1998). */
static void init_values(struct nncl_ctx *ctx, const nncl_param *p, float *w) {
  double fi = (double)p->fan_in, fo = (double)p->fan_out, scale = 0;
  int normal = 0;
  switch (p->init) {
  case NNCL_INIT_XAVIER_UNIFORM: scale = sqrt(6.0 / (fi + fo)); break;
  case NNCL_INIT_XAVIER_NORMAL: scale = sqrt(2.0 / (fi + fo)), normal = 1; break;
  case NNCL_INIT_HE_UNIFORM: scale = sqrt(6.0 / fi); break;
  case NNCL_INIT_HE_NORMAL: scale = sqrt(2.0 / fi), normal = 1; break;
  case NNCL_INIT_LECUN_UNIFORM: scale = sqrt(3.0 / fi); break;
  case NNCL_INIT_LECUN_NORMAL: scale = sqrt(1.0 / fi), normal = 1; break;
  case -1: /* ones (buffers such as a running variance) */
    for (int64_t i = 0; i < p->numel; i++) w[i] = 1;
    return;
  case -2: /* sinusoidal positions (Vaswani 2017), (T, D): sin(t w_i) at 2i, cos(t w_i) at 2i+1,
            * w_i = 10000^(-2i/D) */
    for (int64_t t = 0; t < p->shape[0]; t++)
      for (int64_t d = 0; d < p->shape[1]; d++) {
        double ang = (double)t * exp(-(double)(d & ~(int64_t)1) * log(10000.0) / (double)p->shape[1]);
        w[t * p->shape[1] + d] = (float)(d & 1 ? cos(ang) : sin(ang));
      }
    return;
  default: scale = 0; break; /* zeros */
  }
  for (int64_t i = 0; i < p->numel; i++)
    w[i] = (float)(normal ? scale * nncl_rng_normal(ctx) : scale * (2 * nncl_rng_uniform(ctx) - 1));
  if (p->zero_row) memset(w + (p->zero_row - 1) * (p->numel / p->shape[0]), 0, (size_t)(p->numel / p->shape[0]) * sizeof *w);
}

int nncl_graph_alloc_params(nncl_graph *g) {
  nncl_backend *be = nncl_ctx_be(g->ctx);
  if (g->param_arena || g->param_elems == 0) return 0;
  int r = be->alloc(be, (size_t)g->param_elems * sizeof(float), &g->param_arena);
  if (r) return r;
  int64_t largest = 0; /* one host buffer of the largest parameter, not of the arena */
  for (int i = 0; i < g->nparams; i++)
    if (g->params[i].numel > largest) largest = g->params[i].numel;
  float *host = malloc((size_t)largest * sizeof(float));
  if (!host) r = nncl_err(g->ctx, NNCL_ENOMEM, "out of memory initialising parameters");
  for (int i = 0; !r && i < g->nparams; i++) {
    nncl_param *p = &g->params[i];
    init_values(g->ctx, p, host);
    g->nodes[p->node].val = (nncl_ref){g->param_arena, p->off * sizeof(float)};
    r = be->write(be, g->param_arena, p->off * sizeof(float), host, (size_t)p->numel * sizeof(float));
  }
  free(host);
  if (r) {
    be->release(be, g->param_arena);
    g->param_arena = NULL;
  }
  return r;
}

/* ---- memory plan ------------------------------------------------------------------- */

static void release_plan(nncl_graph *g) {
  nncl_backend *be = nncl_ctx_be(g->ctx);
  nncl_buf **bufs[] = {&g->grad_arena, &g->act_arena, &g->act_grad_arena, &g->scratch, &g->aux_arena, &g->ws_arena};
  for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++)
    if (*bufs[i]) be->release(be, *bufs[i]), *bufs[i] = NULL;
  for (int i = 0; i < g->nnodes; i++) {
    nncl_node *n = &g->nodes[i];
    n->grad = (nncl_ref){0};
    n->aux = (nncl_ref){0};
    if (n->kind != NNCL_NODE_PARAM) n->val = (nncl_ref){0};
  }
  g->ws = (nncl_ref){0};
  g->batch = 0;
}

/* Per-node aux buffers (one arena, not reused) and the shared workspace of composite nodes. */
static int plan_composite(nncl_graph *g, int batch) {
  nncl_backend *be = nncl_ctx_be(g->ctx);
  size_t aux = 0, ws = 0;
  for (int i = 0; i < g->nnodes; i++) {
    const nncl_node *n = &g->nodes[i];
    if (n->kind != NNCL_NODE_COMPOSITE) continue;
    if (n->ops->aux_floats) aux += (n->ops->aux_floats(n, batch) + 15) & ~(size_t)15;
    if (n->ops->ws_floats && n->ops->ws_floats(n, batch) > ws) ws = n->ops->ws_floats(n, batch);
  }
  int r;
  if (aux && (r = be->alloc(be, aux * sizeof(float), &g->aux_arena))) return r;
  if (ws && (r = be->alloc(be, ws * sizeof(float), &g->ws_arena))) return r;
  g->ws = (nncl_ref){g->ws_arena, 0};
  aux = 0;
  for (int i = 0; i < g->nnodes; i++) {
    nncl_node *n = &g->nodes[i];
    if (n->kind != NNCL_NODE_COMPOSITE || !n->ops->aux_floats) continue;
    n->aux = (nncl_ref){g->aux_arena, aux * sizeof(float)};
    aux += (n->ops->aux_floats(n, batch) + 15) & ~(size_t)15;
  }
  return 0;
}

static size_t node_floats(const nncl_graph *g, const nncl_node *n, int batch) {
  (void)g;
  return (size_t)n->cols * (size_t)(n->batched ? batch : 1);
}

/* Inference plan: a value lives from its node to its last consumer; regions are reused
 * first-fit over one arena (offsets in floats, 16-float aligned). */
static int plan_infer(nncl_graph *g, size_t *offs, size_t *total) {
  int n = g->nnodes;
  int *last = malloc((size_t)n * sizeof *last);
  size_t(*free_list)[2] = malloc((size_t)(n + 1) * sizeof *free_list); /* (offset, size) */
  if (!last || !free_list) {
    free(last);
    free(free_list);
    return nncl_err(g->ctx, NNCL_ENOMEM, "out of memory planning");
  }
  for (int i = 0; i < n; i++) last[i] = i;
  for (int i = 0; i < n; i++)
    for (int k = 0; k < g->nodes[i].nin; k++) last[g->nodes[i].in[k]] = i;
  last[g->output] = n;
  int nfree = 0;
  size_t end = 0;
  for (int i = 0; i < n; i++) {
    nncl_node *nd = &g->nodes[i];
    if (!nncl_node_computed(nd)) continue;
    size_t need = (node_floats(g, nd, g->batch) + 15) & ~(size_t)15;
    int best = -1;
    for (int f = 0; f < nfree; f++)
      if (free_list[f][1] >= need && (best < 0 || free_list[f][1] < free_list[best][1])) best = f;
    if (best >= 0) {
      offs[i] = free_list[best][0];
      free_list[best][0] += need;
      free_list[best][1] -= need;
    } else {
      offs[i] = end;
      end += need;
      if (need > (size_t)NNCL_MAX_ELEMS || end > (size_t)NNCL_MAX_ELEMS) { /* also keeps the sum from wrapping */
        free(last);
        free(free_list);
        return nncl_err(g->ctx, NNCL_ELIMIT, "activations of batch %d exceed 2^34 values", g->batch);
      }
    }
    /* inputs whose last use is this node can be reused by later nodes */
    for (int k = 0; k < nd->nin; k++) {
      int j = nd->in[k];
      if (last[j] == i && nncl_node_computed(&g->nodes[j])) {
        free_list[nfree][0] = offs[j];
        free_list[nfree][1] = (node_floats(g, &g->nodes[j], g->batch) + 15) & ~(size_t)15;
        nfree++;
        last[j] = -1;
      }
    }
  }
  *total = end;
  free(last);
  free(free_list);
  return 0;
}

/* Lets the backend get ready (build kernels) for the ops a run will need: the nodes' ops,
 * what composites declare, and those of losses, metrics and optimizer updates. */
static void prepare_ops(nncl_graph *g, int mode) {
  nncl_backend *be = nncl_ctx_be(g->ctx);
  if (!be->prepare) return;
  static const int common[] = {NNCL_OP_FILL, NNCL_OP_SOFTMAX_XENT, NNCL_OP_ACCURACY};
  static const int train[] = {NNCL_OP_MATMUL, NNCL_OP_SUM_ROWS, NNCL_OP_ADAM_UPDATE, NNCL_OP_NONFINITE};
  int ops[NNCL_OP_COUNT], n = 0, seen[NNCL_OP_COUNT] = {0};
#define NNCL_USE_(op) do { if ((op) >= 0 && (op) < NNCL_OP_COUNT && !seen[op]) seen[op] = 1, ops[n++] = (op); } while (0)
  for (size_t k = 0; k < sizeof common / sizeof *common; k++) NNCL_USE_(common[k]);
  for (size_t k = 0; mode == NNCL_MODE_TRAIN && k < sizeof train / sizeof *train; k++) NNCL_USE_(train[k]);
  for (int i = 0; i < g->nnodes; i++) {
    const nncl_node *nd = &g->nodes[i];
    if (nd->kind >= 0) NNCL_USE_(nd->kind);
    for (const int *u = nd->kind == NNCL_NODE_COMPOSITE ? nd->ops->uses : NULL; u && *u >= 0; u++) NNCL_USE_(*u);
  }
#undef NNCL_USE_
  be->prepare(be, ops, n);
}

int nncl_graph_compile(nncl_graph *g, int batch, int mode) {
  nncl_backend *be = nncl_ctx_be(g->ctx);
  if (batch < 1 || batch > (1 << 24)) return nncl_err(g->ctx, NNCL_EINVAL, "batch must be 1..2^24, got %d", batch);
  prepare_ops(g, mode);
  int r = nncl_graph_alloc_params(g);
  if (r) return r;
  release_plan(g);
  g->batch = batch;
  g->mode = mode;
  size_t *offs = calloc((size_t)g->nnodes, sizeof *offs);
  if (!offs) return nncl_err(g->ctx, NNCL_ENOMEM, "out of memory planning");
  size_t total = 0, max_node = 0;
  if (mode == NNCL_MODE_TRAIN) {
    /* training keeps every activation for the backward pass */
    for (int i = 0; i < g->nnodes; i++) {
      size_t nf = node_floats(g, &g->nodes[i], batch);
      if (nf > max_node) max_node = nf;
      if (!nncl_node_planned(&g->nodes[i])) continue;
      offs[i] = total;
      total += (nf + 15) & ~(size_t)15;
      if (nf > (size_t)NNCL_MAX_ELEMS || total > (size_t)NNCL_MAX_ELEMS) { /* also keeps the sum from wrapping */
        free(offs);
        return nncl_err(g->ctx, NNCL_ELIMIT, "activations of batch %d exceed 2^34 values", batch);
      }
    }
  } else if ((r = plan_infer(g, offs, &total))) {
    free(offs);
    return r;
  }
  size_t act_bytes = (total ? total : 1) * sizeof(float);
  if ((r = be->alloc(be, act_bytes, &g->act_arena)) || (r = plan_composite(g, batch))) goto fail;
  for (int i = 0; i < g->nnodes; i++)
    if (nncl_node_computed(&g->nodes[i])) g->nodes[i].val = (nncl_ref){g->act_arena, offs[i] * sizeof(float)};
  if (mode == NNCL_MODE_TRAIN) {
    /* activation gradients mirror the activation plan (input included: its slot stays
     * unused unless something needs it); parameter gradients mirror the parameter arena */
    size_t pbytes = (size_t)(g->param_elems ? g->param_elems : 1) * sizeof(float);
    if ((r = be->alloc(be, act_bytes, &g->act_grad_arena))) goto fail;
    if ((r = be->alloc(be, pbytes, &g->grad_arena))) goto fail;
    if ((r = be->alloc(be, (max_node ? max_node : 1) * sizeof(float), &g->scratch))) goto fail;
    nncl_args a = {0};
    a.t[0] = (nncl_ref){g->grad_arena, 0};
    a.n[0] = pbytes / sizeof(float);
    if ((r = nncl_run(be, NNCL_OP_FILL, &a))) goto fail;
    for (int i = 0; i < g->nnodes; i++) {
      nncl_node *n = &g->nodes[i];
      if (!n->requires_grad) continue;
      if (n->kind == NNCL_NODE_PARAM)
        n->grad = (nncl_ref){g->grad_arena, g->params[n->param].off * sizeof(float)};
      else if (nncl_node_planned(n))
        n->grad = (nncl_ref){g->act_grad_arena, offs[i] * sizeof(float)};
    }
  }
  free(offs);
  return 0;
fail:
  free(offs);
  release_plan(g);
  return r;
}

/* ---- forward ----------------------------------------------------------------------- */

static int forward_node(nncl_graph *g, nncl_backend *be, int i, int rows) {
  nncl_node *n = &g->nodes[i];
  if (n->kind == NNCL_NODE_COMPOSITE) return n->ops->forward(g, i);
  nncl_args a = {0};
  size_t elems = (size_t)n->cols * (size_t)(n->batched ? rows : 1);
  for (int k = 0; k < n->nin; k++) a.t[k] = g->nodes[n->in[k]].val;
  memcpy(a.f, n->f, sizeof n->f);
  memcpy(a.i, n->i, sizeof n->i);
  switch (n->kind) {
  case NNCL_OP_MATMUL: /* y (rows T, N) = x (rows T, K) op(W) over the last dims */
    a.t[2] = n->val;
    a.n[1] = nncl_node_last(n);
    a.n[0] = elems / a.n[1];
    a.n[2] = nncl_node_last(&g->nodes[n->in[0]]);
    a.f[0] = 1, a.f[1] = 0;
    a.i[0] = 0;
    break;
  case NNCL_OP_BIAS_ADD:
    a.t[2] = a.t[1];
    a.t[1] = n->val;
    a.n[1] = nncl_node_last(n);
    a.n[0] = elems / a.n[1];
    break;
  case NNCL_OP_SOFTMAX: /* over the last dim, as nn.Softmax(dim=-1) */
    a.t[1] = n->val;
    a.n[1] = nncl_node_last(n);
    a.n[0] = elems / a.n[1];
    break;
  case NNCL_OP_ADD:
    a.t[2] = n->val;
    a.n[0] = elems;
    break;
  default: /* unary elementwise: t1 = op(t0) */
    a.t[1] = n->val;
    a.n[0] = elems;
    break;
  }
  return nncl_run(be, n->kind, &a);
}

int nncl_graph_forward(nncl_graph *g, int rows) {
  nncl_backend *be = nncl_ctx_be(g->ctx);
  if (!g->batch) return nncl_err(g->ctx, NNCL_ESTATE, "model is not compiled");
  if (rows < 1 || rows > g->batch)
    return nncl_err(g->ctx, NNCL_ESHAPE, "batch of %d rows, model compiled for at most %d", rows, g->batch);
  g->rows = rows;
  if (g->training) g->step++;
  for (int i = 0; i < g->nnodes; i++) {
    if (!nncl_node_computed(&g->nodes[i])) continue;
    int r = forward_node(g, be, i, rows);
    if (r) return r;
  }
  for (int i = 0; i < g->nnodes && !g->defer_checks; i++) {
    const nncl_node *n = &g->nodes[i];
    int r = n->kind == NNCL_NODE_COMPOSITE && n->ops->check ? n->ops->check(g, i) : 0;
    if (r) return r;
  }
  return 0;
}

int nncl_gemm(nncl_backend *be, nncl_ref A, int ta, nncl_ref B, int tb, nncl_ref C, size_t m, size_t n, size_t k) {
  nncl_args a = {0};
  a.t[0] = A, a.t[1] = B, a.t[2] = C;
  a.n[0] = m, a.n[1] = n, a.n[2] = k;
  a.f[0] = 1, a.f[1] = 0;
  a.i[0] = ta, a.i[1] = tb;
  return nncl_run(be, NNCL_OP_MATMUL, &a);
}

/* ---- backward ---------------------------------------------------------------------- */

nncl_ref nncl_grad_target(nncl_graph *g, int node) {
  nncl_node *n = &g->nodes[node];
  return n->grad_written ? (nncl_ref){g->scratch, 0} : n->grad;
}

int nncl_grad_commit(nncl_graph *g, int node) {
  nncl_node *n = &g->nodes[node];
  if (!n->grad_written) {
    n->grad_written = 1;
    return 0;
  }
  nncl_args a = {0};
  a.t[0] = n->grad;
  a.t[1] = (nncl_ref){g->scratch, 0};
  a.t[2] = n->grad;
  a.n[0] = (size_t)n->cols * (size_t)(n->batched ? g->rows : 1);
  return nncl_run(nncl_ctx_be(g->ctx), NNCL_OP_ADD, &a);
}

int nncl_graph_backward(nncl_graph *g, int from) {
  if (g->mode != NNCL_MODE_TRAIN || !g->batch)
    return nncl_err(g->ctx, NNCL_ESTATE, "backward needs a model compiled in train mode");
  for (int i = 0; i < g->nnodes; i++) g->nodes[i].grad_written = 0;
  g->nodes[from].grad_written = 1;
  for (int i = from; i >= 0; i--) {
    nncl_node *n = &g->nodes[i];
    if (!nncl_node_computed(n) || !n->requires_grad || !n->grad_written) continue;
    int r = nncl_backward_rule(g, i);
    if (r) return r;
  }
  return 0;
}

void nncl_graph_free(nncl_graph *g) {
  if (!g->ctx) return;
  release_plan(g);
  if (g->param_arena) nncl_ctx_be(g->ctx)->release(nncl_ctx_be(g->ctx), g->param_arena);
  free(g->nodes);
  free(g->params);
  memset(g, 0, sizeof *g);
}
