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

/* ---- training ------------------------------------------------------------------ */

enum nncl_loss { NNCL_LOSS_XENT = 0, NNCL_LOSS_MSE, NNCL_LOSS_BCE };

typedef struct nncl_epoch_stats {
  int epoch;            /* 1-based */
  int epochs;
  int64_t batch, batches; /* progress within the epoch (1-based), for progress callbacks */
  double train_loss, train_acc;
  double val_loss, val_acc; /* -1 when no validation set */
  double samples_per_s;
  double elapsed_s;     /* since the start of the epoch */
} nncl_epoch_stats;

typedef struct nncl_fit_params {
  int epochs;           /* default 1 */
  int batch;            /* default 64; the model is compiled for it */
  int shuffle;          /* default 1; seeded by the context */
  int loss;             /* nncl_loss; XENT uses the fused softmax + cross-entropy */
  /* Called after each batch (is_epoch_end 0) and each epoch (1); return non-zero to stop. */
  int (*progress)(void *user, const nncl_epoch_stats *s, int is_epoch_end);
  void *user;
  const char *checkpoint;  /* if non-NULL, saved (with optimizer state) after every epoch */
} nncl_fit_params;

NNCL_API void nncl_fit_params_init(nncl_fit_params *p);
/* Trains m on train with o; evaluates on val (may be NULL) after every epoch. */
NNCL_API int nncl_fit(nncl_model *m, nncl_optim *o, const nncl_dataset *train,
                      const nncl_dataset *val, const nncl_fit_params *p);
/* Mean loss and accuracy of m on d, eval mode, batches of the compiled size. */
NNCL_API int nncl_evaluate(nncl_model *m, const nncl_dataset *d, int loss, double *mean_loss,
                           double *accuracy);
/* Outputs for n samples: x is (n, input size) host floats, out (n, output size). */
NNCL_API int nncl_predict(nncl_model *m, int64_t n, const float *x, float *out);

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
