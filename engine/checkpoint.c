/* checkpoint.c - models in one .safetensors file: "<layer>.weight"/"<layer>.bias" as
 * PyTorch names them, optimizer state as "optimizer.<state>.<param>", and in the
 * metadata the model description, epoch, optimizer settings and nncl version. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fit.h"
#include "optim.h"
#include "safetensors.h"

#define FORMAT_VERSION "1"

/* Host copy of an arena-shaped buffer. */
static float *read_arena(nncl_model *m, nncl_buf *buf) {
  nncl_backend *be = nncl_ctx_be(m->ctx);
  size_t bytes = (size_t)m->g.param_elems * sizeof(float);
  float *h = malloc(bytes ? bytes : 1);
  if (h && bytes && be->read(be, buf, 0, h, bytes)) {
    free(h);
    return NULL;
  }
  return h;
}

int nncl_save(const nncl_model *m, const nncl_optim *o, int epoch, const char *path) {
  return nncl_save_ex(m, o, epoch, path, NULL, 0);
}

int nncl_save_ex(const nncl_model *cm, const nncl_optim *o, int epoch, const char *path, const nncl_st_kv *extra,
                 int nextra) {
  nncl_model *m = (nncl_model *)cm; /* reads only; arena allocation is idempotent */
  if (!m || !path) return nncl_err(m ? m->ctx : NULL, NNCL_EINVAL, "save: NULL argument");
  if (o && o->model != m) return nncl_err(m->ctx, NNCL_EINVAL, "save: optimizer belongs to another model");
  int r = nncl_graph_alloc_params(&m->g);
  if (r) return r;
  int np = m->g.nparams, ns = o ? o->nstate : 0;
  float *host[1 + NNCL_OPTIM_MAX_STATE] = {NULL};
  nncl_st_tensor *t = calloc((size_t)np * (size_t)(1 + ns) + 1, sizeof *t);
  char (*names)[128] = calloc((size_t)np * (size_t)ns + 1, sizeof *names);
  char *text = NULL;
  int nbase = 8, nmeta = nbase + m->nmeta + nextra; /* nbase: the entries of base[] below */
  nncl_st_kv *meta = calloc((size_t)nmeta, sizeof *meta);
  char *keys = calloc((size_t)m->nmeta + 1, 208);
  if (!t || !names || !meta || !keys) {
    r = nncl_err(m->ctx, NNCL_ENOMEM, "save: out of memory");
    goto done;
  }
  if (!(host[0] = read_arena(m, m->g.param_arena))) {
    r = nncl_err(m->ctx, NNCL_ENOMEM, "save: cannot read parameters: %s", nncl_errmsg(m->ctx));
    goto done;
  }
  for (int k = 0; k < ns; k++)
    if (!(host[1 + k] = read_arena(m, o->state[k]))) {
      r = nncl_err(m->ctx, NNCL_ENOMEM, "save: cannot read optimizer state");
      goto done;
    }
  int nt = 0;
  for (int k = 0; k <= ns; k++)
    for (int i = 0; i < np; i++) {
      const nncl_param *p = &m->g.params[i];
      if (k > 0 && p->buffer) continue; /* running statistics have no optimizer state */
      nncl_st_tensor *e = &t[nt++];
      if (k == 0) e->name = p->name;
      else {
        snprintf(names[(k - 1) * np + i], sizeof *names, "optimizer.%s.%s", nncl_optim_state_name(o, k - 1), p->name);
        e->name = names[(k - 1) * np + i];
      }
      e->dtype = "F32";
      e->ndim = p->ndim;
      memcpy(e->shape, p->shape, (size_t)p->ndim * sizeof *p->shape);
      e->data = host[k] + p->off;
      e->bytes = (size_t)p->numel * sizeof(float);
    }
  if ((r = nncl_model_to_text(m, &text))) goto done;
  char ep[32], step[32], opt[512];
  snprintf(ep, sizeof ep, "%d", epoch);
  snprintf(step, sizeof step, "%" PRId64, o ? o->t : 0);
  if (o)
    snprintf(opt, sizeof opt, "%s lr=%.9g momentum=%.9g nesterov=%d beta1=%.9g beta2=%.9g eps=%.9g weight_decay=%.9g",
             nncl_optim_kind_name(o->p.kind), o->p.lr, o->p.momentum, o->p.nesterov, o->p.beta1, o->p.beta2, o->p.eps,
             o->p.weight_decay);
  if (o) /* the toolbox's settings, appended so older readers still match the kind */
    snprintf(opt + strlen(opt), sizeof opt - strlen(opt),
             " decoupled_wd=%d alpha=%.9g centered=%d lr_decay=%.9g initial_accumulator=%.9g clip_norm=%.9g clip_value=%.9g lr_now=%.9g",
             o->p.decoupled_wd, o->p.alpha, o->p.centered, o->p.lr_decay, o->p.initial_accumulator, o->p.clip_norm,
             o->p.clip_value, o->lr);
  char sched[160] = "none";
  if (o) nncl_sched_state_text(o, sched, sizeof sched);
  nncl_st_kv base[] = {
    {"format", "pt"}, {"nncl_version", NNCL_VERSION_STRING}, {"nncl_checkpoint_format", FORMAT_VERSION},
    {"model", text}, {"epoch", ep}, {"step", step}, {"optimizer", o ? opt : "none"}, {"lr_schedule", sched},
  };
  memcpy(meta, base, sizeof base);
  for (int i = 0; i < m->nmeta; i++) { /* model metadata as "meta.<key>" */
    snprintf(keys + 208 * i, 208, "meta.%s", m->meta[2 * i]);
    meta[nbase + i] = (nncl_st_kv){keys + 208 * i, m->meta[2 * i + 1]};
  }
  for (int i = 0; i < nextra; i++) meta[nbase + m->nmeta + i] = extra[i];
  r = nncl_st_write(m->ctx, path, t, nt, meta, nmeta);
done:
  free(meta);
  free(keys);
  for (int k = 0; k <= NNCL_OPTIM_MAX_STATE; k++) free(host[k]);
  free(t);
  free(names);
  free(text);
  return r;
}

