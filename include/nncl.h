/* nncl.h - the one public header of nncl, a neural-network engine in C11.
 *
 * Conventions
 *  - Every fallible function returns int: 0 (NNCL_OK) or a negative NNCL_E* status.
 *    The human-readable detail of the last failure on a context is nncl_errmsg(ctx).
 *  - Handles are opaque. Whoever creates a handle destroys it; destroy functions accept NULL.
 *  - Tensors are float32 (or int32 for labels), row-major, shapes given outermost first:
 *    a batch of images is (N, C, H, W), a batch of feature vectors (N, F).
 *  - The library never prints and never exits; it logs through the context's callback.
 *  - One thread uses a context (and everything made from it) at a time; different
 *    contexts may be used concurrently.
 */
#ifndef NNCL_H
#define NNCL_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32)
#define NNCL_API __declspec(dllexport)
#elif defined(__GNUC__)
#define NNCL_API __attribute__((visibility("default")))
#else
#define NNCL_API
#endif

#define NNCL_VERSION_MAJOR 0
#define NNCL_VERSION_MINOR 1
#define NNCL_VERSION_PATCH 0
#define NNCL_VERSION_STRING "0.1.0"

/* ---- status codes --------------------------------------------------------------- */

/* X(NAME, value, description) */
#define NNCL_STATUS_MAP(X)                                                  \
  X(OK, 0, "success")                                                       \
  X(EINVAL, -1, "invalid argument")                                         \
  X(ENOMEM, -2, "out of memory")                                            \
  X(EIO, -3, "input/output error")                                          \
  X(EFORMAT, -4, "malformed input")                                         \
  X(ESHAPE, -5, "shape mismatch")                                           \
  X(EDEVICE, -6, "device error")                                            \
  X(EBUILD, -7, "kernel build failed")                                      \
  X(ENODEV, -8, "no such device")                                           \
  X(EUNSUPPORTED, -9, "not supported")                                      \
  X(ESTATE, -10, "invalid state")                                           \
  X(ENUMERIC, -11, "non-finite value")                                      \
  X(ELIMIT, -12, "size limit exceeded")

enum nncl_status {
#define NNCL_X_(name, value, text) NNCL_##name = value,
  NNCL_STATUS_MAP(NNCL_X_)
#undef NNCL_X_
};

/* Returns a static description of a status code ("unknown status" if not one). */
NNCL_API const char *nncl_strerror(int status);

/* Version of the library as "MAJOR.MINOR.PATCH" (static string). */
NNCL_API const char *nncl_version(void);

/* ---- context ------------------------------------------------------------------- */

typedef struct nncl_ctx nncl_ctx;

enum nncl_log_level { NNCL_LOG_ERROR = 0, NNCL_LOG_WARN = 1, NNCL_LOG_INFO = 2, NNCL_LOG_DEBUG = 3 };

/* Log callback: msg is a single line without trailing newline, valid during the call. */
typedef void (*nncl_log_fn)(void *user, int level, const char *msg);

typedef struct nncl_ctx_params {
  /* Device string: "auto" | "c" | "cl[:name-substring][:gpu|cpu|acc][:index]".
   * NULL means the NNCL_DEVICE environment variable, or "auto" when unset.
   * auto = best GPU > accelerator (over all OpenCL platforms) > native C backend.
   * A CPU OpenCL device (e.g. PoCL) is used only when asked for ("cl:cpu", "cl:pthread"). */
  const char *device;
  int threads;          /* C backend threads; 0 = all cores */
  uint64_t seed;        /* seed of the context's random generator (init, shuffle, dropout) */
  nncl_log_fn log;      /* NULL = silent */
  void *log_user;       /* passed to log */
  int log_level;        /* messages above this level are dropped; default NNCL_LOG_INFO */
} nncl_ctx_params;

/* Fills p with defaults: device NULL, threads 0, seed 42, no log. */
NNCL_API void nncl_ctx_params_init(nncl_ctx_params *p);

/* Creates a context on the device p->device selects. When "auto" finds no usable
 * OpenCL device (no ICD, no platform, no GPU) it falls back to the C backend and logs why.
 * An explicit "cl..." that cannot be satisfied fails with NNCL_ENODEV.
 * On failure *out is NULL and, if non-NULL, err (size errlen) receives the reason. */
NNCL_API int nncl_ctx_create(const nncl_ctx_params *p, nncl_ctx **out, char *err, size_t errlen);
NNCL_API void nncl_ctx_destroy(nncl_ctx *ctx);

/* Detail of the last failure on ctx ("" if none). Valid until the next call on ctx. */
NNCL_API const char *nncl_errmsg(const nncl_ctx *ctx);

/* "c" or "cl": the backend the context runs on. */
NNCL_API const char *nncl_ctx_backend(const nncl_ctx *ctx);
/* One line: the device chosen and why (e.g. "cl: NVIDIA H100 (GPU, best of 2 devices)"). */
NNCL_API const char *nncl_ctx_device(const nncl_ctx *ctx);

/* Describes every OpenCL platform and device, and which one "auto" picks and why,
 * as text lines passed to fn (one call per line). Works without a context. */
