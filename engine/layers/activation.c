/* activation.c - activation layers and the names of activations and initialisers. */
#include <string.h>

#include "model.h"

static const char *const act_names[] = {
  [NNCL_ACT_NONE] = "none", [NNCL_ACT_RELU] = "relu", [NNCL_ACT_LEAKY_RELU] = "leaky_relu",
  [NNCL_ACT_ELU] = "elu", [NNCL_ACT_GELU] = "gelu", [NNCL_ACT_SIGMOID] = "sigmoid",
  [NNCL_ACT_TANH] = "tanh", [NNCL_ACT_SOFTMAX] = "softmax",
};
static const int act_ops[] = {
  [NNCL_ACT_RELU] = NNCL_OP_RELU, [NNCL_ACT_LEAKY_RELU] = NNCL_OP_LEAKY_RELU, [NNCL_ACT_ELU] = NNCL_OP_ELU,
  [NNCL_ACT_GELU] = NNCL_OP_GELU, [NNCL_ACT_SIGMOID] = NNCL_OP_SIGMOID, [NNCL_ACT_TANH] = NNCL_OP_TANH,
  [NNCL_ACT_SOFTMAX] = NNCL_OP_SOFTMAX,
};
static const char *const init_names[] = {
  [NNCL_INIT_DEFAULT] = "default", [NNCL_INIT_XAVIER_UNIFORM] = "xavier_uniform",
  [NNCL_INIT_XAVIER_NORMAL] = "xavier_normal", [NNCL_INIT_HE_UNIFORM] = "he_uniform",
  [NNCL_INIT_HE_NORMAL] = "he_normal", [NNCL_INIT_LECUN_UNIFORM] = "lecun_uniform",
  [NNCL_INIT_LECUN_NORMAL] = "lecun_normal", [NNCL_INIT_ZEROS] = "zeros",
};
#define COUNT(a) (int)(sizeof a / sizeof *a)

const char *nncl_act_name(int act) { return act >= 0 && act < COUNT(act_names) ? act_names[act] : "?"; }
const char *nncl_init_name(int init) { return init >= 0 && init < COUNT(init_names) ? init_names[init] : "?"; }

int nncl_act_parse(const char *s) {
  for (int i = 0; i < COUNT(act_names); i++)
    if (!strcmp(s, act_names[i])) return i;
  return -1;
}

int nncl_init_parse(const char *s) {
  for (int i = 0; i < COUNT(init_names); i++)
    if (!strcmp(s, init_names[i])) return i;
  return -1;
}

/* Default slopes as PyTorch: leaky ReLU 0.01, ELU alpha 1. */
static float default_alpha(int act, float alpha) {
  if (alpha != 0) return alpha;
  return act == NNCL_ACT_LEAKY_RELU ? 0.01f : act == NNCL_ACT_ELU ? 1.0f : 0;
}

int nncl_act_node(struct nncl_model *m, int x, int act, float alpha, int layer) {
  if (act == NNCL_ACT_NONE) return x;
  if (act < 0 || act >= COUNT(act_names)) return nncl_err(m->ctx, NNCL_EINVAL, "unknown activation %d", act);
  nncl_node *xn = &m->g.nodes[x];
  int64_t shape[NNCL_MAX_DIMS];
  memcpy(shape, xn->shape, sizeof shape);
  int y = nncl_graph_add(&m->g, act_ops[act], 1, &x, xn->batched, xn->ndim, shape);
  if (y < 0) return y;
  m->g.nodes[y].f[0] = default_alpha(act, alpha);
  m->g.nodes[y].layer = layer;
  return y;
}

int nncl_layer_act(struct nncl_model *m, const char *name, int act, float alpha) {
  if (m->nlayers == 0) return nncl_err(m->ctx, NNCL_ESTATE, "activation: the model has no input layer");
  if (act <= NNCL_ACT_NONE || act >= COUNT(act_names)) return nncl_err(m->ctx, NNCL_EINVAL, "unknown activation %d", act);
  int li = nncl_model_add_layer(m, name, act_names[act], NNCL_LAYER_ACT);
  if (li < 0) return li;
  int y = nncl_layer_single_input(m, li);
  if (y) return y;
  m->layers[li].act = act;
  m->layers[li].alpha = default_alpha(act, alpha);
  y = nncl_act_node(m, nncl_layer_input(m, li, 0), act, alpha, li);
  if (y < 0) return y;
  m->layers[li].out = y;
  return 0;
}
