/* backend_cl.h - internals of the OpenCL backend shared by the files in cl/. */
#ifndef NNCL_BACKEND_CL_H
#define NNCL_BACKEND_CL_H

#define CL_TARGET_OPENCL_VERSION 120
#include <CL/cl.h>
#include <stddef.h>
#include <stdint.h>

#include "backend.h"

/* From cl_ext.h (cl_khr_icd): the ICD loader found no platform. */
#ifndef CL_PLATFORM_NOT_FOUND_KHR
#define CL_PLATFORM_NOT_FOUND_KHR -1001
#endif

/* Kernel families, one .cl file each (prelude.cl is prepended to every one). */
#define NNCL_CL_FAMILIES(X) \
  X(ELEMENTWISE, elementwise) \
  X(ACTIVATION, activation)   \
  X(SOFTMAX, softmax)         \
  X(OPTIM, optim)             \
  X(GEMM, gemm)               \
  X(CONV, conv)               \
  X(POOL, pool)               \
  X(NORM, norm)               \
  X(DROPOUT, dropout)         \
  X(FOCAL, focal)             \
  X(ATTN, attn)               \
  X(RNN, rnn)                 \
  X(CLIP, clip)

enum {
#define NNCL_X_(id, file) NNCL_CL_FAM_##id,
  NNCL_CL_FAMILIES(NNCL_X_)
#undef NNCL_X_
  NNCL_CL_FAM_COUNT
};

/* Kernels: X(ID, family, name). The name is the op's name; `_wide` variants give a row
 * to a whole work-group; tanh is `tanh_fwd` because `tanh` is an OpenCL builtin. */