NNCL_API int nncl_devices_report(void (*fn)(void *user, const char *line), void *user);

/* ---- tensors ------------------------------------------------------------------- */

typedef struct nncl_tensor nncl_tensor;

enum nncl_dtype { NNCL_F32 = 0, NNCL_I32 = 1 };
#define NNCL_MAX_DIMS 6

/* Creates a tensor of the given shape (ndim 1..NNCL_MAX_DIMS, every dim >= 1) on ctx's
 * device. Contents are zero. Refuses absurd sizes with NNCL_ELIMIT before allocating. */
NNCL_API int nncl_tensor_create(nncl_ctx *ctx, int ndim, const int64_t *shape, int dtype,
                                nncl_tensor **out);
NNCL_API void nncl_tensor_destroy(nncl_tensor *t);
/* Copies bytes (must equal the tensor's byte size) from host memory. */
NNCL_API int nncl_tensor_write(nncl_tensor *t, const void *src, size_t bytes);
/* Copies the tensor to host memory; bytes must equal the tensor's byte size. */
NNCL_API int nncl_tensor_read(const nncl_tensor *t, void *dst, size_t bytes);
/* Shape access: returns ndim and fills shape[0..ndim) if shape is non-NULL. */
NNCL_API int nncl_tensor_shape(const nncl_tensor *t, int64_t *shape);
NNCL_API int64_t nncl_tensor_numel(const nncl_tensor *t);

/* ---- models -------------------------------------------------------------------- */

typedef struct nncl_model nncl_model;

enum nncl_act {
  NNCL_ACT_NONE = 0, NNCL_ACT_RELU, NNCL_ACT_LEAKY_RELU, NNCL_ACT_ELU, NNCL_ACT_GELU,
  NNCL_ACT_SIGMOID, NNCL_ACT_TANH, NNCL_ACT_SOFTMAX
};
enum nncl_init {
  NNCL_INIT_DEFAULT = 0, /* the layer's usual choice: He uniform after ReLU-family, else Xavier uniform */
  NNCL_INIT_XAVIER_UNIFORM, NNCL_INIT_XAVIER_NORMAL, NNCL_INIT_HE_UNIFORM, NNCL_INIT_HE_NORMAL,
  NNCL_INIT_LECUN_UNIFORM, NNCL_INIT_LECUN_NORMAL, NNCL_INIT_ZEROS
};

/* Parses a model description (see README "Model files"); name is used in messages
 * (e.g. the file name). Errors name line and column in nncl_errmsg(ctx).
 * Parameters are initialised from ctx's random generator. */
NNCL_API int nncl_model_parse(nncl_ctx *ctx, const char *text, const char *name, nncl_model **out);
/* Reads and parses a model description file. */
NNCL_API int nncl_model_parse_file(nncl_ctx *ctx, const char *path, nncl_model **out);

/* Building in code: create, add the input, then layers in order. Each adder returns 0
 * or a status; they act on the last layer added. */
NNCL_API int nncl_model_create(nncl_ctx *ctx, nncl_model **out);
/* Input of shape (N, d0, d1, ...): ndim counts the per-sample dims (1..NNCL_MAX_DIMS-1). */
NNCL_API int nncl_model_input(nncl_model *m, int ndim, const int64_t *sample_shape);
/* Dense: y = x W^T + b, W is (units, in_features) as in PyTorch's nn.Linear. */
NNCL_API int nncl_model_dense(nncl_model *m, int64_t units, int act, int init);
/* Activation layer; alpha is the slope of leaky ReLU / alpha of ELU (0 = default). */
NNCL_API int nncl_model_activation(nncl_model *m, int act, float alpha);

/* Name and inputs of the next layer added: name (NULL = automatic "<kind><n>"), from =
 * comma-separated names of earlier layers (NULL = the previous layer). This is how
 * residual and dense connections are built. */
NNCL_API int nncl_model_next(nncl_model *m, const char *name, const char *from);
/* Adds one layer written as a model-file line, e.g. "conv2d filters=6 kernel=5 padding=2
 * act=relu" or "add from=a,b name=skip" (see README "Model files"): every layer kind is
 * reachable this way. */
NNCL_API int nncl_model_layer(nncl_model *m, const char *line);
/* Elementwise sum of the layer's inputs (a residual connection); all of the same shape. */
NNCL_API int nncl_model_add(nncl_model *m);
/* (N, d0, d1, ...) -> (N, d0*d1*...). */
NNCL_API int nncl_model_flatten(nncl_model *m);

NNCL_API void nncl_model_destroy(nncl_model *m);

/* Writes the model description as text (malloc'd, caller frees) that parses back
 * to the same architecture. */
NNCL_API int nncl_model_to_text(const nncl_model *m, char **out);

/* Summary, one line per layer (name, kind, output shape, parameters) and a total,
 * passed to fn. Returns the parameter count through *nparams if non-NULL. */
NNCL_API int nncl_model_summary(const nncl_model *m, void (*fn)(void *user, const char *line),
                                void *user, int64_t *nparams);

/* Sizes of the model's input/output per sample (product of the sample dims). */
NNCL_API int64_t nncl_model_input_size(const nncl_model *m);
NNCL_API int64_t nncl_model_output_size(const nncl_model *m);

