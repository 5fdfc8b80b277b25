/* oprun.h - one op on one backend from host tensors, shared by the op tests (test_ops.c,
 * test_ops_vision.c): every tensor at a random non-zero offset between guard words, the
 * guards checked after the run, the outputs read back. Header-only. */
#ifndef NNCL_OPRUN_H
#define NNCL_OPRUN_H

#include "ref_ops.h"
#include "testutil.h"

/* Runs op with the sizes and scalars of a (its t[] are set here) on be from the host
 * tensors in[] (layout lay; NULL: not written, an output only); t[alias_out] shares
 * t[alias_in]'s memory (alias_out -1: none). Every tensor that is not REF_IN lands in out[]
 * (malloc'd; NULL for the inputs). Returns 0, 1 on failure (printed). */
static int tu_run_op(nncl_backend *be, int op, nncl_args a, const ref_tensor lay[NNCL_ARGS_T],
                     void *const in[NNCL_ARGS_T], int alias_out, int alias_in, tu_rng *rng,
                     void *out[NNCL_ARGS_T])
{
  tu_tensor t[NNCL_ARGS_T] = {0};
  int fail = 0;
  for (int i = 0; i < NNCL_ARGS_T; i++) {
    out[i] = NULL;
    if (fail || !lay[i].role || i == alias_out) continue;
    if (tu_alloc(be, lay[i].len, 1 + tu_below(rng, 23), &t[i]) || (in[i] && tu_write(be, &t[i], in[i]))) {
      fprintf(stderr, "  %s: cannot allocate or write t%d\n", be->name, i);
      fail = 1;
    }
    a.t[i] = tu_ref(&t[i]);
  }
  if (!fail && alias_out >= 0) a.t[alias_out] = a.t[alias_in];
  int st = fail ? 0 : nncl_run(be, op, &a);
  if (!fail && !st) st = be->finish(be);
  if (st) {
    fprintf(stderr, "  %s: %s returned %s: %s\n", be->name, nncl_op_name(op), nncl_strerror(st),
            nncl_errmsg(be->ctx));
    fail = 1;
  }
  for (int i = 0; i < NNCL_ARGS_T && !fail; i++) {
    int src = i == alias_out ? alias_in : i;
    if (!lay[i].role) continue;
    char what[64];
    snprintf(what, sizeof what, "%s t%d", be->name, src);
    if (!tu_guards_ok(be, &t[src], what)) fail = 1;
    if (lay[i].role == REF_IN) continue;
    out[i] = malloc(lay[i].len * 4 + 4);
    if (!out[i] || tu_read(be, &t[src], out[i])) {
      fprintf(stderr, "  %s: cannot read t%d\n", be->name, i);
      fail = 1;
    }
  }
  for (int i = 0; i < NNCL_ARGS_T; i++) tu_free(be, &t[i]);
  return fail;
}

/* Frees what tu_run_op left in out[] and clears it. */
static void tu_free_outs(void *out[NNCL_ARGS_T])
{
  for (int i = 0; i < NNCL_ARGS_T; i++) free(out[i]), out[i] = NULL;
}

#endif
