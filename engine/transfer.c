/* transfer.c - transfer learning: weights from a checkpoint by name, a new head, and
 * freezing layers by name or range. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"
#include "safetensors.h"

int nncl_model_load_weights(nncl_model *m, const char *path, int strict, int *loaded) {
  if (!m || !path) return nncl_err(m ? m->ctx : NULL, NNCL_EINVAL, "load weights: NULL argument");
  int r = nncl_graph_alloc_params(&m->g), n = 0;
  if (r) return r;
  nncl_st_file *f;
  if ((r = nncl_st_open(m->ctx, path, &f))) return r;
  nncl_backend *be = nncl_ctx_be(m->ctx);
  for (int i = 0; i < m->g.nparams && !r; i++) {
    const nncl_param *p = &m->g.params[i];
    nncl_st_tensor e;
    if (!nncl_st_find(f, p->name, &e) && nncl_st_is_f32(&e, p->ndim, p->shape)) r = be->write(be, m->g.param_arena, p->off * sizeof(float), e.data, e.bytes), n += !r;
    else if (strict) r = nncl_err(m->ctx, NNCL_EFORMAT, "%s: no F32 tensor '%s' of the model's shape", path, p->name);
  }
  nncl_st_close(f);
  if (!r && loaded) *loaded = n;
  return r;
}

/* Index of the layer named s (or written as a 0-based index), -1 if none. */
static int layer_index(const nncl_model *m, const char *s, size_t len) {
  for (int li = 0; li < m->nlayers; li++)
    if (strlen(m->layers[li].name) == len && !strncmp(m->layers[li].name, s, len)) return li;
  char num[16], *end;
  if (len == 0 || len >= sizeof num) return -1;
  memcpy(num, s, len);
  num[len] = 0;
  long v = strtol(num, &end, 10);
  return *end || v < 0 || v >= m->nlayers ? -1 : (int)v;
}

int nncl_model_freeze(nncl_model *m, const char *layers, int frozen) {
  if (!m || !layers) return nncl_err(m ? m->ctx : NULL, NNCL_EINVAL, "freeze: NULL argument");
  if (!*layers) return nncl_err(m->ctx, NNCL_EINVAL, "freeze: no layers given");
  char *mark = calloc((size_t)m->nlayers, 1);
  if (!mark) return nncl_err(m->ctx, NNCL_ENOMEM, "freeze: out of memory");
  int r = 0;
  for (const char *s = layers; *s && !r;) {
    size_t len = strcspn(s, ",");
    const char *colon = memchr(s, ':', len);
    int lo, hi;
    if (colon) { /* "a:b", either end may be empty */
      lo = colon == s ? 0 : layer_index(m, s, (size_t)(colon - s));
      hi = colon + 1 == s + len ? m->nlayers - 1 : layer_index(m, colon + 1, (size_t)(s + len - colon - 1));
    } else {
      lo = hi = layer_index(m, s, len);
    }
    if (lo < 0 || hi < 0 || lo > hi)
      r = nncl_err(m->ctx, NNCL_EINVAL, "freeze: '%.*s' names no layer or an empty range (layers are names or 0..%d)",
                   (int)len, s, m->nlayers - 1);
    for (int li = lo; !r && li <= hi; li++) mark[li] = 1;
    s += len + (s[len] == ',');
  }
  for (int p = 0; !r && p < m->g.nparams; p++)
    if (mark[m->g.nodes[m->g.params[p].node].layer] && !m->g.params[p].buffer) m->g.params[p].trainable = !frozen;
  free(mark);
  return r ? r : nncl_model_replan(m);
}

int nncl_model_new_head(nncl_model *m, int64_t units, nncl_model **out) {
  if (!m || !out) return nncl_err(m ? m->ctx : NULL, NNCL_EINVAL, "new head: NULL argument");
  *out = NULL;
  int head = -1;
  for (int li = 0; li < m->nlayers; li++)
    if (m->layers[li].kind == NNCL_LAYER_DENSE) head = li;
  if (head < 0) return nncl_err(m->ctx, NNCL_EINVAL, "new head: the model has no dense layer to replace");
  char *text, *line;
  int r = nncl_model_to_text(m, &text);
  if (r) return r;
  line = text;
  for (int li = 0; li < head; li++) line = strchr(line, '\n') + 1; /* one line per layer */
  char *rest = line + strcspn(line, " ") + 1;           /* after "dense " */
  rest += strcspn(rest, " ");                           /* after "units=K" */
  size_t pre = (size_t)(line - text), n = pre + strlen(rest) + 64;
  char *edited = malloc(n);
  if (!edited) r = nncl_err(m->ctx, NNCL_ENOMEM, "new head: out of memory");
  else {
    snprintf(edited, n, "%.*sdense units=%lld%s", (int)pre, text, (long long)units, rest);
    r = nncl_model_parse(m->ctx, edited, "model with a new head", out);
  }
  /* every parameter but the head's: copied from m */
  nncl_backend *be = nncl_ctx_be(m->ctx);
  float *host = NULL;
  if (!r && (r = nncl_graph_alloc_params(&m->g)) == 0 && (r = nncl_graph_alloc_params(&(*out)->g)) == 0) {
    size_t bytes = (size_t)m->g.param_elems * sizeof(float);
    if (!(host = malloc(bytes ? bytes : 1))) r = nncl_err(m->ctx, NNCL_ENOMEM, "new head: out of memory");
    else if (bytes) r = be->read(be, m->g.param_arena, 0, host, bytes);
  }
  for (int i = 0; !r && i < m->g.nparams; i++) {
    const nncl_param *p = &m->g.params[i], *q = &(*out)->g.params[i];
    if (m->g.nodes[p->node].layer != head)
      r = be->write(be, (*out)->g.param_arena, q->off * sizeof(float), host + p->off, (size_t)p->numel * sizeof(float));
  }
  if (r) {
    nncl_model_destroy(*out);
    *out = NULL;
  }
  free(host);
  free(edited);
  free(text);
  return r;
}