enum nncl_mode { NNCL_MODE_INFER = 0, NNCL_MODE_TRAIN = 1 };
/* Plans memory for batches of up to `batch` samples. NNCL_MODE_TRAIN also plans gradients.
 * After compile, forward/backward/step allocate nothing. May be called again to re-plan. */
NNCL_API int nncl_model_compile(nncl_model *m, int batch, int mode);

/* Training or evaluation behaviour of forward (dropout active, batch-norm batch statistics
 * and running-statistics updates): a train-mode compile starts in training, an infer-mode
 * compile in evaluation. nncl_fit trains; nncl_evaluate and nncl_predict always run in
 * evaluation and restore the setting. */
NNCL_API int nncl_model_set_training(nncl_model *m, int training);

/* Forward pass: x is (n, input...) with n <= compiled batch (tensor's first dim is n),
 * y receives (n, output...) (after the final softmax if the model ends with one). */
NNCL_API int nncl_model_forward(nncl_model *m, const nncl_tensor *x, nncl_tensor *y);
/* Backward pass after a forward in train mode: dy is dL/dy for the model's output
 * (same shape as y); parameter gradients are overwritten (not accumulated). */
NNCL_API int nncl_model_backward(nncl_model *m, const nncl_tensor *dy);

/* Parameters: index 0..count-1 in model order. name is "<layer>.weight" / "<layer>.bias"
 * (static while m lives). value and grad are views into the model's arenas (do not
 * destroy; grad is NULL before a train-mode compile). */
NNCL_API int nncl_model_param_count(const nncl_model *m);
NNCL_API int nncl_model_param(nncl_model *m, int index, const char **name, nncl_tensor **value,
                              nncl_tensor **grad);
/* Marks parameters of the layers whose name matches `layer` (exact) trainable or frozen. */
NNCL_API int nncl_model_set_trainable(nncl_model *m, const char *layer, int trainable);
/* Freezes (frozen 1) or unfreezes (0) the parameters of the layers `layers` names:
 * comma-separated layer names or 0-based indices, or ranges "first:last" of them
 * (inclusive; an empty end is the model's first or last layer), e.g. "c1,c2" or ":f1".
 * Frozen parameters get no gradient and no weight-gradient work; a compiled model is
 * re-planned. An optimizer made before covers the old set: create a new one. */
NNCL_API int nncl_model_freeze(nncl_model *m, const char *layers, int frozen);
/* Copies into m every parameter of checkpoint `path` with the same name, dtype F32 and
 * shape (state_dict-style transfer). strict: fail unless every parameter of m is there.
 * *loaded (may be NULL) receives the number copied. */
NNCL_API int nncl_model_load_weights(nncl_model *m, const char *path, int strict, int *loaded);
/* A new model, on m's context, equal to m (architecture and weights) except that its last
 * dense layer has `units` outputs, freshly initialised: the head for a new task. */
NNCL_API int nncl_model_new_head(nncl_model *m, int64_t units, nncl_model **out);

/* ---- optimizers ---------------------------------------------------------------- */

typedef struct nncl_optim nncl_optim;
enum nncl_optim_kind { NNCL_OPT_SGD = 0, NNCL_OPT_ADAM, NNCL_OPT_ADAMW, NNCL_OPT_RMSPROP, NNCL_OPT_ADAGRAD };

/* Weight decay, for every optimizer:
 *  - L2 penalty (decoupled_wd 0; PyTorch's `weight_decay` of SGD, Adam, RMSprop, Adagrad):
 *    g += weight_decay * w before the update, so adaptive optimizers rescale it;
 *  - decoupled (decoupled_wd 1; AdamW, Loshchilov & Hutter 2019): w *= 1 - lr * weight_decay
 *    beside the update, independent of the gradient statistics. NNCL_OPT_ADAMW is Adam with
 *    decoupled weight decay whatever decoupled_wd says. */
typedef struct nncl_optim_params {
  int kind;             /* nncl_optim_kind */
  float lr;             /* learning rate (the base rate when a schedule is set) */
  float momentum;       /* SGD, RMSprop */
  int nesterov;         /* SGD */
  float beta1, beta2, eps; /* Adam/AdamW; eps also RMSprop and Adagrad */
  float weight_decay;   /* see above */
  int decoupled_wd;     /* 0: L2 penalty, 1: decoupled (see above) */
  float alpha;          /* RMSprop smoothing constant (default 0.99) */
  int centered;         /* RMSprop: normalise by the centred second moment */
  float lr_decay;       /* Adagrad: lr / (1 + (t-1) lr_decay) at step t */
  float initial_accumulator; /* Adagrad: initial value of the sum of squares */
  /* Gradient clipping before every update (0 = off), over the trainable gradients:
   * clip_norm as torch.nn.utils.clip_grad_norm_ (total L2 norm; scale by
   * clip_norm / (norm + 1e-6) when that is < 1), clip_value as clip_grad_value_ (clamp
   * to [-clip_value, clip_value]). With both, values are clamped first. */
  float clip_norm, clip_value;
} nncl_optim_params;

