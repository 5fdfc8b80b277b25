/* model_text.c - builds a model from its text description and writes it back.
 *
 *   input shape=784                      per-sample shape, e.g. shape=1,28,28
 *   dense units=128 act=relu init=he_uniform name=fc1
 *   relu | leaky_relu alpha=0.01 | elu alpha=1 | gelu | sigmoid | tanh | softmax
 *   add from=a,b                         residual connection: sum of named layers
 *   concat from=a,b                      dense connection: channel concat
 *   flatten
 *   conv2d filters=16 kernel=5 stride=1 padding=2|same|ph,pw|t,b,l,r dilation=1 groups=1 bias=1 act=
 *   conv1d filters=16 kernel=3 ...        (N, C, L) inputs
 *   maxpool|avgpool kernel=2 stride=2 padding=0 ceil=0 count_include_pad=1
 *   globalavgpool | globalmaxpool
 *   batchnorm eps=1e-5 momentum=0.1 | layernorm dims=1 eps=1e-5 | dropout p=0.5
 *   attention heads=4 causal=0 dropout=0 bias=1 mask_from=ids mask_pad=0   on (T, D)
 *   transformer heads=4 ff=2048 dropout=0.1 norm=post|pre act=relu|gelu eps=1e-5 (+ as attention)
 *   posenc kind=sinusoidal|learned max_len=512 | seqpool mode=mean|max|last
 *   lstm|gru|rnn units=H layers=1 bidirectional=0 return=last|sequence initial=zeros|learned
 *                                        (N, T, D) inputs; rnn also act=tanh|relu
 *   embedding vocab=V dim=D padding_idx=-1   (N, T) token ids -> (N, T, D)
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

/* key=v or key=a,b: one value per spatial dim (a 1-D layer uses only the last). */
static int spatial(nncl_ctx *ctx, const nncl_mf *mf, const nncl_mf_line *l, const char *key, int dims, int64_t dflt,
                   int64_t min, int64_t max, int64_t out[2]) {
  int64_t v[2];
  int n = 0, r = nncl_mf_ints(ctx, mf, l, key, dims, v, &n);
  if (r) return r;
  if (n == 0) v[0] = v[1] = dflt;
  else if (n == 1) v[1] = v[0];
  for (int k = 0; n && k < 2; k++) /* an absent key takes dflt, which may mean "unset" (0) */
    if (v[k] < min || v[k] > max) {
      char what[96];
      snprintf(what, sizeof what, "%s between %lld and %lld", dims == 1 ? "an integer" : "one or two integers", (long long)min,
               (long long)max);
      return bad_value(ctx, mf, l, key, what);
    }
  if (dims == 1) v[0] = 1;
  out[0] = v[0], out[1] = v[1];
  return 0;
}

static int parse_act(nncl_ctx *ctx, const nncl_mf *mf, const nncl_mf_line *l, int *act, int *init) {
  const char *s;
  if ((s = nncl_mf_get(l, "act")) && (*act = nncl_act_parse(s)) < 0)
    return bad_value(ctx, mf, l, "act", "none, relu, leaky_relu, elu, gelu, sigmoid, tanh or softmax");
  if ((s = nncl_mf_get(l, "init")) && (*init = nncl_init_parse(s)) < 0)
    return bad_value(ctx, mf, l, "init", "xavier_uniform, xavier_normal, he_uniform, he_normal, lecun_uniform, lecun_normal or zeros");
  return 0;
}

