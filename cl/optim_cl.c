/* optim_cl.c - launchers of the optimizer updates (optim.cl), gradient clipping and the
 * finite check (clip.cl). Argument meanings are those of engine/ops.def. */
#include "cl/backend_cl.h"
#include "internal.h"

/* clip.cl's SQ_WG and SQ_K: one sumsq_part group reduces SQ_WG * SQ_K values. */
#define SQ_WG 64
#define SQ_CHUNK (64 * 64)

static nncl_clbe *clbe(nncl_backend *be) { return (nncl_clbe *)be; }

/* The updates' last arguments: the skip flag t5 (a null ref: never skip; w stands in). */
static void arg_skip(nncl_cl_call *c, const nncl_args *a)
{
  nncl_cl_arg_ref(c, a->t[5].buf ? a->t[5] : a->t[0], 1);
  nncl_cl_arg_i32(c, a->t[5].buf != NULL);
}

/* t0 w, t1 g, t2 v (unused when f1 == 0); f0 lr, f1 momentum, f2 wd; i0 nesterov, i1 decoupled */
int nncl_cl_sgd_update(nncl_backend *be, const nncl_args *a)
{
  nncl_cl_call c;
  size_t n = a->n[0];
  if (nncl_cl_begin(clbe(be), NNCL_CL_K_SGD_UPDATE, &c) != 0)
    return c.status;
  nncl_cl_arg_ref(&c, a->t[0], n);
  nncl_cl_arg_ref(&c, a->t[1], n);
  /* v may be a null ref without momentum; the kernel never touches it then. */
  nncl_cl_arg_ref(&c, a->f[1] != 0.0f ? a->t[2] : a->t[0], n);
  nncl_cl_arg_u32(&c, n);
  for (int k = 0; k < 3; k++)
    nncl_cl_arg_f32(&c, a->f[k]);
  nncl_cl_arg_i32(&c, a->i[0]);
  nncl_cl_arg_i32(&c, a->i[1]);
  arg_skip(&c, a);
  return nncl_cl_enqueue_ew(&c, n);
}

/* t0 w, t1 g, t2 m, t3 v; f0..f6; i0 decoupled */
int nncl_cl_adam_update(nncl_backend *be, const nncl_args *a)
{
  nncl_cl_call c;
  size_t n = a->n[0];
  if (nncl_cl_begin(clbe(be), NNCL_CL_K_ADAM_UPDATE, &c) != 0)
    return c.status;
  for (int k = 0; k < 4; k++)
    nncl_cl_arg_ref(&c, a->t[k], n);
  nncl_cl_arg_u32(&c, n);
  for (int k = 0; k < 7; k++)
    nncl_cl_arg_f32(&c, a->f[k]);
  nncl_cl_arg_i32(&c, a->i[0]);
  arg_skip(&c, a);
  return nncl_cl_enqueue_ew(&c, n);
}

/* t0 w, t1 g, t2 square_avg, t3 momentum buffer (f4 != 0), t4 grad_avg (i0); f0..f4; i0, i1 */
int nncl_cl_rmsprop_update(nncl_backend *be, const nncl_args *a)
{
  nncl_cl_call c;
  size_t n = a->n[0];
  if (nncl_cl_begin(clbe(be), NNCL_CL_K_RMSPROP_UPDATE, &c) != 0)
    return c.status;
  nncl_cl_arg_ref(&c, a->t[0], n);
  nncl_cl_arg_ref(&c, a->t[1], n);
  nncl_cl_arg_ref(&c, a->t[2], n);
  /* unused state may be a null ref; the kernel never touches it then */
  nncl_cl_arg_ref(&c, a->f[4] != 0.0f ? a->t[3] : a->t[0], n);
  nncl_cl_arg_ref(&c, a->i[0] ? a->t[4] : a->t[0], n);
  nncl_cl_arg_u32(&c, n);
  for (int k = 0; k < 5; k++)
    nncl_cl_arg_f32(&c, a->f[k]);
  nncl_cl_arg_i32(&c, a->i[0]);
  nncl_cl_arg_i32(&c, a->i[1]);
  arg_skip(&c, a);
  return nncl_cl_enqueue_ew(&c, n);
}

