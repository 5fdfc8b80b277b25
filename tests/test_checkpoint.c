/* test_checkpoint.c - checkpoints (nncl_save / nncl_load / nncl_load_optim):
 *  - save -> load gives bit-identical outputs on the same backend, same text and epoch;
 *  - optimizer state round trip (Adam and SGD with momentum): train 1 epoch, save, load
 *    into a fresh model and optimizer, train one more epoch on both -> identical weights;
 *  - hostile files: truncated at every offset, flipped bytes, edited model text, tensors of
 *    the wrong shape or dtype, a missing tensor, foreign and empty files -> a clear error;
 *  - a failed save (unwritable place, a directory in the way) returns NNCL_EIO and leaves
 *    the existing checkpoint intact.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "nncl.h"
#include "safetensors.h"

static char dir[64];

static const char *tmp_path(const char *name) {
  static char buf[4][256];
  static int k;
  k = (k + 1) % 4;
  snprintf(buf[k], sizeof buf[k], "%s/%s", dir, name);
  return buf[k];
}

static unsigned char *read_file(const char *path, size_t *n) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long len = ftell(f);
  fseek(f, 0, SEEK_SET);
  unsigned char *b = malloc(len > 0 ? (size_t)len : 1);
  *n = b && len >= 0 ? fread(b, 1, (size_t)len, f) : 0;
  fclose(f);
  return b;
}

static int write_file(const char *path, const void *b, size_t n) {
  FILE *f = fopen(path, "wb");
  if (!f) return -1;
  size_t w = n ? fwrite(b, 1, n, f) : 0;
  return fclose(f) || w != n ? -1 : 0;
}

#define NS 96
#define NIN 12
static const char net[] =
  "input shape=12\n"
  "dense units=10 act=gelu name=\"first layer\"\n"
  "leaky_relu alpha=0.2\n"
  "dense units=8 act=tanh\n"
  "dense units=4\n"
  "softmax\n";

static float X[NS * NIN];
static int32_t Y[NS];

/* A model of `net` compiled for training with an optimizer of kind `kind`. */
static int make_trained(nncl_optim_params *op, nncl_model **m, nncl_optim **o, nncl_dataset *d, int epochs) {
  nncl_fit_params fp;
  nncl_fit_params_init(&fp);
  fp.batch = 16;
  fp.epochs = epochs;
  *m = NULL, *o = NULL;
  if (!ok(nncl_model_parse(ctx, net, "net", m), "parse") || !ok(nncl_model_compile(*m, 16, NNCL_MODE_TRAIN), "compile") ||
      !ok(nncl_optim_create(*m, op, o), "optimizer") || (epochs && !ok(nncl_fit(*m, *o, d, NULL, &fp), "fit")))
    return 1;
  return 0;
}

static float *outputs(nncl_model *m) {
  float *y = malloc((size_t)NS * (size_t)nncl_model_output_size(m) * sizeof *y);
  if (y && nncl_predict(m, NS, X, y)) {
    FAIL("predict: %s", nncl_errmsg(ctx));
    free(y);
    return NULL;
  }
  return y;
}

/* All parameter values of m, concatenated. */
static float *weights(nncl_model *m, int64_t *n) {
  float *all = NULL;
  *n = 0;
  for (int p = 0; p < nncl_model_param_count(m); p++) {
    nncl_tensor *v;
    if (nncl_model_param(m, p, NULL, &v, NULL)) return all;
    int64_t k = nncl_tensor_numel(v);
    float *a = realloc(all, (size_t)(*n + k) * sizeof *a);
    if (!a) return all;
    all = a;
    if (nncl_tensor_read(v, all + *n, (size_t)k * sizeof *all)) return all;
    *n += k;
  }
  return all;
}

/* ---- round trips ---------------------------------------------------------------------- */

