/* charlm.c - a character-level language model: learns to predict the next character of a
 * text file with an LSTM (or a causal transformer) and writes samples of it as it trains.
 * usage: charlm [--text FILE] [--model lstm|transformer] [--minutes M] [--epochs N]
 *               [--seq T] [--temperature F] [--seed N]
 * Defaults: the GPL-3 text Debian ships, lstm, 3 minutes, windows of 64 characters. The
 * device is NNCL_DEVICE's (or auto). */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "nncl.h"

typedef struct settings {
  const char *text, *model;
  double minutes, temperature;
  int epochs, seq;
  unsigned long long seed;
} settings;

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int parse(int argc, char **argv, settings *s) {
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!v) return fprintf(stderr, "charlm: %s needs a value (see the top of charlm.c)\n", a), 1;
    if (!strcmp(a, "--text")) s->text = v;
    else if (!strcmp(a, "--model")) s->model = v;
    else if (!strcmp(a, "--minutes")) s->minutes = atof(v);
    else if (!strcmp(a, "--epochs")) s->epochs = atoi(v);
    else if (!strcmp(a, "--seq")) s->seq = atoi(v);
    else if (!strcmp(a, "--temperature")) s->temperature = atof(v);
    else if (!strcmp(a, "--seed")) s->seed = strtoull(v, NULL, 10);
    else return fprintf(stderr, "charlm: unknown option %s\n", a), 1;
    i++;
  }
  if (strcmp(s->model, "lstm") && strcmp(s->model, "transformer")) return fprintf(stderr, "charlm: --model lstm|transformer\n"), 1;
  if (s->seq < 2 || s->seq > 4096 || !(s->temperature > 0) || !(s->minutes > 0) || s->epochs < 1)
    return fprintf(stderr, "charlm: --seq 2..4096, --temperature > 0, --minutes > 0, --epochs >= 1\n"), 1;
  return 0;
}

/* The model description for V characters and windows of T. */
static void describe(const settings *s, int V, char *out, size_t n) {
  if (!strcmp(s->model, "lstm"))
    snprintf(out, n,
             "input shape=%d\nembedding vocab=%d dim=64\nlstm units=256 return=sequence\n"
             "dense units=%d\nsoftmax\n", s->seq, V, V);
  else /* causal: position t sees only 0..t, so every step is a next-character prediction */
    snprintf(out, n,
             "input shape=%d\nembedding vocab=%d dim=128\nposenc kind=learned max_len=%d\n"
             "transformer heads=4 ff=256 dropout=0.1 causal=1 norm=pre act=gelu\n"
             "transformer heads=4 ff=256 dropout=0.1 causal=1 norm=pre act=gelu\n"
             "dense units=%d\nsoftmax\n", s->seq, V, s->seq, V);
}

/* Draws from p^(1/temperature), renormalised (softmax(logits / temperature)). */
static int draw(const float *p, int V, double temperature, uint64_t *rng) {
  double w[256], sum = 0;
  for (int c = 0; c < V; c++) sum += w[c] = pow(p[c] > 1e-30f ? p[c] : 1e-30, 1.0 / temperature);
  *rng = *rng * 6364136223846793005ull + 1442695040888963407ull;
  double u = (double)(*rng >> 11) / 9007199254740992.0 * sum;
  for (int c = 0; c < V; c++)
    if ((u -= w[c]) <= 0) return c;
  return V - 1;
}

/* Continues `len` characters from the window `x` (T ids, updated in place). */
static int sample(nncl_model *m, const char *vocab, int V, int T, float *x, int len, double temperature, uint64_t *rng) {
  float *y = malloc((size_t)T * (size_t)V * sizeof *y);
  if (!y) return 1;
  for (int k = 0; k < len; k++) {
    int r = nncl_predict(m, 1, x, y);
    if (r) {
      free(y);
      return r;
    }
    int c = draw(y + (size_t)(T - 1) * (size_t)V, V, temperature, rng);
    memmove(x, x + 1, (size_t)(T - 1) * sizeof *x);
    x[T - 1] = (float)c;
    putchar(vocab[c]);
  }
  putchar('\n');
  free(y);
  return 0;
}

