/* ref_vision.h - a naive double-precision reference of the vision ops of ops.def (im2col
 * ... copy2d, conv2d and its gradients), the layout of their tensors, and the list of ops tested by test_ops_vision
 * rather than by the generic op walkers (test_ops, test_gradcheck). */
#ifndef NNCL_REF_VISION_H
#define NNCL_REF_VISION_H

#include <stddef.h>
#include <stdint.h>

#include "backend.h"
#include "ref_ops.h"

/* 1 for the ops tests/test_ops_vision.c covers (naive reference, C vs OpenCL, finite
 * differences, PyTorch golden vectors); the generic walkers skip them. */
static inline int refv_owns(int op)
{
  switch (op) {
  case NNCL_OP_IM2COL: case NNCL_OP_COL2IM: case NNCL_OP_TRANSPOSE_AB: case NNCL_OP_CH_BIAS_ADD:
  case NNCL_OP_CH_SUM: case NNCL_OP_MAXPOOL2D: case NNCL_OP_MAXPOOL2D_GRAD: case NNCL_OP_AVGPOOL2D:
  case NNCL_OP_AVGPOOL2D_GRAD: case NNCL_OP_BATCHNORM: case NNCL_OP_BATCHNORM_GRAD:
  case NNCL_OP_RUNNING_UPDATE: case NNCL_OP_LAYERNORM: case NNCL_OP_LAYERNORM_GRAD:
  case NNCL_OP_DROPOUT: case NNCL_OP_DROPOUT_GRAD: case NNCL_OP_COPY2D: case NNCL_OP_CONV2D:
  case NNCL_OP_CONV2D_GRAD_X: case NNCL_OP_CONV2D_GRAD_W:
    return 1;
  default:
    return 0;
  }
}

/* One op's arguments on the host: f32 tensors as double arrays in d[], i32 ones in l[]. */
typedef struct refv_args {
  double *d[NNCL_ARGS_T];
  int32_t *l[NNCL_ARGS_T];
  size_t n[8];
  double f[8];
  int i[8];
  int has_t6; /* BATCHNORM: t6 (var) is given; CONV2D: t3 (bias) is given */
} refv_args;

/* Layout of op's tensors for these args (roles as ref_ops.h). Returns 0, -1 if unknown. */
int refv_layout(int op, const size_t n[8], const int i[8], const float f[8], int has_t6,
                ref_tensor t[NNCL_ARGS_T]);

/* Runs op as ops.def specifies; REF_OUT tensors are only written. Returns 0, or -1 for an
 * unknown op. */
int refv_run(int op, refv_args *a);

/* The dropout hash of ops.def, written from its definition (lowbias32 rounds). */
uint32_t refv_dropout_hash(uint32_t seed_lo, uint32_t seed_hi, uint32_t stream, uint64_t step,
                           uint64_t k);

#endif