/* Defaults: Adam, lr 1e-3, momentum 0, beta1 0.9, beta2 0.999, eps 1e-8, weight_decay 0,
 * L2 penalty, alpha 0.99, not centered, lr_decay 0, initial_accumulator 0, no clipping
 * (as PyTorch; for AdamW set weight_decay yourself, e.g. 0.01). Note PyTorch's defaults
 * for eps differ per optimizer: RMSprop and Adagrad use 1e-8 and 1e-10, set eps for
 * Adagrad yourself to match exactly. */
NNCL_API void nncl_optim_params_init(nncl_optim_params *p);
/* Creates an optimizer over m's trainable parameters; m must be compiled in train mode. */
NNCL_API int nncl_optim_create(nncl_model *m, const nncl_optim_params *p, nncl_optim **out);
NNCL_API void nncl_optim_destroy(nncl_optim *o);
/* One update of every trainable parameter from its gradient (clipped first when the
 * params ask for it); then the schedule, if any, sets the rate of the next step. */
NNCL_API int nncl_optim_step(nncl_optim *o);
/* Sets the (base) learning rate. */
NNCL_API int nncl_optim_set_lr(nncl_optim *o, float lr);
/* The rate the next step uses (the schedule's value, or the base rate). */
NNCL_API float nncl_optim_lr(const nncl_optim *o);
NNCL_API int64_t nncl_optim_steps(const nncl_optim *o);

/* Gradient clipping of m's trainable gradients after a backward pass, as
 * torch.nn.utils.clip_grad_norm_ (deterministic sum of squares on the device; *total_norm,
 * if non-NULL, receives the norm before clipping, which waits for the device) and
 * clip_grad_value_. nncl_optim_params.clip_norm / clip_value do this inside each step. */
NNCL_API int nncl_model_clip_grad_norm(nncl_model *m, float max_norm, float *total_norm);
NNCL_API int nncl_model_clip_grad_value(nncl_model *m, float clip_value);

/* ---- learning-rate schedules ----------------------------------------------------- */

/* As torch.optim.lr_scheduler. t counts optimizer steps taken, e = t / steps_per_epoch
 * the completed epochs; the step-t+1 rate is
 *   lr = scale * base * warmup(t) * f
 * with base the optimizer's lr, scale = batch / base_batch (the linear scaling rule of
 * Goyal et al. 2017; 1 when base_batch is 0), warmup(t) = s + (1 - s) min(t, W) / W
 * (torch's LinearLR over steps; W = warmup_steps, s = warmup_start; 1 when W is 0), and f:
 *  CONSTANT         1
 *  STEP             gamma^floor(e / step_size)                     (per epoch)
 *  MULTISTEP        gamma^(number of milestones <= e)             (per epoch)
 *  EXPONENTIAL      gamma^e                                        (per epoch)
 *  COSINE           CosineAnnealingLR: eta_min/base + (1 - eta_min/base)(1 + cos(pi e / t_max))/2
 *                   (per epoch; t_max 0 = the run's epochs)
 *  COSINE_RESTARTS  CosineAnnealingWarmRestarts(t_0, t_mult, eta_min) at the fractional
 *                   epoch t / steps_per_epoch (per step, as its documentation steps it)
 *  PLATEAU          ReduceLROnPlateau (mode min, relative threshold) on the loss passed to
 *                   nncl_optim_epoch_end: the rate times factor after more than `patience`
 *                   epochs without improvement, not below min_lr, then `cooldown` epochs
 *  ONECYCLE         OneCycleLR with max_lr = base over total_steps (0 = the run's steps):
 *                   cosine from base/div_factor up to base over pct_start of the steps,
 *                   then down to base/div_factor/final_div_factor (three_phase as torch);
 *                   with cycle_momentum the momentum (SGD, RMSprop) or beta1 (Adam) runs
 *                   from max_momentum to base_momentum and back (when the optimizer has
 *                   momentum: not for Adagrad or SGD/RMSprop with momentum 0)  (per step) */
enum nncl_sched_kind {
  NNCL_SCHED_CONSTANT = 0, NNCL_SCHED_STEP, NNCL_SCHED_MULTISTEP, NNCL_SCHED_EXPONENTIAL,
  NNCL_SCHED_COSINE, NNCL_SCHED_COSINE_RESTARTS, NNCL_SCHED_PLATEAU, NNCL_SCHED_ONECYCLE
};
#define NNCL_SCHED_MAX_MILESTONES 16

