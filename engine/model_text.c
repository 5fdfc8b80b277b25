/* model_text.c - builds a model from its text description and writes it back.
 *
 *   input shape=784                      per-sample shape, e.g. shape=1,28,28
 *   dense units=128 act=relu init=he_uniform name=fc1
 *   relu | leaky_relu alpha=0.01 | elu alpha=1 | gelu | sigmoid | tanh | softmax
 *   add from=a,b                         residual connection: sum of named layers
 *   flatten
 * Every layer takes name= and from= (inputs: earlier layers; default the previous one).
 */
#include <errno.h>
#include <fcntl.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "model.h"
#include "modelfile.h"

static int bad_value(nncl_ctx *ctx, const nncl_mf *mf, const nncl_mf_line *l, const char *key, const char *what) {
  for (int k = 0; k < l->nkv; k++)
    if (!strcmp(l->kv[k].key, key))
      return nncl_err(ctx, NNCL_EFORMAT, "%s:%d:%d: key '%s' expects %s, got '%s'", mf->name, l->kv[k].line,
                      l->kv[k].col + (int)strlen(key) + 1, key, what, l->kv[k].value);
  return nncl_err(ctx, NNCL_EFORMAT, "%s:%d:%d: key '%s': %s", mf->name, l->line, l->col, key, what);
}

/* alpha=F: finite and within float range (1e39 would become inf and not write back). */
static int get_alpha(nncl_ctx *ctx, const nncl_mf *mf, const nncl_mf_line *l, double *alpha) {
  int r = nncl_mf_float(ctx, mf, l, "alpha", 0, alpha);
  if (!r && !(fabs(*alpha) <= FLT_MAX)) return bad_value(ctx, mf, l, "alpha", "a number within float range");
  return r;
}

static int build_line(nncl_model *m, const nncl_mf *mf, const nncl_mf_line *l) {
  nncl_ctx *ctx = m->ctx;
  const char *name = nncl_mf_get(l, "name"), *from = nncl_mf_get(l, "from");
  double alpha = 0;
  int r;
  if (name && strlen(name) >= sizeof m->layers[0].name) return bad_value(ctx, mf, l, "name", "at most 47 characters");
  if ((name || from) && nncl_model_next(m, name, from)) return bad_value(ctx, mf, l, from ? "from" : "name", nncl_errmsg(ctx));
  if (m->nlayers == 0 && strcmp(l->kind, "input"))
    return nncl_err(ctx, NNCL_EFORMAT, "%s:%d:%d: the first layer must be 'input shape=...', got '%s'", mf->name,
                    l->line, l->col, l->kind);
  if (!strcmp(l->kind, "input")) {
    static const char *const known[] = {"shape", "name", NULL}; /* no from=: nothing precedes it */
    int64_t shape[NNCL_MAX_DIMS];
    int nd = 0;
    if ((r = nncl_mf_check_keys(ctx, mf, l, known)) || (r = nncl_mf_ints(ctx, mf, l, "shape", NNCL_MAX_DIMS - 1, shape, &nd)))
      return r;
    if (m->nlayers) return nncl_err(ctx, NNCL_EFORMAT, "%s:%d:%d: 'input' must be the first layer", mf->name, l->line, l->col);
    if (nd == 0) return nncl_err(ctx, NNCL_EFORMAT, "%s:%d:%d: input needs shape=D[,D...]", mf->name, l->line, l->col);
    if (nncl_shape_numel(nd, shape) < 0) return bad_value(ctx, mf, l, "shape", "dimensions >= 1 with a product below 2^34");
    return nncl_model_input(m, nd, shape);
  }
  if (!strcmp(l->kind, "dense")) {
    static const char *const known[] = {"units", "act", "init", "alpha", "name", "from", NULL};
    int64_t units;
    int act = NNCL_ACT_NONE, init = NNCL_INIT_DEFAULT;
    const char *s;
    if ((r = nncl_mf_check_keys(ctx, mf, l, known)) || (r = nncl_mf_int(ctx, mf, l, "units", 0, 1, 1 << 24, &units)) ||
        (r = get_alpha(ctx, mf, l, &alpha)))
      return r;
    if (units == 0) return nncl_err(ctx, NNCL_EFORMAT, "%s:%d:%d: dense needs units=N", mf->name, l->line, l->col);
    if ((s = nncl_mf_get(l, "act")) && (act = nncl_act_parse(s)) < 0)
      return bad_value(ctx, mf, l, "act", "none, relu, leaky_relu, elu, gelu, sigmoid, tanh or softmax");
    if ((s = nncl_mf_get(l, "init")) && (init = nncl_init_parse(s)) < 0)
      return bad_value(ctx, mf, l, "init", "xavier_uniform, xavier_normal, he_uniform, he_normal, lecun_uniform, lecun_normal or zeros");
    return nncl_layer_dense(m, name, units, act, init, (float)alpha);
  }
  int act = nncl_act_parse(l->kind);
  if (act > NNCL_ACT_NONE) {
    static const char *const known_alpha[] = {"alpha", "name", "from", NULL}, *const known[] = {"name", "from", NULL};
    int has_alpha = act == NNCL_ACT_LEAKY_RELU || act == NNCL_ACT_ELU;
    if ((r = nncl_mf_check_keys(ctx, mf, l, has_alpha ? known_alpha : known)) ||
        (r = get_alpha(ctx, mf, l, &alpha)))
      return r;
    return nncl_layer_act(m, name, act, (float)alpha);
  }
  if (!strcmp(l->kind, "add") || !strcmp(l->kind, "flatten")) {
    static const char *const known[] = {"name", "from", NULL};
    if ((r = nncl_mf_check_keys(ctx, mf, l, known))) return r;
    return l->kind[0] == 'a' ? nncl_layer_add(m, name) : nncl_layer_flatten(m, name);
  }
  return nncl_err(ctx, NNCL_EFORMAT,
                  "%s:%d:%d: unknown layer kind '%s' (expected input, dense, relu, leaky_relu, elu, gelu, sigmoid, tanh, softmax, add, flatten)",
                  mf->name, l->line, l->col, l->kind);
}

