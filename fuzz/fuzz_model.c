/* fuzz_model.c - the model description: the syntax layer over the raw bytes (NULs and all),
 * then nncl_model_parse_file reading the input as a file and building the layers. A model that parses must write back to text
 * that parses to the same text, and must compile, run forward and backward on 2 samples
 * (both only below 2^24 parameters: larger ones add time, not paths). */
#include <string.h>

#include "fuzz_util.h"
#include "modelfile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void ignore_line(void *user, const char *line) { (void)user, (void)line; }

/* Compile for 2 samples, forward zeros, backward zeros; failures are statuses, not crashes. */
static void run_model(nncl_ctx *ctx, nncl_model *m) {
  int64_t xs[2] = {2, nncl_model_input_size(m)}, ys[2] = {2, nncl_model_output_size(m)};
  nncl_tensor *x = NULL, *y = NULL;
  if (!nncl_model_compile(m, 2, NNCL_MODE_TRAIN) && !nncl_tensor_create(ctx, 2, xs, NNCL_F32, &x) &&
      !nncl_tensor_create(ctx, 2, ys, NNCL_F32, &y) && !nncl_model_forward(m, x, y))
    nncl_model_backward(m, y);
  nncl_tensor_destroy(x);
  nncl_tensor_destroy(y);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  nncl_ctx *ctx = fz_ctx();
  nncl_mf mf;
  if (!nncl_mf_parse(ctx, (const char *)data, size, "fuzz", &mf)) {
    for (int i = 0; i < mf.nlines; i++) FZ_CHECK(mf.lines[i].kind && mf.lines[i].nkv >= 0);
    nncl_mf_free(&mf);
  }
  nncl_model *m = NULL, *m2 = NULL;
  char *t1 = NULL, *t2 = NULL;
  if (!nncl_model_parse_file(ctx, fz_file(0, data, size), &m)) {
    int64_t np;
    FZ_CHECK(!nncl_model_summary(m, ignore_line, NULL, &np) && np >= 0);
    if (np < (1 << 24) && !nncl_model_to_text(m, &t1)) {
      FZ_CHECK(!nncl_model_parse(ctx, t1, "round trip", &m2));
      FZ_CHECK(!nncl_model_to_text(m2, &t2) && !strcmp(t1, t2));
    }
    if (np < (1 << 24)) run_model(ctx, m);
  }
  free(t1);
  free(t2);
  nncl_model_destroy(m);
  nncl_model_destroy(m2);
  return 0;
}
