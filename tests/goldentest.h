/* goldentest.h - the golden-file check of whole nets shared by test_golden_layers.c and
 * test_golden_rnn.c: a safetensors file from tests/gen_golden_*.py holds the nets' model
 * descriptions in its metadata as "net.<name>", their inputs, parameters and results as
 * "<name>.<what>". Per net, built four ways (see run_net): the training-mode output, dL/dx
 * and every parameter gradient for L = sum(y * dy), the running statistics after that
 * step, and the evaluation-mode output after it. Header-only; include it once. */
#ifndef NNCL_GOLDENTEST_H
#define NNCL_GOLDENTEST_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "layertest.h"
#include "nncl_config.h"
#include "safetensors.h"

static nncl_st_file *golden;
static double worst; /* largest error / tolerance of the current net */

/* Golden "<net>.<what>" (F32) with n values (n 0: any, count in *count); NULL and a
 * failure when absent or malformed. */
static const float *golden_f32(const char *net, const char *what, int64_t n, int64_t *count) {
  char name[160];
  nncl_st_tensor t;
  snprintf(name, sizeof name, "%s.%s", net, what);
  if (nncl_st_find(golden, name, &t) || strcmp(t.dtype, "F32") || (n && t.bytes != (size_t)n * sizeof(float))) {
    FAIL("golden tensor '%s': missing or not F32 with %lld values", name, (long long)n);
    return NULL;
  }
  if (count) *count = (int64_t)(t.bytes / sizeof(float));
  return t.data;
}

/* |got - ref| <= rtol |ref| + afrac max(|ref|) + 1e-6 (the floor covers values that are 0
 * in exact arithmetic, e.g. the gradient of a bias before batch norm). */
static void compare(const char *net, const char *what, const float *got, const float *ref, int64_t n, double rtol, double afrac) {
  if (!got || !ref) {
    if (!got) FAIL("%s %s: cannot read the result", net, what);
    return;
  }
  double maxref = 0;
  for (int64_t i = 0; i < n; i++) maxref = fmax(maxref, fabs(ref[i]));
  double atol = afrac * maxref + 1e-6;
  for (int64_t i = 0; i < n; i++) {
    double e = fabs((double)got[i] - (double)ref[i]);
    worst = fmax(worst, e / (atol + rtol * fabs(ref[i])));
    if (!(e <= atol + rtol * fabs(ref[i]))) {
      FAIL("%s %s (%lld values): first bad index %lld: got %.9g want %.9g (tol %.3g + %.3g*|ref|)", net, what, (long long)n,
           (long long)i, got[i], ref[i], atol, rtol);
      return;
    }
  }
}

/* Compares tensor t with the golden "<net>.<what>". */
static void compare_tensor(const char *net, const char *what, const nncl_tensor *t, double rtol, double afrac) {
  int64_t n = nncl_tensor_numel(t);
  float *got = lt_read(t);
  compare(net, what, got, golden_f32(net, what, n, NULL), n, rtol, afrac);
  free(got);
}

static int net_ok(int r, const char *net, const char *what) {
  if (r) FAIL("%s: %s: %s: %s", net, what, nncl_strerror(r), nncl_errmsg(ctx));
  return !r;
}

/* How run_net builds and compiles: as described, for the golden batch; from the text
 * nncl_model_to_text writes for it; for a larger batch (the run uses fewer rows than
 * compiled, as a last partial batch does); with every layer frozen (only dx, the outputs
 * and the running statistics: the paths that skip parameter gradients). */
enum { V_EXACT, V_TEXT, V_LARGER, V_FROZEN };
static const char *const variant_names[] = {"", " (from its written text)", " (compiled for 2 more rows)", " (every layer frozen)"};

static int is_buffer(const char *param) { return strstr(param, ".running_") != NULL; }

