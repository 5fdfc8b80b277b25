/* neuron.c - the seed's single neuron computed by the engine:
 * inputs [0.5, 0.8, 0.2], weights [0.4, -0.3, 0.7], bias 0.1:
 * 0.5*0.4 + 0.8*(-0.3) + 0.2*0.7 + 0.1 = 0.2, and ReLU(0.2) = 0.2. */
#include <stdio.h>

#include "nncl.h"

int main(void) {
  nncl_ctx *ctx;
  nncl_model *m;
  char err[512];
  if (nncl_ctx_create(NULL, &ctx, err, sizeof err)) return fprintf(stderr, "neuron: %s\n", err), 1;
  const int64_t in_shape[1] = {3}, x_shape[2] = {1, 3}, y_shape[2] = {1, 1};
  const float x[3] = {0.5f, 0.8f, 0.2f}, w[3] = {0.4f, -0.3f, 0.7f}, b[1] = {0.1f};
  float y = 0;
  nncl_tensor *xt = NULL, *yt = NULL, *wt, *bt;
  int r;
  if ((r = nncl_model_create(ctx, &m)) || (r = nncl_model_input(m, 1, in_shape)) ||
      (r = nncl_model_dense(m, 1, NNCL_ACT_RELU, NNCL_INIT_DEFAULT)) || (r = nncl_model_compile(m, 1, NNCL_MODE_INFER)) ||
      (r = nncl_model_param(m, 0, NULL, &wt, NULL)) || (r = nncl_model_param(m, 1, NULL, &bt, NULL)) ||
      (r = nncl_tensor_write(wt, w, sizeof w)) || (r = nncl_tensor_write(bt, b, sizeof b)) ||
      (r = nncl_tensor_create(ctx, 2, x_shape, NNCL_F32, &xt)) || (r = nncl_tensor_create(ctx, 2, y_shape, NNCL_F32, &yt)) ||
      (r = nncl_tensor_write(xt, x, sizeof x)) || (r = nncl_model_forward(m, xt, yt)) || (r = nncl_tensor_read(yt, &y, sizeof y))) {
    fprintf(stderr, "neuron: %s: %s\n", nncl_strerror(r), nncl_errmsg(ctx));
    return 1;
  }
  printf("relu(0.5*0.4 + 0.8*-0.3 + 0.2*0.7 + 0.1) = %.4f on %s\n", y, nncl_ctx_device(ctx));
  nncl_tensor_destroy(xt);
  nncl_tensor_destroy(yt);
  nncl_model_destroy(m);
  nncl_ctx_destroy(ctx);
  return y > 0.1999f && y < 0.2001f ? 0 : 1;
}
