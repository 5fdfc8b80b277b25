/* fdcheck.h - central finite differences of L = sum(y * r) against backward through whole
 * models, for the input and every trainable parameter, shared by the layer tests
 * (test_layers.c, test_rnn_layers.c, test_attn_layers.c), with randomize (every parameter
 * from a seed). Header-only; include it once, in the test's main file. */
#ifndef NNCL_FDCHECK_H
#define NNCL_FDCHECK_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "layertest.h"

/* Every parameter and buffer of m set from s: values in [-0.8, 0.8), running variances in
 * [0.5, 1.5). */
static int randomize(nncl_model *m, uint64_t *s) {
  for (int i = 0; i < nncl_model_param_count(m); i++) {
    const char *name;
    nncl_tensor *v;
    int r = nncl_model_param(m, i, &name, &v, NULL);
    if (r) return r;
    int64_t n = nncl_tensor_numel(v);
    float *w = malloc((size_t)n * sizeof *w);
    if (!w) return NNCL_ENOMEM;
    int var = strstr(name, ".running_var") != NULL;
    for (int64_t k = 0; k < n; k++) w[k] = var ? 1 + 0.5f * urand(s) : 0.8f * urand(s);
    r = lt_write(v, w);
    free(w);
    if (r) return r;
  }
  return 0;
}

/* ---- finite differences -------------------------------------------------------------- */

#define FD_MAX_CHECK 40 /* values checked per tensor: all, or this many spread over it */
#define FD_SEED 1234    /* of the inputs, parameters and dL/dy */

typedef struct fd_net {
  nncl_model *m;
  nncl_tensor *x, *y;
  float *r;     /* dL/dy */
  int64_t ny;
  int rows;
  int64_t in;   /* input values per sample */
  uint64_t pin_step; /* > 0: forwards run as training step pin_step */
} fd_net;

/* L = sum(y * r) in double from the model's float outputs. */
static int fd_loss(fd_net *f, double *loss) {
  float *yh = NULL;
  if (f->pin_step) f->m->g.step = f->pin_step - 1; /* the same dropout masks in every forward */
  int rc = nncl_model_forward(f->m, f->x, f->y);
  if (!rc && !(yh = lt_read(f->y))) rc = NNCL_EDEVICE;
  *loss = 0;
  for (int64_t i = 0; !rc && i < f->ny; i++) *loss += (double)yh[i] * f->r[i];
  free(yh);
  return rc;
}

/* Loss at w[k] = w0 + s for s = -step, -step/2, 0, step/2, step; the actual steps (after
 * rounding to float) in ds. t is left as w with w[k] = w0. */
static int fd_losses(fd_net *f, nncl_tensor *t, float *w, int64_t k, double step, double L[5], double ds[5]) {
  const float w0 = w[k];
  static const double at[5] = {-1, -0.5, 0, 0.5, 1};
  int rc = 0;
  for (int e = 0; e < 5 && !rc; e++) {
    w[k] = w0 + (float)(at[e] * step);
    ds[e] = (double)w[k] - w0;
    rc = lt_write(t, w) || fd_loss(f, &L[e]);
  }
  w[k] = w0;
  return rc || lt_write(t, w);
}

/* Checks an (backward's gradient of the tensor t, n values) against the central difference
 * at step h/2, within 3e-4 + 1% (float32 rounding noise stays below 0.15 of that on both
 * backends; a gradient 1.5% off fails every net here). A kink of the loss (ReLU, max) within h shows as a difference between the
 * one-sided slopes that does not halve with the step (a smooth loss's does), or as central
 * differences at h and h/2 that disagree: such values are skipped. Returns the number
 * checked (-1 after a failure); *skipped, *worst (largest error / tolerance) accumulate. */
