/* ops_cl.c - the OpenCL op table; elementwise, activation and optimizer ops.
 * Argument meanings are those of engine/ops.def. */
#include "cl/backend_cl.h"
#include "internal.h"

static nncl_clbe *clbe(nncl_backend *be) { return (nncl_clbe *)be; }

/* Elementwise kernels over n0 elements take t[0..nrefs), n, then f[0..nf). */
static int elementwise(nncl_backend *be, const nncl_args *a, int kid, int nrefs, int nf)
{
  nncl_cl_call c;
  size_t n = a->n[0];
  if (nncl_cl_begin(clbe(be), kid, &c) != 0)
    return c.status;
  for (int k = 0; k < nrefs; k++)
    nncl_cl_arg_ref(&c, a->t[k], n);
  nncl_cl_arg_u32(&c, n);
  for (int k = 0; k < nf; k++)
    nncl_cl_arg_f32(&c, a->f[k]);
  return nncl_cl_enqueue_ew(&c, n);
}

/* t0[k] = f0;  t1 = t0;  t2 = t0 + t1;  t1 = f0 t0 */
static int cl_fill(nncl_backend *be, const nncl_args *a) { return elementwise(be, a, NNCL_CL_K_FILL, 1, 1); }
static int cl_copy(nncl_backend *be, const nncl_args *a) { return elementwise(be, a, NNCL_CL_K_COPY, 2, 0); }
static int cl_add(nncl_backend *be, const nncl_args *a) { return elementwise(be, a, NNCL_CL_K_ADD, 3, 0); }
static int cl_scale(nncl_backend *be, const nncl_args *a) { return elementwise(be, a, NNCL_CL_K_SCALE, 2, 1); }

/* t1[r,c] = t0[r,c] + t2[c] over n0 x n1 */
static int cl_bias_add(nncl_backend *be, const nncl_args *a)
{
  nncl_clbe *b = clbe(be);
  nncl_cl_call c;
  size_t rows = a->n[0], cols = a->n[1], n;
  int st = nncl_cl_check_rows(b, "bias_add", rows, cols, &n);
  if (st != 0)
    return st;
  if (nncl_cl_begin(b, NNCL_CL_K_BIAS_ADD, &c) != 0)
    return c.status;
  nncl_cl_arg_ref(&c, a->t[0], n);
  nncl_cl_arg_ref(&c, a->t[2], cols);
  nncl_cl_arg_ref(&c, a->t[1], n);
  nncl_cl_arg_u32(&c, rows);
  nncl_cl_arg_u32(&c, cols);
  return nncl_cl_enqueue_ew(&c, n);
}

