/* fuzz_dataset.c - a data set from two IDX files. Input: u16 little-endian k, then k bytes
 * of the image file (fewer if the input ends), then the label file. A data set that loads
 * is read back sample by sample and split in two, both parts read too. */
#include "fuzz_util.h"
#include "data/dataset.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Reads up to 3 samples from the start and the last one (samples of up to 64 values). */
static void read_some(nncl_dataset *d) {
  float x[3 * 64];
  int32_t y[3];
  int64_t n = nncl_dataset_size(d);
  if (d->sample_size > 64 || n < 1) return;
  int64_t k = n < 3 ? n : 3;
  FZ_CHECK(!nncl_dataset_read(d, 0, k, x, y) && !nncl_dataset_read(d, n - 1, 1, x, y));
  for (int64_t i = 0; i < k; i++) FZ_CHECK(y[i] >= 0 && y[i] < nncl_dataset_classes(d));
  FZ_CHECK(nncl_dataset_read(d, n, 1, x, y) < 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 2) return 0;
  size_t k = (size_t)data[0] | (size_t)data[1] << 8;
  data += 2, size -= 2;
  if (k > size) k = size;
  nncl_ctx *ctx = fz_ctx();
  nncl_dataset *d, *train, *val;
  if (nncl_dataset_load_idx(ctx, fz_file(0, data, k), fz_file(1, data + k, size - k), &d)) return 0;
  read_some(d);
  if (!nncl_dataset_split(d, 0.5, &train, &val)) {
    read_some(train);
    read_some(val);
    nncl_dataset_destroy(train);
    nncl_dataset_destroy(val);
  }
  nncl_dataset_destroy(d);
  return 0;
}
