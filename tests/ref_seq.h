/* ref_seq.h - the sequence ops of ops.def that tests/test_ops_seq.c covers (its own naive
 * references, C vs OpenCL); the generic op walkers skip them. */
#ifndef NNCL_REF_SEQ_H
#define NNCL_REF_SEQ_H

#include "backend.h"

static inline int refs_owns(int op) { return op == NNCL_OP_MATMUL_BATCHED || op == NNCL_OP_ATTN_SOFTMAX; }

#endif
