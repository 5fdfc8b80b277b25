/* test_text.c - character-level text data and per-step targets on the device under test:
 * vocabulary, windows and next-character labels, refusals of unusable files, and fit /
 * evaluate with seq_len labels per sample (loss averaged over every step, accuracy over
 * every step), checked against the host. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apicheck.h"
#include "testutil.h"

static void write_file(const char *path, const char *text, size_t n) {
  FILE *f = fopen(path, "wb");
  if (f) fwrite(text, 1, n, f), fclose(f);
}

static void windows(nncl_ctx *ctx) {
  const char *text = "the cat sat. the cat ran!";
  write_file("test_text.txt", text, strlen(text));
  nncl_dataset *d = NULL;
  const char *vocab;
  if (nncl_dataset_load_text(ctx, "test_text.txt", 5, &d)) {
    CHECK(0, "load: %s", nncl_errmsg(ctx));
    return;
  }
  int V = nncl_dataset_vocab(d, &vocab);
  CHECK(V == 11 && !memcmp(vocab, " !.acehnrst", 11), "vocabulary of %d: '%.*s'", V, V > 0 ? V : 0, V > 0 ? vocab : "");
  CHECK(nncl_dataset_size(d) == 4 && nncl_dataset_label_len(d) == 5 && nncl_dataset_sample_size(d) == 5 &&
            nncl_dataset_classes(d) == V, "4 windows of 5 with 5 labels each, got %lld of %lld, %d labels",
        (long long)nncl_dataset_size(d), (long long)nncl_dataset_sample_size(d), nncl_dataset_label_len(d));
  float x[20];
  int32_t y[20];
  if (!nncl_dataset_read(d, 0, 4, x, y))
    for (int k = 0; k < 20; k++) {
      CHECK(vocab[(int)x[k]] == text[k], "input %d is '%c', want '%c'", k, vocab[(int)x[k]], text[k]);
      CHECK(vocab[y[k]] == text[k + 1], "label %d is '%c', want '%c'", k, vocab[y[k]], text[k + 1]);
    }
  CHECK(nncl_dataset_subset(d, (int[]){0}, 1, 0, &(nncl_dataset *){NULL}) == NNCL_EINVAL, "a class subset of text");
  nncl_dataset_destroy(d);
  nncl_dataset *bad = NULL;
  write_file("test_text.txt", "abc", 3);
  CHECK(nncl_dataset_load_text(ctx, "test_text.txt", 3, &bad) == NNCL_EFORMAT && !bad, "3 bytes make no window of 3 and a next");
  write_file("test_text.txt", "", 0);
  CHECK(nncl_dataset_load_text(ctx, "test_text.txt", 1, &bad) == NNCL_EFORMAT, "empty file: %s", nncl_errmsg(ctx));
  CHECK(nncl_dataset_load_text(ctx, ".", 1, &bad) == NNCL_EIO, "a directory: %s", nncl_errmsg(ctx));
  CHECK(nncl_dataset_load_text(ctx, "no/such/file", 1, &bad) == NNCL_EIO, "a missing file");
  CHECK(nncl_dataset_load_text(ctx, "test_text.txt", 0, &bad) == NNCL_EINVAL, "seq_len 0");
  remove("test_text.txt");
}

/* "abcd" repeated: the next character is a function of the current one. A dense model
 * from the 6 ids to 6 x 4 scores learns it; loss and accuracy count every step. */
static void per_step_training(nncl_ctx *ctx) {
  char text[2401];
  for (int k = 0; k < 2400; k++) text[k] = "abcd"[k % 4];
  write_file("test_text.txt", text, 2400);
  nncl_dataset *d = NULL;
  nncl_model *m = NULL;
  nncl_optim *o = NULL;
  nncl_optim_params op;
  nncl_optim_params_init(&op);
  op.lr = 0.01f;
  nncl_fit_params fp;
  nncl_fit_params_init(&fp);
  fp.epochs = 30, fp.batch = 32;
  if (nncl_dataset_load_text(ctx, "test_text.txt", 6, &d) ||
      nncl_model_parse(ctx, "input shape=6\ndense units=64 act=relu\ndense units=24\n", "per-step", &m) ||
      nncl_model_compile(m, 32, NNCL_MODE_TRAIN) || nncl_optim_create(m, &op, &o) || nncl_fit(m, o, d, NULL, &fp)) {
    CHECK(0, "setup and fit: %s", nncl_errmsg(ctx));
    goto done;
  }
  double loss, acc;
  CHECK(!nncl_evaluate(m, d, NNCL_LOSS_XENT, &loss, &acc), "evaluate: %s", nncl_errmsg(ctx));
  /* the same from the outputs on the host: mean over all steps of -log softmax */
  int64_t n = nncl_dataset_size(d);
  float *x = malloc((size_t)n * 6 * sizeof *x), *s = malloc((size_t)n * 24 * sizeof *s);
  int32_t *y = malloc((size_t)n * 6 * sizeof *y);
  double hl = 0, hc = 0;
  if (x && s && y && !nncl_dataset_read(d, 0, n, x, y) && !nncl_predict(m, n, x, s))
    for (int64_t r = 0; r < n * 6; r++) {
      const float *z = s + r * 4;
      double mx = z[0], sum = 0;
      int best = 0;
      for (int c = 1; c < 4; c++) mx = z[c] > mx ? z[c] : mx, best = z[c] > z[best] ? c : best;
      for (int c = 0; c < 4; c++) sum += exp(z[c] - mx);
      hl += log(sum) + mx - z[y[r]], hc += best == y[r];
    }
  hl /= (double)(n * 6), hc /= (double)(n * 6);
  CHECK(fabs(loss - hl) < 1e-4 * (1 + hl) && fabs(acc - hc) < 1e-9, "loss %g acc %g, host %g %g", loss, acc, hl, hc);
  CHECK(acc > 0.99, "accuracy %g after training on a deterministic sequence", acc);
  free(x), free(s), free(y);
done:
  remove("test_text.txt");
  nncl_optim_destroy(o);
  nncl_model_destroy(m);
  nncl_dataset_destroy(d);
}

int main(void) {
  nncl_ctx *ctx;
  int r = tu_open(tu_device(), 2, &ctx);
  if (r) return r;
  windows(ctx);
  per_step_training(ctx);
  nncl_ctx_destroy(ctx);
  return api_verdict("test_text");
}