static int64_t fd_tensor(fd_net *f, const char *net, const char *what, nncl_tensor *t, const float *an, int64_t *skipped,
                         double *worst) {
  const double h = 1e-2, rtol = 1e-2, atol = 3e-4;
  int64_t n = nncl_tensor_numel(t), checked = 0, count = n < FD_MAX_CHECK ? n : FD_MAX_CHECK;
  float *w = lt_read(t);
  if (!w) return FAIL("%s: cannot read %s", net, what), -1;
  for (int64_t j = 0; j < count; j++) {
    int64_t k = j * n / count + (j * 7) % (n / count); /* spread, not always the first of a stretch */
    double L[5], ds[5];
    if (fd_losses(f, t, w, k, h, L, ds)) {
      FAIL("%s: forward failed during the finite differences: %s", net, nncl_errmsg(ctx));
      free(w);
      return -1;
    }
    double est = (L[3] - L[1]) / (ds[3] - ds[1]), est_h = (L[4] - L[0]) / (ds[4] - ds[0]);
    double d1 = (L[4] - L[2]) / ds[4] - (L[2] - L[0]) / -ds[0], d2 = (L[3] - L[2]) / ds[3] - (L[2] - L[1]) / -ds[1];
    double tol = atol + rtol * fabs(est);
    if (fabs(est_h - est) > tol || fabs(d1 - 2 * d2) > tol) {
      ++*skipped;
      continue;
    }
    checked++;
    double err = fabs(an[k] - est);
    if (err > tol) {
      FAIL("gradcheck %s, x (%d, %lld), seed %d: d/d %s[%lld]: backward %.7g, central difference %.7g (h %g, tol %.3g)", net,
           f->rows, (long long)f->in, FD_SEED, what, (long long)k, an[k], est, h / 2, tol);
      free(w);
      return -1;
    }
    if (err / tol > *worst) *worst = err / tol;
  }
  free(w);
  return checked;
}

/* Gradient check of the model `text` with `rows` samples: input and every trainable
 * parameter (all set to random values first). At most 5% of the values may sit at kinks.
 * vocab > 0: the input holds token ids in [0, vocab), not checked (a lookup is flat in them).
 * pin_step > 0: every forward runs as training step pin_step, so that it draws the same
 * dropout masks (backward must use the forward's masks). */
static void fd_check(const char *net, int rows, const char *text, int vocab, uint64_t pin_step) {
  fd_net f = {.pin_step = pin_step};
  nncl_tensor *dy = NULL, *dx = NULL;
  float *xh = NULL, *an = NULL;
  uint64_t s = FD_SEED;
  if (!ok(nncl_model_parse(ctx, text, net, &f.m), net)) return;
  int64_t in = nncl_model_input_size(f.m), out = nncl_model_output_size(f.m);
  f.ny = rows * out, f.rows = rows, f.in = in;
  xh = malloc((size_t)(rows * in) * sizeof *xh);
  f.r = malloc((size_t)f.ny * sizeof *f.r);
  if (!xh || !f.r) goto done;
  for (int64_t i = 0; i < rows * in; i++) xh[i] = vocab ? (float)(int)((urand(&s) + 1) * 0.5f * (float)vocab * 0.999f) : urand(&s);
  for (int64_t i = 0; i < f.ny; i++) f.r[i] = urand(&s);
  if (pin_step) f.m->g.step = pin_step - 1;
  if (!ok(randomize(f.m, &s), "randomize") || !(f.x = lt_tensor(ctx, rows, in)) || !(f.y = lt_tensor(ctx, rows, out)) ||
      !(dy = lt_tensor(ctx, rows, out)) || !(dx = lt_tensor(ctx, rows, in)) || !ok(lt_compile_dx(f.m, rows, dx), "compile") ||
      !ok(lt_write(f.x, xh), "write x") || !ok(lt_write(dy, f.r), "write dy") || (pin_step && (f.m->g.step = pin_step - 1, 0)) ||
      !ok(nncl_model_forward(f.m, f.x, f.y), "forward") ||
      !ok(nncl_model_backward(f.m, dy), "backward")) {
    FAIL("gradcheck %s: setup failed", net);
    goto done;
  }
  int64_t checked = 0, skipped = 0, c;
  double worst = 0;
  if (!vocab && (!(an = lt_read(dx)) || (c = fd_tensor(&f, net, "input", f.x, an, &skipped, &worst)) < 0)) goto done;
  if (!vocab) checked += c;
  int np = 0;
  for (int p = 0; p < nncl_model_param_count(f.m); p++) {
    const char *pname;
    nncl_tensor *v, *g;
    if (!ok(nncl_model_param(f.m, p, &pname, &v, &g), "param")) goto done;
    if (!g) continue; /* a buffer (running statistics) */
    free(an);
    if (!(an = lt_read(g)) || (c = fd_tensor(&f, net, pname, v, an, &skipped, &worst)) < 0) goto done;
    checked += c;
    np++;
  }
  if (skipped * 20 > checked + skipped)
    FAIL("gradcheck %s: %lld of %lld values at kinks", net, (long long)skipped, (long long)(checked + skipped));
  else
    printf("ok   gradcheck %-13s input + %d parameters, %lld values (%lld at kinks skipped), worst error %.2f of tolerance\n", net,
           np, (long long)checked, (long long)skipped, worst);
done:
  free(xh);
  free(an);
  free(f.r);
  nncl_tensor_destroy(f.x);
  nncl_tensor_destroy(f.y);
  nncl_tensor_destroy(dy);
  nncl_tensor_destroy(dx);
  nncl_model_destroy(f.m);
}

#endif
