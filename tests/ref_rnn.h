/* ref_rnn.h - a naive double-precision reference of the sequence ops of ops.def
 * (embedding ... gru_cell_grad), the layout of their tensors, and the list of ops that
 * tests/test_ops_rnn.c tests rather than the generic op walkers (test_ops, test_gradcheck). */
#ifndef NNCL_REF_RNN_H
#define NNCL_REF_RNN_H

#include <stddef.h>

#include "backend.h"
#include "ref_ops.h"

static inline int refr_owns(int op)
{
  switch (op) {
  case NNCL_OP_EMBEDDING: case NNCL_OP_EMBEDDING_GRAD: case NNCL_OP_RNN_CELL: case NNCL_OP_LSTM_CELL:
  case NNCL_OP_LSTM_CELL_GRAD: case NNCL_OP_GRU_CELL: case NNCL_OP_GRU_CELL_GRAD:
    return 1;
  default:
    return 0;
  }
}

/* Layout of op's tensors (roles as ref_ops.h): n0, n1, n2 as ops.def. Returns 0, -1 if
 * the op is not one of these. */
int refr_layout(int op, const size_t n[3], ref_tensor t[NNCL_ARGS_T]);

/* Runs op on host tensors d[] (double) as ops.def specifies, i0 as its int argument.
 * REF_INOUT tensors are read, then written; REF_OUT ones only written. Returns 0 or -1. */
int refr_run(int op, double *d[NNCL_ARGS_T], const size_t n[3], int i0);

#endif