/* t0 w, t1 g, t2 sum; f0 clr, f1 eps, f2 wd; i0 decoupled */
int nncl_cl_adagrad_update(nncl_backend *be, const nncl_args *a)
{
  nncl_cl_call c;
  size_t n = a->n[0];
  if (nncl_cl_begin(clbe(be), NNCL_CL_K_ADAGRAD_UPDATE, &c) != 0)
    return c.status;
  for (int k = 0; k < 3; k++)
    nncl_cl_arg_ref(&c, a->t[k], n);
  nncl_cl_arg_u32(&c, n);
  for (int k = 0; k < 3; k++)
    nncl_cl_arg_f32(&c, a->f[k]);
  nncl_cl_arg_i32(&c, a->i[0]);
  arg_skip(&c, a);
  return nncl_cl_enqueue_ew(&c, n);
}

/* t1[0] = f1 t1[0] + sum t0^2: per-group partial sums into the scratch buffer, then one
 * group adds them in a fixed order. */
int nncl_cl_sumsq(nncl_backend *be, const nncl_args *a)
{
  nncl_clbe *b = clbe(be);
  nncl_cl_call c;
  size_t n = a->n[0], groups = (n + SQ_CHUNK - 1) / SQ_CHUNK, local = SQ_WG;
  size_t items = groups * SQ_WG;
  int st;
  if ((st = nncl_cl_check_size(b, "sumsq", n)) != 0 ||
      (st = nncl_cl_scratch(b, (groups ? groups : 1) * 4)) != 0)
    return st;
  nncl_ref part = {b->scratch, 0};
  if (groups) {
    if (nncl_cl_begin(b, NNCL_CL_K_SUMSQ_PART, &c) != 0)
      return c.status;
    nncl_cl_arg_ref(&c, a->t[0], n);
    nncl_cl_arg_ref(&c, part, groups);
    nncl_cl_arg_u32(&c, n);
    if ((st = nncl_cl_enqueue(&c, 1, &items, &local)) != 0)
      return st;
  }
  if (nncl_cl_begin(b, NNCL_CL_K_SUMSQ_FINAL, &c) != 0)
    return c.status;
  nncl_cl_arg_ref(&c, part, groups);
  nncl_cl_arg_ref(&c, a->t[1], 1);
  nncl_cl_arg_u32(&c, groups);
  nncl_cl_arg_f32(&c, a->f[1]);
  return nncl_cl_enqueue(&c, 1, &local, &local);
}

/* t0 g (in place) *= min(1, f0 / (sqrt(t1[0]) + 1e-6)) */
int nncl_cl_clip_scale(nncl_backend *be, const nncl_args *a)
{
  nncl_cl_call c;
  size_t n = a->n[0];
  if (nncl_cl_begin(clbe(be), NNCL_CL_K_CLIP_SCALE, &c) != 0)
    return c.status;
  nncl_cl_arg_ref(&c, a->t[0], n);
  nncl_cl_arg_ref(&c, a->t[1], 1);
  nncl_cl_arg_u32(&c, n);
  nncl_cl_arg_f32(&c, a->f[0]);
  return nncl_cl_enqueue_ew(&c, n);
}

/* t1 = clamp(t0, f0, f1) */
int nncl_cl_clamp(nncl_backend *be, const nncl_args *a)
{
  nncl_cl_call c;
  size_t n = a->n[0];
  if (nncl_cl_begin(clbe(be), NNCL_CL_K_CLAMP, &c) != 0)
    return c.status;
  nncl_cl_arg_ref(&c, a->t[0], n);
  nncl_cl_arg_ref(&c, a->t[1], n);
  nncl_cl_arg_u32(&c, n);
  nncl_cl_arg_f32(&c, a->f[0]);
  nncl_cl_arg_f32(&c, a->f[1]);
  return nncl_cl_enqueue_ew(&c, n);
}

/* t1[0] = 1 when t0 holds a non-finite value */
int nncl_cl_nonfinite(nncl_backend *be, const nncl_args *a)
{
  nncl_cl_call c;
  size_t n = a->n[0];
  if (nncl_cl_begin(clbe(be), NNCL_CL_K_NONFINITE, &c) != 0)
    return c.status;
  nncl_cl_arg_ref(&c, a->t[0], n);
  nncl_cl_arg_ref(&c, a->t[1], 1);
  nncl_cl_arg_u32(&c, n);
  return nncl_cl_enqueue_ew(&c, n);
}