#define NNCL_CL_KERNELS(X)                                   \
  X(FILL, ELEMENTWISE, fill)                                 \
  X(COPY, ELEMENTWISE, copy)                                 \
  X(ADD, ELEMENTWISE, add)                                   \
  X(SCALE, ELEMENTWISE, scale)                               \
  X(BIAS_ADD, ELEMENTWISE, bias_add)                         \
  X(RELU, ACTIVATION, relu)                                  \
  X(RELU_GRAD, ACTIVATION, relu_grad)                        \
  X(LEAKY_RELU, ACTIVATION, leaky_relu)                      \
  X(LEAKY_RELU_GRAD, ACTIVATION, leaky_relu_grad)            \
  X(ELU, ACTIVATION, elu)                                    \
  X(ELU_GRAD, ACTIVATION, elu_grad)                          \
  X(GELU, ACTIVATION, gelu)                                  \
  X(GELU_GRAD, ACTIVATION, gelu_grad)                        \
  X(SIGMOID, ACTIVATION, sigmoid)                            \
  X(SIGMOID_GRAD, ACTIVATION, sigmoid_grad)                  \
  X(TANH, ACTIVATION, tanh_fwd)                              \
  X(TANH_GRAD, ACTIVATION, tanh_grad)                        \
  X(SOFTMAX, SOFTMAX, softmax)                               \
  X(SOFTMAX_WIDE, SOFTMAX, softmax_wide)                     \
  X(SOFTMAX_GRAD, SOFTMAX, softmax_grad)                     \
  X(SOFTMAX_GRAD_WIDE, SOFTMAX, softmax_grad_wide)           \
  X(SOFTMAX_XENT, SOFTMAX, softmax_xent)                     \
  X(SOFTMAX_XENT_WIDE, SOFTMAX, softmax_xent_wide)           \
  X(SOFTMAX_XENT_GRAD, SOFTMAX, softmax_xent_grad)           \
  X(MSE, SOFTMAX, mse)                                       \
  X(MSE_WIDE, SOFTMAX, mse_wide)                             \
  X(MSE_GRAD, SOFTMAX, mse_grad)                             \
  X(BCE, SOFTMAX, bce)                                       \
  X(BCE_WIDE, SOFTMAX, bce_wide)                             \
  X(BCE_GRAD, SOFTMAX, bce_grad)                             \
  X(SUM, SOFTMAX, sum)                                       \
  X(SUM_ROWS, SOFTMAX, sum_rows)                             \
  X(ARGMAX, SOFTMAX, argmax)                                 \
  X(ARGMAX_WIDE, SOFTMAX, argmax_wide)                       \
  X(ACCURACY, SOFTMAX, accuracy)                             \
  X(SGD_UPDATE, OPTIM, sgd_update)                           \
  X(ADAM_UPDATE, OPTIM, adam_update)                         \
  X(MATMUL, GEMM, matmul)                                    \
  X(IM2COL, CONV, im2col)                                    \
  X(COL2IM, CONV, col2im)                                    \
  X(TRANSPOSE_AB, CONV, transpose_ab)                        \
  X(CH_BIAS_ADD, CONV, ch_bias_add)                          \
  X(COPY2D, CONV, copy2d)                                    \
  X(CONV2D, CONV, conv2d)                                    \
  X(CONV2D_GRAD_X, CONV, conv2d_grad_x)                      \
  X(CONV2D_GRAD_W, CONV, conv2d_grad_w)                      \
  X(MAXPOOL2D, POOL, maxpool2d)                              \
  X(MAXPOOL2D_GRAD, POOL, maxpool2d_grad)                    \
  X(AVGPOOL2D, POOL, avgpool2d)                              \
  X(AVGPOOL2D_GRAD, POOL, avgpool2d_grad)                    \
  X(CH_SUM, NORM, ch_sum)                                    \
  X(BATCHNORM, NORM, batchnorm)                              \
  X(BATCHNORM_EVAL, NORM, batchnorm_eval)                    \
  X(BATCHNORM_GRAD, NORM, batchnorm_grad)                    \
  X(RUNNING_UPDATE, NORM, running_update)                    \
  X(LAYERNORM, NORM, layernorm)                              \
  X(LAYERNORM_WIDE, NORM, layernorm_wide)                    \
  X(LAYERNORM_GRAD, NORM, layernorm_grad)                    \
  X(LAYERNORM_GRAD_WIDE, NORM, layernorm_grad_wide)          \
  X(LAYERNORM_GRAD_COLS, NORM, layernorm_grad_cols)          \
  X(DROPOUT, DROPOUT, dropout)                               \
  X(DROPOUT_GRAD, DROPOUT, dropout_grad)                     \
  X(FOCAL, FOCAL, focal)                                     \
  X(FOCAL_GRAD, FOCAL, focal_grad)                         \
  X(MATMUL_BATCHED, GEMM, matmul_batched)                    \
  X(ATTN_SOFTMAX, ATTN, attn_softmax)                        \
  X(EMBEDDING, RNN, embedding)                               \
  X(EMBEDDING_GRAD, RNN, embedding_grad)                     \
  X(RNN_CELL, RNN, rnn_cell)                                 \
  X(LSTM_CELL, RNN, lstm_cell)                               \
  X(LSTM_CELL_GRAD, RNN, lstm_cell_grad)                     \
  X(GRU_CELL, RNN, gru_cell)                                 \
  X(GRU_CELL_GRAD, RNN, gru_cell_grad)                       \
  X(RMSPROP_UPDATE, OPTIM, rmsprop_update)                   \
  X(ADAGRAD_UPDATE, OPTIM, adagrad_update)                   \
  X(SUMSQ_PART, CLIP, sumsq_part)                            \
  X(SUMSQ_FINAL, CLIP, sumsq_final)                          \
  X(CLIP_SCALE, CLIP, clip_scale)                            \
  X(CLAMP, CLIP, clamp_fwd)                                  \
  X(NONFINITE, CLIP, nonfinite)

enum {
#define NNCL_X_(id, fam, name) NNCL_CL_K_##id,
  NNCL_CL_KERNELS(NNCL_X_)
#undef NNCL_X_
  NNCL_CL_K_COUNT
};

/* Embedded kernel sources (generated by scripts/embed_cl.py): name is the file name
 * without ".cl"; text starts with a #line directive and is NUL-terminated. */
typedef struct nncl_cl_src {
  const char *name;
  const char *text;
  size_t len;
} nncl_cl_src;
extern const nncl_cl_src nncl_cl_srcs[];
extern const int nncl_cl_nsrcs;

/* One OpenCL device as discovered. */
typedef struct nncl_cl_dev {
  cl_platform_id platform;
  cl_device_id device;
  int plat_index, dev_index;      /* enumeration order */
  char plat_name[128], plat_version[128];
  char name[128], vendor[128], driver[64], clc[64];
  cl_device_type type;
  cl_uint units, mhz, vec_float;
  cl_ulong global_mem, max_alloc, local_mem;
  size_t max_wg;
  int pocl;                       /* platform is PoCL */
  const char *unusable;           /* NULL, or why the device cannot run our kernels */
} nncl_cl_dev;

