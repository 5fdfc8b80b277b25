/* model.h - a model: named layers over an op graph. Internal. */
#ifndef NNCL_MODEL_H
#define NNCL_MODEL_H

#include "graph.h"
#include "tensor.h"

enum nncl_layer_kind { NNCL_LAYER_INPUT, NNCL_LAYER_DENSE, NNCL_LAYER_ACT, NNCL_LAYER_ADD, NNCL_LAYER_FLATTEN };

#define NNCL_LAYER_MAX_IN 8

typedef struct nncl_layer {
  char name[48];
  int kind;          /* nncl_layer_kind */
  int64_t units;     /* dense */
  int act;           /* dense: fused activation; act layer: the function */
  int init;          /* dense */
  float alpha;       /* leaky ReLU slope / ELU alpha */
  int out;           /* output node */
  int ndim;          /* input: per-sample shape */
  int64_t shape[NNCL_MAX_DIMS];
  int nin;           /* input layers (indices of earlier layers) */
  int in[NNCL_LAYER_MAX_IN];
  int joined;        /* inputs are not just the previous layer (written as from=) */
} nncl_layer;

struct nncl_model {
  struct nncl_ctx *ctx;
  nncl_graph g;
  nncl_layer *layers;
  int nlayers, cap;
  nncl_tensor **views;   /* 2 per parameter (value, grad), made on demand */
  int nviews;
  char next_name[48];    /* set by nncl_model_next for the next layer added */
  int next_nin, next_in[NNCL_LAYER_MAX_IN];
};

/* Layer builders (layers/): add nodes and parameters after the last layer. */
int nncl_layer_dense(struct nncl_model *m, const char *name, int64_t units, int act, int init, float alpha);
int nncl_layer_act(struct nncl_model *m, const char *name, int act, float alpha);
/* Adds the activation node for act after node `x`; returns the new node (x for NONE). */
int nncl_act_node(struct nncl_model *m, int x, int act, float alpha, int layer);

int nncl_layer_add(struct nncl_model *m, const char *name);
int nncl_layer_flatten(struct nncl_model *m, const char *name);

/* Appends a layer record with a unique name (given, set by nncl_model_next, or
 * "<kind><n>") and its inputs (set by nncl_model_next, or the previous layer); returns
 * its index. */
int nncl_model_add_layer(struct nncl_model *m, const char *name, const char *kind_name, int kind);

/* Name of a layer's kind as in model files ("dense", "relu", "add"). */
const char *nncl_layer_kind_name(const nncl_layer *L);
/* Fails unless layer li has exactly one input (what a single-input layer needs). */
int nncl_layer_single_input(struct nncl_model *m, int li);

/* Activation and init names as used in model files ("relu", "he_uniform"). */
const char *nncl_act_name(int act);
int nncl_act_parse(const char *s);   /* -1 if unknown */
const char *nncl_init_name(int init);
int nncl_init_parse(const char *s);  /* -1 if unknown */

/* Output node of the k-th input of layer li. */
static inline int nncl_layer_input(const struct nncl_model *m, int li, int k) { return m->layers[m->layers[li].in[k]].out; }

/* The output node; the logits feeding a final softmax (for fused losses) or -1. */
int nncl_model_logits(const struct nncl_model *m);

#endif