static int build_conv(nncl_model *m, const nncl_mf *mf, const nncl_mf_line *l, const char *name, int dims) {
  static const char *const known[] = {"filters", "kernel", "stride", "padding", "dilation", "groups", "bias", "act", "init",
                                      "alpha", "name", "from", NULL};
  nncl_ctx *ctx = m->ctx;
  nncl_conv_spec sp = {.dims = dims, .act = NNCL_ACT_NONE, .init = NNCL_INIT_DEFAULT};
  int64_t bias;
  double alpha;
  int r;
  if ((r = nncl_mf_check_keys(ctx, mf, l, known)) || (r = nncl_mf_int(ctx, mf, l, "filters", 0, 1, 1 << 20, &sp.filters)) ||
      (r = spatial(ctx, mf, l, "kernel", dims, 0, 1, 4096, sp.kernel)) || (r = spatial(ctx, mf, l, "stride", dims, 1, 1, 4096, sp.stride)) ||
      (r = spatial(ctx, mf, l, "dilation", dims, 1, 1, 4096, sp.dilation)) ||
      (r = nncl_mf_int(ctx, mf, l, "groups", 1, 1, 1 << 20, &sp.groups)) || (r = nncl_mf_int(ctx, mf, l, "bias", 1, 0, 1, &bias)) ||
      (r = get_alpha(ctx, mf, l, &alpha)) || (r = parse_act(ctx, mf, l, &sp.act, &sp.init)))
    return r;
  if (sp.filters == 0 || sp.kernel[1] == 0)
    return nncl_err(ctx, NNCL_EFORMAT, "%s:%d:%d: %s needs filters=N and kernel=K", mf->name, l->line, l->col, l->kind);
  sp.bias = (int)bias, sp.alpha = (float)alpha;
  const char *pad = nncl_mf_get(l, "padding");
  if (pad && !strcmp(pad, "same")) sp.same = 1;
  else if (pad && strcmp(pad, "valid")) {
    int64_t v[4];
    int n = 0;
    if ((r = nncl_mf_ints(ctx, mf, l, "padding", 4, v, &n))) return r;
    for (int k = 0; k < n; k++)
      if (v[k] < 0 || v[k] > 4096) return bad_value(ctx, mf, l, "padding", "same, valid, or 1, 2 or 4 integers in 0..4096");
    if (dims == 1 && n == 1) sp.pad[2] = sp.pad[3] = v[0];
    else if (dims == 1 && n == 2) sp.pad[2] = v[0], sp.pad[3] = v[1];
    else if (dims == 2 && n == 1) sp.pad[0] = sp.pad[1] = sp.pad[2] = sp.pad[3] = v[0];
    else if (dims == 2 && n == 2) sp.pad[0] = sp.pad[1] = v[0], sp.pad[2] = sp.pad[3] = v[1];
    else if (dims == 2 && n == 4) memcpy(sp.pad, v, sizeof sp.pad);
    else return bad_value(ctx, mf, l, "padding", dims == 1 ? "same, valid, p or left,right" : "same, valid, p, ph,pw or top,bottom,left,right");
  }
  return nncl_layer_conv(m, name, &sp);
}

static int build_pool(nncl_model *m, const nncl_mf *mf, const nncl_mf_line *l, const char *name, int max, int global) {
  static const char *const known[] = {"kernel", "stride", "padding", "ceil", "count_include_pad", "name", "from", NULL};
  static const char *const known_global[] = {"name", "from", NULL};
  nncl_ctx *ctx = m->ctx;
  nncl_pool_spec sp = {.max = max, .global = global, .dims = 2};
  int64_t ceil, incl;
  int r = nncl_mf_check_keys(ctx, mf, l, global ? known_global : known);
  if (r || global) return r ? r : nncl_layer_pool(m, name, &sp);
  if ((r = spatial(ctx, mf, l, "kernel", 2, 0, 1, 4096, sp.kernel)) ||
      (r = spatial(ctx, mf, l, "stride", 2, 0, 1, 4096, sp.stride)) || (r = spatial(ctx, mf, l, "padding", 2, 0, 0, 2048, sp.pad)) ||
      (r = nncl_mf_int(ctx, mf, l, "ceil", 0, 0, 1, &ceil)) || (r = nncl_mf_int(ctx, mf, l, "count_include_pad", 1, 0, 1, &incl)))
    return r;
  if (sp.kernel[0] == 0) return nncl_err(ctx, NNCL_EFORMAT, "%s:%d:%d: %s needs kernel=K", mf->name, l->line, l->col, l->kind);
  if (max && nncl_mf_get(l, "count_include_pad")) return bad_value(ctx, mf, l, "count_include_pad", "nothing: it applies to avgpool only");
  if (sp.stride[0] == 0) sp.stride[0] = sp.kernel[0], sp.stride[1] = sp.kernel[1]; /* PyTorch: stride defaults to kernel */
  sp.ceil = (int)ceil, sp.count_include_pad = (int)incl;
  return nncl_layer_pool(m, name, &sp);
}