static void test_round_trip(nncl_dataset *d) {
  nncl_optim_params op;
  nncl_optim_params_init(&op);
  nncl_model *m = NULL, *l = NULL;
  nncl_optim *o = NULL;
  char *t1 = NULL, *t2 = NULL;
  float *y1 = NULL, *y2 = NULL;
  const char *path = tmp_path("a.safetensors");
  int epoch = -1;
  if (make_trained(&op, &m, &o, d, 1) || !ok(nncl_save(m, NULL, 3, path), "save") ||
      !ok(nncl_load(ctx, path, &l, &epoch), "load"))
    goto done;
  /* the same plan on both: GEMM rounding may depend on the batch rows */
  if (!ok(nncl_model_compile(m, 32, NNCL_MODE_INFER), "compile") || !ok(nncl_model_compile(l, 32, NNCL_MODE_INFER), "compile") ||
      !(y1 = outputs(m)) || !(y2 = outputs(l)))
    goto done;
  int64_t n = NS * nncl_model_output_size(m);
  for (int64_t i = 0; i < n; i++)
    if (memcmp(&y1[i], &y2[i], sizeof *y1)) {
      FAIL("save/load: output %lld differs: %.9g before, %.9g after (net 12-10-8-4, %d samples)", (long long)i, y1[i], y2[i], NS);
      goto done;
    }
  if (epoch != 3) FAIL("load: epoch %d, saved 3", epoch);
  if (ok(nncl_model_to_text(m, &t1), "to_text") && ok(nncl_model_to_text(l, &t2), "to_text") && strcmp(t1, t2))
    FAIL("load: description changed:\n%s---\n%s", t1, t2);
  for (int p = 0; p < nncl_model_param_count(m); p++) {
    const char *a, *b;
    nncl_model_param(m, p, &a, NULL, NULL);
    nncl_model_param(l, p, &b, NULL, NULL);
    if (strcmp(a, b)) FAIL("load: parameter %d is '%s', saved '%s'", p, b, a);
  }
  /* the metadata PyTorch users read */
  nncl_st_file *f;
  if (ok(nncl_st_open(ctx, path, &f), "open checkpoint")) {
    const char *model = nncl_st_meta(f, "model"), *ep = nncl_st_meta(f, "epoch"), *opt = nncl_st_meta(f, "optimizer");
    if (!model || strcmp(model, t1) || !ep || strcmp(ep, "3") || !opt || strcmp(opt, "none") ||
        nncl_st_count(f) != nncl_model_param_count(m))
      FAIL("checkpoint metadata: model %s, epoch %s, optimizer %s, %d tensors", model ? "present" : "missing", ep ? ep : "-",
           opt ? opt : "-", nncl_st_count(f));
    nncl_st_close(f);
  }
  if (!failures) printf("ok   save -> load: bit-identical outputs, description, names, epoch\n");
done:
  free(t1), free(t2), free(y1), free(y2);
  nncl_optim_destroy(o);
  nncl_model_destroy(m);
  nncl_model_destroy(l);
}

/* Train 1 epoch, save with optimizer state, load into a fresh model + optimizer, train one
 * more (unshuffled) epoch on both: the weights must agree. */
