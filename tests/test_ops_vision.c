/* test_ops_vision.c - the vision ops of ops.def (im2col ... conv2d_grad_w) on the device under test
 * ($NNCL_DEVICE):
 *  1. against the double-precision reference (ref_vision.c) on random and awkward shapes
 *     (1, primes, odd kernels 1/3/5/7, strides 1-3, symmetric and asymmetric padding,
 *     dilation 2, a group's channel slice, ceil-mode pooling windows, ties and NaN in max
 *     pooling), every tensor at a non-zero byte offset between guard words; against a C
 *     context too when the device is not C; on C, bit-identical run to run and with one
 *     thread;
 *  2. dropout: the mask is the same bit for bit on C and the device, reproducible, differs
 *     across seeds, streams and steps, and keeps about 1 - p of the elements;
 *  3. gradients: col2im is the adjoint of im2col (<col, im2col x> = <col2im col, x>),
 *     conv2d_grad_x and conv2d_grad_w are the adjoints of the bilinear conv2d, and
 *     the pooling, batch norm, layer norm and dropout gradients match central finite
 *     differences of the reference forward (double, tight) and of the device's own forward
 *     (float, loose). */
#include "fallback/fb.h"
#include "ref_vision.h"
#include "oprun.h"
#include "testutil.h"

#define MAX_CASES 64
#define COUNT(a) (sizeof(a) / sizeof(a[0]))

typedef struct vcase {
  int op;
  size_t n[8];
  int i[8];
  float f[8];
  int has_t6;              /* BATCHNORM training writes t6 */
  int alias_out, alias_in; /* t[alias_out] shares t[alias_in]'s memory; -1: none */
  int ties;                /* MAXPOOL2D: inputs on a coarse grid (ties), NaN sprinkled */
} vcase;

typedef struct env {
  nncl_backend *dut, *c, *c1; /* device under test; C (when dut is not C); C, 1 thread */
  size_t checked;
} env;

static void print_case(const vcase *c, uint64_t seed)
{
  fprintf(stderr,
          "FAIL op=%s n=[%zu %zu %zu %zu %zu %zu %zu] i=[%d %d %d %d %d %d %d %d] f=[%g %g] t6=%d "
          "alias=t%d<-t%d seed=%llu\n",
          nncl_op_name(c->op), c->n[0], c->n[1], c->n[2], c->n[3], c->n[4], c->n[5], c->n[6],
          c->i[0], c->i[1], c->i[2], c->i[3], c->i[4], c->i[5], c->i[6], c->i[7], c->f[0], c->f[1],
          c->has_t6, c->alias_out, c->alias_in, (unsigned long long)seed);
}

/* ---- cases ------------------------------------------------------------------------------ */

static vcase base(int op)
{
  vcase c = {.op = op, .alias_out = -1, .alias_in = -1};
  return c;
}

/* Output extent: floor((in + pads - d (k - 1) - 1) / s) + 1. */
static size_t out_extent(size_t in, int pads, int k, int s, int d)
{
  long span = (long)in + pads - (long)d * (k - 1) - 1;
  return span < 0 ? 0 : (size_t)(span / s + 1);
}

/* {N, C, H, W, KH, KW, SH, SW, PT, PB, PL, PR, DH, DW, CX} */
static const int conv_shapes[][15] = {
    {1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 0},    {2, 3, 7, 5, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 0},
    {3, 2, 13, 11, 5, 5, 2, 2, 2, 1, 0, 2, 1, 1, 0},  {1, 5, 8, 9, 7, 7, 3, 3, 3, 3, 3, 3, 1, 1, 0},
    {2, 4, 9, 10, 3, 3, 1, 1, 2, 2, 2, 2, 2, 2, 0},   {4, 1, 28, 28, 5, 5, 1, 1, 2, 2, 2, 2, 1, 1, 0},
    {2, 3, 6, 6, 1, 1, 2, 2, 0, 0, 0, 0, 1, 1, 0},    {1, 2, 5, 17, 3, 1, 1, 2, 1, 1, 0, 0, 1, 1, 0},
    {3, 2, 7, 7, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 6},    {2, 3, 4, 4, 5, 5, 1, 1, 2, 2, 2, 2, 1, 1, 0},
    {16, 6, 14, 14, 5, 5, 1, 1, 0, 0, 0, 0, 1, 1, 0}, {2, 7, 11, 13, 3, 5, 3, 2, 0, 1, 2, 0, 2, 1, 9},
    /* stride 1 with uneven padding; stride 1 with rows of 70 (conv2d's im2col path); dilated
     * stride 1 with uneven padding whose padded rows add under 1/8 (C grad_w's padded rows) */
    {2, 3, 9, 12, 3, 4, 1, 1, 0, 2, 3, 1, 1, 1, 0},   {1, 2, 3, 70, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 0},
    {2, 3, 16, 40, 3, 3, 1, 1, 2, 1, 2, 2, 2, 2, 0},
    /* stride 1 padded beyond the kernel (C grad_x keeps col2im); stride 1 with 16 and 9
     * channels, the second dilated and unevenly padded (C grad_x as a convolution of dy) */
    {1, 2, 4, 5, 2, 2, 1, 1, 2, 2, 2, 2, 1, 1, 0},   {2, 16, 7, 9, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 0},
    {1, 9, 6, 11, 3, 2, 1, 1, 2, 0, 1, 0, 2, 1, 0},
};

/* Filter counts of the direct ops (conv2d...), one per conv shape: 1, primes, the GEMM
 * micro-kernel's row tile (8) and past it. */
static const size_t conv_oc[] = {1, 4, 3, 9, 2, 6, 5, 17, 3, 7, 16, 8};

