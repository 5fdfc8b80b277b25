/* optim.c - SGD (momentum, Nesterov), Adam/AdamW, RMSprop and Adagrad over the parameter
 * arena: one update kernel launch per contiguous run of trainable parameters; weight
 * decay as an L2 penalty or decoupled; clipping before and the schedule after each step. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "optim.h"

static const char *const kind_names[] = {[NNCL_OPT_SGD] = "sgd", [NNCL_OPT_ADAM] = "adam", [NNCL_OPT_ADAMW] = "adamw",
                                         [NNCL_OPT_RMSPROP] = "rmsprop", [NNCL_OPT_ADAGRAD] = "adagrad"};
#define LAST_KIND NNCL_OPT_ADAGRAD

const char *nncl_optim_kind_name(int kind) { return kind >= 0 && kind <= LAST_KIND ? kind_names[kind] : "?"; }

int nncl_optim_kind_parse(const char *s) {
  for (int k = 0; k <= LAST_KIND; k++)
    if (!strcmp(s, kind_names[k])) return k;
  return -1;
}

const char *nncl_optim_state_name(const nncl_optim *o, int k) { return k >= 0 && k < o->nstate ? o->state_name[k] : "?"; }

void nncl_optim_params_init(nncl_optim_params *p) {
  memset(p, 0, sizeof *p);
  p->kind = NNCL_OPT_ADAM;
  p->lr = 1e-3f;
  p->beta1 = 0.9f;
  p->beta2 = 0.999f;
  p->eps = 1e-8f;
  p->alpha = 0.99f;
}

static int check_params(nncl_ctx *ctx, const nncl_optim_params *p) {
  if (p->kind < NNCL_OPT_SGD || p->kind > LAST_KIND) return nncl_err(ctx, NNCL_EINVAL, "optimizer: unknown kind %d", p->kind);
  if (!(p->lr > 0) || !isfinite(p->lr)) return nncl_err(ctx, NNCL_EINVAL, "optimizer: learning rate must be > 0");
  if (!(p->momentum >= 0 && p->momentum < 1) || !(p->beta1 >= 0 && p->beta1 < 1) || !(p->beta2 >= 0 && p->beta2 < 1) ||
      !(p->eps > 0) || !(p->weight_decay >= 0))
    return nncl_err(ctx, NNCL_EINVAL, "optimizer: momentum/betas must be in [0,1), eps > 0, weight decay >= 0");
  if (p->nesterov && p->momentum == 0) return nncl_err(ctx, NNCL_EINVAL, "optimizer: Nesterov needs momentum > 0");
  if (!(p->alpha >= 0 && p->alpha < 1) || !(p->lr_decay >= 0) || !(p->initial_accumulator >= 0))
    return nncl_err(ctx, NNCL_EINVAL, "optimizer: alpha must be in [0,1), lr_decay and initial_accumulator >= 0");
  if (!(p->clip_norm >= 0) || !(p->clip_value >= 0) || !isfinite(p->clip_norm) || !isfinite(p->clip_value))
    return nncl_err(ctx, NNCL_EINVAL, "optimizer: clip_norm and clip_value must be finite and >= 0 (0 = off)");
  return 0;
}

/* State tensors per kind, with PyTorch's names and initial values. */
static void plan_state(nncl_optim *o, float init[NNCL_OPTIM_MAX_STATE]) {
  const nncl_optim_params *p = &o->p;
  int n = 0;
  switch (p->kind) {
  case NNCL_OPT_SGD:
    if (p->momentum > 0) o->state_name[n++] = "velocity";
    break;
  case NNCL_OPT_ADAM: case NNCL_OPT_ADAMW:
    o->state_name[n++] = "m", o->state_name[n++] = "v";
    break;
  case NNCL_OPT_RMSPROP:
    o->state_name[n++] = "square_avg";
    if (p->momentum > 0) o->state_name[n++] = "momentum_buffer";
    if (p->centered) o->state_name[n++] = "grad_avg";
    break;
  default:
    init[n] = p->initial_accumulator;
    o->state_name[n++] = "sum";
    break;
  }
  o->nstate = n;
}

int nncl_optim_create(nncl_model *m, const nncl_optim_params *p, nncl_optim **out) {
  if (!m || !p || !out) return nncl_err(m ? m->ctx : NULL, NNCL_EINVAL, "optimizer: NULL argument");
  *out = NULL;
  int r = check_params(m->ctx, p);
  if (r) return r;
  if (m->g.mode != NNCL_MODE_TRAIN || !m->g.batch) return nncl_err(m->ctx, NNCL_ESTATE, "optimizer: compile the model in train mode first");
  nncl_optim *o = calloc(1, sizeof *o);
  if (!o) return nncl_err(m->ctx, NNCL_ENOMEM, "optimizer: out of memory");
  o->model = m;
  o->p = *p;
  o->lr = p->lr;
  o->mom = p->kind == NNCL_OPT_ADAM || p->kind == NNCL_OPT_ADAMW ? p->beta1 : p->momentum;
  float init[NNCL_OPTIM_MAX_STATE] = {0};
  plan_state(o, init);
  nncl_backend *be = nncl_ctx_be(m->ctx);
  size_t n = (size_t)(m->g.param_elems ? m->g.param_elems : 1);
  r = be->alloc(be, 4 * sizeof(float), &o->scal);
  if (!r) { /* the guard's flag starts lowered */
    nncl_args z = {.t = {{o->scal, 0}}, .n = {4}};
    r = nncl_run(be, NNCL_OP_FILL, &z);
  }
  for (int k = 0; k < o->nstate && !r; k++) {
    nncl_args a = {0};
    if (!(r = be->alloc(be, n * sizeof(float), &o->state[k]))) {
      a.t[0] = (nncl_ref){o->state[k], 0};
      a.n[0] = n;
      a.f[0] = init[k];
      r = nncl_run(be, NNCL_OP_FILL, &a);
    }
  }
  if (r) {
    nncl_optim_destroy(o);
    return r;
  }
  *out = o;
  return 0;
}