static void optim_round_trip(const char *what, nncl_optim_params *op, nncl_dataset *d) {
  nncl_model *m = NULL, *l = NULL;
  nncl_optim *o = NULL, *lo = NULL;
  float *wa = NULL, *wb = NULL;
  const char *path = tmp_path("opt.safetensors");
  nncl_fit_params fp;
  nncl_fit_params_init(&fp);
  fp.batch = 16;
  fp.shuffle = 0;
  if (make_trained(op, &m, &o, d, 1) || !ok(nncl_save(m, o, 1, path), "save with optimizer") ||
      !ok(nncl_load(ctx, path, &l, NULL), "load") || !ok(nncl_model_compile(l, 16, NNCL_MODE_TRAIN), "compile") ||
      !ok(nncl_optim_create(l, op, &lo), "optimizer") || !ok(nncl_load_optim(lo, path), "load optimizer"))
    goto done;
  if (nncl_optim_steps(lo) != nncl_optim_steps(o))
    FAIL("%s: %lld steps restored, %lld saved", what, (long long)nncl_optim_steps(lo), (long long)nncl_optim_steps(o));
  if (!ok(nncl_fit(m, o, d, NULL, &fp), "fit") || !ok(nncl_fit(l, lo, d, NULL, &fp), "fit loaded")) goto done;
  int64_t na, nb;
  wa = weights(m, &na), wb = weights(l, &nb);
  if (!wa || !wb || na != nb) {
    FAIL("%s: cannot read weights", what);
    goto done;
  }
  int exact = !strcmp(nncl_ctx_backend(ctx), "c");
  for (int64_t i = 0; i < na; i++) {
    double e = fabs((double)wa[i] - wb[i]);
    if (exact ? memcmp(&wa[i], &wb[i], sizeof *wa) != 0 : e > 1e-5 + 1e-4 * fabs(wa[i])) {
      FAIL("%s: after resuming, weight %lld is %.9g, uninterrupted training gives %.9g", what, (long long)i, wb[i], wa[i]);
      goto done;
    }
  }
  /* resuming with a fresh optimizer instead must not match: the state matters */
  nncl_model *f = NULL;
  nncl_optim *fo = NULL;
  float *wf = NULL;
  int64_t nf = 0, differ = 0;
  if (ok(nncl_load(ctx, path, &f, NULL), "load") && ok(nncl_model_compile(f, 16, NNCL_MODE_TRAIN), "compile") &&
      ok(nncl_optim_create(f, op, &fo), "optimizer") && ok(nncl_fit(f, fo, d, NULL, &fp), "fit") && (wf = weights(f, &nf)))
    for (int64_t i = 0; i < nf && i < na; i++) differ += fabs((double)wf[i] - wa[i]) > 1e-6;
  if (!differ) FAIL("%s: resuming without the saved state gives the same weights: the test cannot see the state", what);
  else printf("ok   %s state round trip: resumed training %s\n", what, exact ? "bit-identical" : "matches");
  free(wf);
  nncl_optim_destroy(fo);
  nncl_model_destroy(f);
done:
  free(wa), free(wb);
  nncl_optim_destroy(o);
  nncl_optim_destroy(lo);
  nncl_model_destroy(m);
  nncl_model_destroy(l);
}

static void test_optim_round_trip(nncl_dataset *d) {
  nncl_optim_params op;
  nncl_optim_params_init(&op);
  optim_round_trip("Adam", &op, d);
  op.kind = NNCL_OPT_SGD, op.lr = 0.05f, op.momentum = 0.9f;
  optim_round_trip("SGD momentum", &op, d);
  op.kind = NNCL_OPT_ADAMW, op.lr = 1e-3f, op.momentum = 0, op.weight_decay = 0.01f;
  optim_round_trip("AdamW", &op, d);

  /* the optimizer must match the saved one; a checkpoint without state has none */
  nncl_model *m = NULL;
  nncl_optim *o = NULL;
  nncl_optim_params_init(&op);
  op.kind = NNCL_OPT_SGD, op.momentum = 0.5f;
  if (!make_trained(&op, &m, &o, d, 0)) {
    int r = nncl_load_optim(o, tmp_path("opt.safetensors")); /* saved by AdamW */
    if (r != NNCL_EFORMAT || !strstr(nncl_errmsg(ctx), "adamw")) FAIL("load_optim into SGD from AdamW: %d '%s'", r, nncl_errmsg(ctx));
    r = nncl_load_optim(o, tmp_path("a.safetensors")); /* saved without optimizer */
    if (r != NNCL_EFORMAT) FAIL("load_optim from a checkpoint without state: %d '%s'", r, nncl_errmsg(ctx));
    else printf("ok   load_optim refuses another optimizer kind and missing state\n");
  }
  nncl_optim_destroy(o);
  nncl_model_destroy(m);
  nncl_optim_params_init(&op);
  op.kind = NNCL_OPT_RMSPROP, op.momentum = 0.5f, op.centered = 1;
  optim_round_trip("RMSprop centered momentum", &op, d);
  op.kind = NNCL_OPT_ADAGRAD, op.lr = 0.01f, op.momentum = 0, op.centered = 0, op.initial_accumulator = 0.1f;
  optim_round_trip("Adagrad", &op, d);
}