/* {planes, H, W, KH, KW, SH, SW, PT, PL, ceil} */
static const int pool_shapes[][10] = {
    {1, 1, 1, 1, 1, 1, 1, 0, 0, 0},     {24, 28, 28, 2, 2, 2, 2, 0, 0, 0}, {5, 7, 9, 3, 3, 2, 2, 1, 1, 1},
    {3, 13, 11, 3, 3, 3, 3, 1, 1, 1},   {2, 8, 8, 8, 8, 1, 1, 0, 0, 0},    {7, 5, 7, 5, 5, 1, 1, 2, 2, 0},
    {2, 10, 6, 2, 3, 1, 2, 1, 0, 0},    {4, 17, 19, 7, 7, 3, 3, 3, 3, 1},  {128, 16, 16, 3, 3, 2, 2, 1, 1, 0},
    {3, 6, 7, 2, 2, 2, 2, 1, 1, 1},
};

/* PyTorch's pooling extent: (in + 2p - k) / s + 1, rounded up in ceil mode, where the last
 * window must start inside the input or the left padding. */
static size_t pool_extent(int in, int k, int s, int p, int ceil_mode)
{
  int num = in + 2 * p - k;
  int o = (ceil_mode ? (num + s - 1) / s : num / s) + 1;
  if (ceil_mode && (o - 1) * s >= in + p) o--;
  return (size_t)o;
}

static const size_t bn_shapes[][3] = {{1, 1, 1},  {2, 3, 5},   {4, 6, 49},   {7, 13, 1},
                                      {3, 17, 31}, {1, 2, 257}, {16, 6, 196}, {64, 3, 1}};
static const size_t ln_shapes[][2] = {{1, 1}, {7, 13}, {31, 257}, {64, 10}, {13, 3001}, {5, 4099}, {2, 1}};
static const size_t abc_shapes[][3] = {{1, 1, 1},  {3, 5, 7},  {6, 16, 196}, {13, 31, 1},
                                       {1, 7, 3}, {64, 6, 1}, {2, 1, 65537}, {5, 17, 49}};
static const size_t copy_shapes[][4] = {{1, 1, 1, 1},        {7, 13, 20, 13},  {31, 257, 300, 262},
                                        {64, 100, 100, 300}, {1, 1000, 1, 1}, {3, 5, 5, 5}};
static const size_t elem_sizes[] = {1, 7, 13, 257, 1000, 65537, 300007};

static int conv_cases(int op, vcase *out)
{
  int n = 0;
  for (size_t s = 0; s < COUNT(conv_shapes); s++) {
    const int *g = conv_shapes[s];
    vcase c = base(op);
    size_t cx = g[14] ? (size_t)g[14] : (size_t)g[1];
    size_t v[7] = {(size_t)g[0], (size_t)g[1], (size_t)g[2], (size_t)g[3],
                   out_extent((size_t)g[2], g[8] + g[9], g[4], g[6], g[12]),
                   out_extent((size_t)g[3], g[10] + g[11], g[5], g[7], g[13]), g[14] ? cx : 0};
    int iv[8] = {g[4], g[5], g[6], g[7], g[8], g[10], g[12], g[13]};
    memcpy(c.n, v, sizeof v);
    memcpy(c.i, iv, sizeof iv);
    if (op == NNCL_OP_CONV2D || op == NNCL_OP_CONV2D_GRAD_X || op == NNCL_OP_CONV2D_GRAD_W) {
      c.n[6] = conv_oc[s % COUNT(conv_oc)];
      c.has_t6 = op == NNCL_OP_CONV2D && s % 2 == 0; /* bias, or a null ref */
    }
    out[n++] = c;
  }
  return n;
}

static int pool_cases(int op, vcase *out)
{
  int n = 0;
  int avg = op == NNCL_OP_AVGPOOL2D || op == NNCL_OP_AVGPOOL2D_GRAD;
  for (size_t s = 0; s < COUNT(pool_shapes); s++)
    for (int variant = 0; variant < 2; variant++) {
      const int *g = pool_shapes[s];
      vcase c = base(op);
      size_t v[5] = {(size_t)g[0], (size_t)g[1], (size_t)g[2], pool_extent(g[1], g[3], g[5], g[7], g[9]),
                     pool_extent(g[2], g[4], g[6], g[8], g[9])};
      int iv[7] = {g[3], g[4], g[5], g[6], g[7], g[8], avg ? variant : 0};
      memcpy(c.n, v, sizeof v);
      memcpy(c.i, iv, sizeof iv);
      c.ties = !avg && variant;
      out[n++] = c;
    }
  return n;
}