/* Per-device tunables, passed to the kernels as -D defines (see each .cl file). */
typedef struct nncl_cl_tune {
  int vw;                 /* floats per work-item in elementwise kernels: 1,2,4,8,16 */
  int ls;                 /* 1-D work-group size of elementwise kernels */
  int rwg;                /* work-group size of row (`_wide`) and reduction kernels */
  int sum_k;              /* elements per work-item in one `sum` pass */
  int srx, sry;           /* sum_rows work-group: columns x row slices */
  int wide_cols;          /* rows at least this long use the `_wide` kernels */
  int tm, tn, tk, wm, wn; /* gemm.cl tile (tm x tn, depth tk), items compute wm x wn */
  int vn;                 /* gemm.cl vector width along N */
} nncl_cl_tune;

struct nncl_buf {
  cl_mem mem;
  size_t bytes;
};

typedef struct nncl_cl_warm nncl_cl_warm; /* programs being built ahead of use */

typedef struct nncl_clbe {
  nncl_backend be;                 /* first: nncl_backend * <-> nncl_clbe * */
  nncl_cl_dev dev;
  nncl_cl_tune tune;
  cl_context context;
  cl_command_queue queue;
  size_t used;                     /* bytes in live buffers */
  unsigned long driver_allocs;     /* clCreateBuffer calls made (tests check refusals) */
  int poisoned;                    /* a queue failure made the device unusable */
  char poison[512];
  int gemm_clblast;                /* MATMUL through CLBlast instead of gemm.cl */
  int binary_cache;                /* our on-disk binary cache is on */
  char kernel_dir[1024];           /* NNCL_KERNEL_DIR, "" = embedded sources */
  cl_program prog[NNCL_CL_FAM_COUNT];
  cl_kernel kern[NNCL_CL_K_COUNT];
  size_t kern_wg[NNCL_CL_K_COUNT]; /* CL_KERNEL_WORK_GROUP_SIZE */
  nncl_buf *scratch;               /* reduction partials, grown on demand */
  nncl_cl_warm *warm;              /* NULL, or builds started by nncl_cl_prepare */
} nncl_clbe;

/* errors_cl.c: OpenCL error names and failure reporting. */
const char *nncl_cl_errname(cl_int err);
/* Sets "<what>: <NAME> (<code>)" on the context; -5/-6/-36 poison the backend.
 * Returns NNCL_ENOMEM for -4/-6, else NNCL_EDEVICE. */
int nncl_cl_fail(nncl_clbe *b, cl_int err, const char *what);
/* As nncl_cl_fail for a command-queue call, where -4 and NVIDIA's -9999 poison too. */
int nncl_cl_qfail(nncl_clbe *b, cl_int err, const char *what);
/* 0, or NNCL_EDEVICE with the reason when the backend is poisoned. */
int nncl_cl_alive(nncl_clbe *b);

/* device_cl.c: discovery and choice. */
/* Sets POCL_CACHE_DIR to <nncl cache dir>/pocl when unset (PoCL reads it at init). */
void nncl_cl_pocl_env(void);
/* All devices of all platforms (malloc'd, caller frees). Returns 0, or NNCL_ENODEV with
 * the reason in why (no ICD, no platform, no device). */
int nncl_cl_devices(nncl_cl_dev **out, int *n, char *why, size_t whylen);
/* Index into d of the device spec selects (auto_mode: GPU/accelerator only), or -1 with
 * the reason in why. */
int nncl_cl_pick(const nncl_cl_dev *d, int n, const nncl_devspec *spec, int auto_mode,
                 char *why, size_t whylen);
/* "GPU", "CPU", "accelerator" or "other". */
const char *nncl_cl_type_name(cl_device_type t);

/* program_cl.c: sources, build options, lazy build, kernel objects. */
void nncl_cl_tune_init(nncl_clbe *b);
const char *nncl_cl_family_name(int fam);
const char *nncl_cl_kernel_name(int kid);
/* Starts building, on a thread of its own, the programs of these ops that are not built
 * yet (the backend's prepare hook). */