/* ---- hostile files -------------------------------------------------------------------- */

/* Loads path expecting a failure with a message; returns the status (0 if it loaded:
 * then the model must work). */
static int load_expect_fail(const char *path, const char *what, int must_fail) {
  nncl_model *m = (nncl_model *)&failures;
  int r = nncl_load(ctx, path, &m, NULL);
  if (r == 0) {
    if (must_fail) FAIL("%s: loaded", what);
    else {
      float y[4];
      if (!m || nncl_predict(m, 1, X, y)) FAIL("%s: loaded, but the model does not run: %s", what, nncl_errmsg(ctx));
    }
    nncl_model_destroy(m);
    return 0;
  }
  if (r > 0 || m || !*nncl_errmsg(ctx) || strchr(nncl_errmsg(ctx), '\n'))
    FAIL("%s: status %d, model %p, message '%s': want a negative status, NULL and a one-line message", what, r, (void *)m,
         nncl_errmsg(ctx));
  return r;
}

static void test_truncated(const unsigned char *good, size_t n) {
  const char *p = tmp_path("trunc.safetensors");
  int fails0 = failures;
  for (size_t cut = 0; cut < n; cut++) {
    char what[96];
    snprintf(what, sizeof what, "truncated to %zu of %zu bytes", cut, n);
    if (write_file(p, good, cut)) {
      FAIL("cannot write %s", p);
      return;
    }
    load_expect_fail(p, what, 1);
    if (failures - fails0 > 5) return;
  }
  if (failures == fails0) printf("ok   truncated at each of %zu offsets: refused\n", n);
}

static void test_flipped(const unsigned char *good, size_t n) {
  const char *p = tmp_path("flip.safetensors");
  uint64_t hlen = 0;
  for (int i = 0; i < 8; i++) hlen |= (uint64_t)good[i] << (8 * i);
  int fails0 = failures, loaded = 0, refused = 0;
  unsigned char *b = malloc(n);
  if (!b) return;
  static const unsigned char masks[] = {0x01, 0x20, 0x80, 0xFF};
  /* every byte of the length and the JSON header, and some of the data */
  for (size_t pos = 0; pos < n; pos += pos < 8 + hlen ? 1 : 37)
    for (size_t k = 0; k < sizeof masks; k++) {
      memcpy(b, good, n);
      b[pos] ^= masks[k];
      char what[96];
      snprintf(what, sizeof what, "byte %zu of %zu xor 0x%02x", pos, n, masks[k]);
      if (write_file(p, b, n)) {
        FAIL("cannot write %s", p);
        goto done;
      }
      if (load_expect_fail(p, what, 0)) refused++;
      else loaded++;
      if (failures - fails0 > 5) goto done;
    }
  if (failures == fails0) printf("ok   flipped bytes: %d refused cleanly, %d still valid and usable\n", refused, loaded);
done:
  free(b);
}

/* Same-length edits of the model text inside the header. */
static void test_edited_text(const unsigned char *good, size_t n) {
  static const struct { const char *from, *to, *what; int status; } edits[] = {
    {"units=10", "units=11", "first layer.weight", NNCL_EFORMAT},  /* shape mismatch */
    {"units=8 ", "units=9 ", "dense1.weight", NNCL_EFORMAT},
    {"dense units=4", "dense units=x", "model metadata", NNCL_EFORMAT},
    {"leaky_relu", "leaky_relX", "model metadata", NNCL_EFORMAT},
    {"input shape=12", "input shape=13", "first layer.weight", NNCL_EFORMAT},
    {"\"model\"", "\"mode!\"", "model", NNCL_EFORMAT},
  };
  const char *p = tmp_path("edit.safetensors");
  unsigned char *b = malloc(n);
  int fails0 = failures;
  for (size_t e = 0; b && e < sizeof edits / sizeof *edits; e++) {
    memcpy(b, good, n);
    size_t fl = strlen(edits[e].from);
    unsigned char *at = NULL;
    for (size_t i = 0; i + fl <= n && !at; i++)
      if (!memcmp(b + i, edits[e].from, fl)) at = b + i;
    if (!at) {
      FAIL("edit %zu: '%s' not found in the checkpoint", e, edits[e].from);
      continue;
    }
    memcpy(at, edits[e].to, fl);
    write_file(p, b, n);
    char what[96];
    snprintf(what, sizeof what, "model text edited '%s' -> '%s'", edits[e].from, edits[e].to);
    int r = load_expect_fail(p, what, 1);
    if (r && (r != edits[e].status || !strstr(nncl_errmsg(ctx), edits[e].what)))
      FAIL("%s: status %d '%s', want %d naming '%s'", what, r, nncl_errmsg(ctx), edits[e].status, edits[e].what);
  }
  free(b);
  if (failures == fails0) printf("ok   edited model text: refused, naming the tensor or line\n");
}