typedef struct nncl_schedule_params {
  int kind;                  /* nncl_sched_kind */
  int64_t steps_per_epoch;   /* 0: set by nncl_fit (batches per epoch) */
  int epochs;                /* 0: set by nncl_fit (its epochs) */
  float gamma;               /* STEP, MULTISTEP, EXPONENTIAL (default 0.1) */
  int step_size;             /* STEP: epochs per decay (default 30, as torch examples) */
  int milestones[NNCL_SCHED_MAX_MILESTONES], nmilestones; /* MULTISTEP: increasing epochs */
  int t_max;                 /* COSINE: half period in epochs (0 = epochs) */
  int t_0, t_mult;           /* COSINE_RESTARTS: first period in epochs, growth (default 10, 1) */
  float eta_min;             /* COSINE, COSINE_RESTARTS: lowest rate (default 0) */
  float factor, threshold, min_lr; /* PLATEAU: default 0.1, 1e-4, 0 */
  int patience, cooldown;    /* PLATEAU: default 10, 0 */
  int64_t total_steps;       /* ONECYCLE: 0 = epochs * steps_per_epoch */
  float pct_start, div_factor, final_div_factor; /* ONECYCLE: default 0.3, 25, 1e4 */
  int three_phase, cycle_momentum; /* ONECYCLE: default 0, 1 */
  float base_momentum, max_momentum; /* ONECYCLE: default 0.85, 0.95 */
  int64_t warmup_steps;      /* linear warm-up over this many steps (0 = none) */
  float warmup_start;        /* warm-up start factor (default 0.01) */
  int base_batch;            /* linear scaling rule: lr * batch / base_batch (0 = off) */
} nncl_schedule_params;

/* Defaults as listed above; kind CONSTANT. */
NNCL_API void nncl_schedule_params_init(nncl_schedule_params *p);
/* Parses "KIND[:key=value,...]" into p (after nncl_schedule_params_init): kinds constant,
 * step, multistep, exponential, cosine, cosine-restarts, plateau, onecycle; keys gamma,
 * step_size, milestones (a/b/c), t_max, t_0, t_mult, eta_min, factor, patience, threshold,
 * cooldown, min_lr, total_steps, pct_start, div_factor, final_div_factor, three_phase,
 * cycle_momentum, base_momentum, max_momentum, warmup, warmup_start, base_batch.
 * On failure err (size errlen) says why. */
NNCL_API int nncl_schedule_parse(const char *spec, nncl_schedule_params *p, char *err, size_t errlen);
/* Attaches a schedule to o (replacing any); the rate of the next step is set at once. */
NNCL_API int nncl_optim_set_schedule(nncl_optim *o, const nncl_schedule_params *p);
/* End of an epoch: PLATEAU steps on `monitored_loss` (nncl_fit passes the validation loss,
 * or the training loss without a validation set). Other schedules ignore it. */
NNCL_API int nncl_optim_epoch_end(nncl_optim *o, double monitored_loss);

/* ---- data ---------------------------------------------------------------------- */

typedef struct nncl_dataset nncl_dataset;

/* Loads an IDX image file and an IDX label file (plain or gzip), e.g. Fashion-MNIST.
 * Images stay uint8 in memory; batches are scaled to [0,1] (then (x-mean)/std when
 * set with nncl_dataset_normalize). Errors name the file and byte offset. */
NNCL_API int nncl_dataset_load_idx(nncl_ctx *ctx, const char *images, const char *labels,
                                   nncl_dataset **out);
/* Loads "<dir>/<prefix>-images-idx3-ubyte[.gz]" and "<dir>/<prefix>-labels-idx1-ubyte[.gz]",
 * prefix "train" or "t10k". */
NNCL_API int nncl_dataset_load_idx_dir(nncl_ctx *ctx, const char *dir, const char *prefix,
                                       nncl_dataset **out);
/* Dataset from host arrays (copied): x is (n, sample_size) float, labels int32 (n). */
NNCL_API int nncl_dataset_from_arrays(nncl_ctx *ctx, int64_t n, int ndim, const int64_t *sample_shape,
                                      const float *x, const int32_t *labels, int nclasses,
                                      nncl_dataset **out);
NNCL_API void nncl_dataset_destroy(nncl_dataset *d);
NNCL_API int64_t nncl_dataset_size(const nncl_dataset *d);
NNCL_API int nncl_dataset_classes(const nncl_dataset *d);
/* Values per sample (the product of the sample shape). */
NNCL_API int64_t nncl_dataset_sample_size(const nncl_dataset *d);
/* Sets per-dataset normalisation x' = (x - mean) / std applied when batches are built. */
NNCL_API int nncl_dataset_normalize(nncl_dataset *d, float mean, float std);
/* Copies samples start..start+n-1 as the model sees them (scaled, normalised) into x
 * (n x sample size floats) and their labels into labels (n, may be NULL). */
NNCL_API int nncl_dataset_read(const nncl_dataset *d, int64_t start, int64_t n, float *x, int32_t *labels);
/* Splits d into a shuffled (seeded by ctx) training part and a validation part holding
 * `val_fraction` of the samples. Both share d's storage; d must outlive them. */
NNCL_API int nncl_dataset_split(nncl_dataset *d, double val_fraction, nncl_dataset **train,
                                nncl_dataset **val);
/* Character-level text (language models): the vocabulary is the set of bytes in the file,
 * ids 0..V-1 in byte order (nncl_dataset_classes gives V); sample k is the window of
 * seq_len token ids (as floats, for an embedding layer) starting at byte k seq_len, and
 * its seq_len labels are the next character at each position. A model for it maps
 * (seq_len) ids to (seq_len, V) scores; fit, evaluate and the losses then work per step. */
NNCL_API int nncl_dataset_load_text(nncl_ctx *ctx, const char *path, int seq_len, nncl_dataset **out);
/* A text dataset's vocabulary: *vocab points at the character of each id (valid while d
 * lives). Returns V, or a status for other datasets. */
