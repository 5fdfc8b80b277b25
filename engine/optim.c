/* optim.c - SGD (momentum, Nesterov, L2) and Adam/AdamW over the parameter arena: one
 * update kernel launch per contiguous run of trainable parameters. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "optim.h"

static const char *const kind_names[] = {[NNCL_OPT_SGD] = "sgd", [NNCL_OPT_ADAM] = "adam", [NNCL_OPT_ADAMW] = "adamw"};

const char *nncl_optim_kind_name(int kind) { return kind >= 0 && kind <= NNCL_OPT_ADAMW ? kind_names[kind] : "?"; }

int nncl_optim_kind_parse(const char *s) {
  for (int k = 0; k <= NNCL_OPT_ADAMW; k++)
    if (!strcmp(s, kind_names[k])) return k;
  return -1;
}

const char *nncl_optim_state_name(const nncl_optim *o, int k) {
  return o->p.kind == NNCL_OPT_SGD ? "velocity" : k == 0 ? "m" : "v";
}

void nncl_optim_params_init(nncl_optim_params *p) {
  memset(p, 0, sizeof *p);
  p->kind = NNCL_OPT_ADAM;
  p->lr = 1e-3f;
  p->beta1 = 0.9f;
  p->beta2 = 0.999f;
  p->eps = 1e-8f;
}

int nncl_optim_create(nncl_model *m, const nncl_optim_params *p, nncl_optim **out) {
  if (!m || !p || !out) return nncl_err(m ? m->ctx : NULL, NNCL_EINVAL, "optimizer: NULL argument");
  *out = NULL;
  if (p->kind < NNCL_OPT_SGD || p->kind > NNCL_OPT_ADAMW) return nncl_err(m->ctx, NNCL_EINVAL, "optimizer: unknown kind %d", p->kind);
  if (!(p->lr > 0) || !isfinite(p->lr)) return nncl_err(m->ctx, NNCL_EINVAL, "optimizer: learning rate must be > 0");
  if (p->momentum < 0 || p->momentum >= 1 || p->beta1 < 0 || p->beta1 >= 1 || p->beta2 < 0 || p->beta2 >= 1 ||
      !(p->eps > 0) || p->weight_decay < 0)
    return nncl_err(m->ctx, NNCL_EINVAL, "optimizer: momentum/betas must be in [0,1), eps > 0, weight decay >= 0");
  if (p->nesterov && p->momentum == 0) return nncl_err(m->ctx, NNCL_EINVAL, "optimizer: Nesterov needs momentum > 0");
  if (m->g.mode != NNCL_MODE_TRAIN || !m->g.batch) return nncl_err(m->ctx, NNCL_ESTATE, "optimizer: compile the model in train mode first");
  nncl_optim *o = calloc(1, sizeof *o);
  if (!o) return nncl_err(m->ctx, NNCL_ENOMEM, "optimizer: out of memory");
  o->model = m;
  o->p = *p;
  o->nstate = p->kind == NNCL_OPT_SGD ? (p->momentum > 0) : 2;
  nncl_backend *be = nncl_ctx_be(m->ctx);
  size_t n = (size_t)(m->g.param_elems ? m->g.param_elems : 1);
  for (int k = 0; k < o->nstate; k++) {
    nncl_args a = {0};
    int r = be->alloc(be, n * sizeof(float), &o->state[k]);
    if (!r) {
      a.t[0] = (nncl_ref){o->state[k], 0};
      a.n[0] = n;
      r = nncl_run(be, NNCL_OP_FILL, &a);
    }
    if (r) {
      nncl_optim_destroy(o);
      return r;
    }
  }
  *out = o;
  return 0;
}

void nncl_optim_destroy(nncl_optim *o) {
  if (!o) return;
  nncl_backend *be = nncl_ctx_be(o->model->ctx);
  for (int k = 0; k < 2; k++)
    if (o->state[k]) be->release(be, o->state[k]);
  free(o);
}

int nncl_optim_set_lr(nncl_optim *o, float lr) {
  if (!o || !(lr > 0)) return NNCL_EINVAL;
  o->p.lr = lr;
  return 0;
}

int64_t nncl_optim_steps(const nncl_optim *o) { return o ? o->t : 0; }

static int update_run(nncl_optim *o, size_t off, size_t n, double bc1, double bc2) {
  nncl_graph *g = &o->model->g;
  nncl_args a = {0};
  size_t boff = off * sizeof(float);
  a.t[0] = (nncl_ref){g->param_arena, boff};
  a.t[1] = (nncl_ref){g->grad_arena, boff};
  for (int k = 0; k < o->nstate; k++) a.t[2 + k] = (nncl_ref){o->state[k], boff};
  a.n[0] = n;
  a.f[0] = o->p.lr;
  if (o->p.kind == NNCL_OPT_SGD) {
    a.f[1] = o->p.momentum, a.f[2] = o->p.weight_decay, a.i[0] = o->p.nesterov;
    return nncl_run(nncl_ctx_be(o->model->ctx), NNCL_OP_SGD_UPDATE, &a);
  }
  a.f[1] = o->p.beta1, a.f[2] = o->p.beta2, a.f[3] = o->p.eps, a.f[4] = o->p.weight_decay;
  a.f[5] = (float)bc1, a.f[6] = (float)bc2;
  a.i[0] = o->p.kind == NNCL_OPT_ADAMW;
  return nncl_run(nncl_ctx_be(o->model->ctx), NNCL_OP_ADAM_UPDATE, &a);
}

int nncl_optim_step(nncl_optim *o) {
  if (!o) return NNCL_EINVAL;
  nncl_graph *g = &o->model->g;
  if (!g->grad_arena) return nncl_err(o->model->ctx, NNCL_ESTATE, "optimizer: the model is no longer compiled for training");
  o->t++;
  double bc1 = 1.0 / (1.0 - pow(o->p.beta1, (double)o->t)), bc2 = 1.0 / (1.0 - pow(o->p.beta2, (double)o->t));
  /* parameters are contiguous in model order: merge neighbouring trainable ones */
  for (int i = 0; i < g->nparams;) {
    if (!g->params[i].trainable) {
      i++;
      continue;
    }
    size_t off = g->params[i].off, n = 0;
    for (; i < g->nparams && g->params[i].trainable; i++) n += (size_t)g->params[i].numel;
    int r = update_run(o, off, n, bc1, bc2);
    if (r) return r;
  }
  return 0;
}
