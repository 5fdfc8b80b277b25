/* ref_optim.h - naive double-precision references of the training-toolbox ops (RMSprop,
 * Adagrad, sum of squares, clip scale, clamp, finite check), tested by test_ops_optim. */
#ifndef NNCL_REF_OPTIM_H
#define NNCL_REF_OPTIM_H

#include "backend.h"

/* Ops test_ops_optim checks (test_ops skips them). */
static inline int refo_owns(int op)
{
  switch (op) {
  case NNCL_OP_RMSPROP_UPDATE: case NNCL_OP_ADAGRAD_UPDATE: case NNCL_OP_SUMSQ:
  case NNCL_OP_CLIP_SCALE: case NNCL_OP_CLAMP: case NNCL_OP_NONFINITE:
    return 1;
  default:
    return 0;
  }
}

/* Runs op on double tensors t[] (ops.def's t0, t1, ...; unused ones may be NULL) with n0
 * elements and ops.def's f[] and i[]. Returns 0, -1 for an op it does not own. */
int refo_run(int op, double *t[5], size_t n, const double f[8], const int i[4]);

#endif