typedef struct run {
  double t0, budget;
  int epoch;
} run;

static void no_line(void *user, const char *line) { (void)user, (void)line; }

static int report(void *user, const nncl_epoch_stats *s, int epoch_end) {
  run *rn = user;
  if (epoch_end)
    printf("epoch %d  loss %.4f  next-char accuracy %.1f%%  val_loss %.4f  (%.0f windows/s, %.0f s in all)\n", rn->epoch,
           s->train_loss, 100 * s->train_acc, s->val_loss, s->samples_per_s, now_s() - rn->t0);
  return now_s() - rn->t0 > rn->budget; /* stop mid-epoch when the time is up */
}

int main(int argc, char **argv) {
  settings s = {"/usr/share/common-licenses/GPL-3", "lstm", 3, 0.8, 1000, 64, 42};
  if (parse(argc, argv, &s)) return 2;
  nncl_ctx_params cp;
  nncl_ctx_params_init(&cp);
  cp.seed = s.seed;
  nncl_ctx *ctx;
  char err[512], desc[1024];
  if (nncl_ctx_create(&cp, &ctx, err, sizeof err)) return fprintf(stderr, "charlm: %s\n", err), 1;
  nncl_dataset *all = NULL, *train = NULL, *val = NULL;
  nncl_model *m = NULL;
  nncl_optim *o = NULL;
  const char *vocab;
  int r, V = 0;
  if ((r = nncl_dataset_load_text(ctx, s.text, s.seq, &all)) || (V = nncl_dataset_vocab(all, &vocab)) < 0 ||
      (r = nncl_dataset_split(all, 0.1, &train, &val))) {
    fprintf(stderr, "charlm: %s: %s\n", s.text, nncl_errmsg(ctx));
    goto done;
  }
  describe(&s, V, desc, sizeof desc);
  nncl_optim_params op;
  nncl_optim_params_init(&op);
  op.lr = 2e-3f;
  if ((r = nncl_model_parse(ctx, desc, s.model, &m)) || (r = nncl_model_compile(m, 32, NNCL_MODE_TRAIN)) ||
      (r = nncl_optim_create(m, &op, &o))) {
    fprintf(stderr, "charlm: %s\n", nncl_errmsg(ctx));
    goto done;
  }
  int64_t np = 0;
  nncl_model_summary(m, no_line, NULL, &np);
  printf("device: %s\n%s: %d characters in the vocabulary, %lld windows of %d (%lld for validation); %s, %lld parameters\n",
         nncl_ctx_device(ctx), s.text, V, (long long)nncl_dataset_size(train), s.seq, (long long)nncl_dataset_size(val), s.model,
         (long long)np);
  run rn = {now_s(), s.minutes * 60, 0};
  float *x = malloc((size_t)s.seq * sizeof *x);
  uint64_t rng = s.seed;
  for (int ep = 1; ep <= s.epochs && x && !r && now_s() - rn.t0 < rn.budget; ep++) {
    nncl_fit_params fp;
    nncl_fit_params_init(&fp);
    fp.epochs = 1, fp.batch = 32, fp.progress = report, fp.user = &rn;
    rn.epoch = ep;
    if ((r = nncl_fit(m, o, train, val, &fp))) {
      fprintf(stderr, "charlm: training failed: %s\n", nncl_errmsg(ctx));
      break;
    }
    /* a sample, continuing a validation window */
    if ((r = nncl_dataset_read(val, (ep * 7) % nncl_dataset_size(val), 1, x, NULL))) break;
    printf("--- sample after %d epoch%s (temperature %.2f) ---\n", ep, ep > 1 ? "s" : "", s.temperature);
    if ((r = sample(m, vocab, V, s.seq, x, 300, s.temperature, &rng))) fprintf(stderr, "charlm: %s\n", nncl_errmsg(ctx));
    fflush(stdout);
  }
  free(x);
done:
  nncl_optim_destroy(o);
  nncl_model_destroy(m);
  nncl_dataset_destroy(train);
  nncl_dataset_destroy(val);
  nncl_dataset_destroy(all);
  nncl_ctx_destroy(ctx);
  return r ? 1 : 0;
}