static int build_norm(nncl_model *m, const nncl_mf *mf, const nncl_mf_line *l, const char *name) {
  static const char *const known_bn[] = {"eps", "momentum", "name", "from", NULL};
  static const char *const known_ln[] = {"eps", "dims", "name", "from", NULL};
  static const char *const known_do[] = {"p", "name", "from", NULL};
  nncl_ctx *ctx = m->ctx;
  double eps, mom, p;
  int64_t dims;
  int r;
  if (!strcmp(l->kind, "batchnorm"))
    return (r = nncl_mf_check_keys(ctx, mf, l, known_bn)) || (r = nncl_mf_float(ctx, mf, l, "eps", 1e-5, &eps)) ||
                   (r = nncl_mf_float(ctx, mf, l, "momentum", 0.1, &mom))
               ? r : nncl_layer_batchnorm(m, name, (float)eps, (float)mom);
  if (!strcmp(l->kind, "layernorm"))
    return (r = nncl_mf_check_keys(ctx, mf, l, known_ln)) || (r = nncl_mf_float(ctx, mf, l, "eps", 1e-5, &eps)) ||
                   (r = nncl_mf_int(ctx, mf, l, "dims", 1, 1, NNCL_MAX_DIMS - 1, &dims))
               ? r : nncl_layer_layernorm(m, name, (int)dims, (float)eps);
  return (r = nncl_mf_check_keys(ctx, mf, l, known_do)) || (r = nncl_mf_float(ctx, mf, l, "p", 0.5, &p))
             ? r : nncl_layer_dropout(m, name, (float)p);
}

/* attention / transformer keys; mask_from=L: keys whose first value per step in layer L
 * is != 0 (or == mask_pad when given) are padding. */
static int build_attn(nncl_model *m, const nncl_mf *mf, const nncl_mf_line *l, const char *name, int transformer) {
  static const char *const known_a[] = {"heads", "causal", "dropout", "bias", "mask_from", "mask_pad", "name", "from", NULL};
  static const char *const known_t[] = {"heads", "causal", "dropout", "bias", "mask_from", "mask_pad", "ff", "norm", "act", "eps",
                                        "name", "from", NULL};
  nncl_ctx *ctx = m->ctx;
  nncl_seq_spec sp = {.mask_layer = -1, .act = NNCL_ACT_RELU};
  int64_t causal, bias;
  double dropout, pad, eps;
  const char *s;
  int r;
  if ((r = nncl_mf_check_keys(ctx, mf, l, transformer ? known_t : known_a)) ||
      (r = nncl_mf_int(ctx, mf, l, "heads", 1, 1, 1 << 16, &sp.heads)) || (r = nncl_mf_int(ctx, mf, l, "causal", 0, 0, 1, &causal)) ||
      (r = nncl_mf_int(ctx, mf, l, "bias", 1, 0, 1, &bias)) ||
      (r = nncl_mf_float(ctx, mf, l, "dropout", transformer ? 0.1 : 0, &dropout)) ||
      (r = nncl_mf_float(ctx, mf, l, "mask_pad", 0, &pad)) || (r = nncl_mf_int(ctx, mf, l, "ff", 2048, 1, 1 << 24, &sp.ff)) ||
      (r = nncl_mf_float(ctx, mf, l, "eps", 1e-5, &eps)))
    return r;
  if (!(dropout >= 0 && dropout < 1)) return bad_value(ctx, mf, l, "dropout", "a probability in [0, 1)");
  if (!(fabs(pad) <= FLT_MAX)) return bad_value(ctx, mf, l, "mask_pad", "a number within float range");
  if (!(eps > 0 && eps < 1)) return bad_value(ctx, mf, l, "eps", "a number in (0, 1)");
  sp.causal = (int)causal, sp.bias = (int)bias, sp.dropout = (float)dropout, sp.eps = (float)eps, sp.mask_pad = (float)pad;
  if ((s = nncl_mf_get(l, "mask_from"))) {
    for (int i = 0; i < m->nlayers && sp.mask_layer < 0; i++)
      if (!strcmp(m->layers[i].name, s)) sp.mask_layer = i;
    if (sp.mask_layer < 0) return bad_value(ctx, mf, l, "mask_from", "the name of an earlier layer");
    sp.mask_mode = nncl_mf_get(l, "mask_pad") ? 2 : 1;
  } else if (nncl_mf_get(l, "mask_pad")) {
    return bad_value(ctx, mf, l, "mask_pad", "nothing without mask_from=");
  }
  if ((s = nncl_mf_get(l, "norm")) && strcmp(s, "post") && strcmp(s, "pre")) return bad_value(ctx, mf, l, "norm", "post or pre");
  sp.norm_first = s && !strcmp(s, "pre");
  if ((s = nncl_mf_get(l, "act")) && (sp.act = nncl_act_parse(s)) != NNCL_ACT_RELU && sp.act != NNCL_ACT_GELU)
    return bad_value(ctx, mf, l, "act", "relu or gelu");
  return transformer ? nncl_layer_transformer(m, name, &sp) : nncl_layer_attention(m, name, &sp);
}