/* Copies a checkpoint tensor into an arena-shaped device buffer after checking it. */
static int load_tensor(nncl_model *m, nncl_st_file *f, const char *path, const char *name, const nncl_param *p,
                       nncl_buf *dst) {
  nncl_st_tensor e;
  int r = nncl_st_find(f, name, &e);
  if (r) return nncl_err(m->ctx, NNCL_EFORMAT, "%s: tensor '%s' is missing", path, name);
  if (!nncl_st_is_f32(&e, p->ndim, p->shape))
    return nncl_err(m->ctx, NNCL_EFORMAT, "%s: tensor '%s' has dtype %s and %d dims; the model needs F32 with %lld values",
                    path, name, e.dtype, e.ndim, (long long)p->numel);
  nncl_backend *be = nncl_ctx_be(m->ctx);
  return be->write(be, dst, p->off * sizeof(float), e.data, e.bytes);
}

int nncl_load(nncl_ctx *ctx, const char *path, nncl_model **out, int *epoch) {
  if (!ctx || !path || !out) return nncl_err(ctx, NNCL_EINVAL, "load: NULL argument");
  *out = NULL;
  nncl_st_file *f;
  int r = nncl_st_open(ctx, path, &f);
  if (r) return r;
  nncl_model *m = NULL;
  const char *text = nncl_st_meta(f, "model"), *ep = nncl_st_meta(f, "epoch");
  if (!text) {
    r = nncl_err(ctx, NNCL_EFORMAT, "%s: no 'model' description in the metadata: not an nncl checkpoint", path);
    goto done;
  }
  char name[4200];
  snprintf(name, sizeof name, "%s (model metadata)", path);
  if ((r = nncl_model_parse(ctx, text, name, &m))) goto done;
  for (int i = 0; i < m->g.nparams && !r; i++)
    r = load_tensor(m, f, path, m->g.params[i].name, &m->g.params[i], m->g.param_arena);
  for (int i = 0; !r && i < nncl_st_meta_count(f); i++) {
    nncl_st_kv kv = nncl_st_meta_at(f, i);
    if (!strncmp(kv.key, "meta.", 5)) r = nncl_model_set_meta(m, kv.key + 5, kv.value);
  }
  if (!r && epoch) *epoch = ep ? atoi(ep) : 0;
done:
  nncl_st_close(f);
  if (r) nncl_model_destroy(m);
  else *out = m;
  return r;
}

int nncl_load_optim(nncl_optim *o, const char *path) {
  if (!o || !path) return NNCL_EINVAL;
  nncl_model *m = o->model;
  nncl_st_file *f;
  int r = nncl_st_open(m->ctx, path, &f);
  if (r) return r;
  const char *opt = nncl_st_meta(f, "optimizer"), *step = nncl_st_meta(f, "step");
  size_t kl = strlen(nncl_optim_kind_name(o->p.kind));
  if (!opt || strncmp(opt, nncl_optim_kind_name(o->p.kind), kl) || (opt[kl] != ' ' && opt[kl] != 0)) {
    r = nncl_err(m->ctx, NNCL_EFORMAT, "%s: saved optimizer is '%s', this one is %s", path, opt ? opt : "none",
                 nncl_optim_kind_name(o->p.kind));
    goto done;
  }
  char name[160];
  for (int k = 0; k < o->nstate && !r; k++)
    for (int i = 0; i < m->g.nparams && !r; i++) {
      if (m->g.params[i].buffer) continue;
      snprintf(name, sizeof name, "optimizer.%s.%s", nncl_optim_state_name(o, k), m->g.params[i].name);
      r = load_tensor(m, f, path, name, &m->g.params[i], o->state[k]);
    }
  if (!r) o->t = step ? strtoll(step, NULL, 10) : 0;
  if (!r && o->t < 0) r = nncl_err(m->ctx, NNCL_EFORMAT, "%s: negative step", path);
  if (!r) r = nncl_sched_state_parse(o, nncl_st_meta(f, "lr_schedule"));
done:
  nncl_st_close(f);
  return r;
}