/* All cases of op; returns their count. */
static int cases_for(int op, vcase *out)
{
  int n = 0;
  switch (op) {
  case NNCL_OP_IM2COL: case NNCL_OP_COL2IM: case NNCL_OP_CONV2D: case NNCL_OP_CONV2D_GRAD_X:
  case NNCL_OP_CONV2D_GRAD_W:
    return conv_cases(op, out);
  case NNCL_OP_MAXPOOL2D: case NNCL_OP_MAXPOOL2D_GRAD: case NNCL_OP_AVGPOOL2D:
  case NNCL_OP_AVGPOOL2D_GRAD:
    return pool_cases(op, out);
  case NNCL_OP_TRANSPOSE_AB: case NNCL_OP_CH_BIAS_ADD: case NNCL_OP_CH_SUM:
    for (size_t s = 0; s < COUNT(abc_shapes); s++) {
      vcase c = base(op);
      memcpy(c.n, abc_shapes[s], sizeof abc_shapes[s]);
      c.f[1] = op == NNCL_OP_CH_SUM && s % 2 ? 0.5f : 0.0f;
      out[n++] = c;
      if (op == NNCL_OP_CH_BIAS_ADD && s % 3 == 1) {
        c.alias_out = 1;
        c.alias_in = 0;
        out[n++] = c;
      }
    }
    return n;
  case NNCL_OP_BATCHNORM: case NNCL_OP_BATCHNORM_GRAD:
    for (size_t s = 0; s < COUNT(bn_shapes); s++)
      for (int v = 0; v < (op == NNCL_OP_BATCHNORM ? 3 : 1); v++) {
        vcase c = base(op);
        memcpy(c.n, bn_shapes[s], sizeof bn_shapes[s]);
        c.f[0] = s % 2 ? 1e-5f : 1e-3f;
        c.i[0] = v < 2; /* training (with and without t6), eval */
        c.has_t6 = v == 0;
        out[n++] = c;
      }
    return n;
  case NNCL_OP_LAYERNORM: case NNCL_OP_LAYERNORM_GRAD:
    for (size_t s = 0; s < COUNT(ln_shapes); s++) {
      vcase c = base(op);
      memcpy(c.n, ln_shapes[s], sizeof ln_shapes[s]);
      c.f[0] = s % 2 ? 1e-5f : 1e-3f;
      out[n++] = c;
    }
    return n;
  case NNCL_OP_RUNNING_UPDATE: case NNCL_OP_DROPOUT: case NNCL_OP_DROPOUT_GRAD: {
    static const float ps[] = {0.0f, 0.1f, 0.5f, 0.9f, 1.0f, 0.25f, 0.3f};
    for (size_t s = 0; s < COUNT(elem_sizes); s++) {
      vcase c = base(op);
      c.n[0] = elem_sizes[s];
      if (op == NNCL_OP_RUNNING_UPDATE) {
        c.f[0] = 0.1f;
        c.f[1] = s % 2 ? 1.0f : 1.5f;
      } else {
        c.f[0] = ps[s % COUNT(ps)];
        c.i[0] = (int)(0x9e3779b9u * (unsigned)s);
        c.i[1] = (int)s - 3;
        c.i[2] = (int)s;
        c.n[1] = s * 1000003u + ((size_t)s << 33);
      }
      out[n++] = c;
      if (op == NNCL_OP_DROPOUT && s % 2) {
        c.alias_out = 1;
        c.alias_in = 0;
        out[n++] = c;
      }
    }
    return n;
  }
  case NNCL_OP_COPY2D:
    for (size_t s = 0; s < COUNT(copy_shapes); s++) {
      vcase c = base(op);
      memcpy(c.n, copy_shapes[s], sizeof copy_shapes[s]);
      out[n++] = c;
    }
    return n;
  default: return 0;
  }
}

/* ---- tolerances ------------------------------------------------------------------------- */

typedef struct tol {
  double rtol; /* of the reference value, or of the reference on |inputs| (abs_scale) */
  double afrac; /* of the largest |reference value| of the tensor, at least 1 */
  int abs_scale;
} tol;

static tol op_tol(int op)
{
  switch (op) {
  case NNCL_OP_IM2COL: case NNCL_OP_TRANSPOSE_AB: case NNCL_OP_COPY2D: case NNCL_OP_MAXPOOL2D:
    return (tol){0, 0, 0};
  case NNCL_OP_COL2IM: case NNCL_OP_CH_SUM: case NNCL_OP_MAXPOOL2D_GRAD: case NNCL_OP_AVGPOOL2D:
  case NNCL_OP_AVGPOOL2D_GRAD: case NNCL_OP_CH_BIAS_ADD: case NNCL_OP_RUNNING_UPDATE:
    return (tol){2e-6, 0, 1};
  case NNCL_OP_DROPOUT: case NNCL_OP_DROPOUT_GRAD: return (tol){1e-7, 0, 0};
  case NNCL_OP_CONV2D: case NNCL_OP_CONV2D_GRAD_X: case NNCL_OP_CONV2D_GRAD_W: /* up to 3136 terms */
    return (tol){1e-5, 0, 1};
  default: return (tol){1e-5, 1e-5, 0}; /* normalization */
  }
}

/* ---- running a case ----------------------------------------------------------------------- */

typedef struct host_case {
  ref_tensor lay[NNCL_ARGS_T];
  void *in[NNCL_ARGS_T]; /* initial values (f32 or i32); OUT tensors hold NaN */
} host_case;

static nncl_args args_of(const vcase *c)
{
  nncl_args a = {0};
  memcpy(a.n, c->n, sizeof a.n);
  memcpy(a.i, c->i, sizeof a.i);
  memcpy(a.f, c->f, sizeof a.f);
  return a;
}

/* Runs c on be from the host tensors in[] (layout lay; NULL: not written, outputs only);
 * outputs land in out[] (malloc'd, NULL for inputs). Tensors sit at random offsets.
 * Returns 0, 1 on failure (printed). */
static int run_on(nncl_backend *be, const vcase *c, const ref_tensor *lay, void *const in[],
                  tu_rng *rng, void *out[NNCL_ARGS_T])
{
  return tu_run_op(be, c->op, args_of(c), lay, in, c->alias_out, c->alias_in, rng, out);
}

/* The reference on host tensors in[] (with `absolute`: on |inputs| and |f|). Returns
 * malloc'd double (or i32) arrays in d[]. */
static int reference(const vcase *c, const ref_tensor *lay, void *const in[], int absolute,
                     double *d[NNCL_ARGS_T])
{
  refv_args r = {0};
  memcpy(r.n, c->n, sizeof r.n);
  memcpy(r.i, c->i, sizeof r.i);
  r.has_t6 = c->has_t6;
  for (int i = 0; i < 8; i++) r.f[i] = absolute ? fabs((double)c->f[i]) : c->f[i];
  for (int i = 0; i < NNCL_ARGS_T; i++) {
    d[i] = NULL;
    if (!lay[i].role) continue;
    d[i] = malloc(lay[i].len * sizeof(double) + 8);
    if (!in[i]) {
      for (size_t k = 0; k < lay[i].len; k++) d[i][k] = NAN;
      r.d[i] = d[i];
      r.l[i] = (int32_t *)d[i];
    } else if (lay[i].i32) {
      r.l[i] = (int32_t *)d[i];
      memcpy(r.l[i], in[i], lay[i].len * 4);
    } else {
      r.d[i] = d[i];
      for (size_t k = 0; k < lay[i].len; k++) {
        double v = ((float *)in[i])[k];
        r.d[i][k] = absolute ? fabs(v) : v;
      }
    }
  }
  return refv_run(c->op, &r);
}