/* Activations: t1 = f(t0); gradients: t2 = t1 * f'(t0); alpha = f0. */
#define ACTIVATION(op, id)                                                                   \
  static int cl_##op(nncl_backend *be, const nncl_args *a) { return elementwise(be, a, NNCL_CL_K_##id, 2, 1); } \
  static int cl_##op##_grad(nncl_backend *be, const nncl_args *a)                            \
  {                                                                                          \
    return elementwise(be, a, NNCL_CL_K_##id##_GRAD, 3, 1);                                  \
  }
ACTIVATION(relu, RELU)
ACTIVATION(leaky_relu, LEAKY_RELU)
ACTIVATION(elu, ELU)
ACTIVATION(gelu, GELU)
ACTIVATION(sigmoid, SIGMOID)
ACTIVATION(tanh, TANH)

const nncl_kernel_fn nncl_cl_ops[NNCL_OP_COUNT] = {
    [NNCL_OP_FILL] = cl_fill,
    [NNCL_OP_COPY] = cl_copy,
    [NNCL_OP_MATMUL] = nncl_cl_matmul,
    [NNCL_OP_BIAS_ADD] = cl_bias_add,
    [NNCL_OP_SUM_ROWS] = nncl_cl_sum_rows,
    [NNCL_OP_ADD] = cl_add,
    [NNCL_OP_SCALE] = cl_scale,
    [NNCL_OP_RELU] = cl_relu,
    [NNCL_OP_RELU_GRAD] = cl_relu_grad,
    [NNCL_OP_LEAKY_RELU] = cl_leaky_relu,
    [NNCL_OP_LEAKY_RELU_GRAD] = cl_leaky_relu_grad,
    [NNCL_OP_ELU] = cl_elu,
    [NNCL_OP_ELU_GRAD] = cl_elu_grad,
    [NNCL_OP_GELU] = cl_gelu,
    [NNCL_OP_GELU_GRAD] = cl_gelu_grad,
    [NNCL_OP_SIGMOID] = cl_sigmoid,
    [NNCL_OP_SIGMOID_GRAD] = cl_sigmoid_grad,
    [NNCL_OP_TANH] = cl_tanh,
    [NNCL_OP_TANH_GRAD] = cl_tanh_grad,
    [NNCL_OP_SOFTMAX] = nncl_cl_softmax,
    [NNCL_OP_SOFTMAX_GRAD] = nncl_cl_softmax_grad,
    [NNCL_OP_SOFTMAX_XENT] = nncl_cl_softmax_xent,
    [NNCL_OP_SOFTMAX_XENT_GRAD] = nncl_cl_softmax_xent_grad,
    [NNCL_OP_MSE] = nncl_cl_mse,
    [NNCL_OP_MSE_GRAD] = nncl_cl_mse_grad,
    [NNCL_OP_BCE] = nncl_cl_bce,
    [NNCL_OP_BCE_GRAD] = nncl_cl_bce_grad,
    [NNCL_OP_SUM] = nncl_cl_sum,
    [NNCL_OP_MEAN] = nncl_cl_mean,
    [NNCL_OP_ARGMAX] = nncl_cl_argmax,
    [NNCL_OP_ACCURACY] = nncl_cl_accuracy,
    [NNCL_OP_SGD_UPDATE] = nncl_cl_sgd_update,
    [NNCL_OP_ADAM_UPDATE] = nncl_cl_adam_update,
    [NNCL_OP_IM2COL] = nncl_cl_im2col,
    [NNCL_OP_COL2IM] = nncl_cl_col2im,
    [NNCL_OP_TRANSPOSE_AB] = nncl_cl_transpose_ab,
    [NNCL_OP_CH_BIAS_ADD] = nncl_cl_ch_bias_add,
    [NNCL_OP_CH_SUM] = nncl_cl_ch_sum,
    [NNCL_OP_MAXPOOL2D] = nncl_cl_maxpool2d,
    [NNCL_OP_MAXPOOL2D_GRAD] = nncl_cl_maxpool2d_grad,
    [NNCL_OP_AVGPOOL2D] = nncl_cl_avgpool2d,
    [NNCL_OP_AVGPOOL2D_GRAD] = nncl_cl_avgpool2d_grad,
    [NNCL_OP_BATCHNORM] = nncl_cl_batchnorm,
    [NNCL_OP_BATCHNORM_GRAD] = nncl_cl_batchnorm_grad,
    [NNCL_OP_RUNNING_UPDATE] = nncl_cl_running_update,
    [NNCL_OP_LAYERNORM] = nncl_cl_layernorm,
    [NNCL_OP_LAYERNORM_GRAD] = nncl_cl_layernorm_grad,
    [NNCL_OP_DROPOUT] = nncl_cl_dropout,
    [NNCL_OP_DROPOUT_GRAD] = nncl_cl_dropout_grad,
    [NNCL_OP_COPY2D] = nncl_cl_copy2d,
    [NNCL_OP_FOCAL] = nncl_cl_focal,
    [NNCL_OP_FOCAL_GRAD] = nncl_cl_focal_grad,
    [NNCL_OP_MATMUL_BATCHED] = nncl_cl_matmul_batched,
    [NNCL_OP_ATTN_SOFTMAX] = nncl_cl_attn_softmax,
    [NNCL_OP_EMBEDDING] = nncl_cl_embedding,
    [NNCL_OP_EMBEDDING_GRAD] = nncl_cl_embedding_grad,
    [NNCL_OP_RNN_CELL] = nncl_cl_rnn_cell,
    [NNCL_OP_LSTM_CELL] = nncl_cl_lstm_cell,
    [NNCL_OP_LSTM_CELL_GRAD] = nncl_cl_lstm_cell_grad,
    [NNCL_OP_GRU_CELL] = nncl_cl_gru_cell,
    [NNCL_OP_GRU_CELL_GRAD] = nncl_cl_gru_cell_grad,
    [NNCL_OP_RMSPROP_UPDATE] = nncl_cl_rmsprop_update,
    [NNCL_OP_ADAGRAD_UPDATE] = nncl_cl_adagrad_update,
    [NNCL_OP_SUMSQ] = nncl_cl_sumsq,
    [NNCL_OP_CLIP_SCALE] = nncl_cl_clip_scale,
    [NNCL_OP_CLAMP] = nncl_cl_clamp,
    [NNCL_OP_NONFINITE] = nncl_cl_nonfinite,
    [NNCL_OP_CONV2D] = nncl_cl_conv2d,
    [NNCL_OP_CONV2D_GRAD_X] = nncl_cl_conv2d_grad_x,
    [NNCL_OP_CONV2D_GRAD_W] = nncl_cl_conv2d_grad_w,
};
