/* fuzz_csv.c - CSV files through nncl_dataset_load_csv; the first byte picks the header
 * kind (names, none, sklearn) and the label column (last, first, or by name "label"). A
 * file that loads has >= 1 samples of >= 1 finite features, labels in 0..classes-1, and
 * standardises to finite values. */
#include <math.h>

#include <string.h>

#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  nncl_csv_params p;
  nncl_csv_params_init(&p);
  p.header = data[0] % 3;
  p.label = (data[0] >> 2) % 3 == 0 ? NULL : (data[0] >> 2) % 3 == 1 ? "0" : "label";
  nncl_dataset *d;
  if (nncl_dataset_load_csv(fz_ctx(), fz_file(0, data + 1, size - 1), &p, &d)) return 0;
  int64_t n = nncl_dataset_size(d), f = nncl_dataset_sample_size(d);
  int C = nncl_dataset_classes(d);
  FZ_CHECK(n >= 1 && f >= 1 && C >= 2);
  float *x = malloc((size_t)f * sizeof *x);
  FZ_CHECK(x != NULL);
  for (int pass = 0; pass < 2; pass++) {
    for (int64_t i = 0; i < n; i++) {
      int32_t y;
      FZ_CHECK(nncl_dataset_read(d, i, 1, x, &y) == 0);
      FZ_CHECK(y >= 0 && y < C);
      for (int64_t j = 0; j < f; j++) FZ_CHECK(isfinite(x[j]));
    }
    if (!pass && nncl_dataset_fit_standardize(d)) break;
  }
  fz_touch(nncl_dataset_class_names(d), strlen(nncl_dataset_class_names(d)));
  free(x);
  nncl_dataset_destroy(d);
  return 0;
}