void nncl_cl_prepare(nncl_backend *be, const int *ops, int nops);
/* Builds family fam's program if not built yet. */
int nncl_cl_build(nncl_clbe *b, int fam);
/* The kernel object (building its family on first use). */
int nncl_cl_kernel(nncl_clbe *b, int kid, cl_kernel *out);
void nncl_cl_programs_release(nncl_clbe *b);

/* cache_cl.c: our on-disk program binary cache (non-PoCL devices, or forced).
 * Entry <nncl_cache_dir()>/cl/<key as 16 hex digits>.bin = this header + the binary. */
#define NNCL_CL_CACHE_FORMAT 1u
#define NNCL_CL_FNV_BASIS 0xcbf29ce484222325ull
typedef struct nncl_cl_cache_header {
  char magic[8];      /* "NNCLBIN\n" */
  uint32_t format;    /* NNCL_CL_CACHE_FORMAT */
  uint32_t reserved;
  uint64_t key;
  uint64_t length;    /* payload bytes */
  uint64_t checksum;  /* FNV-1a 64 of the payload */
} nncl_cl_cache_header;

uint64_t nncl_cl_fnv1a(uint64_t h, const void *p, size_t n);
/* Path of the entry for key (the hash of sources, options and device). */
int nncl_cl_cache_path(uint64_t key, char *out, size_t n);
/* Cache key of a build. */
uint64_t nncl_cl_cache_key(const nncl_clbe *b, const char *const *src, const size_t *len,
                           int nsrc, const char *options);
/* A built program from the entry, or NULL (a bad entry is deleted and logged). */
cl_program nncl_cl_cache_load(nncl_clbe *b, uint64_t key, const char *options, const char *what);
/* Stores prog's binary; failures are logged, never fatal. */
void nncl_cl_cache_store(nncl_clbe *b, uint64_t key, cl_program prog, const char *what);

/* launch_cl.c: argument setting and enqueue. */
typedef struct nncl_cl_call {
  nncl_clbe *b;
  int kid;
  cl_kernel k;
  cl_uint n;     /* next argument index */
  int status;    /* first failure while setting arguments */
} nncl_cl_call;
int nncl_cl_begin(nncl_clbe *b, int kid, nncl_cl_call *c);
/* A tensor of `elems` floats or ints: buffer and element offset (byte offset / 4). */
void nncl_cl_arg_ref(nncl_cl_call *c, nncl_ref r, size_t elems);
void nncl_cl_arg_u32(nncl_cl_call *c, size_t v);
void nncl_cl_arg_i32(nncl_cl_call *c, int v);
void nncl_cl_arg_f32(nncl_cl_call *c, float v);
void nncl_cl_arg_local(nncl_cl_call *c, size_t bytes);
/* Enqueues over items[0..dims) work-items (rounded up to the local size). */
int nncl_cl_enqueue(nncl_cl_call *c, cl_uint dims, const size_t *items, const size_t *local);
/* Enqueues an elementwise kernel over n elements (one work-item per VW). */
int nncl_cl_enqueue_ew(nncl_cl_call *c, size_t n);
/* Ensures the scratch buffer holds at least `bytes`. */
int nncl_cl_scratch(nncl_clbe *b, size_t bytes);
/* Elements must fit the kernels' 32-bit indices. */
int nncl_cl_check_size(nncl_clbe *b, const char *op, size_t elems);
/* *n = rows * cols, which must fit as above. */
int nncl_cl_check_rows(nncl_clbe *b, const char *op, size_t rows, size_t cols, size_t *n);