/* Compares outputs got[] with want[] (double, or a second device's floats in want_f[]). */
static int compare(const vcase *c, const ref_tensor *lay, void *got[], double *want[],
                   void *want_f[], double *scale[], double mult, const char *what, uint64_t seed)
{
  tol tl = op_tol(c->op);
  for (int i = 0; i < NNCL_ARGS_T; i++) {
    if (!got[i]) continue;
    double big = 1; /* outputs that cancel to 0 (one element per row) err on O(1) terms */
    for (size_t k = 0; k < lay[i].len && !lay[i].i32; k++) {
      double w = want_f ? ((float *)want_f[i])[k] : want[i][k];
      if (isfinite(w) && fabs(w) > big) big = fabs(w);
    }
    for (size_t k = 0; k < lay[i].len; k++) {
      double g, w, s = 0;
      int ok;
      if (lay[i].i32) {
        g = ((int32_t *)got[i])[k];
        w = want_f ? ((int32_t *)want_f[i])[k] : (double)((int32_t *)want[i])[k];
        ok = g == w;
      } else {
        g = ((float *)got[i])[k];
        w = want_f ? ((float *)want_f[i])[k] : want[i][k];
        s = tl.abs_scale && scale ? scale[i][k] : w;
        /* float rounding of the reference itself: half an ulp */
        double atol = tl.afrac * mult * big + (want_f ? 0 : fabs(w) * 6e-8);
        ok = tu_close(g, w, s, tl.rtol * mult, atol);
      }
      if (!ok) {
        print_case(c, seed);
        fprintf(stderr, "  %s: t%d[%zu] = %.9g, want %.9g (scale %.3g, rtol %.2g, afrac %.2g of %.3g)\n",
                what, i, k, g, w, s, tl.rtol * mult, tl.afrac * mult, big);
        return 1;
      }
    }
  }
  return 0;
}

static int bitwise_equal(const vcase *c, const ref_tensor *lay, void *x[], void *y[],
                         const char *what, uint64_t seed)
{
  for (int i = 0; i < NNCL_ARGS_T; i++) {
    if (!x[i]) continue;
    for (size_t k = 0; k < lay[i].len; k++)
      if (memcmp((char *)x[i] + 4 * k, (char *)y[i] + 4 * k, 4)) {
        print_case(c, seed);
        fprintf(stderr, "  %s: t%d[%zu] differs bitwise\n", what, i, k);
        return 1;
      }
  }
  return 0;
}

/* Fills f32 tensor data with inputs for op's tensor ti. */
static void fill_input(const vcase *c, int ti, float *v, size_t len, tu_rng *rng)
{
  double lo = -2, hi = 2;
  if (c->op == NNCL_OP_BATCHNORM && ti == 5 && !c->i[0]) lo = 0.1; /* running var */
  for (size_t k = 0; k < len; k++) {
    v[k] = (float)tu_uniform(rng, lo, hi);
    if (c->ties && ti == 0) {
      v[k] = roundf(v[k] * 2) / 2; /* a grid of 0.5: ties in most windows */
      if (tu_below(rng, 97) == 0) v[k] = NAN;
    }
  }
}

/* Statistics inputs of the gradient ops: mean/invstd of x as the forward computes them,
 * or argmax of a random x for maxpool2d_grad. */
static void derive_inputs(const vcase *c, host_case *h, tu_rng *rng)
{
  if (c->op == NNCL_OP_MAXPOOL2D_GRAD) {
    vcase f = *c;
    f.op = NNCL_OP_MAXPOOL2D;
    ref_tensor lay[NNCL_ARGS_T];
    refv_layout(f.op, f.n, f.i, f.f, 0, lay);
    void *in[NNCL_ARGS_T] = {0};
    in[0] = malloc(lay[0].len * 4 + 4);
    fill_input(&f, 0, in[0], lay[0].len, rng);
    double *d[NNCL_ARGS_T];
    reference(&f, lay, in, 0, d);
    memcpy(h->in[0], d[2], lay[2].len * 4);
    free(in[0]);
    for (int i = 0; i < NNCL_ARGS_T; i++) free(d[i]);
  } else if (c->op == NNCL_OP_BATCHNORM_GRAD || c->op == NNCL_OP_LAYERNORM_GRAD) {
    /* batch norm: groups c of (N, C, P); layer norm: rows r of (R, D) */
    int bn = c->op == NNCL_OP_BATCHNORM_GRAD;
    size_t groups = bn ? c->n[1] : c->n[0], count = bn ? c->n[0] * c->n[2] : c->n[1];
    const float *x = h->in[0];
    for (size_t g = 0; g < groups; g++) {
      double s = 0, v = 0;
      for (size_t e = 0; e < count; e++)
        s += x[bn ? (e / c->n[2] * c->n[1] + g) * c->n[2] + e % c->n[2] : g * count + e];
      double m = s / (double)count;
      for (size_t e = 0; e < count; e++) {
        double d = x[bn ? (e / c->n[2] * c->n[1] + g) * c->n[2] + e % c->n[2] : g * count + e] - m;
        v += d * d;
      }
      ((float *)h->in[3])[g] = (float)m;
      ((float *)h->in[4])[g] = (float)(1 / sqrt(v / (double)count + c->f[0]));
    }
  }
}

