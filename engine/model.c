/* model.c - the model handle: layers, building in code, parameters, compile, forward,
 * backward, summary. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"

int nncl_model_create(nncl_ctx *ctx, nncl_model **out) {
  if (!ctx || !out) return nncl_err(ctx, NNCL_EINVAL, "model: NULL argument");
  nncl_model *m = calloc(1, sizeof *m);
  if (!m) return nncl_err(ctx, NNCL_ENOMEM, "model: out of memory");
  m->ctx = ctx;
  m->g.ctx = ctx;
  m->g.output = -1;
  m->g.seed = nncl_rng_next(ctx);
  *out = m;
  return 0;
}

void nncl_model_destroy(nncl_model *m) {
  if (!m) return;
  for (int i = 0; i < m->nviews; i++) nncl_tensor_destroy(m->views[i]);
  free(m->views);
  nncl_model_meta_free(m);
  nncl_graph_free(&m->g);
  free(m->layers);
  free(m);
}

int nncl_model_add_layer(nncl_model *m, const char *name, const char *kind_name, int kind) {
  if (m->g.param_arena) return nncl_err(m->ctx, NNCL_ESTATE, "layers cannot be added after compile");
  if (m->nlayers >= NNCL_MAX_LAYERS) return nncl_err(m->ctx, NNCL_ELIMIT, "a model has at most %d layers", NNCL_MAX_LAYERS);
  char buf[48];
  if (!(name && *name) && m->next_name[0]) name = m->next_name;
  if (name && *name) {
    if (strlen(name) >= sizeof buf) return nncl_err(m->ctx, NNCL_EINVAL, "layer name '%s' is too long", name);
    snprintf(buf, sizeof buf, "%s", name);
  } else {
    /* "<kind><n>", n one past the layers of this kind so far (then the first free one) */
    int n = 1;
    size_t kl = strlen(kind_name);
    for (int i = 0; i < m->nlayers; i++) n += !strncmp(m->layers[i].name, kind_name, kl);
    for (;; n++) {
      snprintf(buf, sizeof buf, "%s%d", kind_name, n);
      int taken = 0;
      for (int i = 0; i < m->nlayers && !taken; i++) taken = !strcmp(m->layers[i].name, buf);
      if (!taken) break;
    }
  }
  for (int i = 0; i < m->nlayers; i++)
    if (!strcmp(m->layers[i].name, buf)) return nncl_err(m->ctx, NNCL_EINVAL, "duplicate layer name '%s'", buf);
  if (m->nlayers == m->cap) {
    int nc = m->cap ? 2 * m->cap : 8;
    nncl_layer *l = realloc(m->layers, (size_t)nc * sizeof *l);
    if (!l) return nncl_err(m->ctx, NNCL_ENOMEM, "out of memory adding a layer");
    m->layers = l;
    m->cap = nc;
  }
  nncl_layer *L = &m->layers[m->nlayers];
  memset(L, 0, sizeof *L);
  snprintf(L->name, sizeof L->name, "%s", buf);
  L->kind = kind;
  L->out = -1;
  if (m->next_nin) {
    L->nin = m->next_nin;
    memcpy(L->in, m->next_in, sizeof L->in);
    L->joined = !(L->nin == 1 && L->in[0] == m->nlayers - 1);
  } else if (m->nlayers) {
    L->nin = 1;
    L->in[0] = m->nlayers - 1;
  }
  m->next_name[0] = 0;
  m->next_nin = 0;
  return m->nlayers++;
}

int nncl_model_next(nncl_model *m, const char *name, const char *from) {
  if (!m) return NNCL_EINVAL;
  m->next_name[0] = 0;
  m->next_nin = 0;
  if (name && strlen(name) >= sizeof m->next_name) return nncl_err(m->ctx, NNCL_EINVAL, "layer name '%s' is too long", name);
  if (name) snprintf(m->next_name, sizeof m->next_name, "%s", name);
  for (const char *s = from; s && *s;) {
    size_t len = strcspn(s, ",");
    int found = -1;
    for (int i = 0; i < m->nlayers && found < 0; i++)
      if (strlen(m->layers[i].name) == len && !strncmp(m->layers[i].name, s, len)) found = i;
    if (found < 0) {
      m->next_nin = 0;
      return nncl_err(m->ctx, NNCL_EINVAL, "from: no earlier layer named '%.*s'", (int)(len < 64 ? len : 64), s);
    }
    if (m->next_nin == NNCL_LAYER_MAX_IN) {
      m->next_nin = 0;
      return nncl_err(m->ctx, NNCL_EINVAL, "from: at most %d inputs", NNCL_LAYER_MAX_IN);
    }
    m->next_in[m->next_nin++] = found;
    s += len + (s[len] == ',');
  }
  return 0;
}