/* ops_cl.c, loss_cl.c, gemm_cl.c: the op table. */
extern const nncl_kernel_fn nncl_cl_ops[NNCL_OP_COUNT];
int nncl_cl_softmax(nncl_backend *be, const nncl_args *a);
int nncl_cl_softmax_grad(nncl_backend *be, const nncl_args *a);
int nncl_cl_softmax_xent(nncl_backend *be, const nncl_args *a);
int nncl_cl_softmax_xent_grad(nncl_backend *be, const nncl_args *a);
int nncl_cl_mse(nncl_backend *be, const nncl_args *a);
int nncl_cl_mse_grad(nncl_backend *be, const nncl_args *a);
int nncl_cl_bce(nncl_backend *be, const nncl_args *a);
int nncl_cl_bce_grad(nncl_backend *be, const nncl_args *a);
int nncl_cl_sum(nncl_backend *be, const nncl_args *a);
int nncl_cl_mean(nncl_backend *be, const nncl_args *a);
int nncl_cl_sum_rows(nncl_backend *be, const nncl_args *a);
int nncl_cl_argmax(nncl_backend *be, const nncl_args *a);
int nncl_cl_accuracy(nncl_backend *be, const nncl_args *a);
int nncl_cl_matmul(nncl_backend *be, const nncl_args *a);
/* conv_cl.c: the vision ops (conv.cl, pool.cl, norm.cl, dropout.cl). */
#define NNCL_CL_NWG 64 /* work-group size of norm.cl's group kernels (its NWG) */
int nncl_cl_im2col(nncl_backend *be, const nncl_args *a);
int nncl_cl_col2im(nncl_backend *be, const nncl_args *a);
int nncl_cl_transpose_ab(nncl_backend *be, const nncl_args *a);
int nncl_cl_ch_bias_add(nncl_backend *be, const nncl_args *a);
int nncl_cl_ch_sum(nncl_backend *be, const nncl_args *a);
int nncl_cl_copy2d(nncl_backend *be, const nncl_args *a);
int nncl_cl_conv2d(nncl_backend *be, const nncl_args *a);
int nncl_cl_conv2d_grad_x(nncl_backend *be, const nncl_args *a);
int nncl_cl_conv2d_grad_w(nncl_backend *be, const nncl_args *a);
int nncl_cl_maxpool2d(nncl_backend *be, const nncl_args *a);
int nncl_cl_maxpool2d_grad(nncl_backend *be, const nncl_args *a);
int nncl_cl_avgpool2d(nncl_backend *be, const nncl_args *a);
int nncl_cl_avgpool2d_grad(nncl_backend *be, const nncl_args *a);
int nncl_cl_batchnorm(nncl_backend *be, const nncl_args *a);
int nncl_cl_batchnorm_grad(nncl_backend *be, const nncl_args *a);
int nncl_cl_running_update(nncl_backend *be, const nncl_args *a);
int nncl_cl_layernorm(nncl_backend *be, const nncl_args *a);
int nncl_cl_layernorm_grad(nncl_backend *be, const nncl_args *a);
int nncl_cl_dropout(nncl_backend *be, const nncl_args *a);
int nncl_cl_dropout_grad(nncl_backend *be, const nncl_args *a);
/* focal_cl.c: softmax focal loss (focal.cl). */
int nncl_cl_focal(nncl_backend *be, const nncl_args *a);
int nncl_cl_focal_grad(nncl_backend *be, const nncl_args *a);
/* gemm_cl.c, seq_cl.c: the sequence ops. */
int nncl_cl_matmul_batched(nncl_backend *be, const nncl_args *a);
int nncl_cl_attn_softmax(nncl_backend *be, const nncl_args *a);
/* rnn_cl.c: the sequence ops (rnn.cl). */
int nncl_cl_embedding(nncl_backend *be, const nncl_args *a);
int nncl_cl_embedding_grad(nncl_backend *be, const nncl_args *a);
int nncl_cl_rnn_cell(nncl_backend *be, const nncl_args *a);
int nncl_cl_lstm_cell(nncl_backend *be, const nncl_args *a);
int nncl_cl_lstm_cell_grad(nncl_backend *be, const nncl_args *a);
int nncl_cl_gru_cell(nncl_backend *be, const nncl_args *a);
int nncl_cl_gru_cell_grad(nncl_backend *be, const nncl_args *a);
/* optim_cl.c: RMSprop, Adagrad (optim.cl), clipping and the finite check (clip.cl). */
int nncl_cl_sgd_update(nncl_backend *be, const nncl_args *a);
int nncl_cl_adam_update(nncl_backend *be, const nncl_args *a);
int nncl_cl_rmsprop_update(nncl_backend *be, const nncl_args *a);
int nncl_cl_adagrad_update(nncl_backend *be, const nncl_args *a);
int nncl_cl_sumsq(nncl_backend *be, const nncl_args *a);
int nncl_cl_clip_scale(nncl_backend *be, const nncl_args *a);
int nncl_cl_clamp(nncl_backend *be, const nncl_args *a);
int nncl_cl_nonfinite(nncl_backend *be, const nncl_args *a);
/* "own" or "clblast" for NNCL_CL_GEMM; sets b->gemm_clblast. */
int nncl_cl_gemm_init(nncl_clbe *b);

#endif