static int run_case(env *E, const vcase *c, uint64_t seed)
{
  host_case h = {0};
  void *got[NNCL_ARGS_T] = {0}, *other[NNCL_ARGS_T] = {0};
  double *want[NNCL_ARGS_T] = {0}, *scale[NNCL_ARGS_T] = {0};
  tu_rng rng = {seed};
  int fail = 0;
  if (refv_layout(c->op, c->n, c->i, c->f, c->has_t6, h.lay)) {
    print_case(c, seed);
    fprintf(stderr, "  no reference for this op in ref_vision.c\n");
    return 1;
  }
  for (int i = 0; i < NNCL_ARGS_T; i++) {
    if (!h.lay[i].role) continue;
    size_t len = h.lay[i].len;
    h.in[i] = malloc(len * 4 + 4);
    if (h.lay[i].role == REF_OUT)
      for (size_t k = 0; k < len; k++) ((float *)h.in[i])[k] = NAN;
    else if (!h.lay[i].i32)
      fill_input(c, i, h.in[i], len, &rng);
  }
  derive_inputs(c, &h, &rng);
  if (reference(c, h.lay, h.in, 0, want)) {
    print_case(c, seed);
    fprintf(stderr, "  reference failed\n");
    fail = 1;
  }
  if (!fail && op_tol(c->op).abs_scale) reference(c, h.lay, h.in, 1, scale);
  fail = fail || run_on(E->dut, c, h.lay, h.in, &rng, got) ||
         compare(c, h.lay, got, want, NULL, scale, 1, E->dut->name, seed);
  if (!fail && E->c) {
    fail = run_on(E->c, c, h.lay, h.in, &rng, other) ||
           compare(c, h.lay, got, NULL, other, scale, 2, "cl vs c", seed);
    if (!fail && (c->op == NNCL_OP_DROPOUT || c->op == NNCL_OP_DROPOUT_GRAD))
      fail = bitwise_equal(c, h.lay, got, other, "dropout cl vs c", seed);
    tu_free_outs(other);
  }
  if (!fail && tu_is_c(E->dut)) {
    fail = run_on(E->dut, c, h.lay, h.in, &rng, other) || bitwise_equal(c, h.lay, got, other, "rerun", seed);
    tu_free_outs(other);
    if (!fail && E->c1) {
      fail = run_on(E->c1, c, h.lay, h.in, &rng, other) || bitwise_equal(c, h.lay, got, other, "1 thread", seed);
      tu_free_outs(other);
    }
  }
  tu_free_outs(got);
  for (int i = 0; i < NNCL_ARGS_T; i++) free(h.in[i]), free(want[i]), free(scale[i]);
  E->checked++;
  return fail;
}

/* ---- dropout mask properties --------------------------------------------------------- */

/* Mask of DROPOUT on be for n ones: out[k] = 1 when kept. */
static int dropout_mask(nncl_backend *be, size_t n, float p, int seed_lo, int seed_hi, int stream,
                        size_t step, unsigned char *mask)
{
  vcase c = base(NNCL_OP_DROPOUT);
  c.n[0] = n;
  c.n[1] = step;
  c.f[0] = p;
  c.i[0] = seed_lo, c.i[1] = seed_hi, c.i[2] = stream;
  ref_tensor lay[NNCL_ARGS_T];
  refv_layout(c.op, c.n, c.i, c.f, 0, lay);
  float *ones = malloc(n * 4);
  void *in[NNCL_ARGS_T] = {ones}, *out[NNCL_ARGS_T];
  tu_rng rng = {n};
  for (size_t k = 0; k < n; k++) ones[k] = 1.0f;
  int fail = run_on(be, &c, lay, in, &rng, out);
  for (size_t k = 0; k < n && !fail; k++) mask[k] = ((float *)out[1])[k] != 0.0f;
  free(ones);
  tu_free_outs(out);
  return fail;
}

static int check_dropout_masks(env *E)
{
  enum { N = 100003 };
  static unsigned char m0[N], m1[N];
  const float p = 0.3f;
  int fail = dropout_mask(E->dut, N, p, 12345, 678, 3, 41, m0);
  size_t kept = 0;
  for (size_t k = 0; k < N; k++) kept += m0[k];
  double frac = (double)kept / N, sigma = sqrt(p * (1 - p) / N);
  if (!fail && fabs(frac - (1 - p)) > 5 * sigma) {
    fprintf(stderr, "FAIL dropout: kept %.5f of %d elements at p = %.2f (expected %.5f +- %.5f)\n",
            frac, N, (double)p, 1 - (double)p, 5 * sigma);
    fail = 1;
  }
  /* A new seed word, stream or step draws a new mask; the same args the same mask. */
  static const struct {
    int seed_lo, seed_hi, stream;
    size_t step;
    const char *what;
  } v[] = {{12345, 678, 3, 41, "same arguments"}, {12346, 678, 3, 41, "seed low word"},
           {12345, 679, 3, 41, "seed high word"}, {12345, 678, 4, 41, "stream"},
           {12345, 678, 3, 42, "step"},           {12345, 678, 3, 41 + ((size_t)1 << 32), "step high word"}};
  for (size_t t = 0; t < COUNT(v) && !fail; t++) {
    fail = dropout_mask(E->dut, N, p, v[t].seed_lo, v[t].seed_hi, v[t].stream, v[t].step, m1);
    size_t differ = 0;
    for (size_t k = 0; k < N; k++) differ += m0[k] != m1[k];
    double want = t == 0 ? 0 : 2 * p * (1 - p);
    if (!fail && fabs((double)differ / N - want) > 0.01) {
      fprintf(stderr, "FAIL dropout: changing the %s changed %.4f of the mask, expected %.4f\n",
              v[t].what, (double)differ / N, want);
      fail = 1;
    }
  }
  printf("%-20s kept %.4f at p = 0.3; masks reproducible and keyed by seed, stream, step: %s\n",
         "dropout mask", frac, fail ? "FAIL" : "ok");
  return fail;
}

/* ---- gradients ------------------------------------------------------------------------- */

