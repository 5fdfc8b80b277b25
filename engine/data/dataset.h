/* dataset.h - samples kept compact in host memory, converted to floats per batch. Internal. */
#ifndef NNCL_DATASET_H
#define NNCL_DATASET_H

#include "internal.h"

struct nncl_dataset {
  struct nncl_ctx *ctx;
  int64_t n;                 /* samples in this dataset (view) */
  int ndim;
  int64_t shape[NNCL_MAX_DIMS]; /* per sample */
  int64_t sample_size;       /* product of shape */
  const uint8_t *u8;         /* images scaled by 1/255, or */
  const float *f32;          /* raw float features */
  const int32_t *labels;     /* label_len per storage row */
  int nclasses;
  int label_len;             /* labels per sample: 1 (0 reads as 1), or T for sequence targets */
  const int64_t *index;      /* view: sample i is storage row index[i]; NULL = identity */
  float mean, std;           /* x' = (x - mean) / std */
  const float *feat;         /* per-feature standardisation: mean[sample_size], then 1/std; NULL = none */
  const char *class_names;   /* "name0,name1,..." (CSV datasets) or NULL */
  const char *vocab;         /* text datasets: the character of each token id (nclasses) */
  void *owned[6];            /* storage, labels, index, feat, class names, vocab owned by this dataset */
};

/* An empty dataset on ctx (std 1), or NULL. */
struct nncl_dataset *nncl_dataset_alloc(struct nncl_ctx *ctx);

/* Labels per sample. */
static inline int nncl_ds_label_len(const struct nncl_dataset *d) { return d->label_len > 1 ? d->label_len : 1; }

/* Fills x (n x sample_size floats) and y (n x label_len labels) with samples
 * order[start..start+n) (order NULL = identity). */
void nncl_dataset_batch(const struct nncl_dataset *d, const int64_t *order, int64_t start, int n,
                        float *x, int32_t *y);

/* nncl_dataset_batch with augmentation a for `epoch` (augment.c); 0 or a status. */
int nncl_augment_batch(const struct nncl_dataset *d, const nncl_augment *a, int64_t epoch, const int64_t *order,
                       int64_t start, int n, float *x, int32_t *y);

#endif
