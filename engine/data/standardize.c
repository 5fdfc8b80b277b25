/* standardize.c - per-feature standardisation x' = (x - mean_j) / std_j fitted on a
 * training set, and its round trip through the model's metadata ("nncl.standardize":
 * "mean_0,...,mean_{F-1};std_0,...,std_{F-1}", "nncl.classes": the class names) so that
 * eval and predict apply what training used. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dataset.h"
#include "model.h"

/* Installs feat (mean[F], then 1/std[F]; ownership taken) on d. */
static void set_feat(nncl_dataset *d, float *feat) {
  free(d->owned[3]);
  d->owned[3] = feat;
  d->feat = feat;
}

int nncl_dataset_fit_standardize(nncl_dataset *d) {
  if (!d) return NNCL_EINVAL;
  int64_t F = d->sample_size;
  float *feat = malloc(2 * (size_t)F * sizeof *feat), *row = malloc((size_t)F * sizeof *row);
  double *sum = calloc((size_t)F, sizeof *sum), *sq = calloc((size_t)F, sizeof *sq);
  int r = 0;
  if (!feat || !row || !sum || !sq) {
    r = nncl_err(d->ctx, NNCL_ENOMEM, "standardize: out of memory");
    goto done;
  }
  nncl_dataset raw = *d;
  raw.feat = NULL;
  int32_t y;
  for (int pass = 0; pass < 2; pass++) /* mean, then the centred sum of squares */
    for (int64_t i = 0; i < d->n; i++) {
      nncl_dataset_batch(&raw, NULL, i, 1, row, &y);
      for (int64_t j = 0; j < F; j++) {
        if (!pass) sum[j] += row[j];
        else sq[j] += ((double)row[j] - sum[j]) * ((double)row[j] - sum[j]);
      }
      if (!pass && i == d->n - 1)
        for (int64_t j = 0; j < F; j++) sum[j] /= (double)d->n;
    }
  for (int64_t j = 0; j < F; j++) {
    double sd = sqrt(sq[j] / (double)d->n);
    feat[j] = (float)sum[j];
    feat[F + j] = sd > 1e-12 && isfinite(sd) ? (float)(1 / sd) : 1.0f;
  }
  set_feat(d, feat);
  feat = NULL;
done:
  free(feat), free(row), free(sum), free(sq);
  return r;
}

int nncl_dataset_copy_standardize(nncl_dataset *dst, const nncl_dataset *src) {
  if (!dst || !src) return NNCL_EINVAL;
  if (dst->sample_size != src->sample_size)
    return nncl_err(dst->ctx, NNCL_ESHAPE, "standardize: %lld features, the fitted set has %lld", (long long)dst->sample_size,
                    (long long)src->sample_size);
  if (!src->feat) {
    set_feat(dst, NULL);
    return 0;
  }
  size_t bytes = 2 * (size_t)src->sample_size * sizeof(float);
  float *feat = malloc(bytes);
  if (!feat) return nncl_err(dst->ctx, NNCL_ENOMEM, "standardize: out of memory");
  memcpy(feat, src->feat, bytes);
  set_feat(dst, feat);
  return 0;
}

const char *nncl_dataset_class_names(const nncl_dataset *d) { return d && d->class_names ? d->class_names : ""; }

int nncl_model_set_preprocess(nncl_model *m, const nncl_dataset *d) {
  if (!m || !d) return NNCL_EINVAL;
  int r = nncl_model_set_meta(m, "nncl.classes", d->class_names);
  if (r || !d->feat) return r ? r : nncl_model_set_meta(m, "nncl.standardize", NULL);
  int64_t F = d->sample_size;
  size_t cap = (size_t)F * 2 * 20 + 2;
  char *t = malloc(cap), *p = t;
  if (!t) return nncl_err(m->ctx, NNCL_ENOMEM, "preprocess: out of memory");
  for (int64_t j = 0; j < 2 * F; j++) {
    float v = j < F ? d->feat[j] : 1.0f / d->feat[j];
    p += snprintf(p, cap - (size_t)(p - t), "%s%.9g", j == 0 ? "" : j == F ? ";" : ",", (double)v);
  }
  r = nncl_model_set_meta(m, "nncl.standardize", t);
  free(t);
  return r;
}

int nncl_dataset_apply_preprocess(nncl_dataset *d, const nncl_model *m) {
  if (!d || !m) return NNCL_EINVAL;
  const char *s = nncl_model_meta(m, "nncl.standardize");
  if (!s) return 0;
  int64_t F = d->sample_size;
  float *feat = malloc(2 * (size_t)F * sizeof *feat);
  if (!feat) return nncl_err(d->ctx, NNCL_ENOMEM, "preprocess: out of memory");
  const char *p = s;
  for (int64_t j = 0; j < 2 * F; j++) {
    char *end;
    double v = strtod(p, &end);
    char want = j == 2 * F - 1 ? 0 : j == F - 1 ? ';' : ',';
    if (end == p || *end != want || !isfinite(v) || (j >= F && !(v > 0))) {
      free(feat);
      return nncl_err(d->ctx, NNCL_EFORMAT, "model metadata nncl.standardize: bad value %lld of %lld (the data has %lld features)",
                      (long long)j + 1, (long long)(2 * F), (long long)F);
    }
    feat[j] = j < F ? (float)v : (float)(1 / v);
    p = end + (want != 0);
  }
  set_feat(d, feat);
  return 0;
}
