/* roundtrip.h - the model text round trip of an example model, shared by test_layers.c and
 * test_rnn_layers.c: nncl_model_to_text's text parses back to the same text, summary,
 * parameters and outputs. Header-only; include it once, after fdcheck.h (the harness). */
#ifndef NNCL_ROUNDTRIP_H
#define NNCL_ROUNDTRIP_H

#include "fdcheck.h"
#include "nncl_config.h"

typedef struct text_buf {
  char s[8192];
  size_t len;
} text_buf;

static void collect(void *user, const char *line) {
  text_buf *b = user;
  int k = snprintf(b->s + b->len, sizeof b->s - b->len, "%s\n", line);
  if (k > 0 && b->len + (size_t)k < sizeof b->s) b->len += (size_t)k;
}

/* Outputs of m for 2 random samples, in evaluation (running statistics) and in training
 * (batch statistics; nothing draws dropout masks in the examples). */
static int outputs(nncl_model *m, float *y) {
  int64_t in = nncl_model_input_size(m), out = nncl_model_output_size(m);
  float *xh = malloc((size_t)(2 * in) * sizeof *xh);
  nncl_tensor *x = lt_tensor(ctx, 2, in), *t = lt_tensor(ctx, 2, out);
  uint64_t s = 3;
  int r = !xh || !x || !t ? NNCL_ENOMEM : 0;
  for (int64_t i = 0; !r && i < 2 * in; i++) xh[i] = urand(&s);
  if (!r && !(r = nncl_model_compile(m, 2, NNCL_MODE_TRAIN)) && !(r = lt_write(x, xh)) && !(r = nncl_model_set_training(m, 0)) &&
      !(r = nncl_model_forward(m, x, t)) && !(r = nncl_tensor_read(t, y, (size_t)(2 * out) * sizeof *y)) &&
      !(r = nncl_model_set_training(m, 1)) && !(r = nncl_model_forward(m, x, t)))
    r = nncl_tensor_read(t, y + 2 * out, (size_t)(2 * out) * sizeof *y);
  free(xh);
  nncl_tensor_destroy(x);
  nncl_tensor_destroy(t);
  return r;
}

static void text_round_trip(const char *file) {
  char path[512];
  snprintf(path, sizeof path, "%s/examples/models/%s", NNCL_SOURCE_DIR, file);
  nncl_model *m = NULL, *m2 = NULL;
  char *t1 = NULL, *t2 = NULL;
  text_buf s1 = {0}, s2 = {0};
  float *y1 = NULL, *y2 = NULL;
  uint64_t s = 21;
  if (!ok(nncl_model_parse_file(ctx, path, &m), path) || !ok(nncl_model_to_text(m, &t1), "to_text") ||
      !ok(nncl_model_parse(ctx, t1, "written", &m2), "parse written text") || !ok(nncl_model_to_text(m2, &t2), "to_text") ||
      !ok(nncl_model_summary(m, collect, &s1, NULL), "summary") || !ok(nncl_model_summary(m2, collect, &s2, NULL), "summary"))
    goto done;
  if (strcmp(t1, t2)) FAIL("%s: the written text does not write back the same:\n%s---\n%s", file, t1, t2);
  if (strcmp(s1.s, s2.s)) FAIL("%s: summaries differ after the text round trip:\n%s---\n%s", file, s1.s, s2.s);
  if (nncl_model_param_count(m) != nncl_model_param_count(m2)) {
    FAIL("%s: %d parameters, %d after the round trip", file, nncl_model_param_count(m), nncl_model_param_count(m2));
    goto done;
  }
  if (!ok(randomize(m, &s), "randomize")) goto done;
  for (int i = 0; i < nncl_model_param_count(m); i++) {
    const char *n1, *n2;
    nncl_tensor *v1, *v2;
    float *w = NULL;
    if (!ok(nncl_model_param(m, i, &n1, &v1, NULL), "param") || !ok(nncl_model_param(m2, i, &n2, &v2, NULL), "param")) goto done;
    if (strcmp(n1, n2) || nncl_tensor_numel(v1) != nncl_tensor_numel(v2) || !(w = lt_read(v1)) || lt_write(v2, w)) {
      FAIL("%s: parameter %d is '%s', after the round trip '%s'", file, i, n1, n2);
      free(w);
      goto done;
    }
    free(w);
  }
  int64_t out = nncl_model_output_size(m);
  y1 = malloc((size_t)(4 * out) * sizeof *y1), y2 = malloc((size_t)(4 * out) * sizeof *y2);
  if (!y1 || !y2 || !ok(outputs(m, y1), "outputs") || !ok(outputs(m2, y2), "outputs of the round-trip model")) goto done;
  if (memcmp(y1, y2, (size_t)(4 * out) * sizeof *y1)) FAIL("%s: outputs differ after the text round trip", file);
  else {
    int64_t np = 0;
    nncl_model_summary(m, collect, &s2, &np);
    printf("ok   text round trip %-18s %d layers, %lld parameters: same text, summary and outputs (eval and train)\n", file,
           m->nlayers, (long long)np);
  }
done:
  free(t1);
  free(t2);
  free(y1);
  free(y2);
  nncl_model_destroy(m);
  nncl_model_destroy(m2);
}

#endif