/* im2col then col2im on the device: <col, im2col(x)> must equal <col2im(col), x>. */
static int check_adjoint(env *E, const vcase *geo, uint64_t seed)
{
  vcase fc = *geo, bc = *geo;
  fc.op = NNCL_OP_IM2COL;
  bc.op = NNCL_OP_COL2IM;
  ref_tensor fl[NNCL_ARGS_T], bl[NNCL_ARGS_T];
  refv_layout(fc.op, fc.n, fc.i, fc.f, 0, fl);
  refv_layout(bc.op, bc.n, bc.i, bc.f, 0, bl);
  size_t xs = fl[0].len, cs = fl[1].len, plane = geo->n[2] * geo->n[3];
  size_t cx = geo->n[6] ? geo->n[6] : geo->n[1];
  tu_rng rng = {seed};
  float *x = malloc(xs * 4 + 4), *col = malloc(cs * 4 + 4), *zero = calloc(xs + 1, 4);
  for (size_t k = 0; k < xs; k++) /* zero outside the channel slice */
    x[k] = (k / plane) % cx < geo->n[1] ? (float)tu_uniform(&rng, -1, 1) : 0.0f;
  for (size_t k = 0; k < cs; k++) col[k] = (float)tu_uniform(&rng, -1, 1);
  void *fin[NNCL_ARGS_T] = {x}, *bin[NNCL_ARGS_T] = {col, zero}, *fo[NNCL_ARGS_T], *bo[NNCL_ARGS_T];
  int fail = run_on(E->dut, &fc, fl, fin, &rng, fo) || run_on(E->dut, &bc, bl, bin, &rng, bo);
  if (!fail) {
    double a = 0, b = 0, sa = 0, sb = 0;
    for (size_t k = 0; k < cs; k++) {
      a += (double)col[k] * ((float *)fo[1])[k];
      sa += fabs((double)col[k] * ((float *)fo[1])[k]);
    }
    for (size_t k = 0; k < xs; k++) {
      b += (double)x[k] * ((float *)bo[1])[k];
      sb += fabs((double)x[k] * ((float *)bo[1])[k]);
    }
    if (fabs(a - b) > 1e-6 * (sa + sb) + 1e-12) {
      print_case(&bc, seed);
      fprintf(stderr, "  <col, im2col x> = %.12g but <col2im col, x> = %.12g\n", a, b);
      fail = 1;
    }
  }
  tu_free_outs(fo);
  tu_free_outs(bo);
  free(x), free(col), free(zero);
  return fail;
}

/* conv2d is bilinear, so its gradients are its adjoints: with y = conv2d(x, w) (no bias),
 * <dy, y> = <conv2d_grad_x(dy, w), x> = <conv2d_grad_w(x, dy), w>. */
static int check_conv_adjoint(env *E, const vcase *geo, uint64_t seed)
{
  vcase fc = *geo, xc = *geo, wc = *geo;
  fc.op = NNCL_OP_CONV2D, xc.op = NNCL_OP_CONV2D_GRAD_X, wc.op = NNCL_OP_CONV2D_GRAD_W;
  fc.has_t6 = 0;
  ref_tensor fl[NNCL_ARGS_T], xl[NNCL_ARGS_T], wl[NNCL_ARGS_T];
  refv_layout(fc.op, fc.n, fc.i, fc.f, 0, fl);
  refv_layout(xc.op, xc.n, xc.i, xc.f, 0, xl);
  refv_layout(wc.op, wc.n, wc.i, wc.f, 0, wl);
  size_t nx = fl[0].len, nw = fl[1].len, ny = fl[2].len;
  tu_rng rng = {seed};
  float *x = malloc(nx * 4 + 4), *w = malloc(nw * 4 + 4), *dy = malloc(ny * 4 + 4);
  for (size_t k = 0; k < nx; k++) x[k] = (float)tu_uniform(&rng, -1, 1);
  for (size_t k = 0; k < nw; k++) w[k] = (float)tu_uniform(&rng, -1, 1);
  for (size_t k = 0; k < ny; k++) dy[k] = (float)tu_uniform(&rng, -1, 1);
  void *fin[NNCL_ARGS_T] = {x, w}, *xin[NNCL_ARGS_T] = {dy, w}, *win[NNCL_ARGS_T] = {x, dy};
  void *fo[NNCL_ARGS_T] = {0}, *xo[NNCL_ARGS_T] = {0}, *wo[NNCL_ARGS_T] = {0};
  int fail = run_on(E->dut, &fc, fl, fin, &rng, fo);
  fail = fail || run_on(E->dut, &xc, xl, xin, &rng, xo);
  fail = fail || run_on(E->dut, &wc, wl, win, &rng, wo);
  if (!fail) {
    double s[3] = {0}, sa[3] = {0};
    const float *u[3] = {dy, x, w}, *v[3] = {fo[2], xo[2], wo[2]};
    size_t len[3] = {ny, nx, nw};
    for (int t = 0; t < 3; t++)
      for (size_t k = 0; k < len[t]; k++) {
        s[t] += (double)u[t][k] * v[t][k];
        sa[t] += fabs((double)u[t][k] * v[t][k]);
      }
    for (int t = 1; t < 3 && !fail; t++)
      if (fabs(s[0] - s[t]) > 1e-5 * (sa[0] + sa[t]) + 1e-12) {
        print_case(&fc, seed);
        fprintf(stderr, "  <dy, conv2d(x, w)> = %.12g but <%s, %s> = %.12g\n", s[0],
                t == 1 ? "conv2d_grad_x(dy, w)" : "conv2d_grad_w(x, dy)", t == 1 ? "x" : "w", s[t]);
        fail = 1;
      }
  }
  tu_free_outs(fo), tu_free_outs(xo), tu_free_outs(wo);
  free(x), free(w), free(dy);
  return fail;
}

/* A finite-difference check: the forward op f (output t1), its variables (tensor indexes
 * of f), and the step of the float check. */
typedef struct gcheck {
  vcase f;
  int var[3], nvar;
  double hf;
  int distinct; /* variable values on a grid of 0.01, all different (max pooling) */
} gcheck;

/* L = sum_k w[k] y[k], y = t1 of the reference forward on double inputs in[]. */
static double objective_ref(const vcase *f, const ref_tensor *lay, double *const in[], const double *w)
{
  refv_args r = {0};
  double *tmp[NNCL_ARGS_T] = {0};
  memcpy(r.n, f->n, sizeof r.n);
  memcpy(r.i, f->i, sizeof r.i);
  for (int i = 0; i < 8; i++) r.f[i] = f->f[i];
  for (int i = 0; i < NNCL_ARGS_T; i++) {
    if (!lay[i].role) continue;
    if (lay[i].role == REF_IN) {
      r.d[i] = in[i];
      continue;
    }
    tmp[i] = calloc(lay[i].len + 1, sizeof(double));
    r.d[i] = tmp[i];
    r.l[i] = (int32_t *)tmp[i];
  }
  refv_run(f->op, &r);
  double s = 0;
  for (size_t k = 0; k < lay[1].len; k++) s += w[k] * r.d[1][k];
  for (int i = 0; i < NNCL_ARGS_T; i++) free(tmp[i]);
  return s;
}