NNCL_API int nncl_dataset_vocab(const nncl_dataset *d, const char **vocab);
/* Labels per sample: 1 for classification, seq_len for text (nncl_dataset_read's labels
 * hold n times this many). */
NNCL_API int nncl_dataset_label_len(const nncl_dataset *d);
/* A view of d holding only the samples whose label is in classes[0..nsel), relabelled as
 * the position of their class in that list; with limit > 0, only the first `limit` of
 * them after a shuffle seeded by ctx. d must outlive it. */
NNCL_API int nncl_dataset_subset(const nncl_dataset *d, const int *classes, int nsel, int64_t limit,
                                 nncl_dataset **out);

/* Image augmentation, applied to training batches on the host while they are built
 * (samples of shape (H, W) or (C, H, W); the last two dims are the image). Per sample,
 * drawn from a counter-based hash of (seed, epoch, sample index), so it is reproducible
 * and independent of batch composition and resumption:
 *  crop  > 0: pad by `crop` zeros (raw pixel value 0) on every side and take a random
 *             H x W window (shift in [-crop, crop] on each axis), as torchvision's
 *             RandomCrop(padding=crop);
 *  flip  != 0: mirror left-right with probability 1/2;
 *  noise > 0: add N(0, noise^2) to every value after scaling and normalisation. */
typedef struct nncl_augment {
  int crop;
  int flip;
  float noise;
  uint64_t seed;     /* 0 = drawn from the context's generator when fit starts */
} nncl_augment;

/* Applies `a` to samples start..start+n-1 of d for `epoch` into x (n x sample size, as
 * nncl_dataset_read) and labels (may be NULL): what fit feeds the model. */
NNCL_API int nncl_dataset_read_augmented(const nncl_dataset *d, const nncl_augment *a, int64_t epoch,
                                         int64_t start, int64_t n, float *x, int32_t *labels);

/* Tabular data from a CSV file: a header line of column names, then one sample per
 * line; every column but the label holds numbers. Labels are strings mapped to class
 * indices: by `classes` when given, else sorted (numerically when all are numbers). */
enum nncl_csv_header {
  NNCL_CSV_HEADER = 0,   /* the first line names the columns */
  NNCL_CSV_NO_HEADER,    /* data from the first line; columns are named by their index */
  NNCL_CSV_SKLEARN       /* scikit-learn's bundled files: "n_samples,n_features,class names...",
                          * labels are indices into those names (checked against the counts) */
};
typedef struct nncl_csv_params {
  int header;            /* nncl_csv_header; default NNCL_CSV_HEADER */
  const char *label;     /* label column: its name, or its 0-based index as digits; NULL = last */
  char delimiter;        /* default ',' */
  const char *classes;   /* comma-separated class names in index order (NULL = from the data) */
} nncl_csv_params;
NNCL_API void nncl_csv_params_init(nncl_csv_params *p);
/* Loads path into a dataset of (features) float samples. Errors name the file, line and
 * column (1-based) of the first bad cell. */
NNCL_API int nncl_dataset_load_csv(nncl_ctx *ctx, const char *path, const nncl_csv_params *p, nncl_dataset **out);
/* Class names of a CSV dataset as "name0,name1,..." ("" for other datasets; static while
 * d lives). */
NNCL_API const char *nncl_dataset_class_names(const nncl_dataset *d);
/* Fits per-feature standardisation x' = (x - mean_j) / std_j on d (population std; a
 * constant feature gets std 1) and applies it to d. Views made by nncl_dataset_split
 * before or after keep their own setting. */
NNCL_API int nncl_dataset_fit_standardize(nncl_dataset *d);
/* Copies src's per-feature standardisation to dst (same sample size). */
NNCL_API int nncl_dataset_copy_standardize(nncl_dataset *dst, const nncl_dataset *src);
/* Like nncl_dataset_split with its own seed instead of the context's generator. */
NNCL_API int nncl_dataset_split_seeded(nncl_dataset *d, double val_fraction, uint64_t seed, nncl_dataset **train,
                                       nncl_dataset **val);

/* Model preprocessing: stores d's per-feature standardisation and class names in m's
 * metadata (saved in checkpoints), so that eval and predict apply them. */
NNCL_API int nncl_model_set_preprocess(nncl_model *m, const nncl_dataset *d);
/* Applies m's saved standardisation to d (no-op if m has none). */
NNCL_API int nncl_dataset_apply_preprocess(nncl_dataset *d, const nncl_model *m);
/* Free-form metadata saved in checkpoints ("nncl." keys are reserved for the engine's
 * own). value NULL removes the key. nncl_model_meta returns NULL if unset. */
NNCL_API int nncl_model_set_meta(nncl_model *m, const char *key, const char *value);
NNCL_API const char *nncl_model_meta(const nncl_model *m, const char *key);

/* ---- training ------------------------------------------------------------------ */

/* FOCAL: softmax focal loss -w[y] (1 - p_y)^gamma log p_y (Lin et al. 2017), the class
 * weights w as its alpha; XENT with class weights is PyTorch's cross_entropy(weight=w).
 * Both reduce as PyTorch's weighted mean: sum_r loss_r / sum_r w[y_r]. */