/* Checkpoints written with the safetensors writer: the real model text with bad tensors. */
static void test_bad_tensors(nncl_model *m) {
  char *text = NULL;
  if (!ok(nncl_model_to_text(m, &text), "to_text")) return;
  int np = nncl_model_param_count(m), fails0 = failures;
  nncl_st_tensor t[16];
  float *vals[16] = {0};
  static double f64[256];
  for (int p = 0; p < np && p < 16; p++) {
    const char *name;
    nncl_tensor *v;
    nncl_model_param(m, p, &name, &v, NULL);
    t[p].name = name;
    t[p].dtype = "F32";
    t[p].ndim = nncl_tensor_shape(v, t[p].shape);
    t[p].bytes = (size_t)nncl_tensor_numel(v) * sizeof(float);
    vals[p] = malloc(t[p].bytes);
    if (vals[p]) nncl_tensor_read(v, vals[p], t[p].bytes);
    t[p].data = vals[p];
  }
  nncl_st_kv meta[] = {{"model", text}, {"epoch", "1"}};
  const char *p = tmp_path("bad.safetensors");
  /* control: the same writer with nothing changed loads */
  if (ok(nncl_st_write(ctx, p, t, np, meta, 2), "write")) load_expect_fail(p, "control file", 0);
  /* wrong shape: (8, 10) stored as (10, 8) */
  nncl_st_tensor keep = t[2];
  t[2].shape[0] = keep.shape[1], t[2].shape[1] = keep.shape[0];
  if (ok(nncl_st_write(ctx, p, t, np, meta, 2), "write") && load_expect_fail(p, "transposed weight", 1) &&
      !strstr(nncl_errmsg(ctx), keep.name))
    FAIL("transposed weight: message '%s' does not name '%s'", nncl_errmsg(ctx), keep.name);
  /* wrong size */
  t[2] = keep;
  t[2].ndim = 1, t[2].shape[0] = 3, t[2].bytes = 12;
  if (ok(nncl_st_write(ctx, p, t, np, meta, 2), "write")) load_expect_fail(p, "weight of 3 values", 1);
  /* wrong dtype: F64 with the right shape */
  t[2] = keep;
  t[2].dtype = "F64", t[2].bytes = keep.bytes * 2, t[2].data = f64;
  if (keep.bytes * 2 <= sizeof f64 && ok(nncl_st_write(ctx, p, t, np, meta, 2), "write")) load_expect_fail(p, "F64 weight", 1);
  /* I32 of the right byte size */
  t[2] = keep;
  t[2].dtype = "I32";
  if (ok(nncl_st_write(ctx, p, t, np, meta, 2), "write")) load_expect_fail(p, "I32 weight", 1);
  t[2] = keep;
  /* missing tensor: drop the last */
  if (ok(nncl_st_write(ctx, p, t, np - 1, meta, 2), "write") && load_expect_fail(p, "missing tensor", 1) &&
      !strstr(nncl_errmsg(ctx), t[np - 1].name))
    FAIL("missing tensor: message '%s' does not name '%s'", nncl_errmsg(ctx), t[np - 1].name);
  /* no model description */
  if (ok(nncl_st_write(ctx, p, t, np, meta + 1, 1), "write")) load_expect_fail(p, "no model metadata", 1);
  /* a description of another network */
  nncl_st_kv other[] = {{"model", "input shape=3\ndense units=2\n"}};
  if (ok(nncl_st_write(ctx, p, t, np, other, 1), "write")) load_expect_fail(p, "other network's description", 1);
  /* an empty description */
  nncl_st_kv empty[] = {{"model", ""}};
  if (ok(nncl_st_write(ctx, p, t, np, empty, 1), "write")) load_expect_fail(p, "empty description", 1);
  for (int k = 0; k < 16; k++) free(vals[k]);
  free(text);
  if (failures == fails0) printf("ok   wrong shape/dtype, missing tensor, missing or foreign description: refused\n");
}