int nncl_model_parse(nncl_ctx *ctx, const char *text, const char *name, nncl_model **out) {
  if (!ctx || !text || !out) return nncl_err(ctx, NNCL_EINVAL, "model parse: NULL argument");
  *out = NULL;
  nncl_mf mf;
  int r = nncl_mf_parse(ctx, text, strlen(text), name, &mf);
  if (r) return r;
  nncl_model *m;
  if ((r = nncl_model_create(ctx, &m))) goto done;
  for (int i = 0; i < mf.nlines && !r; i++) {
    r = build_line(m, &mf, &mf.lines[i]);
    if (r == NNCL_EINVAL) r = NNCL_EFORMAT; /* an invalid value in a file is a malformed file */
    if (r && !strstr(nncl_errmsg(ctx), mf.name)) /* builder errors lack a position */
      nncl_err(ctx, r, "%s:%d:%d: %s", mf.name, mf.lines[i].line, mf.lines[i].col, nncl_errmsg(ctx));
  }
  if (!r && m->nlayers < 2)
    r = nncl_err(ctx, NNCL_EFORMAT, "%s: a model needs an input and at least one layer", mf.name);
  if (!r) r = nncl_graph_alloc_params(&m->g);
  if (r) nncl_model_destroy(m);
  else *out = m;
done:
  nncl_mf_free(&mf);
  return r;
}

int nncl_model_parse_file(nncl_ctx *ctx, const char *path, nncl_model **out) {
  if (!ctx || !path || !out) return nncl_err(ctx, NNCL_EINVAL, "model parse: NULL argument");
  *out = NULL;
  /* opening a FIFO without a writer must not block: open non-blocking, then read blocking
   * (a pipe with a writer is read to its end; without one, reads see the end at once) */
  int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  FILE *f = fd < 0 || fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK) ? NULL : fdopen(fd, "rb");
  if (!f) {
    int e = errno;
    if (fd >= 0) close(fd);
    return nncl_err(ctx, NNCL_EIO, "%s: %s", path, strerror(e));
  }
  nncl_strbuf sb = {0};
  char chunk[4096];
  size_t n;
  while ((n = fread(chunk, 1, sizeof chunk, f)) > 0 && sb.len < ((size_t)NNCL_MF_MAX_LINE * 64)) nncl_sb_append(&sb, chunk, n);
  int err = ferror(f);
  fclose(f);
  if (err || sb.failed) {
    nncl_sb_free(&sb);
    return nncl_err(ctx, err ? NNCL_EIO : NNCL_ENOMEM, "%s: read failed", path);
  }
  if (sb.len >= (size_t)NNCL_MF_MAX_LINE * 64) {
    nncl_sb_free(&sb);
    return nncl_err(ctx, NNCL_ELIMIT, "%s: larger than %d bytes: not a model description", path, NNCL_MF_MAX_LINE * 64);
  }
  if (memchr(sb.s ? sb.s : "", 0, sb.len)) {
    size_t off = (size_t)((char *)memchr(sb.s, 0, sb.len) - sb.s);
    nncl_sb_free(&sb);
    return nncl_err(ctx, NNCL_EFORMAT, "%s: offset %zu: NUL byte: not a text model description", path, off);
  }
  int r = nncl_model_parse(ctx, sb.s ? sb.s : "", path, out);
  nncl_sb_free(&sb);
  return r;
}

int nncl_model_to_text(const nncl_model *m, char **out) {
  if (!m || !out) return NNCL_EINVAL;
  nncl_strbuf sb = {0};
  for (int li = 0; li < m->nlayers; li++) {
    const nncl_layer *L = &m->layers[li];
    if (L->kind == NNCL_LAYER_INPUT) {
      nncl_sb_printf(&sb, "input shape=");
      for (int d = 0; d < L->ndim; d++) nncl_sb_printf(&sb, "%s%lld", d ? "," : "", (long long)L->shape[d]);
    } else if (L->kind == NNCL_LAYER_DENSE) {
      nncl_sb_printf(&sb, "dense units=%lld", (long long)L->units);
      if (L->act != NNCL_ACT_NONE) nncl_sb_printf(&sb, " act=%s", nncl_act_name(L->act));
      nncl_sb_printf(&sb, " init=%s", nncl_init_name(L->init));
      if (L->alpha != 0) nncl_sb_printf(&sb, " alpha=%.9g", L->alpha);
    } else {
      nncl_sb_printf(&sb, "%s", nncl_layer_kind_name(L));
      if (L->kind == NNCL_LAYER_ACT && (L->act == NNCL_ACT_LEAKY_RELU || L->act == NNCL_ACT_ELU))
        nncl_sb_printf(&sb, " alpha=%.9g", L->alpha);
    }
    nncl_sb_printf(&sb, " name=");
    nncl_sb_value(&sb, L->name);
    for (int k = 0; L->joined && k < L->nin; k++) nncl_sb_printf(&sb, "%s%s", k ? "," : " from=", m->layers[L->in[k]].name);
    nncl_sb_printf(&sb, "\n");
  }
  if (sb.failed) {
    nncl_sb_free(&sb);
    return nncl_err(m->ctx, NNCL_ENOMEM, "out of memory writing the model description");
  }
  *out = sb.s;
  return 0;
}
