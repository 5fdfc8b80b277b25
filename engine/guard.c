/* guard.c - the NaN/Inf guard of the training loop. Every batch, on the device: finite
 * checks of the per-sample losses and the trainable gradients raise the optimizer's flag,
 * and the updates skip while it is raised, so a bad batch changes nothing and the host
 * need not wait for the check: the training loop reads the flag a batch later. When it is
 * raised, the loop runs the batch again and nncl_guard_recheck diagnoses it: it walks the
 * parameters, then the nodes in graph order, checking each on the device, and names the
 * first one whose value is not finite. Checkpoints on disk stay those of the last good
 * epoch. lr-find checks synchronously (nncl_guard_batch): it needs each batch's loss. */
#include <math.h>
#include <stdio.h>

#include "optim.h"

/* *bad = whether ref's n floats hold a NaN or an infinity (o->scal[2] as the flag). */
static int nonfinite(nncl_optim *o, nncl_ref ref, size_t n, int *bad) {
  nncl_backend *be = nncl_ctx_be(o->model->ctx);
  nncl_ref flag = {o->scal, 2 * sizeof(float)};
  nncl_args c = {.t = {ref, flag}, .n = {n}};
  float f = 0;
  int r = nncl_guard_lower(o);
  if (!r && n) r = nncl_run(be, NNCL_OP_NONFINITE, &c);
  if (!r) r = be->read(be, o->scal, 2 * sizeof(float), &f, sizeof f);
  *bad = f != 0;
  return r;
}

static int grad_run(nncl_model *m, size_t off, size_t n, void *user) {
  nncl_optim *o = user;
  nncl_args c = {.t = {{m->g.grad_arena, off * sizeof(float)}, {o->scal, 2 * sizeof(float)}}, .n = {n}};
  return nncl_run(nncl_ctx_be(m->ctx), NNCL_OP_NONFINITE, &c);
}

/* The first parameter value, input, node output or gradient (in that order) that is not
 * finite, described into where. */
static int diagnose(nncl_optim *o, nncl_ref rows, int n, char *where, size_t len) {
  nncl_model *m = o->model;
  nncl_graph *g = &m->g;
  int r = 0, bad = 0;
  for (int i = 0; i < g->nparams && !r; i++) {
    const nncl_param *p = &g->params[i];
    if ((r = nonfinite(o, (nncl_ref){g->param_arena, p->off * sizeof(float)}, (size_t)p->numel, &bad)) || !bad) continue;
    snprintf(where, len, "%s '%s' (the previous update overflowed)", p->buffer ? "state buffer" : "parameter", p->name);
    return 0;
  }
  for (int i = 0; i < g->nnodes && !r; i++) {
    const nncl_node *nd = &g->nodes[i];
    if ((!nncl_node_computed(nd) && nd->kind != NNCL_NODE_INPUT) || !nd->val.buf) continue;
    if ((r = nonfinite(o, nd->val, nncl_node_elems(g, nd), &bad)) || !bad) continue;
    const nncl_layer *L = &m->layers[nd->layer];
    if (nd->kind == NNCL_NODE_INPUT) snprintf(where, len, "the input batch (layer '%s')", L->name);
    else
      snprintf(where, len, "output of op '%s' (node %d) in layer '%s' (%s)",
               nd->kind == NNCL_NODE_COMPOSITE ? nd->ops->name : nncl_op_name(nd->kind), i, L->name,
               nncl_layer_kind_name(L));
    return 0;
  }
  if (!r && !(r = nonfinite(o, rows, (size_t)n, &bad)) && bad) {
    snprintf(where, len, "the per-sample loss (finite model output; e.g. a log of zero)");
    return 0;
  }
  for (int i = 0; i < g->nparams && !r; i++) {
    const nncl_param *p = &g->params[i];
    if (!p->trainable || p->buffer) continue;
    if ((r = nonfinite(o, (nncl_ref){g->grad_arena, p->off * sizeof(float)}, (size_t)p->numel, &bad)) || !bad) continue;
    snprintf(where, len, "gradient of '%s' (the forward pass is finite)", p->name);
    return 0;
  }
  if (!r) snprintf(where, len, "none on re-check (a transient device fault?)");
  return r;
}

int nncl_guard_lower(nncl_optim *o) {
  nncl_args z = {.t = {{o->scal, 2 * sizeof(float)}}, .n = {1}};
  return nncl_run(nncl_ctx_be(o->model->ctx), NNCL_OP_FILL, &z);
}

int nncl_guard_enqueue(nncl_optim *o, nncl_ref rows, int n) {
  nncl_args c = {.t = {rows, {o->scal, 2 * sizeof(float)}}, .n = {(size_t)n}};
  int r = nncl_run(nncl_ctx_be(o->model->ctx), NNCL_OP_NONFINITE, &c);
  return r ? r : nncl_trainable_runs(o->model, grad_run, o);
}

/* v[0] = the batch loss sum, v[1] = whether a gradient is not finite; waits for both. */
static int check_now(nncl_optim *o, nncl_ref rows, int n, float v[2]) {
  nncl_backend *be = nncl_ctx_be(o->model->ctx);
  nncl_args s = {.t = {rows, {o->scal, sizeof(float)}}, .n = {(size_t)n}};
  int r;
  if ((r = nncl_run(be, NNCL_OP_SUM, &s)) || (r = nncl_guard_lower(o)) || (r = nncl_trainable_runs(o->model, grad_run, o)))
    return r;
  return be->read(be, o->scal, sizeof(float), v, 2 * sizeof(float));
}

/* The error for a batch whose checks failed (v from check_now), diagnosed; the flag lowered. */
static int report(nncl_optim *o, nncl_ref rows, int n, int epoch, int64_t batch, const float v[2]) {
  nncl_model *m = o->model;
  char where[256];
  int r = diagnose(o, rows, n, where, sizeof where); /* finite now: it says so */
  if (r || (r = nncl_guard_lower(o))) return r;
  return nncl_err(m->ctx, NNCL_ENUMERIC,
                  "training diverged: %s at epoch %d, batch %lld (step %lld, lr %g); first non-finite value in graph "
                  "order: %s. Nothing was updated; try a lower learning rate or gradient clipping",
                  isfinite(v[0]) ? "non-finite gradient" : isnan(v[0]) ? "loss is NaN" : "loss is infinite", epoch,
                  (long long)batch, (long long)(o->t + 1), (double)o->lr, where);
}

int nncl_guard_batch(nncl_optim *o, nncl_ref rows, int n, int epoch, int64_t batch, int *stop) {
  float v[2];
  *stop = 0;
  int r = check_now(o, rows, n, v);
  if (r) return r;
  int finite = isfinite(v[0]) && v[1] == 0;
  if (o->sweep) return nncl_lr_find_record(o, (double)v[0] / n, finite, stop);
  return finite ? 0 : report(o, rows, n, epoch, batch, v);
}

int nncl_guard_recheck(nncl_optim *o, nncl_ref rows, int n, int epoch, int64_t batch) {
  float v[2];
  int r = check_now(o, rows, n, v);
  return r ? r : report(o, rows, n, epoch, batch, v);
}