static void test_foreign_files(void) {
  int fails0 = failures;
  const char *p = tmp_path("foreign.safetensors");
  write_file(p, "", 0);
  load_expect_fail(p, "empty file", 1);
  const char text[] = "input shape=784\ndense units=10\n";
  write_file(p, text, sizeof text - 1);
  load_expect_fail(p, "a text file", 1);
  unsigned char junk[4096];
  uint64_t s = 5;
  for (size_t i = 0; i < sizeof junk; i++) junk[i] = (unsigned char)(urand(&s) * 127 + 128);
  write_file(p, junk, sizeof junk);
  load_expect_fail(p, "random bytes", 1);
  /* header lengths: huge, larger than the file, zero, and a header that is not an object */
  unsigned char h[64] = {0};
  memset(h, 0xFF, 8);
  write_file(p, h, sizeof h);
  load_expect_fail(p, "header length 2^64-1", 1);
  memset(h, 0, sizeof h);
  h[0] = 200;
  memcpy(h + 8, "{}", 2);
  write_file(p, h, sizeof h);
  load_expect_fail(p, "header length past the end", 1);
  h[0] = 0;
  write_file(p, h, 8);
  load_expect_fail(p, "header length 0", 1);
  h[0] = 2;
  memcpy(h + 8, "[]", 2);
  write_file(p, h, 10);
  load_expect_fail(p, "header '[]'", 1);
  memcpy(h + 8, "{}", 2);
  write_file(p, h, 10);
  load_expect_fail(p, "header '{}' (no tensors, no metadata)", 1);
  const char big[] = "{\"__metadata__\":{\"model\":\"input shape=2\\ndense units=1\\n\"},"
                     "\"dense1.weight\":{\"dtype\":\"F32\",\"shape\":[1,2],\"data_offsets\":[0,999999999999]},"
                     "\"dense1.bias\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}";
  unsigned char *b = calloc(1, 8 + sizeof big + 12);
  if (b) {
    b[0] = (unsigned char)(sizeof big - 1);
    memcpy(b + 8, big, sizeof big - 1);
    write_file(p, b, 8 + sizeof big - 1 + 12);
    load_expect_fail(p, "data offsets past the end", 1);
    free(b);
  }
  int r = load_expect_fail(tmp_path("does-not-exist.safetensors"), "missing file", 1);
  if (r != NNCL_EIO) FAIL("missing file: status %d, want NNCL_EIO", r);
  load_expect_fail(dir, "a directory", 1);
  if (failures == fails0) printf("ok   empty, text, random, bad header lengths, missing file, directory: refused\n");
}

/* ---- failed saves ----------------------------------------------------------------------- */