enum nncl_loss { NNCL_LOSS_XENT = 0, NNCL_LOSS_MSE, NNCL_LOSS_BCE, NNCL_LOSS_FOCAL };

typedef struct nncl_epoch_stats {
  int epoch;            /* 1-based */
  int epochs;
  int64_t batch, batches; /* progress within the epoch (1-based), for progress callbacks */
  double train_loss, train_acc;
  double val_loss, val_acc; /* -1 when no validation set */
  double samples_per_s;
  double elapsed_s;     /* since the start of the epoch */
} nncl_epoch_stats;

enum nncl_monitor { NNCL_MONITOR_VAL_LOSS = 0, NNCL_MONITOR_VAL_ACC };
enum nncl_monitor_mode { NNCL_MONITOR_AUTO = 0, NNCL_MONITOR_MIN, NNCL_MONITOR_MAX };

/* Outcome of nncl_fit. best_* refer to the monitored metric (best_epoch 0 without a
 * validation set). */
typedef struct nncl_fit_result {
  int epochs_run;        /* last epoch completed (counting resumed ones) */
  int stopped_early;     /* 1 if early stopping ended the run */
  int best_epoch;
  double best_metric;
  nncl_epoch_stats last, best; /* the stats of the last and of the best epoch */
} nncl_fit_result;

typedef struct nncl_fit_params {
  int epochs;           /* default 1 */
  int batch;            /* default 64; the model is compiled for it */
  int shuffle;          /* default 1; seeded by the context */
  int loss;             /* nncl_loss; XENT uses the fused softmax + cross-entropy */
  /* Called after each batch (is_epoch_end 0) and each epoch (1); return non-zero to stop. */
  int (*progress)(void *user, const nncl_epoch_stats *s, int is_epoch_end);
  void *user;
  const char *checkpoint;  /* if non-NULL, saved (with optimizer state) after every epoch */
  /* Class imbalance (XENT, FOCAL): one weight per model output (class), >= 0 (NULL = all
   * 1), copied at fit start; also used for the validation loss. See
   * nncl_class_weights_balanced. */
  const float *class_weights;
  float focal_gamma;    /* NNCL_LOSS_FOCAL's gamma >= 0; default 2 */
  /* Early stopping on the validation set: stop when `monitor` has not improved by more
   * than min_delta for `patience` epochs (0 = never stop early). With a validation set
   * and a checkpoint, the best epoch is also saved to best_checkpoint (NULL = the
   * checkpoint's name with ".best.safetensors" for ".safetensors"). */
  int patience;
  int monitor;          /* nncl_monitor; default NNCL_MONITOR_VAL_LOSS */
  int monitor_mode;     /* nncl_monitor_mode; default AUTO (min for a loss, max for accuracy) */
  double min_delta;     /* default 0 */
  const char *best_checkpoint;
  /* Training curves: after every epoch, "<curves>.csv" (epoch, train_loss, train_acc,
   * val_loss, val_acc, lr, seconds) and "<curves>.svg" (loss and accuracy plots) are
   * rewritten. NULL = none. */
  const char *curves;
  /* Continue the run saved in this checkpoint (written by nncl_fit with `checkpoint`):
   * m must have been loaded from it (nncl_load) and o created over m with the same
   * settings. Optimizer state, epoch, step, random generator, dropout counter, early
   * stopping state and the curves so far are restored; training runs epochs
   * saved epoch + 1 .. epochs and gives bit for bit the weights of an uninterrupted run
   * on the same backend and threads. */
  const char *resume;
  nncl_augment augment; /* image augmentation of training batches; default none */
  nncl_fit_result *result; /* if non-NULL, receives the outcome */
} nncl_fit_params;

NNCL_API void nncl_fit_params_init(nncl_fit_params *p);
/* Trains m on train with o; evaluates on val (may be NULL) after every epoch. */
NNCL_API int nncl_fit(nncl_model *m, nncl_optim *o, const nncl_dataset *train,
                      const nncl_dataset *val, const nncl_fit_params *p);
/* Mean loss and accuracy of m on d, eval mode, batches of the compiled size
 * (NNCL_LOSS_FOCAL: gamma 2, unit class weights). */
NNCL_API int nncl_evaluate(nncl_model *m, const nncl_dataset *d, int loss, double *mean_loss,
                           double *accuracy);
/* Class weights n / (C count_c) (scikit-learn's "balanced") of d's labels into w
 * (nncl_dataset_classes(d) values); a class without samples gets 0. */
NNCL_API int nncl_class_weights_balanced(const nncl_dataset *d, float *w);

/* Classification metrics of m on d (eval mode): confusion[t * C + p] counts samples of
 * true class t predicted as p; per-class precision, recall, F1 (0 where undefined) and
 * support; macro averages. Allocated by nncl_evaluate_metrics, freed with
 * nncl_metrics_destroy. */
typedef struct nncl_metrics {
  int nclasses;
  int64_t n;
  double accuracy, macro_precision, macro_recall, macro_f1;
  int64_t *confusion, *support;
  double *precision, *recall, *f1;
} nncl_metrics;
NNCL_API int nncl_evaluate_metrics(nncl_model *m, const nncl_dataset *d, nncl_metrics **out);
NNCL_API void nncl_metrics_destroy(nncl_metrics *mt);

