/* metrics.c - classification metrics (confusion matrix, per-class precision, recall and
 * F1, macro averages) and balanced class weights. */
#include <stdlib.h>
#include <string.h>

#include "data/dataset.h"
#include "model.h"

int nncl_class_weights_balanced(const nncl_dataset *d, float *w) {
  if (!d || !w) return NNCL_EINVAL;
  int C = d->nclasses;
  int64_t *count = calloc((size_t)C, sizeof *count);
  if (!count) return nncl_err(d->ctx, NNCL_ENOMEM, "class weights: out of memory");
  for (int64_t i = 0; i < d->n; i++) {
    int32_t y = d->labels[d->index ? d->index[i] : i];
    if (y >= 0 && y < C) count[y]++;
  }
  /* w_c = n / (C n_c), scikit-learn's compute_class_weight("balanced") */
  for (int c = 0; c < C; c++) w[c] = count[c] ? (float)((double)d->n / ((double)C * (double)count[c])) : 0.0f;
  free(count);
  return 0;
}

void nncl_metrics_destroy(nncl_metrics *mt) {
  if (!mt) return;
  free(mt->confusion), free(mt->support), free(mt->precision), free(mt->recall), free(mt->f1);
  free(mt);
}

/* Fills precision, recall, F1 and the macro averages from the confusion matrix. */
static void derive(nncl_metrics *mt) {
  int C = mt->nclasses;
  int64_t correct = 0;
  for (int c = 0; c < C; c++) {
    int64_t tp = mt->confusion[(size_t)c * (size_t)C + (size_t)c], pred = 0, sup = 0;
    for (int k = 0; k < C; k++) {
      pred += mt->confusion[(size_t)k * (size_t)C + (size_t)c];
      sup += mt->confusion[(size_t)c * (size_t)C + (size_t)k];
    }
    correct += tp;
    mt->support[c] = sup;
    mt->precision[c] = pred ? (double)tp / (double)pred : 0;
    mt->recall[c] = sup ? (double)tp / (double)sup : 0;
    double s = mt->precision[c] + mt->recall[c];
    mt->f1[c] = s > 0 ? 2 * mt->precision[c] * mt->recall[c] / s : 0;
    mt->macro_precision += mt->precision[c] / C;
    mt->macro_recall += mt->recall[c] / C;
    mt->macro_f1 += mt->f1[c] / C;
  }
  mt->accuracy = mt->n ? (double)correct / (double)mt->n : 0;
}

int nncl_evaluate_metrics(nncl_model *m, const nncl_dataset *d, nncl_metrics **out) {
  if (!m || !d || !out) return nncl_err(m ? m->ctx : NULL, NNCL_EINVAL, "metrics: NULL argument");
  *out = NULL;
  int64_t in = nncl_model_input_size(m), C = nncl_model_output_size(m);
  if (d->sample_size != in)
    return nncl_err(m->ctx, NNCL_ESHAPE, "metrics: dataset samples have %lld values, the model takes %lld", (long long)d->sample_size,
                    (long long)in);
  if (C < 2 || d->nclasses > C)
    return nncl_err(m->ctx, NNCL_ESHAPE, "metrics: the model has %lld outputs for %d classes", (long long)C, d->nclasses);
  nncl_metrics *mt = calloc(1, sizeof *mt);
  const int64_t B = 256;
  float *x = malloc((size_t)(B * in) * sizeof *x), *y = malloc((size_t)(B * C) * sizeof *y);
  int32_t *lab = malloc((size_t)B * sizeof *lab);
  int r = 0;
  if (mt) {
    mt->nclasses = (int)C, mt->n = d->n;
    mt->confusion = calloc((size_t)(C * C), sizeof *mt->confusion);
    mt->support = calloc((size_t)C, sizeof *mt->support);
    mt->precision = calloc((size_t)C, sizeof(double)), mt->recall = calloc((size_t)C, sizeof(double));
    mt->f1 = calloc((size_t)C, sizeof(double));
  }
  if (!mt || !x || !y || !lab || !mt->confusion || !mt->support || !mt->precision || !mt->recall || !mt->f1) {
    r = nncl_err(m->ctx, NNCL_ENOMEM, "metrics: out of memory");
    goto done;
  }
  for (int64_t s = 0; s < d->n && !r; s += B) {
    int64_t n = d->n - s < B ? d->n - s : B;
    if ((r = nncl_dataset_read(d, s, n, x, lab)) || (r = nncl_predict(m, n, x, y))) break;
    for (int64_t i = 0; i < n; i++) {
      int64_t best = 0;
      for (int64_t c = 1; c < C; c++)
        if (y[i * C + c] > y[i * C + best]) best = c;
      if (lab[i] >= 0 && lab[i] < C) mt->confusion[lab[i] * C + best]++;
    }
  }
  if (!r) derive(mt);
done:
  free(x), free(y), free(lab);
  if (r) nncl_metrics_destroy(mt);
  else *out = mt;
  return r;
}