static void test_failed_save(nncl_model *m) {
  int fails0 = failures;
  const char *path = tmp_path("keep.safetensors");
  size_t n0, n1;
  if (!ok(nncl_save(m, NULL, 1, path), "save")) return;
  unsigned char *before = read_file(path, &n0);
  int r = nncl_save(m, NULL, 2, "/nonexistent-dir/x.safetensors");
  if (r != NNCL_EIO || !strstr(nncl_errmsg(ctx), "/nonexistent-dir/x.safetensors"))
    FAIL("save into a missing directory: %d '%s', want NNCL_EIO naming the path", r, nncl_errmsg(ctx));
  r = nncl_save(m, NULL, 2, "/proc/nncl-test.safetensors");
  if (r != NNCL_EIO) FAIL("save into /proc (read-only for everyone): %d '%s', want NNCL_EIO", r, nncl_errmsg(ctx));
  /* the temporary file's name taken by a directory: the write fails even for root */
  char tmp[512];
  snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
  if (mkdir(tmp, 0700)) FAIL("mkdir %s: %s", tmp, strerror(errno));
  r = nncl_save(m, NULL, 2, path);
  if (r != NNCL_EIO) FAIL("save with its temporary file blocked: %d '%s', want NNCL_EIO", r, nncl_errmsg(ctx));
  rmdir(tmp);
  /* a read-only directory (only binding for non-root users) */
  if (geteuid() != 0 && !chmod(dir, 0500)) {
    r = nncl_save(m, NULL, 2, path);
    if (r != NNCL_EIO) FAIL("save into a read-only directory: %d '%s', want NNCL_EIO", r, nncl_errmsg(ctx));
    chmod(dir, 0700);
  }
  /* replacing a directory fails at the rename */
  const char *d2 = tmp_path("adir.safetensors");
  mkdir(d2, 0700);
  r = nncl_save(m, NULL, 2, d2);
  if (r != NNCL_EIO) FAIL("save over a directory: %d '%s', want NNCL_EIO", r, nncl_errmsg(ctx));
  rmdir(d2);
  unsigned char *after = read_file(path, &n1);
  if (!before || !after || n0 != n1 || memcmp(before, after, n0)) FAIL("failed saves changed the existing checkpoint");
  int epoch = 0;
  nncl_model *l = NULL;
  if (ok(nncl_load(ctx, path, &l, &epoch), "load the kept checkpoint") && epoch != 1) FAIL("kept checkpoint: epoch %d", epoch);
  nncl_model_destroy(l);
  free(before);
  free(after);
  if (failures == fails0) printf("ok   failed saves return NNCL_EIO and keep the existing checkpoint\n");
}

/* Removes the files this test made; anything else left in dir (a temporary file a failed
 * save forgot) is reported. */
static void cleanup(void) {
  static const char *names[] = {"a.safetensors", "opt.safetensors", "trunc.safetensors", "flip.safetensors",
                                "edit.safetensors", "bad.safetensors", "foreign.safetensors", "keep.safetensors"};
  for (size_t i = 0; i < sizeof names / sizeof *names; i++) unlink(tmp_path(names[i]));
  if (rmdir(dir)) FAIL("%s not empty after the test: a failed save left a file behind", dir);
}

int main(void) {
  int r = harness_open();
  if (r) return r;
  snprintf(dir, sizeof dir, "/tmp/nncl-ckpt-XXXXXX");
  if (!mkdtemp(dir)) return printf("FAIL mkdtemp: %s\n", strerror(errno)), 1;
  uint64_t s = 3;
  for (int i = 0; i < NS * NIN; i++) X[i] = urand(&s);
  for (int i = 0; i < NS; i++) Y[i] = (X[i * NIN] > 0) + 2 * (X[i * NIN + 1] > 0);
  const int64_t in[1] = {NIN};
  nncl_dataset *d = NULL;
  if (!ok(nncl_dataset_from_arrays(ctx, NS, 1, in, X, Y, 4, &d), "dataset")) return 1;
  test_round_trip(d);
  test_optim_round_trip(d);

  nncl_optim_params op;
  nncl_optim_params_init(&op);
  nncl_model *m = NULL;
  nncl_optim *o = NULL;
  size_t n = 0;
  unsigned char *good = NULL;
  if (!make_trained(&op, &m, &o, d, 1) && ok(nncl_save(m, o, 1, tmp_path("a.safetensors")), "save") &&
      (good = read_file(tmp_path("a.safetensors"), &n))) {
    test_truncated(good, n);
    test_flipped(good, n);
    test_edited_text(good, n);
    test_bad_tensors(m);
    test_foreign_files();
    test_failed_save(m);
  }
  free(good);
  nncl_optim_destroy(o);
  nncl_model_destroy(m);
  nncl_dataset_destroy(d);
  cleanup();
  return harness_close();
}
