/* fashion_mlp.c - the seed network trained on Fashion-MNIST through the C API.
 * usage: fashion_mlp [DATA_DIR] [EPOCHS] */
#include <stdio.h>
#include <stdlib.h>

#include "nncl.h"

static int report(void *user, const nncl_epoch_stats *s, int epoch_end) {
  (void)user;
  if (epoch_end)
    printf("epoch %d/%d  loss %.4f  acc %.2f%%  %.0f samples/s\n", s->epoch, s->epochs, s->train_loss, 100 * s->train_acc,
           s->samples_per_s);
  return 0;
}

int main(int argc, char **argv) {
  const char *dir = argc > 1 ? argv[1] : "/usr/share/datasets/fashion-mnist";
  int epochs = argc > 2 ? atoi(argv[2]) : 5;
  const int64_t in[1] = {784};
  nncl_ctx *ctx;
  nncl_model *m = NULL;
  nncl_optim *o = NULL;
  nncl_dataset *train = NULL, *test = NULL;
  nncl_optim_params op;
  nncl_fit_params fp;
  double loss, acc;
  char err[512];
  int r;
  if (nncl_ctx_create(NULL, &ctx, err, sizeof err)) return fprintf(stderr, "fashion_mlp: %s\n", err), 1;
  printf("device: %s\n", nncl_ctx_device(ctx));
  nncl_optim_params_init(&op); /* Adam, lr 1e-3 */
  nncl_fit_params_init(&fp);
  fp.epochs = epochs > 0 ? epochs : 5;
  fp.batch = 64;
  fp.progress = report;
  if ((r = nncl_dataset_load_idx_dir(ctx, dir, "train", &train)) || (r = nncl_dataset_load_idx_dir(ctx, dir, "t10k", &test)) ||
      (r = nncl_model_create(ctx, &m)) || (r = nncl_model_input(m, 1, in)) ||
      (r = nncl_model_dense(m, 128, NNCL_ACT_RELU, NNCL_INIT_DEFAULT)) ||
      (r = nncl_model_dense(m, 64, NNCL_ACT_RELU, NNCL_INIT_DEFAULT)) ||
      (r = nncl_model_dense(m, 10, NNCL_ACT_SOFTMAX, NNCL_INIT_DEFAULT)) || (r = nncl_model_compile(m, 64, NNCL_MODE_TRAIN)) ||
      (r = nncl_optim_create(m, &op, &o)) || (r = nncl_fit(m, o, train, NULL, &fp)) ||
      (r = nncl_evaluate(m, test, NNCL_LOSS_XENT, &loss, &acc))) {
    fprintf(stderr, "fashion_mlp: %s: %s\n", nncl_strerror(r), nncl_errmsg(ctx));
    return 1;
  }
  printf("test: loss %.4f  accuracy %.2f%%\n", loss, 100 * acc);
  nncl_optim_destroy(o);
  nncl_model_destroy(m);
  nncl_dataset_destroy(train);
  nncl_dataset_destroy(test);
  nncl_ctx_destroy(ctx);
  return 0;
}
