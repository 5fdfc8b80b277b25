/* subset.c - a view of a dataset restricted to some classes, relabelled, optionally a
 * random sample of them (transfer learning: pre-train on some classes, fine-tune on few
 * examples of the others). */
#include <stdlib.h>
#include <string.h>

#include "data/dataset.h"

int nncl_dataset_subset(const nncl_dataset *d, const int *classes, int nsel, int64_t limit, nncl_dataset **out) {
  if (!d || !classes || !out) return nncl_err(d ? d->ctx : NULL, NNCL_EINVAL, "subset: NULL argument");
  *out = NULL;
  if (nncl_ds_label_len(d) > 1)
    return nncl_err(d->ctx, NNCL_EINVAL, "subset: the samples have sequences of labels, not one class");
  if (nsel < 1 || nsel > d->nclasses)
    return nncl_err(d->ctx, NNCL_EINVAL, "subset: %d classes asked for, the dataset has %d", nsel, d->nclasses);
  int *map = malloc((size_t)d->nclasses * sizeof *map);
  int64_t *idx = malloc((size_t)(d->n ? d->n : 1) * sizeof *idx), n = 0, maxrow = 0;
  int32_t *labels = NULL;
  nncl_dataset *p = NULL;
  int r = 0;
  if (!map || !idx) {
    r = nncl_err(d->ctx, NNCL_ENOMEM, "subset: out of memory");
    goto done;
  }
  for (int c = 0; c < d->nclasses; c++) map[c] = -1;
  for (int k = 0; k < nsel && !r; k++) {
    if (classes[k] < 0 || classes[k] >= d->nclasses || map[classes[k]] >= 0)
      r = nncl_err(d->ctx, NNCL_EINVAL, "subset: class %d is outside 0..%d or listed twice", classes[k], d->nclasses - 1);
    else map[classes[k]] = k;
  }
  for (int64_t i = 0; i < d->n && !r; i++) {
    int64_t row = d->index ? d->index[i] : i;
    if (map[d->labels[row]] < 0) continue;
    idx[n++] = row;
    if (row > maxrow) maxrow = row;
  }
  if (!r && n == 0) r = nncl_err(d->ctx, NNCL_EINVAL, "subset: no sample has one of the %d classes asked for", nsel);
  if (r) goto done;
  if (limit > 0 && limit < n) {
    for (int64_t i = n - 1; i > 0; i--) { /* Fisher-Yates, then the first `limit` */
      int64_t j = (int64_t)(nncl_rng_next(d->ctx) % (uint64_t)(i + 1)), t = idx[i];
      idx[i] = idx[j], idx[j] = t;
    }
    n = limit;
  }
  /* labels stay indexed by storage row, as the parent's */
  if (!(labels = calloc((size_t)maxrow + 1, sizeof *labels)) || !(p = malloc(sizeof *p))) {
    r = nncl_err(d->ctx, NNCL_ENOMEM, "subset: out of memory");
    goto done;
  }
  for (int64_t i = 0; i < n; i++) labels[idx[i]] = map[d->labels[idx[i]]];
  *p = *d;
  memset(p->owned, 0, sizeof p->owned);
  p->n = n;
  p->index = idx;
  p->labels = labels;
  p->nclasses = nsel;
  p->owned[1] = labels;
  p->owned[2] = idx;
  *out = p;
  idx = NULL, labels = NULL;
done:
  free(map);
  free(idx);
  free(labels);
  return r;
}
