/* inspect.c - nncl inspect: per-layer activation statistics and gradient norms, saliency
 * maps, first-layer filters as images, and layer ablation. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* Writes a grey image (w x h floats, scaled so that [lo, hi] spans 0..255, each pixel a
 * zoom x zoom block) as binary PGM. */
static int write_pgm(const char *path, const float *v, int w, int h, float lo, float hi, int zoom) {
  FILE *f = fopen(path, "wb");
  if (!f) return fail("cannot write %s%s", path, "");
  fprintf(f, "P5\n%d %d\n255\n", w * zoom, h * zoom);
  float scale = hi > lo ? 255.0f / (hi - lo) : 0;
  for (int y = 0; y < h * zoom; y++)
    for (int x = 0; x < w * zoom; x++) {
      float p = (v[(y / zoom) * w + x / zoom] - lo) * scale;
      fputc(p < 0 ? 0 : p > 255 ? 255 : (int)(p + 0.5f), f);
    }
  return fclose(f) ? fail("cannot write %s%s", path, "") : 0;
}

/* Width and height of a sample of n values shown as an image: square when n is a
 * square (a flattened 28 x 28 image), else one row. */
static void image_size(int64_t n, int *w, int *h) {
  int s = (int)(sqrt((double)n) + 0.5);
  if ((int64_t)s * s == n) *w = *h = s;
  else *w = (int)n, *h = 1;
}

static void range(const float *v, size_t n, float *lo, float *hi) {
  *lo = *hi = v[0];
  for (size_t k = 1; k < n; k++) *lo = v[k] < *lo ? v[k] : *lo, *hi = v[k] > *hi ? v[k] : *hi;
}

void print_layer_stats(const nncl_layer_stats *s, int n) {
  printf("%-16s %-12s %11s %11s %7s %12s %12s\n", "layer", "kind", "act mean", "act std", "dead", "grad norm", "dL/dout");
  int first = -1, last = -1;
  for (int i = 0; i < n; i++) {
    char dead[16] = "-", g[24] = "-", og[24] = "-";
    if (s[i].dead >= 0) snprintf(dead, sizeof dead, "%.1f%%", 100 * s[i].dead);
    if (s[i].grad_norm >= 0) snprintf(g, sizeof g, "%.4e", s[i].grad_norm);
    if (s[i].out_grad_norm >= 0) snprintf(og, sizeof og, "%.4e", s[i].out_grad_norm);
    printf("%-16s %-12s %11.4g %11.4g %7s %12s %12s\n", s[i].name, s[i].kind, s[i].mean, s[i].std, dead, g, og);
    if (s[i].grad_norm >= 0) last = i, first = first < 0 ? i : first;
  }
  if (first >= 0 && first != last)
    printf("gradient norm, first / last layer with parameters (%s / %s): %.3g\n", s[first].name, s[last].name,
           s[last].grad_norm > 0 ? s[first].grad_norm / s[last].grad_norm : 0.0);
}

/* Each filter of the first 4-d weight (F, C, KH, KW), channels averaged, normalised on
 * its own, in a row with a one-pixel gap, zoomed 8x. */
static int write_filters(nncl_model *m, const char *path) {
  for (int i = 0; i < nncl_model_param_count(m); i++) {
    const char *name;
    nncl_tensor *v, *g;
    int64_t sh[NNCL_MAX_DIMS];
    if (nncl_model_param(m, i, &name, &v, &g) || nncl_tensor_shape(v, sh) != 4) continue;
    int F = (int)sh[0], C = (int)sh[1], KH = (int)sh[2], KW = (int)sh[3], W = F * (KW + 1) - 1;
    float *w = malloc((size_t)nncl_tensor_numel(v) * sizeof *w), *img = calloc((size_t)W * (size_t)KH, sizeof *img);
    int rc = !w || !img || nncl_tensor_read(v, w, (size_t)nncl_tensor_numel(v) * sizeof *w);
    for (int f = 0; !rc && f < F; f++) {
      float k[4096] = {0}, lo, hi;
      int n = KH * KW < 4096 ? KH * KW : 4096;
      for (int p = 0; p < n; p++) {
        k[p] = 0;
        for (int c = 0; c < C; c++) k[p] += w[((size_t)f * C + c) * (size_t)(KH * KW) + p] / (float)C;
      }
      range(k, (size_t)n, &lo, &hi);
      for (int p = 0; p < n; p++) img[(p / KW) * W + f * (KW + 1) + p % KW] = hi > lo ? (k[p] - lo) / (hi - lo) : 0.5f;
    }
    if (!rc) rc = write_pgm(path, img, W, KH, 0, 1, 8);
    else fail("cannot read %s%s", name, "");
    if (!rc) printf("filters: %d of %s (%dx%d, %d channels averaged) -> %s\n", F, name, KH, KW, C, path);
    free(w), free(img);
    return rc;
  }
  return fail("--filters: the model has no convolution weight%s%s", "", "");
}