/* The same with the device's forward in float; *out (optional) keeps its outputs. */
static int objective_dev(nncl_backend *be, const vcase *f, const ref_tensor *lay, void *const in[],
                         const double *w, double *L, void *keep[NNCL_ARGS_T])
{
  void *out[NNCL_ARGS_T];
  tu_rng rng = {7};
  if (run_on(be, f, lay, in, &rng, out)) return 1;
  double s = 0;
  for (size_t k = 0; k < lay[1].len; k++) s += w[k] * ((float *)out[1])[k];
  *L = s;
  if (keep)
    memcpy(keep, out, sizeof out);
  else
    tu_free_outs(out);
  return 0;
}

/* The device's gradient of L = sum w y with respect to each variable: grad[t] for f's
 * tensor t (malloc'd). */
static int grad_dev(nncl_backend *be, const gcheck *g, const ref_tensor *lay, void *const in[],
                    const double *w, float *grad[NNCL_ARGS_T])
{
  const vcase *f = &g->f;
  void *fo[NNCL_ARGS_T];
  double L;
  if (objective_dev(be, f, lay, in, w, &L, fo)) return 1;
  size_t ny = lay[1].len;
  float *dy = malloc(ny * 4 + 4);
  for (size_t k = 0; k < ny; k++) dy[k] = (float)w[k];
  vcase b = *f;
  void *bin[NNCL_ARGS_T] = {0}, *bo[NNCL_ARGS_T];
  int dxi = 1, dgi = -1;
  switch (f->op) {
  case NNCL_OP_MAXPOOL2D: b.op = NNCL_OP_MAXPOOL2D_GRAD, bin[0] = fo[2], bin[1] = dy, dxi = 2; break;
  case NNCL_OP_AVGPOOL2D: b.op = NNCL_OP_AVGPOOL2D_GRAD, bin[0] = dy; break;
  case NNCL_OP_DROPOUT: b.op = NNCL_OP_DROPOUT_GRAD, bin[0] = dy; break;
  default: /* batch and layer norm: t0 x, t1 dy, t2 gamma, t3 mean, t4 invstd */
    b.op = f->op == NNCL_OP_BATCHNORM ? NNCL_OP_BATCHNORM_GRAD : NNCL_OP_LAYERNORM_GRAD;
    bin[0] = in[0], bin[1] = dy, bin[2] = in[2], bin[3] = fo[4], bin[4] = fo[5];
    dxi = 5, dgi = 6;
    break;
  }
  ref_tensor bl[NNCL_ARGS_T];
  refv_layout(b.op, b.n, b.i, b.f, 0, bl);
  for (int i = 0; i < NNCL_ARGS_T; i++)
    if (bl[i].role && !bin[i]) bin[i] = calloc(bl[i].len + 1, 4);
  tu_rng rng = {11};
  int fail = run_on(be, &b, bl, bin, &rng, bo);
  if (!fail) {
    grad[0] = bo[dxi], bo[dxi] = NULL;
    if (dgi > 0) grad[2] = bo[dgi], grad[3] = bo[dgi + 1], bo[dgi] = bo[dgi + 1] = NULL;
  }
  for (int i = 0; i < NNCL_ARGS_T; i++)
    if (bin[i] != in[0] && bin[i] != in[2] && bin[i] != dy && bin[i] != fo[2] && bin[i] != fo[4] && bin[i] != fo[5])
      free(bin[i]);
  free(dy);
  tu_free_outs(fo);
  tu_free_outs(bo);
  return fail;
}

static int check_grad(env *E, const gcheck *g, uint64_t seed)
{
  const vcase *f = &g->f;
  ref_tensor lay[NNCL_ARGS_T];
  refv_layout(f->op, f->n, f->i, f->f, 0, lay);
  tu_rng rng = {seed};
  void *in[NNCL_ARGS_T] = {0};
  double *ind[NNCL_ARGS_T] = {0};
  for (int i = 0; i < NNCL_ARGS_T; i++) {
    if (lay[i].role != REF_IN) continue;
    size_t n = lay[i].len;
    float *v = in[i] = malloc(n * 4 + 4);
    ind[i] = malloc(n * sizeof(double) + 8);
    for (size_t k = 0; k < n; k++) v[k] = (float)tu_uniform(&rng, -2, 2);
    if (g->distinct)
      for (size_t k = 0; k < n; k++) {
        size_t j = tu_below(&rng, k + 1); /* inside-out shuffle of 0.01 (k - n/2) */
        v[k] = v[j];
        v[j] = (float)(0.01 * ((double)k - (double)n / 2));
      }
    for (size_t k = 0; k < n; k++) ind[i][k] = v[k];
  }
  double *w = malloc(lay[1].len * sizeof *w + 8);
  for (size_t k = 0; k < lay[1].len; k++) w[k] = (float)tu_uniform(&rng, -1, 1);
  float *grad[NNCL_ARGS_T] = {0};
  int fail = grad_dev(E->dut, g, lay, in, w, grad);
  for (int v = 0; v < g->nvar && !fail; v++) {
    int t = g->var[v];
    size_t n = lay[t].len;
    double *fd = malloc(n * sizeof *fd), *fdf = malloc(n * sizeof *fdf), big = 0;
    for (size_t k = 0; k < n && !fail; k++) {
      double x0 = ind[t][k], lp, lm;
      ind[t][k] = x0 + 1e-5;
      lp = objective_ref(f, lay, ind, w);
      ind[t][k] = x0 - 1e-5;
      lm = objective_ref(f, lay, ind, w);
      ind[t][k] = x0;
      fd[k] = (lp - lm) / 2e-5;
      float *xf = in[t], xf0 = xf[k], xp = (float)(x0 + g->hf), xm = (float)(x0 - g->hf);
      xf[k] = xp;
      fail = objective_dev(E->dut, f, lay, in, w, &lp, NULL);
      xf[k] = xm;
      fail = fail || objective_dev(E->dut, f, lay, in, w, &lm, NULL);
      xf[k] = xf0;
      fdf[k] = (lp - lm) / ((double)xp - (double)xm);
      big = fmax(big, fabs(fd[k]));
    }
    for (size_t k = 0; k < n && !fail; k++) {
      double gk = grad[t][k];
      int ok_ref = fabs(gk - fd[k]) <= 1e-4 * fabs(fd[k]) + 1e-5 * big + 1e-7;
      int ok_dev = fabs(gk - fdf[k]) <= 2e-2 * fabs(fdf[k]) + 2e-3 * big + 1e-5;
      if (!ok_ref || !ok_dev) {
        print_case(f, seed);
        fprintf(stderr, "  gradient of t%d[%zu] (x = %.6g): device %.8g, finite difference %.8g "
                "(reference forward), %.8g (device forward)\n", t, k, ind[t][k], gk, fd[k], fdf[k]);
        fail = 1;
      }
    }
    free(fd), free(fdf);
  }
  for (int i = 0; i < NNCL_ARGS_T; i++) free(in[i]), free(ind[i]), free(grad[i]);
  free(w);
  return fail;
}