int nncl_model_input(nncl_model *m, int ndim, const int64_t *shape) {
  if (!m) return NNCL_EINVAL;
  if (m->nlayers) return nncl_err(m->ctx, NNCL_ESTATE, "input must be the first layer");
  if (ndim < 1 || ndim >= NNCL_MAX_DIMS || !shape)
    return nncl_err(m->ctx, NNCL_EINVAL, "input: 1..%d dims per sample expected", NNCL_MAX_DIMS - 1);
  if (nncl_shape_numel(ndim, shape) < 0) return nncl_err(m->ctx, NNCL_ELIMIT, "input: dimension < 1 or too large");
  int li = nncl_model_add_layer(m, "input", "input", NNCL_LAYER_INPUT);
  if (li < 0) return li;
  int x = nncl_graph_add(&m->g, NNCL_NODE_INPUT, 0, NULL, 1, ndim, shape);
  if (x < 0) return x;
  m->layers[li].out = x;
  m->layers[li].ndim = ndim;
  memcpy(m->layers[li].shape, shape, (size_t)ndim * sizeof *shape);
  return 0;
}

int nncl_model_dense(nncl_model *m, int64_t units, int act, int init) {
  if (!m) return NNCL_EINVAL;
  if (init < 0 || init > NNCL_INIT_ZEROS) return nncl_err(m->ctx, NNCL_EINVAL, "dense: unknown init %d", init);
  if (act < 0 || act > NNCL_ACT_SOFTMAX) return nncl_err(m->ctx, NNCL_EINVAL, "dense: unknown activation %d", act);
  return nncl_layer_dense(m, NULL, units, act, init, 0);
}

int nncl_model_activation(nncl_model *m, int act, float alpha) {
  return m ? nncl_layer_act(m, NULL, act, alpha) : NNCL_EINVAL;
}

int nncl_model_add(nncl_model *m) { return m ? nncl_layer_add(m, NULL) : NNCL_EINVAL; }
int nncl_model_flatten(nncl_model *m) { return m ? nncl_layer_flatten(m, NULL) : NNCL_EINVAL; }

/* ---- shapes and summary ------------------------------------------------------------ */

static int output_node(const nncl_model *m) { return m->nlayers ? m->layers[m->nlayers - 1].out : -1; }

int64_t nncl_model_input_size(const nncl_model *m) { return m && m->nlayers ? m->g.nodes[m->layers[0].out].cols : 0; }
int64_t nncl_model_output_size(const nncl_model *m) { return m && m->nlayers ? m->g.nodes[output_node(m)].cols : 0; }

int nncl_model_logits(const nncl_model *m) {
  int y = output_node(m);
  return y >= 0 && m->g.nodes[y].kind == NNCL_OP_SOFTMAX ? m->g.nodes[y].in[0] : -1;
}

static void shape_str(const nncl_node *n, char *buf, size_t len) {
  int k = snprintf(buf, len, "(N");
  for (int d = 0; d < n->ndim && k > 0 && (size_t)k < len; d++) k += snprintf(buf + k, len - (size_t)k, ", %lld", (long long)n->shape[d]);
  if (k > 0 && (size_t)k < len) snprintf(buf + k, len - (size_t)k, ")");
}

