/* torch_ckpt_helper.c - test helper for torch_load_checkpoint.py: trains MODEL briefly on
 * synthetic data (Adam, 1 epoch, seed 5) on the device NNCL_DEVICE selects and writes
 *   DIR/model.safetensors   the checkpoint, with optimizer state
 *   DIR/x.f32               16 input samples, float32 little-endian, (16, input size)
 *   DIR/y.f32               the model's outputs for them, (16, output size)
 * usage: torch_ckpt_helper MODEL DIR
 */
#include <stdio.h>
#include <stdlib.h>

#include "nncl.h"

#define TRAIN_N 256
#define PRED_N 16

static float urand(uint64_t *s) {
  *s = *s * 6364136223846793005ull + 1442695040888963407ull;
  return (float)((double)(*s >> 11) / 9007199254740992.0 * 2 - 1);
}

static int write_raw(const char *dir, const char *name, const float *v, size_t n) {
  char path[4096];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen(path, "wb");
  if (!f) return 1;
  size_t w = fwrite(v, sizeof *v, n, f);
  return fclose(f) || w != n;
}

int main(int argc, char **argv) {
  if (argc != 3) return fprintf(stderr, "usage: torch_ckpt_helper MODEL DIR\n"), 2;
  nncl_ctx_params p;
  nncl_ctx_params_init(&p);
  p.seed = 5;
  p.threads = 2;
  nncl_ctx *ctx;
  char err[512], path[4096];
  if (nncl_ctx_create(&p, &ctx, err, sizeof err)) return fprintf(stderr, "helper: %s\n", err), 1;
  nncl_model *m = NULL;
  nncl_optim *o = NULL;
  nncl_dataset *d = NULL;
  float *x = NULL, *y = NULL;
  int32_t *labels = NULL;
  int r = nncl_model_parse_file(ctx, argv[1], &m);
  if (r) goto done;
  int64_t in = nncl_model_input_size(m), out = nncl_model_output_size(m);
  x = malloc((size_t)(TRAIN_N * in) * sizeof *x);
  y = malloc((size_t)(PRED_N * out) * sizeof *y);
  labels = malloc(TRAIN_N * sizeof *labels);
  if (!x || !y || !labels) {
    r = NNCL_ENOMEM;
    goto done;
  }
  uint64_t s = 11;
  for (int64_t i = 0; i < TRAIN_N * in; i++) x[i] = 0.5f + 0.5f * urand(&s);
  for (int i = 0; i < TRAIN_N; i++) labels[i] = (int32_t)((x[(size_t)i * (size_t)in] * 7.3f + x[(size_t)i * (size_t)in + in - 1] * 3.1f)) % (int32_t)out;
  const int64_t shape[1] = {in};
  nncl_optim_params op;
  nncl_optim_params_init(&op);
  nncl_fit_params fp;
  nncl_fit_params_init(&fp);
  fp.batch = 32;
  fp.epochs = 1;
  snprintf(path, sizeof path, "%s/model.safetensors", argv[2]);
  fp.checkpoint = path;
  if ((r = nncl_dataset_from_arrays(ctx, TRAIN_N, 1, shape, x, labels, (int)out, &d)) ||
      (r = nncl_model_compile(m, 32, NNCL_MODE_TRAIN)) || (r = nncl_optim_create(m, &op, &o)) ||
      (r = nncl_fit(m, o, d, NULL, &fp)))
    goto done;
  /* fresh inputs, outputs in inference mode */
  for (int64_t i = 0; i < PRED_N * in; i++) x[i] = 0.5f + 0.5f * urand(&s);
  if ((r = nncl_model_compile(m, PRED_N, NNCL_MODE_INFER)) || (r = nncl_predict(m, PRED_N, x, y))) goto done;
  if (write_raw(argv[2], "x.f32", x, (size_t)(PRED_N * in)) || write_raw(argv[2], "y.f32", y, (size_t)(PRED_N * out))) {
    fprintf(stderr, "helper: cannot write to %s\n", argv[2]);
    r = NNCL_EIO;
  }
  else printf("helper: %s on %s: checkpoint %s\n", argv[1], nncl_ctx_device(ctx), path);
done:
  if (r) fprintf(stderr, "helper: %s: %s\n", nncl_strerror(r), nncl_errmsg(ctx));
  free(x), free(y), free(labels);
  nncl_dataset_destroy(d);
  nncl_optim_destroy(o);
  nncl_model_destroy(m);
  nncl_ctx_destroy(ctx);
  return r != 0;
}