static int check_grads(env *E)
{
  int fails = 0;
  vcase geo[MAX_CASES];
  int ng = conv_cases(NNCL_OP_COL2IM, geo), bad = 0;
  for (int k = 0; k < ng && !bad; k++) bad = check_adjoint(E, &geo[k], 700 + (uint64_t)k);
  printf("%-20s %3d geometries %s\n", "im2col/col2im adjoint", ng, bad ? "FAIL" : "ok");
  fails += bad;
  ng = conv_cases(NNCL_OP_CONV2D, geo), bad = 0;
  for (int k = 0; k < ng && !bad; k++) bad = check_conv_adjoint(E, &geo[k], 750 + (uint64_t)k);
  printf("%-20s %3d geometries %s\n", "conv2d adjoints", ng, bad ? "FAIL" : "ok");
  fails += bad;

  gcheck gc[8];
  int n = 0;
  /* pooling: (2, 5, 6) planes, kernel 3, stride 2, pad 1, ceil mode: overlapping windows */
  for (int k = 0; k < 3; k++) {
    vcase c = base(k == 0 ? NNCL_OP_MAXPOOL2D : NNCL_OP_AVGPOOL2D);
    size_t nv[5] = {2, 5, 6, pool_extent(5, 3, 2, 1, 1), pool_extent(6, 3, 2, 1, 1)};
    int iv[7] = {3, 3, 2, 2, 1, 1, k == 2};
    memcpy(c.n, nv, sizeof nv);
    memcpy(c.i, iv, sizeof iv);
    gc[n++] = (gcheck){c, {0}, 1, k == 0 ? 2e-3 : 1e-2, k == 0};
  }
  static const size_t bn[2][3] = {{3, 2, 5}, {4, 3, 1}};
  for (int k = 0; k < 2; k++) {
    vcase c = base(NNCL_OP_BATCHNORM);
    memcpy(c.n, bn[k], sizeof bn[k]);
    c.f[0] = 1e-3f;
    c.i[0] = 1;
    gc[n++] = (gcheck){c, {0, 2, 3}, 3, 1e-2, 0};
  }
  vcase ln = base(NNCL_OP_LAYERNORM);
  ln.n[0] = 3, ln.n[1] = 7, ln.f[0] = 1e-5f;
  gc[n++] = (gcheck){ln, {0, 2, 3}, 3, 1e-2, 0};
  vcase dr = base(NNCL_OP_DROPOUT);
  dr.n[0] = 50, dr.n[1] = 9, dr.f[0] = 0.4f, dr.i[0] = 77, dr.i[2] = 2;
  gc[n++] = (gcheck){dr, {0}, 1, 1e-2, 0};
  for (int k = 0; k < n; k++) {
    bad = check_grad(E, &gc[k], 800 + (uint64_t)k);
    printf("%-20s n=[%zu %zu %zu] %s\n", nncl_op_name(gc[k].f.op), gc[k].f.n[0], gc[k].f.n[1],
           gc[k].f.n[2], bad ? "FAIL" : "ok (finite differences)");
    fails += bad;
  }
  return fails;
}

int main(void)
{
  nncl_ctx *dut = NULL, *cc = NULL, *c1 = NULL;
  int st = tu_open(tu_device(), 0, &dut);
  if (st) return st;
  env E = {.dut = nncl_ctx_be(dut)};
  if (!tu_is_c(E.dut)) {
    if (tu_open("c", 0, &cc)) return 1;
    E.c = nncl_ctx_be(cc);
  } else if (fb_of(E.dut)->threads > 1) {
    if (tu_open("c", 1, &c1)) return 1;
    E.c1 = nncl_ctx_be(c1);
  }
  printf("device under test: %s\n", nncl_ctx_device(dut));
  uint64_t seed = 20240607;
  const char *s = getenv("NNCL_TEST_SEED");
  if (s && *s) seed = strtoull(s, NULL, 10);
  int failed = 0, ops = 0;
  static vcase cases[MAX_CASES];
  for (int op = 0; op < NNCL_OP_COUNT; op++) {
    if (!refv_owns(op)) continue;
    int n = cases_for(op, cases), bad = n == 0;
    if (bad) fprintf(stderr, "FAIL op=%s: no test cases\n", nncl_op_name(op));
    for (int k = 0; k < n && !bad; k++) bad = run_case(&E, &cases[k], seed + (uint64_t)op * 1000 + (uint64_t)k);
    printf("%-20s %3d cases %s\n", nncl_op_name(op), n, bad ? "FAIL" : "ok");
    failed += bad;
    ops++;
  }
  failed += check_dropout_masks(&E);
  failed += check_grads(&E);
  printf("%zu cases over %d ops; %d checks failed\n", E.checked, ops, failed);
  nncl_ctx_destroy(c1);
  nncl_ctx_destroy(cc);
  nncl_ctx_destroy(dut);
  return failed ? 1 : 0;
}