/* The sample and its saliency map side by side. */
static int write_saliency(nncl_ctx *ctx, nncl_model *m, const nncl_dataset *d, int64_t index, const char *path) {
  int64_t n = nncl_model_input_size(m);
  float *x = malloc((size_t)n * sizeof *x), *s = malloc((size_t)n * sizeof *s), *img = NULL;
  int32_t label;
  int cls, w, h, rc = 1, r;
  image_size(n, &w, &h);
  if (!x || !s || !(img = malloc((size_t)n * 2 * sizeof *img))) goto done;
  if ((r = nncl_dataset_read(d, index, 1, x, &label)) || (r = nncl_model_saliency(m, d, index, s, &cls))) {
    fail_ctx(ctx, r, "saliency failed");
    goto done;
  }
  float xl, xh, sl, sh;
  range(x, (size_t)n, &xl, &xh);
  range(s, (size_t)n, &sl, &sh);
  for (int y = 0; y < h; y++)
    for (int k = 0; k < w; k++) {
      img[y * 2 * w + k] = xh > xl ? (x[y * w + k] - xl) / (xh - xl) : 0;
      img[y * 2 * w + w + k] = sh > 0 ? s[y * w + k] / sh : 0;
    }
  if ((rc = write_pgm(path, img, 2 * w, h, 0, 1, 4)) == 0)
    printf("saliency of test sample %lld (label %d, predicted %d): input | |d score / d input| -> %s\n", (long long)index,
           label, cls, path);
done:
  free(x), free(s), free(img);
  return rc;
}

static int ablate_all(nncl_ctx *ctx, nncl_model *m, const nncl_dataset *test, int nlayers, const nncl_layer_stats *st) {
  double loss0, acc0, loss, acc;
  int r = nncl_evaluate(m, test, NNCL_LOSS_XENT, &loss0, &acc0);
  if (r) return fail_ctx(ctx, r, "evaluation failed");
  printf("ablation (test set, %lld samples): intact accuracy %.2f%%, loss %.4f\n", (long long)nncl_dataset_size(test),
         100 * acc0, loss0);
  for (int li = 1; li < nlayers - 1; li++) {
    r = nncl_model_ablate(m, li, test, &loss, &acc);
    if (r == NNCL_ESHAPE) continue; /* the layer changes the shape: no bypass */
    if (r) return fail_ctx(ctx, r, "ablation failed");
    printf("  without %-16s accuracy %6.2f%% (%+.2f points)  loss %.4f\n", st[li].name, 100 * acc, 100 * (acc - acc0), loss);
  }
  return 0;
}

static const char inspect_usage[] =
  "usage: nncl inspect MODEL|CHECKPOINT --data DIR [options]\n"
  "  One training-mode pass over test samples: per layer the mean and std of its output,\n"
  "  the fraction of dead ReLUs (0 for every sample), the L2 norm of its parameter gradient\n"
  "  and of dL/d(output); and on request saliency maps, filters and ablation.\n"
  "  --count N         samples in the pass (default 256)\n"
  "  --saliency I      write test sample I and its saliency map as a PGM image (--image)\n"
  "  --image FILE      where the saliency image goes (default saliency.pgm)\n"
  "  --filters FILE    write the first convolution's filters as a PGM image\n"
  "  --ablate          test accuracy with each shape-preserving hidden layer bypassed\n"
  "  --classes LIST    test samples of these classes only (see nncl finetune --help)\n"
  "  --csv FILE --label COLUMN   tabular data instead of --data (as nncl eval)\n"
  "  --device --threads --seed -v as for train\n";

int cmd_inspect(int argc, char **argv) {
  opts o = {.data = DEFAULT_DATA, .count = 256, .seed = 42, .saliency = -1, .test = -1};
  const char *pos[1];
  int np;
  if (parse_opts(argc, argv, &o, pos, 1, &np, inspect_usage)) return 1;
  if (np != 1) return fail("inspect needs a MODEL or CHECKPOINT (see --help)%s%s", "", "");
  nncl_ctx *ctx;
  if (open_ctx(&o, &ctx)) return 1;
  nncl_model *m = NULL;
  cli_data d = {0};
  nncl_layer_stats st[512];
  int r, rc = 1, n = 0;
  cli_data_opts dop = cli_data_options(&o);
  if (load_model(ctx, pos[0], &m) || cli_data_test(ctx, m, &dop, &d)) goto done;
  int count = o.count < nncl_dataset_size(d.test) ? o.count : (int)nncl_dataset_size(d.test);
  if ((r = nncl_model_compile(m, count, NNCL_MODE_TRAIN)) || (r = nncl_model_inspect(m, d.test, 0, count, st, 512, &n))) {
    fail_ctx(ctx, r, "inspect failed");
    goto done;
  }
  printf("%s: one training-mode pass over %d test samples\n", pos[0], count);
  print_layer_stats(st, n);
  if (o.filters && write_filters(m, o.filters)) goto done;
  if (o.saliency >= 0 && write_saliency(ctx, m, d.test, o.saliency, o.image ? o.image : "saliency.pgm")) goto done;
  if (o.ablate && ablate_all(ctx, m, d.test, n, st)) goto done;
  rc = 0;
done:
  cli_data_free(&d);
  nncl_model_destroy(m);
  nncl_ctx_destroy(ctx);
  return rc;
}