int nncl_model_summary(const nncl_model *m, void (*fn)(void *user, const char *line), void *user,
                       int64_t *nparams) {
  if (!m || !fn) return NNCL_EINVAL;
  char line[256], shape[96];
  int64_t total = 0, trainable = 0;
  fn(user, "layer            kind           output shape          params   inputs (joins)");
  for (int li = 0; li < m->nlayers; li++) {
    const nncl_layer *L = &m->layers[li];
    int64_t np = 0;
    for (int p = 0; p < m->g.nparams; p++)
      if (m->g.nodes[m->g.params[p].node].layer == li && !m->g.params[p].buffer) {
        np += m->g.params[p].numel;
        if (m->g.params[p].trainable) trainable += m->g.params[p].numel;
      }
    total += np;
    const char *kind = nncl_layer_kind_name(L);
    char kbuf[32];
    int act = L->kind == NNCL_LAYER_DENSE ? L->act : L->kind == NNCL_LAYER_CONV ? L->conv.act : NNCL_ACT_NONE;
    if (act != NNCL_ACT_NONE) snprintf(kbuf, sizeof kbuf, "%s+%s", kind, nncl_act_name(act));
    else snprintf(kbuf, sizeof kbuf, "%s", kind);
    shape_str(&m->g.nodes[L->out], shape, sizeof shape);
    int k = snprintf(line, sizeof line, "%-16s %-14s %-21s %-8lld", L->name, kbuf, shape, (long long)np);
    for (int j = 0; L->joined && j < L->nin && k > 0 && (size_t)k < sizeof line; j++)
      k += snprintf(line + k, sizeof line - (size_t)k, "%s%s", j ? ", " : " <- ", m->layers[L->in[j]].name);
    for (size_t e = strlen(line); e > 0 && line[e - 1] == ' '; e--) line[e - 1] = 0;
    fn(user, line);
  }
  snprintf(line, sizeof line, "total parameters: %lld (trainable %lld)", (long long)total, (long long)trainable);
  fn(user, line);
  if (nparams) *nparams = total;
  return 0;
}

/* ---- parameters -------------------------------------------------------------------- */

int nncl_model_param_count(const nncl_model *m) { return m ? m->g.nparams : 0; }

int nncl_model_param(nncl_model *m, int index, const char **name, nncl_tensor **value, nncl_tensor **grad) {
  if (!m || index < 0 || index >= m->g.nparams) return nncl_err(m ? m->ctx : NULL, NNCL_EINVAL, "no parameter %d", index);
  int r = nncl_graph_alloc_params(&m->g);
  if (r) return r;
  if (!m->views) {
    m->views = calloc((size_t)m->g.nparams * 2, sizeof *m->views);
    if (!m->views) return nncl_err(m->ctx, NNCL_ENOMEM, "out of memory");
    m->nviews = m->g.nparams * 2;
  }
  nncl_param *p = &m->g.params[index];
  nncl_node *n = &m->g.nodes[p->node];
  nncl_tensor **v = &m->views[2 * index], **gv = &m->views[2 * index + 1];
  if (!*v && (r = nncl_tensor_view(m->ctx, n->val, p->ndim, p->shape, NNCL_F32, v))) return r;
  /* the gradient view follows the current plan */
  nncl_tensor_destroy(*gv);
  *gv = NULL;
  if (n->grad.buf && (r = nncl_tensor_view(m->ctx, n->grad, p->ndim, p->shape, NNCL_F32, gv))) return r;
  if (name) *name = p->name;
  if (value) *value = *v;
  if (grad) *grad = *gv;
  return 0;
}

/* requires_grad: a trainable parameter, or an op with an input that requires it. */
static void update_requires_grad(nncl_graph *g) {
  for (int i = 0; i < g->nnodes; i++) {
    nncl_node *n = &g->nodes[i];
    if (n->kind == NNCL_NODE_PARAM) n->requires_grad = g->params[n->param].trainable && !g->params[n->param].buffer;
    else if (n->kind == NNCL_NODE_INPUT) n->requires_grad = g->input_grad;
    else {
      n->requires_grad = 0;
      for (int k = 0; k < n->nin; k++) n->requires_grad |= g->nodes[n->in[k]].requires_grad;
    }
  }
}

int nncl_model_set_trainable(nncl_model *m, const char *layer, int trainable) {
  if (!m || !layer) return NNCL_EINVAL;
  int found = 0;
  for (int li = 0; li < m->nlayers; li++) {
    if (strcmp(m->layers[li].name, layer)) continue;
    found = 1;
    for (int p = 0; p < m->g.nparams; p++)
      if (m->g.nodes[m->g.params[p].node].layer == li && !m->g.params[p].buffer) m->g.params[p].trainable = !!trainable;
  }
  if (!found) return nncl_err(m->ctx, NNCL_EINVAL, "no layer named '%s'", layer);
  return nncl_model_replan(m);
}

