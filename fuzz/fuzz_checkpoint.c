/* fuzz_checkpoint.c - checkpoints: nncl_st_open over the file (every tensor's bytes read,
 * every name found again, every metadata key looked up), then nncl_load and, for a model
 * that loads, nncl_load_optim into an Adam optimizer over it. */
#include <string.h>

#include "fuzz_util.h"
#include "safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void walk(nncl_st_file *f) {
  for (int i = 0; i < nncl_st_count(f); i++) {
    nncl_st_tensor t, u;
    FZ_CHECK(!nncl_st_get(f, i, &t));
    fz_touch(t.data, t.bytes);
    size_t n = (size_t)nncl_st_dtype_size(t.dtype);
    for (int d = 0; d < t.ndim; d++) n *= (size_t)t.shape[d];
    FZ_CHECK(n == t.bytes);
    FZ_CHECK(!nncl_st_find(f, t.name, &u) && u.data == t.data && u.bytes == t.bytes);
  }
  for (int i = 0; i < nncl_st_meta_count(f); i++) {
    nncl_st_kv kv = nncl_st_meta_at(f, i);
    FZ_CHECK(kv.key && kv.value && nncl_st_meta(f, kv.key));
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  nncl_ctx *ctx = fz_ctx();
  const char *path = fz_file(0, data, size);
  nncl_st_file *f;
  if (!nncl_st_open(ctx, path, &f)) {
    walk(f);
    nncl_st_close(f);
  }
  nncl_model *m;
  int epoch;
  if (nncl_load(ctx, path, &m, &epoch)) return 0;
  nncl_optim_params p;
  nncl_optim_params_init(&p);
  nncl_optim *o = NULL;
  if (!nncl_model_compile(m, 1, NNCL_MODE_TRAIN) && !nncl_optim_create(m, &p, &o) && !nncl_load_optim(o, path))
    FZ_CHECK(nncl_optim_steps(o) >= 0);
  nncl_optim_destroy(o);
  nncl_model_destroy(m);
  return 0;
}