static int build_seq(nncl_model *m, const nncl_mf *mf, const nncl_mf_line *l, const char *name) {
  static const char *const known_pe[] = {"kind", "max_len", "name", "from", NULL};
  static const char *const known_sp[] = {"mode", "name", "from", NULL};
  static const char *const modes[] = {[NNCL_SEQPOOL_MEAN] = "mean", [NNCL_SEQPOOL_MAX] = "max", [NNCL_SEQPOOL_LAST] = "last"};
  nncl_ctx *ctx = m->ctx;
  const char *s;
  int r;
  if (!strcmp(l->kind, "posenc")) {
    int64_t max_len;
    if ((r = nncl_mf_check_keys(ctx, mf, l, known_pe)) || (r = nncl_mf_int(ctx, mf, l, "max_len", 512, 1, 1 << 24, &max_len))) return r;
    if ((s = nncl_mf_get(l, "kind")) && strcmp(s, "sinusoidal") && strcmp(s, "learned"))
      return bad_value(ctx, mf, l, "kind", "sinusoidal or learned");
    return nncl_layer_posenc(m, name, s && !strcmp(s, "learned"), max_len);
  }
  if ((r = nncl_mf_check_keys(ctx, mf, l, known_sp))) return r;
  int mode = NNCL_SEQPOOL_MEAN;
  if ((s = nncl_mf_get(l, "mode"))) {
    for (mode = 0; mode < 3 && strcmp(s, modes[mode]); mode++) {}
    if (mode == 3) return bad_value(ctx, mf, l, "mode", "mean, max or last");
  }
  return nncl_layer_seqpool(m, name, mode);
}