int nncl_model_replan(nncl_model *m) {
  update_requires_grad(&m->g);
  return m->g.batch ? nncl_graph_compile(&m->g, m->g.batch, m->g.mode) : 0;
}

/* ---- execution --------------------------------------------------------------------- */

int nncl_model_compile(nncl_model *m, int batch, int mode) {
  if (!m) return NNCL_EINVAL;
  if (m->nlayers < 1) return nncl_err(m->ctx, NNCL_ESTATE, "model has no layers");
  if (mode != NNCL_MODE_INFER && mode != NNCL_MODE_TRAIN) return nncl_err(m->ctx, NNCL_EINVAL, "unknown mode %d", mode);
  m->g.output = output_node(m);
  m->g.training = mode == NNCL_MODE_TRAIN;
  update_requires_grad(&m->g);
  return nncl_graph_compile(&m->g, batch, mode);
}

int nncl_model_set_training(nncl_model *m, int training) {
  if (!m) return NNCL_EINVAL;
  if (training && m->g.mode != NNCL_MODE_TRAIN)
    return nncl_err(m->ctx, NNCL_ESTATE, "training mode needs a train-mode compile");
  m->g.training = !!training;
  return 0;
}

static int batch_rows(nncl_model *m, const nncl_tensor *t, int64_t per_sample, const char *what) {
  if (!m->g.batch) return nncl_err(m->ctx, NNCL_ESTATE, "model is not compiled");
  if (!t || t->dtype != NNCL_F32) return nncl_err(m->ctx, NNCL_EINVAL, "%s: float tensor expected", what);
  int64_t rows = t->shape[0];
  if (rows < 1 || rows > m->g.batch || t->numel != rows * per_sample)
    return nncl_err(m->ctx, NNCL_ESHAPE, "%s: tensor of %lld elements with first dim %lld; expected (n <= %d) x %lld",
                    what, (long long)t->numel, (long long)rows, m->g.batch, (long long)per_sample);
  return (int)rows;
}

int nncl_model_forward(nncl_model *m, const nncl_tensor *x, nncl_tensor *y) {
  if (!m) return NNCL_EINVAL;
  int rows = batch_rows(m, x, nncl_model_input_size(m), "forward input");
  if (rows < 0) return rows;
  int ry = batch_rows(m, y, nncl_model_output_size(m), "forward output");
  if (ry < 0) return ry;
  if (ry != rows) return nncl_err(m->ctx, NNCL_ESHAPE, "forward: %d input rows but %d output rows", rows, ry);
  m->g.nodes[m->layers[0].out].val = x->ref;
  int r = nncl_graph_forward(&m->g, rows);
  if (r) return r;
  nncl_args a = {0};
  a.t[0] = m->g.nodes[m->g.output].val, a.t[1] = y->ref;
  a.n[0] = (size_t)y->numel;
  return nncl_run(nncl_ctx_be(m->ctx), NNCL_OP_COPY, &a);
}

int nncl_model_backward(nncl_model *m, const nncl_tensor *dy) {
  if (!m) return NNCL_EINVAL;
  if (m->g.mode != NNCL_MODE_TRAIN) return nncl_err(m->ctx, NNCL_ESTATE, "backward needs a train-mode compile");
  int rows = batch_rows(m, dy, nncl_model_output_size(m), "backward dy");
  if (rows < 0) return rows;
  if (rows != m->g.rows) return nncl_err(m->ctx, NNCL_ESHAPE, "backward: dy has %d rows, last forward had %d", rows, m->g.rows);
  nncl_node *out = &m->g.nodes[m->g.output];
  if (!out->grad.buf) return nncl_err(m->ctx, NNCL_ESTATE, "backward: no trainable parameter reaches the output");
  nncl_args a = {0};
  a.t[0] = dy->ref, a.t[1] = out->grad;
  a.n[0] = (size_t)dy->numel;
  int r = nncl_run(nncl_ctx_be(m->ctx), NNCL_OP_COPY, &a);
  return r ? r : nncl_graph_backward(&m->g, m->g.output);
}
