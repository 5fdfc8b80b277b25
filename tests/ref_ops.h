/* ref_ops.h - a naive scalar reference of every op in ops.def, in double precision, and the
 * layout of each op's tensors (which t[] it reads and writes, their lengths and types). */
#ifndef NNCL_REF_OPS_H
#define NNCL_REF_OPS_H

#include <stddef.h>
#include <stdint.h>

#include "backend.h"

enum ref_role { REF_UNUSED = 0, REF_IN = 1, REF_OUT = 2, REF_INOUT = 3 };

typedef struct ref_tensor {
  size_t len;    /* elements */
  int role;      /* ref_role */
  int i32;       /* 1: int32 (labels, argmax), else f32 */
} ref_tensor;

/* Layout of op's tensors for sizes n[] and floats f[] (roles that depend on f: matmul's C
 * and sum_rows' t1 are read only when f1 != 0, sgd's t2 is used only when f1 != 0).
 * Returns 0, or -1 for an unknown op. */
int ref_layout(int op, const size_t n[4], const float f[8], ref_tensor t[NNCL_ARGS_T]);

/* Host tensors of one op: f32 tensors as double arrays in d[], i32 ones in l[]. Outputs are
 * written in place; REF_OUT tensors are never read. */
typedef struct ref_args {
  double *d[NNCL_ARGS_T];
  int32_t *l[NNCL_ARGS_T];
  size_t n[4];
  double f[8];
  int i[4];
} ref_args;

/* Runs op as ops.def specifies. Returns 0, or -1 for an unknown op or a label outside
 * [0, n1). */
int ref_run(int op, ref_args *a);

#endif