void nncl_optim_destroy(nncl_optim *o) {
  if (!o) return;
  nncl_backend *be = nncl_ctx_be(o->model->ctx);
  for (int k = 0; k < NNCL_OPTIM_MAX_STATE; k++)
    if (o->state[k]) be->release(be, o->state[k]);
  if (o->scal) be->release(be, o->scal);
  free(o);
}

int nncl_optim_set_lr(nncl_optim *o, float lr) {
  if (!o || !(lr > 0) || !isfinite(lr)) return NNCL_EINVAL;
  o->p.lr = lr;
  if (o->has_sched) nncl_sched_apply(o);
  else o->lr = lr;
  return 0;
}

float nncl_optim_lr(const nncl_optim *o) { return o ? o->lr : 0; }

int64_t nncl_optim_steps(const nncl_optim *o) { return o ? o->t : 0; }

typedef struct step_args {
  nncl_optim *o;
  float lr, mom;
  double bc1, bc2, clr;
} step_args;

static int update_run(nncl_model *m, size_t off, size_t n, void *user) {
  const step_args *s = user;
  nncl_optim *o = s->o;
  const nncl_optim_params *p = &o->p;
  nncl_backend *be = nncl_ctx_be(m->ctx);
  nncl_graph *g = &m->g;
  nncl_args a = {0};
  size_t boff = off * sizeof(float);
  a.t[0] = (nncl_ref){g->param_arena, boff};
  a.t[1] = (nncl_ref){g->grad_arena, boff};
  a.n[0] = n;
  a.f[0] = s->lr;
  a.t[5] = (nncl_ref){o->scal, 2 * sizeof(float)}; /* the guard's flag: skip a bad batch */
  int decoupled = p->decoupled_wd || p->kind == NNCL_OPT_ADAMW;
  switch (p->kind) {
  case NNCL_OPT_SGD:
    if (o->nstate) a.t[2] = (nncl_ref){o->state[0], boff};
    a.f[1] = o->nstate ? s->mom : 0.0f, a.f[2] = p->weight_decay, a.i[0] = p->nesterov, a.i[1] = decoupled;
    return nncl_run(be, NNCL_OP_SGD_UPDATE, &a);
  case NNCL_OPT_ADAM: case NNCL_OPT_ADAMW:
    a.t[2] = (nncl_ref){o->state[0], boff}, a.t[3] = (nncl_ref){o->state[1], boff};
    a.f[1] = s->mom, a.f[2] = p->beta2, a.f[3] = p->eps, a.f[4] = p->weight_decay;
    a.f[5] = (float)s->bc1, a.f[6] = (float)s->bc2;
    a.i[0] = decoupled;
    return nncl_run(be, NNCL_OP_ADAM_UPDATE, &a);
  case NNCL_OPT_RMSPROP: {
    int k = 0;
    a.t[2] = (nncl_ref){o->state[k++], boff};
    if (p->momentum > 0) a.t[3] = (nncl_ref){o->state[k++], boff};
    if (p->centered) a.t[4] = (nncl_ref){o->state[k++], boff};
    a.f[1] = p->alpha, a.f[2] = p->eps, a.f[3] = p->weight_decay, a.f[4] = p->momentum > 0 ? s->mom : 0.0f;
    a.i[0] = p->centered, a.i[1] = decoupled;
    return nncl_run(be, NNCL_OP_RMSPROP_UPDATE, &a);
  }
  default:
    a.t[2] = (nncl_ref){o->state[0], boff};
    a.f[0] = (float)s->clr, a.f[1] = p->eps, a.f[2] = p->weight_decay, a.i[0] = decoupled;
    return nncl_run(be, NNCL_OP_ADAGRAD_UPDATE, &a);
  }
}

int nncl_optim_step(nncl_optim *o) {
  if (!o) return NNCL_EINVAL;
  nncl_model *m = o->model;
  if (!m->g.grad_arena) return nncl_err(m->ctx, NNCL_ESTATE, "optimizer: the model is no longer compiled for training");
  int r;
  if (o->p.clip_value > 0 && (r = nncl_clip_value(m, o->p.clip_value))) return r;
  if (o->p.clip_norm > 0 && (r = nncl_clip_norm(m, o->scal, o->p.clip_norm))) return r;
  o->t++;
  step_args s = {.o = o, .lr = o->lr, .mom = o->mom};
  s.bc1 = 1.0 / (1.0 - pow(o->mom, (double)o->t));
  s.bc2 = 1.0 / (1.0 - pow(o->p.beta2, (double)o->t));
  s.clr = o->lr / (1.0 + (double)(o->t - 1) * o->p.lr_decay);
  if ((r = nncl_trainable_runs(m, update_run, &s))) return r;
  if (o->has_sched) nncl_sched_apply(o);
  return 0;
}
