/* xor.c - one hidden layer learns XOR; a single-layer perceptron cannot (XOR is not
 * linearly separable, so it tops out at 3 of 4 points). */
#include <stdio.h>

#include "nncl.h"

static const float X[8] = {0, 0, 0, 1, 1, 0, 1, 1};
static const int32_t Y[4] = {0, 1, 1, 0};

/* Trains a model with `hidden` tanh units (0 = no hidden layer); returns accuracy or -1. */
static double train(nncl_ctx *ctx, nncl_dataset *d, int hidden) {
  const int64_t in[1] = {2};
  nncl_model *m = NULL;
  nncl_optim *o = NULL;
  nncl_optim_params op;
  nncl_fit_params fp;
  nncl_optim_params_init(&op);
  op.lr = 0.05f;
  nncl_fit_params_init(&fp);
  fp.epochs = 500;
  fp.batch = 4;
  double loss = 0, acc = -1;
  int r;
  if ((r = nncl_model_create(ctx, &m)) || (r = nncl_model_input(m, 1, in)) ||
      (hidden && (r = nncl_model_dense(m, hidden, NNCL_ACT_TANH, NNCL_INIT_DEFAULT))) ||
      (r = nncl_model_dense(m, 2, NNCL_ACT_SOFTMAX, NNCL_INIT_DEFAULT)) || (r = nncl_model_compile(m, 4, NNCL_MODE_TRAIN)) ||
      (r = nncl_optim_create(m, &op, &o)) || (r = nncl_fit(m, o, d, NULL, &fp)) ||
      (r = nncl_evaluate(m, d, NNCL_LOSS_XENT, &loss, &acc)))
    fprintf(stderr, "xor: %s: %s\n", nncl_strerror(r), nncl_errmsg(ctx));
  else
    printf("%-28s loss %.4f  accuracy %.0f%%\n", hidden ? "hidden layer of 4 tanh:" : "single-layer perceptron:", loss, 100 * acc);
  nncl_optim_destroy(o);
  nncl_model_destroy(m);
  return r ? -1 : acc;
}

int main(void) {
  nncl_ctx *ctx;
  nncl_dataset *d;
  nncl_ctx_params p;
  char err[512];
  const int64_t shape[1] = {2};
  nncl_ctx_params_init(&p);
  p.seed = 1;
  if (nncl_ctx_create(&p, &ctx, err, sizeof err)) return fprintf(stderr, "xor: %s\n", err), 1;
  if (nncl_dataset_from_arrays(ctx, 4, 1, shape, X, Y, 2, &d)) return fprintf(stderr, "xor: %s\n", nncl_errmsg(ctx)), 1;
  double flat = train(ctx, d, 0), deep = train(ctx, d, 4);
  nncl_dataset_destroy(d);
  nncl_ctx_destroy(ctx);
  return deep == 1.0 && flat >= 0 && flat <= 0.75 ? 0 : 1;
}
