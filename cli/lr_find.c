/* lr_find.c - nncl lr-find: the learning-rate range test, its curve as CSV and SVG. */
#include "cli.h"
#include "lr_plot.h"

static const char lr_find_usage[] =
  "usage: nncl lr-find MODEL --data DIR [options]\n"
  "  The learning-rate range test (Smith 2015, fastai's lr_find): trains MODEL for up to\n"
  "  --steps batches of DIR's train IDX files while the rate grows exponentially, records\n"
  "  the loss, and suggests a rate (steepest descent of the smoothed loss, and the\n"
  "  minimum / 10). The model's weights are restored afterwards (a checkpoint is not\n"
  "  modified).\n"
  "  --start-lr F      first rate (default 1e-7)\n"
  "  --end-lr F        last rate (default 10)\n"
  "  --steps N         batches (default 100; stops early when the loss diverges)\n"
  "  --batch N         batch size (default 64)\n"
  "  --optimizer ...   and --momentum, --weight-decay, --weight-decay-mode, --clip-norm,\n"
  "                    --clip-value, --device, --threads, --seed as for train\n"
  "  --out PREFIX      writes PREFIX.csv (step,lr,loss,smoothed_loss) and PREFIX.svg\n"
  "                    (default lr_find)\n";

int cmd_lr_find(int argc, char **argv) {
  opts o = {.batch = 64, .lr = 1e-3, .seed = 42, .optimizer = "adam", .data = DEFAULT_DATA, .out = "lr_find",
            .start_lr = 1e-7, .end_lr = 10, .steps = 100};
  const char *pos[1];
  int np;
  if (parse_opts(argc, argv, &o, pos, 1, &np, lr_find_usage)) return 1;
  if (np != 1) return fail("lr-find needs a MODEL file (see --help)%s%s", "", "");
  if (!(o.end_lr > o.start_lr)) return fail("--end-lr must exceed --start-lr%s%s", "", "");
  nncl_optim_params op;
  if (optim_params(&o, o.lr, &op)) return 1;
  nncl_ctx *ctx;
  if (open_ctx(&o, &ctx)) return 1;
  nncl_model *m = NULL;
  nncl_optim *opt = NULL;
  nncl_dataset *train = NULL;
  nncl_lr_find_result res = {0};
  int r, rc = 1;
  char csv[4096], svg[4096];
  snprintf(csv, sizeof csv, "%s.csv", o.out);
  snprintf(svg, sizeof svg, "%s.svg", o.out);
  if (load_model(ctx, pos[0], &m)) goto done;
  if ((r = nncl_dataset_load_idx_dir(ctx, o.data, "train", &train))) {
    fail_ctx(ctx, r, "cannot load training data");
    goto done;
  }
  nncl_lr_find_params lp;
  nncl_lr_find_params_init(&lp);
  lp.start_lr = (float)o.start_lr, lp.end_lr = (float)o.end_lr, lp.steps = o.steps, lp.batch = o.batch;
  if ((r = nncl_model_compile(m, o.batch, NNCL_MODE_TRAIN)) || (r = nncl_optim_create(m, &op, &opt)) ||
      (r = nncl_lr_find(m, opt, train, &lp, &res))) {
    fail_ctx(ctx, r, "lr-find failed");
    goto done;
  }
  if (lr_find_write_csv(csv, &res) || lr_find_write_svg(svg, &res)) {
    fail("cannot write %s / %s", csv, svg);
    goto done;
  }
  printf("lr-find: %d steps from %g to %g (%s, batch %d)%s\n", res.n, res.lr[0], res.lr[res.n - 1], o.optimizer, o.batch,
         res.diverged ? ", stopped when the loss diverged" : "");
  printf("suggested learning rate: %.3g (steepest descent); %.3g (minimum / 10)\n", res.lr_steepest, res.lr_min10);
  printf("curve: %s, plot: %s\n", csv, svg);
  rc = 0;
done:
  nncl_lr_find_result_free(&res);
  nncl_optim_destroy(opt);
  nncl_dataset_destroy(train);
  nncl_model_destroy(m);
  nncl_ctx_destroy(ctx);
  return rc;
}