/* Outputs for n samples: x is (n, input size) host floats, out (n, output size). */
NNCL_API int nncl_predict(nncl_model *m, int64_t n, const float *x, float *out);

/* ---- looking inside ------------------------------------------------------------ */

typedef struct nncl_layer_stats {
  const char *name, *kind;  /* the layer's (valid while the model lives) */
  double mean, std;         /* of the layer's output over the batch */
  double dead;              /* ReLU outputs: fraction of units that are 0 for every sample
                             * of the batch (dead ReLUs); -1 for other layers */
  double grad_norm;         /* L2 norm of the gradient of the layer's trainable parameters
                             * (all of them together); -1 when it has none */
  double out_grad_norm;     /* L2 norm of dL/d(output); -1 where no gradient flows */
} nncl_layer_stats;

/* One training-mode forward and backward pass (mean cross-entropy; the model must end in
 * softmax) on samples start..start+n-1 of d, and per-layer statistics of it in stats[0..
 * *nlayers) (at most max, one per layer in model order). The model is left as it was:
 * weights and running statistics unchanged, no optimizer step. m must be compiled in
 * train mode for at least n samples. */
NNCL_API int nncl_model_inspect(nncl_model *m, const nncl_dataset *d, int64_t start, int n,
                                nncl_layer_stats *stats, int max, int *nlayers);
/* Saliency map of sample `index` of d: |d score_c / d x| for c the predicted class (its
 * pre-softmax score), into out (input size floats); *cls (may be NULL) receives c. The
 * pass runs in training mode within a batch of the following samples (batch statistics
 * as in training); the model is left as it was. m: compiled in train mode. */
NNCL_API int nncl_model_saliency(nncl_model *m, const nncl_dataset *d, int64_t index, float *out, int *cls);
/* Loss and accuracy on d with hidden layer `layer` (index in model order) bypassed: its
 * consumers read its input instead. NNCL_ESHAPE when the layer changes the shape. */
NNCL_API int nncl_model_ablate(nncl_model *m, int layer, const nncl_dataset *d, double *loss, double *acc);

/* ---- learning-rate range test ----------------------------------------------------- */

/* The range test of Smith 2015 / fastai's lr_find: a short run whose rate grows
 * exponentially from start_lr to end_lr over `steps` batches (lr_i = start (end/start)^(i/(steps-1))),
 * recording each batch's loss and its exponentially smoothed, debiased value
 * (beta `smooth`); it stops early once the smoothed loss exceeds `diverge` times its best
 * or is not finite. Afterwards the model's weights (and state buffers), the optimizer's
 * state, step count and rate are restored; the context's random generator has moved on. */
typedef struct nncl_lr_find_params {
  float start_lr, end_lr;  /* default 1e-7, 10 */
  int steps;               /* default 100 */
  int batch;               /* default 64 */
  int loss;                /* nncl_loss, default XENT */
  float smooth;            /* default 0.98 */
  float diverge;           /* default 4 */
} nncl_lr_find_params;

typedef struct nncl_lr_find_result {
  int n;                   /* points recorded */
  double *lr, *loss, *smoothed; /* n each (malloc'd; nncl_lr_find_result_free) */
  int diverged;            /* stopped early on divergence */
  /* Suggestions over the points [n/10, n-5) (all when fewer): the rate of the steepest
   * descent of the smoothed loss against log(rate), and the rate at its minimum / 10. */
  double lr_steepest, lr_min10;
} nncl_lr_find_result;

NNCL_API void nncl_lr_find_params_init(nncl_lr_find_params *p);
/* Runs the test on m (compiled for training or not) with o over d (shuffled); fills *res. */
NNCL_API int nncl_lr_find(nncl_model *m, nncl_optim *o, const nncl_dataset *d, const nncl_lr_find_params *p,
                          nncl_lr_find_result *res);
NNCL_API void nncl_lr_find_result_free(nncl_lr_find_result *res);

/* ---- checkpoints --------------------------------------------------------------- */

/* Saves weights (and o's state and step if o is non-NULL) to one .safetensors file with
 * the model description, epoch and nncl version in its metadata. Written to a temporary
 * file, fsynced and renamed: an existing file is replaced only by a complete one. */
NNCL_API int nncl_save(const nncl_model *m, const nncl_optim *o, int epoch, const char *path);
/* Loads a checkpoint: builds the model from its description and sets its weights.
 * Every offset and size is validated. *epoch receives the saved epoch if non-NULL. */
NNCL_API int nncl_load(nncl_ctx *ctx, const char *path, nncl_model **out, int *epoch);
/* Restores optimizer state saved by nncl_save into o (created over the loaded model): the
 * state tensors and the step count, which positions a schedule set with
 * nncl_optim_set_schedule (set it first: then ReduceLROnPlateau's state is restored too). */
NNCL_API int nncl_load_optim(nncl_optim *o, const char *path);

#ifdef __cplusplus
}
#endif
#endif /* NNCL_H */
