/* fuzz_idx.c - IDX files, plain or gzip (detected from the content): a file that loads has
 * 1..4 dims >= 1 whose product is the payload size, and every payload byte is readable. */
#include "fuzz_util.h"
#include "data/idx.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  nncl_idx idx;
  if (nncl_idx_load(fz_ctx(), fz_file(0, data, size), &idx)) return 0;
  FZ_CHECK(idx.ndim >= 1 && idx.ndim <= NNCL_IDX_MAX_DIMS);
  size_t n = 1;
  for (int d = 0; d < idx.ndim; d++) {
    FZ_CHECK(idx.dims[d] >= 1);
    n *= (size_t)idx.dims[d];
  }
  FZ_CHECK(n == idx.size);
  fz_touch(idx.data, idx.size);
  nncl_idx_free(&idx);
  return 0;
}