static int build_recurrent(nncl_model *m, const nncl_mf *mf, const nncl_mf_line *l, const char *name) {
  static const char *const known[] = {"units", "layers", "bidirectional", "return", "initial", "name", "from", NULL};
  static const char *const known_rnn[] = {"units", "layers", "bidirectional", "return", "initial", "act", "name", "from", NULL};
  static const char *const known_emb[] = {"vocab", "dim", "padding_idx", "name", "from", NULL};
  nncl_ctx *ctx = m->ctx;
  int64_t units, layers, bidir;
  const char *s;
  int r;
  if (!strcmp(l->kind, "embedding")) {
    nncl_embedding_spec e;
    if ((r = nncl_mf_check_keys(ctx, mf, l, known_emb)) || (r = nncl_mf_int(ctx, mf, l, "vocab", 0, 1, 1 << 24, &e.vocab)) ||
        (r = nncl_mf_int(ctx, mf, l, "dim", 0, 1, 1 << 20, &e.dim)) ||
        (r = nncl_mf_int(ctx, mf, l, "padding_idx", -1, -1, (1 << 24) - 1, &e.padding_idx)))
      return r;
    if (e.vocab == 0 || e.dim == 0) return nncl_err(ctx, NNCL_EFORMAT, "%s:%d:%d: embedding needs vocab=V and dim=D", mf->name, l->line, l->col);
    return nncl_layer_embedding(m, name, &e);
  }
  nncl_rnn_spec sp = {.cell = l->kind[0] == 'l' ? NNCL_CELL_LSTM : l->kind[0] == 'g' ? NNCL_CELL_GRU : NNCL_CELL_RNN};
  if ((r = nncl_mf_check_keys(ctx, mf, l, sp.cell == NNCL_CELL_RNN ? known_rnn : known)) ||
      (r = nncl_mf_int(ctx, mf, l, "units", 0, 1, 1 << 16, &units)) || (r = nncl_mf_int(ctx, mf, l, "layers", 1, 1, 64, &layers)) ||
      (r = nncl_mf_int(ctx, mf, l, "bidirectional", 0, 0, 1, &bidir)))
    return r;
  if (units == 0) return nncl_err(ctx, NNCL_EFORMAT, "%s:%d:%d: %s needs units=H", mf->name, l->line, l->col, l->kind);
  if ((s = nncl_mf_get(l, "return")) && strcmp(s, "last") && strcmp(s, "sequence")) return bad_value(ctx, mf, l, "return", "last or sequence");
  sp.sequence = s && !strcmp(s, "sequence");
  if ((s = nncl_mf_get(l, "initial")) && strcmp(s, "zeros") && strcmp(s, "learned")) return bad_value(ctx, mf, l, "initial", "zeros or learned");
  sp.learned = s && !strcmp(s, "learned");
  if ((s = nncl_mf_get(l, "act")) && strcmp(s, "tanh") && strcmp(s, "relu")) return bad_value(ctx, mf, l, "act", "tanh or relu");
  sp.relu = s && !strcmp(s, "relu");
  sp.units = units, sp.layers = layers, sp.bidirectional = (int)bidir;
  return nncl_layer_recurrent(m, name, &sp);
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
  if (!strcmp(l->kind, "concat")) {
    static const char *const known[] = {"name", "from", NULL};
    return (r = nncl_mf_check_keys(ctx, mf, l, known)) ? r : nncl_layer_concat(m, name);
  }
  if (!strcmp(l->kind, "conv2d") || !strcmp(l->kind, "conv1d")) return build_conv(m, mf, l, name, l->kind[4] - '0');
  if (!strcmp(l->kind, "maxpool") || !strcmp(l->kind, "avgpool")) return build_pool(m, mf, l, name, l->kind[0] == 'm', 0);
  if (!strcmp(l->kind, "globalmaxpool") || !strcmp(l->kind, "globalavgpool")) return build_pool(m, mf, l, name, l->kind[6] == 'm', 1);
  if (!strcmp(l->kind, "batchnorm") || !strcmp(l->kind, "layernorm") || !strcmp(l->kind, "dropout")) return build_norm(m, mf, l, name);
  if (!strcmp(l->kind, "attention") || !strcmp(l->kind, "transformer")) return build_attn(m, mf, l, name, l->kind[0] == 't');
  if (!strcmp(l->kind, "posenc") || !strcmp(l->kind, "seqpool")) return build_seq(m, mf, l, name);
  if (!strcmp(l->kind, "lstm") || !strcmp(l->kind, "gru") || !strcmp(l->kind, "rnn") || !strcmp(l->kind, "embedding"))
    return build_recurrent(m, mf, l, name);
  return nncl_err(ctx, NNCL_EFORMAT,
                  "%s:%d:%d: unknown layer kind '%s' (expected input, dense, conv2d, conv1d, maxpool, avgpool, globalmaxpool, globalavgpool, batchnorm, layernorm, dropout, lstm, gru, rnn, embedding, attention, transformer, posenc, seqpool, relu, leaky_relu, elu, gelu, sigmoid, tanh, softmax, add, concat, flatten)",
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

int nncl_model_layer(nncl_model *m, const char *line) {
  if (!m || !line) return nncl_err(m ? m->ctx : NULL, NNCL_EINVAL, "model layer: NULL argument");
  nncl_mf mf;
  int r = nncl_mf_parse(m->ctx, line, strlen(line), "layer", &mf);
  if (r) return r;
  if (mf.nlines != 1) r = nncl_err(m->ctx, NNCL_EINVAL, "model layer: expected one layer line, got %d", mf.nlines);
  else r = build_line(m, &mf, &mf.lines[0]);
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
    } else if (L->kind == NNCL_LAYER_CONV) {
      const nncl_conv_spec *c = &L->conv;
      nncl_sb_printf(&sb, "%s filters=%lld", nncl_layer_kind_name(L), (long long)c->filters);
      if (c->dims == 1)
        nncl_sb_printf(&sb, " kernel=%lld stride=%lld dilation=%lld", (long long)c->kernel[1], (long long)c->stride[1],
                       (long long)c->dilation[1]);
      else
        nncl_sb_printf(&sb, " kernel=%lld,%lld stride=%lld,%lld dilation=%lld,%lld", (long long)c->kernel[0], (long long)c->kernel[1],
                       (long long)c->stride[0], (long long)c->stride[1], (long long)c->dilation[0], (long long)c->dilation[1]);
      if (c->same) nncl_sb_printf(&sb, " padding=same");
      else if (c->dims == 1) nncl_sb_printf(&sb, " padding=%lld,%lld", (long long)c->pad[2], (long long)c->pad[3]);
      else
        nncl_sb_printf(&sb, " padding=%lld,%lld,%lld,%lld", (long long)c->pad[0], (long long)c->pad[1], (long long)c->pad[2],
                       (long long)c->pad[3]);
      nncl_sb_printf(&sb, " groups=%lld bias=%d", (long long)c->groups, c->bias);
      if (c->act != NNCL_ACT_NONE) nncl_sb_printf(&sb, " act=%s", nncl_act_name(c->act));
      nncl_sb_printf(&sb, " init=%s", nncl_init_name(c->init));
      if (c->alpha != 0) nncl_sb_printf(&sb, " alpha=%.9g", c->alpha);
    } else if (L->kind == NNCL_LAYER_POOL) {
      const nncl_pool_spec *p = &L->pool;
      nncl_sb_printf(&sb, "%s", nncl_layer_kind_name(L));
      if (!p->global) {
        nncl_sb_printf(&sb, " kernel=%lld,%lld stride=%lld,%lld padding=%lld,%lld ceil=%d", (long long)p->kernel[0],
                       (long long)p->kernel[1], (long long)p->stride[0], (long long)p->stride[1], (long long)p->pad[0],
                       (long long)p->pad[1], p->ceil);
        if (!p->max) nncl_sb_printf(&sb, " count_include_pad=%d", p->count_include_pad);
      }
    } else if (L->kind == NNCL_LAYER_BATCHNORM) {
      nncl_sb_printf(&sb, "batchnorm eps=%.9g momentum=%.9g", L->eps, L->momentum);
    } else if (L->kind == NNCL_LAYER_LAYERNORM) {
      nncl_sb_printf(&sb, "layernorm dims=%d eps=%.9g", L->norm_dims, L->eps);
    } else if (L->kind == NNCL_LAYER_DROPOUT) {
      nncl_sb_printf(&sb, "dropout p=%.9g", L->p);
    } else if (L->kind == NNCL_LAYER_ATTENTION || L->kind == NNCL_LAYER_TRANSFORMER) {
      const nncl_seq_spec *q = &L->seq;
      nncl_sb_printf(&sb, "%s heads=%lld causal=%d dropout=%.9g bias=%d", nncl_layer_kind_name(L), (long long)q->heads, q->causal,
                     q->dropout, q->bias);
      if (L->kind == NNCL_LAYER_TRANSFORMER)
        nncl_sb_printf(&sb, " ff=%lld norm=%s act=%s eps=%.9g", (long long)q->ff, q->norm_first ? "pre" : "post", nncl_act_name(q->act),
                       q->eps);
      if (q->mask_layer >= 0) {
        nncl_sb_printf(&sb, " mask_from=");
        nncl_sb_value(&sb, m->layers[q->mask_layer].name);
        if (q->mask_mode == 2) nncl_sb_printf(&sb, " mask_pad=%.9g", q->mask_pad);
      }
    } else if (L->kind == NNCL_LAYER_POSENC) {
      nncl_sb_printf(&sb, "posenc kind=%s max_len=%lld", L->seq.pe_learned ? "learned" : "sinusoidal", (long long)L->seq.max_len);
    } else if (L->kind == NNCL_LAYER_SEQPOOL) {
      nncl_sb_printf(&sb, "seqpool mode=%s", L->seq.pool == NNCL_SEQPOOL_MAX ? "max" : L->seq.pool == NNCL_SEQPOOL_LAST ? "last" : "mean");
    } else if (L->kind == NNCL_LAYER_RNN) {
      const nncl_rnn_spec *q = &L->rnn;
      nncl_sb_printf(&sb, "%s units=%lld layers=%lld bidirectional=%d return=%s initial=%s", nncl_layer_kind_name(L), (long long)q->units,
                     (long long)q->layers, q->bidirectional, q->sequence ? "sequence" : "last", q->learned ? "learned" : "zeros");
      if (q->cell == NNCL_CELL_RNN) nncl_sb_printf(&sb, " act=%s", q->relu ? "relu" : "tanh");
    } else if (L->kind == NNCL_LAYER_EMBEDDING) {
      nncl_sb_printf(&sb, "embedding vocab=%lld dim=%lld padding_idx=%lld", (long long)L->emb.vocab, (long long)L->emb.dim,
                     (long long)L->emb.padding_idx);
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
