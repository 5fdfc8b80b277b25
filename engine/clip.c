/* clip.c - gradient clipping over the trainable gradients, as torch.nn.utils:
 * clip_grad_norm_ (total L2 norm, one deterministic sum of squares on the device, then a
 * scale that reads the norm on the device: no host round trip) and clip_grad_value_. */
#include <math.h>

#include "optim.h"

int nncl_trainable_runs(nncl_model *m, int (*fn)(nncl_model *m, size_t off, size_t n, void *user), void *user) {
  nncl_graph *g = &m->g;
  /* parameters are contiguous in model order: merge neighbouring trainable ones */
  for (int i = 0; i < g->nparams;) {
    if (!g->params[i].trainable || g->params[i].buffer) {
      i++;
      continue;
    }
    size_t off = g->params[i].off, n = 0;
    for (; i < g->nparams && g->params[i].trainable && !g->params[i].buffer; i++) n += (size_t)g->params[i].numel;
    int r = fn(m, off, n, user);
    if (r) return r;
  }
  return 0;
}

typedef struct clip_args {
  nncl_buf *scalar;
  float v;
  int first;
} clip_args;

/* scalar[0] = (first ? 0 : scalar[0]) + sum g^2 over the run */
static int sumsq_run(nncl_model *m, size_t off, size_t n, void *user) {
  clip_args *c = user;
  nncl_args a = {.t = {{m->g.grad_arena, off * sizeof(float)}, {c->scalar, 0}}, .n = {n}, .f = {0, c->first ? 0.0f : 1.0f}};
  c->first = 0;
  return nncl_run(nncl_ctx_be(m->ctx), NNCL_OP_SUMSQ, &a);
}

static int scale_run(nncl_model *m, size_t off, size_t n, void *user) {
  clip_args *c = user;
  nncl_args a = {.t = {{m->g.grad_arena, off * sizeof(float)}, {c->scalar, 0}}, .n = {n}, .f = {c->v}};
  return nncl_run(nncl_ctx_be(m->ctx), NNCL_OP_CLIP_SCALE, &a);
}

static int clamp_run(nncl_model *m, size_t off, size_t n, void *user) {
  clip_args *c = user;
  nncl_ref g = {m->g.grad_arena, off * sizeof(float)};
  nncl_args a = {.t = {g, g}, .n = {n}, .f = {-c->v, c->v}};
  return nncl_run(nncl_ctx_be(m->ctx), NNCL_OP_CLAMP, &a);
}

static int check(nncl_model *m, float v, const char *what) {
  if (!m) return NNCL_EINVAL;
  if (!m->g.grad_arena) return nncl_err(m->ctx, NNCL_ESTATE, "%s: compile the model in train mode first", what);
  if (!(v > 0) || !isfinite(v)) return nncl_err(m->ctx, NNCL_EINVAL, "%s: the limit must be finite and > 0", what);
  return 0;
}

int nncl_clip_norm(nncl_model *m, nncl_buf *scalar, float max_norm) {
  clip_args c = {.scalar = scalar, .v = max_norm, .first = 1};
  nncl_args z = {.t = {{scalar, 0}}, .n = {1}};
  int r = nncl_run(nncl_ctx_be(m->ctx), NNCL_OP_FILL, &z); /* no trainable run: norm 0 */
  if (!r) r = nncl_trainable_runs(m, sumsq_run, &c);
  return r ? r : nncl_trainable_runs(m, scale_run, &c);
}

int nncl_clip_value(nncl_model *m, float clip_value) {
  clip_args c = {.v = clip_value};
  return nncl_trainable_runs(m, clamp_run, &c);
}

int nncl_model_clip_grad_norm(nncl_model *m, float max_norm, float *total_norm) {
  int r = check(m, max_norm, "clip_grad_norm");
  if (r) return r;
  nncl_backend *be = nncl_ctx_be(m->ctx);
  nncl_buf *s;
  if ((r = be->alloc(be, sizeof(float), &s))) return r;
  r = nncl_clip_norm(m, s, max_norm);
  float ss = 0;
  if (!r && total_norm && !(r = be->read(be, s, 0, &ss, sizeof ss))) *total_norm = sqrtf(ss);
  be->release(be, s);
  return r;
}

int nncl_model_clip_grad_value(nncl_model *m, float clip_value) {
  int r = check(m, clip_value, "clip_grad_value");
  return r ? r : nncl_clip_value(m, clip_value);
}
