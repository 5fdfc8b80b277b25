/* model.h - a model: named layers over an op graph. Internal. */
#ifndef NNCL_MODEL_H
#define NNCL_MODEL_H

#include "graph.h"
#include "tensor.h"

enum nncl_layer_kind {
  NNCL_LAYER_INPUT, NNCL_LAYER_DENSE, NNCL_LAYER_ACT, NNCL_LAYER_ADD, NNCL_LAYER_FLATTEN, NNCL_LAYER_CONV,
  NNCL_LAYER_POOL, NNCL_LAYER_BATCHNORM, NNCL_LAYER_LAYERNORM, NNCL_LAYER_DROPOUT, NNCL_LAYER_CONCAT,
  NNCL_LAYER_ATTENTION, NNCL_LAYER_TRANSFORMER, NNCL_LAYER_POSENC, NNCL_LAYER_SEQPOOL,
  NNCL_LAYER_RNN, NNCL_LAYER_EMBEDDING
};

/* attention / transformer as nn.MultiheadAttention / nn.TransformerEncoderLayer
 * (batch_first), posenc, seqpool (layers/attention.c, layers/sequence.c). */
typedef struct nncl_seq_spec {
  int64_t heads, ff;         /* transformer: feed-forward width */
  int causal, bias;
  int norm_first, act;       /* transformer: norm=pre, act relu|gelu */
  float dropout, eps;
  int mask_layer;            /* layer whose first value per step marks padded keys, -1 none */
  int mask_mode;             /* 1: padded when != 0; 2: when == mask_pad */
  float mask_pad;
  int pe_learned;            /* posenc: learned table, else sinusoidal */
  int64_t max_len;
  int pool;                  /* seqpool: NNCL_SEQPOOL_* */
} nncl_seq_spec;
enum { NNCL_SEQPOOL_MEAN, NNCL_SEQPOOL_MAX, NNCL_SEQPOOL_LAST };

/* conv1d/conv2d as nn.Conv1d/nn.Conv2d; 1-D uses index 1 (width) of the pairs. */
typedef struct nncl_conv_spec {
  int dims;                  /* 1 or 2 */
  int64_t filters, kernel[2], stride[2], dilation[2], groups;
  int64_t pad[4];            /* top, bottom, left, right */
  int same;                  /* padding=same (TensorFlow's rule, extra at the end) */
  int bias, act, init;
  float alpha;
} nncl_conv_spec;

/* max/avg pooling as nn.MaxPool2d/AvgPool2d; global = kernel over the whole input. */
typedef struct nncl_pool_spec {
  int dims, max, global, ceil, count_include_pad;
  int64_t kernel[2], stride[2], pad[2]; /* pad: symmetric (top/bottom, left/right) */
} nncl_pool_spec;

/* rnn/lstm/gru as nn.RNN/nn.LSTM/nn.GRU (batch_first) over (T, D) samples. */
enum { NNCL_CELL_RNN, NNCL_CELL_LSTM, NNCL_CELL_GRU };
typedef struct nncl_rnn_spec {
  int cell;                  /* NNCL_CELL_* */
  int64_t units, layers;     /* H, L */
  int bidirectional;         /* 0 or 1 */
  int sequence;              /* return=sequence (N, T, H dirs), else last (N, H dirs) */
  int relu;                  /* rnn: act=relu instead of tanh */
  int learned;               /* initial=learned: trainable h0 (and c0), else zeros */
} nncl_rnn_spec;

/* embedding as nn.Embedding: (T) ids -> (T, dim); padding_idx -1 = none. */
typedef struct nncl_embedding_spec {
  int64_t vocab, dim, padding_idx;
} nncl_embedding_spec;

#define NNCL_LAYER_MAX_IN 8
#define NNCL_MAX_LAYERS 10000 /* far beyond real networks; bounds the quadratic name checks */

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
  nncl_conv_spec conv;
  nncl_pool_spec pool;
  float eps, momentum; /* batch/layer norm */
  int norm_dims;     /* layer norm: trailing dims normalised */
  float p;           /* dropout probability */
  nncl_rnn_spec rnn;
  nncl_embedding_spec emb;
  int nin;           /* input layers (indices of earlier layers) */
  int in[NNCL_LAYER_MAX_IN];
  int joined;        /* inputs are not just the previous layer (written as from=) */
  nncl_seq_spec seq;
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
  char **meta;           /* nmeta (key, value) pairs saved in checkpoints (meta.c) */
  int nmeta;
};

/* Layer builders (layers/): add nodes and parameters after the last layer. */
int nncl_layer_dense(struct nncl_model *m, const char *name, int64_t units, int act, int init, float alpha);
int nncl_layer_act(struct nncl_model *m, const char *name, int act, float alpha);
/* Adds the activation node for act after node `x`; returns the new node (x for NONE). */
int nncl_act_node(struct nncl_model *m, int x, int act, float alpha, int layer);

int nncl_layer_add(struct nncl_model *m, const char *name);
int nncl_layer_concat(struct nncl_model *m, const char *name);
int nncl_layer_conv(struct nncl_model *m, const char *name, const nncl_conv_spec *sp);
int nncl_layer_pool(struct nncl_model *m, const char *name, const nncl_pool_spec *sp);
int nncl_layer_batchnorm(struct nncl_model *m, const char *name, float eps, float momentum);
int nncl_layer_layernorm(struct nncl_model *m, const char *name, int dims, float eps);
int nncl_layer_dropout(struct nncl_model *m, const char *name, float p);
int nncl_layer_flatten(struct nncl_model *m, const char *name);
int nncl_layer_recurrent(struct nncl_model *m, const char *name, const nncl_rnn_spec *sp);
int nncl_layer_embedding(struct nncl_model *m, const char *name, const nncl_embedding_spec *sp);

int nncl_layer_attention(struct nncl_model *m, const char *name, const nncl_seq_spec *sp);
int nncl_layer_transformer(struct nncl_model *m, const char *name, const nncl_seq_spec *sp);
int nncl_layer_posenc(struct nncl_model *m, const char *name, int learned, int64_t max_len);
int nncl_layer_seqpool(struct nncl_model *m, const char *name, int mode);
/* Nodes without a layer record of their own (parts of composite layers): layer norm over
 * the last `dims` dims with parameters "<prefix>.weight", "<prefix>.bias"; dropout. */
int nncl_layernorm_node(struct nncl_model *m, int x, int dims, float eps, const char *prefix, int li);
int nncl_dropout_node(struct nncl_model *m, int x, float p, int li);

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

/* After trainable flags changed: which nodes need gradients, and a new plan if compiled. */
int nncl_model_replan(struct nncl_model *m);
/* Frees m's metadata (meta.c). */
void nncl_model_meta_free(struct nncl_model *m);

/* The output node; the logits feeding a final softmax (for fused losses) or -1. */
int nncl_model_logits(const struct nncl_model *m);

#endif