static void run_net(const char *net, const char *text, int variant) {
  nncl_model *m = NULL;
  nncl_tensor *x = NULL, *y = NULL, *dy = NULL, *dx = NULL;
  int64_t nx = 0;
  const int fails0 = failures;
  worst = 0;
  const float *xh = golden_f32(net, "x", 0, &nx);
  if (!xh || !net_ok(nncl_model_parse(ctx, text, net, &m), net, "parse")) goto done;
  if (variant == V_TEXT) {
    char *written = NULL;
    int r = nncl_model_to_text(m, &written);
    nncl_model_destroy(m);
    m = NULL;
    r = net_ok(r, net, "to_text") && net_ok(nncl_model_parse(ctx, written, net, &m), net, "parse the written text");
    free(written);
    if (!r) goto done;
  }
  int64_t in = nncl_model_input_size(m), out = nncl_model_output_size(m), rows = nx / in;
  const float *dyh = golden_f32(net, "dy", rows * out, NULL);
  int np = nncl_model_param_count(m);
  for (int i = 0; i < np; i++) {
    const char *pn;
    nncl_tensor *v;
    char what[128];
    if (!net_ok(nncl_model_param(m, i, &pn, &v, NULL), net, "param")) goto done;
    snprintf(what, sizeof what, "p.%s", pn);
    const float *w = golden_f32(net, what, nncl_tensor_numel(v), NULL);
    if (!w || !net_ok(lt_write(v, w), net, "write parameter")) goto done;
  }
  for (int li = 0; variant == V_FROZEN && li < m->nlayers; li++)
    if (!net_ok(nncl_model_set_trainable(m, m->layers[li].name, 0), net, "freeze")) goto done;
  if (!dyh || !(x = lt_tensor(ctx, rows, in)) || !(y = lt_tensor(ctx, rows, out)) || !(dy = lt_tensor(ctx, rows, out)) ||
      !(dx = lt_tensor(ctx, rows, in)) || !net_ok(lt_compile_dx(m, (int)rows + (variant == V_LARGER ? 2 : 0), dx), net, "compile") || !net_ok(lt_write(x, xh), net, "write x") ||
      !net_ok(lt_write(dy, dyh), net, "write dy") || !net_ok(nncl_model_forward(m, x, y), net, "forward") ||
      !net_ok(nncl_model_backward(m, dy), net, "backward"))
    goto done;
  compare_tensor(net, "y", y, 1e-4, 1e-5);
  compare_tensor(net, "dx", dx, 1e-3, 1e-4);
  for (int i = 0; i < np; i++) {
    const char *pn;
    nncl_tensor *v, *g;
    char what[128];
    if (!net_ok(nncl_model_param(m, i, &pn, &v, &g), net, "param")) goto done;
    if (g && variant == V_FROZEN) FAIL("%s: frozen parameter %s has a gradient", net, pn);
    if (!g && !is_buffer(pn)) continue;
    snprintf(what, sizeof what, "%s.%s", g ? "grad" : "after", pn);
    compare_tensor(net, what, g ? g : v, g ? 1e-3 : 1e-5, g ? 1e-4 : 1e-6);
  }
  if (!net_ok(nncl_model_set_training(m, 0), net, "eval mode") || !net_ok(nncl_model_forward(m, x, y), net, "eval forward")) goto done;
  compare_tensor(net, "y_eval", y, 1e-4, 1e-5);
  if (failures == fails0)
    printf("ok   %-16s x (%lld, %lld) -> y (%lld, %lld), %2d parameters and buffers: worst error %.2f of tolerance%s\n", net,
           (long long)rows, (long long)in, (long long)rows, (long long)out, np, worst, variant_names[variant]);
done:
  nncl_tensor_destroy(x);
  nncl_tensor_destroy(y);
  nncl_tensor_destroy(dy);
  nncl_tensor_destroy(dx);
  nncl_model_destroy(m);
}

/* Runs every net of `file` in the test data folder ($NNCL_TEST_DATA, else tests/data),
 * which must hold at least `want` nets; `generator` (a script in tests/) writes the file.
 * Returns the test's exit status: 0 pass, 1 fail, 77 no device. */
static int golden_main(const char *file, int want, const char *generator) {
  const char *dir = getenv("NNCL_TEST_DATA");
  char path[4096];
  snprintf(path, sizeof path, "%s/%s", dir ? dir : NNCL_SOURCE_DIR "/tests/data", file);
  int r = harness_open();
  if (r) return r;
  if ((r = nncl_st_open(ctx, path, &golden))) {
    printf("FAIL cannot open golden file: %s (regenerate with /usr/bin/python3 tests/%s)\n", nncl_errmsg(ctx), generator);
    nncl_ctx_destroy(ctx);
    return 1;
  }
  int nets = 0;
  for (int i = 0; i < nncl_st_meta_count(golden); i++) {
    nncl_st_kv kv = nncl_st_meta_at(golden, i);
    if (strncmp(kv.key, "net.", 4)) continue;
    for (int v = V_EXACT; v <= V_FROZEN; v++) run_net(kv.key + 4, kv.value, v);
    nets++;
  }
  if (nets < want) FAIL("%s holds %d nets, want %d", path, nets, want);
  nncl_st_close(golden);
  return harness_close();
}

#endif
