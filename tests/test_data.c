/* test_data.c - the data layer:
 *  - CSV: header, quoted fields, CRLF, blank lines, a label column by name and by index,
 *    string and numeric labels mapped to sorted class indices, a given class list,
 *    scikit-learn's header; hostile files (empty, header only, ragged rows, non-numeric,
 *    empty, NaN and infinite cells, huge fields, NUL bytes, unterminated quotes, a wrong
 *    label column, a directory, a missing file) fail with the file, line and column;
 *  - standardisation fitted on the training split only, applied to validation, and
 *    carried through a checkpoint's metadata to a freshly loaded data set;
 *  - augmentation: the exact crop/flip transforms on a tiny image (u8 with zero padding
 *    after normalisation, and f32), every offset and both flips drawn, noise statistics,
 *    determinism per (seed, epoch, sample), independence from the batch.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "nncl.h"

static int failures;
static char dir[64];
static nncl_ctx *ctx;

#define FAIL(...) (printf("FAIL " __VA_ARGS__), putchar('\n'), failures++)

static const char *tmp(const char *name) {
  static char buf[4][256];
  static int k;
  k = (k + 1) % 4;
  snprintf(buf[k], sizeof buf[k], "%s/%s", dir, name);
  return buf[k];
}

static void put(const char *name, const char *text, size_t n) {
  FILE *f = fopen(tmp(name), "wb");
  if (!f || fwrite(text, 1, n, f) != n) FAIL("cannot write %s", name);
  if (f) fclose(f);
}

/* Loads text as a CSV with label `label`; NULL on failure (the error is in ctx). */
static nncl_dataset *csv(const char *text, size_t n, const char *label, int header, const char *classes, int *status) {
  put("t.csv", text, n);
  nncl_csv_params p;
  nncl_csv_params_init(&p);
  p.label = label, p.header = header, p.classes = classes;
  nncl_dataset *d = NULL;
  *status = nncl_dataset_load_csv(ctx, tmp("t.csv"), &p, &d);
  return d;
}

#define S(x) x, sizeof x - 1

static void expect_rows(nncl_dataset *d, const char *what, int64_t n, int F, const float *x, const int32_t *y, const char *names) {
  if (!d) {
    FAIL("%s: load failed: %s", what, nncl_errmsg(ctx));
    return;
  }
  float got[64];
  int32_t lab[16];
  if (nncl_dataset_size(d) != n || nncl_dataset_sample_size(d) != F || nncl_dataset_read(d, 0, n, got, lab))
    FAIL("%s: %lld samples of %lld", what, (long long)nncl_dataset_size(d), (long long)nncl_dataset_sample_size(d));
  else if (memcmp(got, x, (size_t)(n * F) * sizeof *x) || memcmp(lab, y, (size_t)n * sizeof *y))
    FAIL("%s: values or labels differ (first label %d)", what, lab[0]);
  if (strcmp(nncl_dataset_class_names(d), names)) FAIL("%s: classes '%s', want '%s'", what, nncl_dataset_class_names(d), names);
  nncl_dataset_destroy(d);
}

static void expect_error(const char *what, const char *text, size_t n, const char *label, int header, const char *want) {
  int st;
  nncl_dataset *d = csv(text, n, label, header, NULL, &st);
  if (d || !st) FAIL("%s: loaded", what);
  else if (!strstr(nncl_errmsg(ctx), want)) FAIL("%s: message '%s' lacks '%s'", what, nncl_errmsg(ctx), want);
  else printf("ok   %s: %s\n", what, nncl_errmsg(ctx));
  nncl_dataset_destroy(d);
}

static void test_csv(void) {
  int st;
  {
    static const float x[] = {1, 2.5f, -3, 4e2f, 0.5f, 6};
    static const int32_t y[] = {1, 0, 1};
    expect_rows(csv(S("a,b,\"kind\"\r\n1,2.5,\"yes\"\r\n\r\n-3, 4e2 ,no\r\n0.5,6,yes"), "kind", 0, NULL, &st), "CRLF, quotes, blank line",
                3, 2, x, y, "no,yes");
    /* label by index, first column; numeric labels sort numerically */
    static const float x2[] = {1, 2, 3, 4, 5, 6};
    static const int32_t y2[] = {1, 0, 2};
    expect_rows(csv(S("cls,u,v\n9,1,2\n2,3,4\n10,5,6\n"), "0", 0, NULL, &st), "label index, numeric labels", 3, 2, x2, y2, "2,9,10");
    static const int32_t y3[] = {0, 2, 1};
    expect_rows(csv(S("cls,u,v\n9,1,2\n2,3,4\n10,5,6\n"), "cls", 0, "9,10,2", &st), "given classes", 3, 2, x2, y3, "9,10,2");
    static const float x4[] = {1, 2, 3, 4};
    static const int32_t y4[] = {1, 0};
    expect_rows(csv(S("2,2,neg,pos\n1,2,1\n3,4,0\n"), NULL, NNCL_CSV_SKLEARN, NULL, &st), "scikit-learn header", 2, 2, x4, y4,
                "neg,pos");
    expect_rows(csv(S("1,2,b\n3,4,a\n"), NULL, NNCL_CSV_NO_HEADER, NULL, &st), "no header", 2, 2, x4, y4, "a,b");
  }
  expect_error("empty file", "", 0, NULL, 0, "empty file");
  expect_error("only blank lines", S("\n \n\r\n"), NULL, 0, "empty file");
  expect_error("header only", S("a,b,c\n"), NULL, 0, "no data rows");
  expect_error("ragged row (short)", S("a,b,c\n1,2,3\n4,5\n"), NULL, 0, "line 3: 2 fields, the header has 3");
  expect_error("ragged row (long)", S("a,b,c\n1,2,3,4\n"), NULL, 0, "line 2: more than the header's 3 fields");
  expect_error("non-numeric cell", S("a,b,c\n1,2,x\n1,abc,x\n"), NULL, 0, "line 3, column 2 ('b'): not a finite number: 'abc'");
  expect_error("empty cell", S("a,b,c\n1,,x\n"), NULL, 0, "line 2, column 2 ('b'): empty cell");
  expect_error("NaN cell", S("a,b,c\nnan,1,x\n"), NULL, 0, "line 2, column 1 ('a'): not a finite number");
  expect_error("infinite cell", S("a,b,c\n1e999,1,x\n"), NULL, 0, "line 2, column 1");
  expect_error("trailing garbage", S("a,b,c\n1.5x,1,x\n"), NULL, 0, "line 2, column 1");
  expect_error("empty label", S("a,b,c\n1,2,\n"), NULL, 0, "line 2, column 3 ('c'): empty label");
  expect_error("unknown label column", S("a,b,c\n1,2,3\n"), "d", 0, "no label column 'd'");
  expect_error("label index out of range", S("a,b,c\n1,2,3\n"), "7", 0, "no label column '7'");
  expect_error("unterminated quote", S("a,b,c\n1,\"2,3\n"), NULL, 0, "line 2, column 2: line break inside a quoted field");
  expect_error("text after a quote", S("a,b,c\n1,\"2\"x,3\n"), NULL, 0, "line 2, column 2: text after a closing quote");
  expect_error("NUL byte", "a,b,c\n1,2\0,3\n", 12, NULL, 0, "line 2, column 2: NUL byte");
  expect_error("one column", S("a\n1\n"), NULL, 0, "need features and a label");
  expect_error("sklearn count mismatch", S("3,2,neg,pos\n1,2,1\n3,4,0\n"), NULL, NNCL_CSV_SKLEARN, "announces 3 samples, the file has 2");
  expect_error("sklearn bad label", S("2,2,neg,pos\n1,2,1\n3,4,2\n"), NULL, NNCL_CSV_SKLEARN, "line 3, column 3: label '2' is not a class index 0..1");
  expect_error("sklearn bad counts", S("x,2,neg\n1,2,1\n"), NULL, NNCL_CSV_SKLEARN, "expected the sample count");
  {
    size_t n = 10000;
    char *big = malloc(n + 32);
    strcpy(big, "a,b\n1,");
    memset(big + 6, '7', n);
    strcpy(big + 6 + n, "\n");
    expect_error("huge field", big, strlen(big), NULL, 0, "line 2, column 2: field longer than 4096 bytes");
    free(big);
  }
  {
    int st2;
    nncl_dataset *d = csv(S("a,b\n1,2\n"), NULL, 0, "3,4", &st2);
    if (d || !strstr(nncl_errmsg(ctx), "line 2, column 2: label '2' is not one of the model's classes (3,4)"))
      FAIL("label outside the given classes: %s", nncl_errmsg(ctx));
    nncl_dataset_destroy(d);
  }
  nncl_dataset *d = NULL;
  if (!nncl_dataset_load_csv(ctx, dir, NULL, &d) || !nncl_dataset_load_csv(ctx, tmp("missing.csv"), NULL, &d))
    FAIL("a directory or a missing file loaded");
  else printf("ok   missing file: %s\n", nncl_errmsg(ctx));
  nncl_dataset_destroy(d);
}

/* ---- standardisation ------------------------------------------------------------------------ */

static void test_standardize(void) {
  /* 100 rows: feature 0 ~ 10 + 3 u, feature 1 constant 5, feature 2 = row index */
  size_t cap = 100 * 64 + 32, len = 0;
  char *text = malloc(cap);
  len += (size_t)snprintf(text, cap, "f0,f1,f2,label\n");
  uint64_t s = 3;
  for (int i = 0; i < 100; i++) {
    s = s * 6364136223846793005ull + 1442695040888963407ull;
    len += (size_t)snprintf(text + len, cap - len, "%.6f,5,%d,%s\n", 10 + 3 * ((double)(s >> 11) / 9007199254740992.0), i, i % 3 ? "b" : "a");
  }
  int st;
  nncl_dataset *all = csv(text, len, "label", 0, NULL, &st), *train = NULL, *val = NULL, *again = NULL;
  free(text);
  nncl_model *m = NULL, *m2 = NULL;
  float *x = malloc(100 * 3 * sizeof *x), *x2 = malloc(100 * 3 * sizeof *x2);
  if (!all || nncl_dataset_split_seeded(all, 0.3, 5, &train, &val) || nncl_dataset_fit_standardize(train) ||
      nncl_dataset_copy_standardize(val, train)) {
    FAIL("standardize: setup: %s", nncl_errmsg(ctx));
    goto done;
  }
  int64_t nt = nncl_dataset_size(train), nv = nncl_dataset_size(val);
  nncl_dataset_read(train, 0, nt, x, NULL);
  for (int j = 0; j < 3; j++) {
    double mean = 0, sq = 0;
    for (int64_t i = 0; i < nt; i++) mean += x[i * 3 + j] / (double)nt;
    for (int64_t i = 0; i < nt; i++) sq += (x[i * 3 + j] - mean) * (x[i * 3 + j] - mean) / (double)nt;
    double want_sd = j == 1 ? 0 : 1; /* the constant feature keeps std 1: all zeros */
    if (fabs(mean) > 1e-5 || fabs(sqrt(sq) - want_sd) > 1e-4) FAIL("standardize: train feature %d mean %g sd %g", j, mean, sqrt(sq));
  }
  /* validation uses the training statistics, not its own: its mean of f2 is not 0 in general,
   * and each value equals (raw - mean_train) / sd_train */
  float raw[3 * 30], xv[3 * 30];
  nncl_dataset *rawval = NULL, *rawtrain = NULL;
  nncl_dataset_split_seeded(all, 0.3, 5, &rawtrain, &rawval);
  nncl_dataset_read(rawval, 0, nv, raw, NULL);
  nncl_dataset_read(val, 0, nv, xv, NULL);
  float rt[3 * 100];
  nncl_dataset_read(rawtrain, 0, nt, rt, NULL);
  for (int j = 0; j < 3; j++) {
    double mean = 0, sq = 0;
    for (int64_t i = 0; i < nt; i++) mean += rt[i * 3 + j] / (double)nt;
    for (int64_t i = 0; i < nt; i++) sq += (rt[i * 3 + j] - mean) * (rt[i * 3 + j] - mean) / (double)nt;
    double sd = sqrt(sq) > 1e-12 ? sqrt(sq) : 1;
    for (int64_t i = 0; i < nv; i++)
      if (fabs(xv[i * 3 + j] - (raw[i * 3 + j] - mean) / sd) > 1e-4 * (1 + fabs(xv[i * 3 + j]))) {
        FAIL("standardize: val row %lld feature %d: %g, want %g", (long long)i, j, xv[i * 3 + j], (raw[i * 3 + j] - mean) / sd);
        break;
      }
  }
  nncl_dataset_destroy(rawtrain), nncl_dataset_destroy(rawval);
  /* through a checkpoint: save the model with the preprocessing, load, apply to a fresh load */
  if (nncl_model_parse(ctx, "input shape=3\ndense units=2\nsoftmax\n", "s", &m) || nncl_model_set_preprocess(m, train) ||
      nncl_save(m, NULL, 0, tmp("s.safetensors")) || nncl_load(ctx, tmp("s.safetensors"), &m2, NULL)) {
    FAIL("standardize: checkpoint round trip: %s", nncl_errmsg(ctx));
    goto done;
  }
  if (!nncl_model_meta(m2, "nncl.classes") || strcmp(nncl_model_meta(m2, "nncl.classes"), "a,b"))
    FAIL("standardize: classes metadata '%s'", nncl_model_meta(m2, "nncl.classes") ? nncl_model_meta(m2, "nncl.classes") : "(none)");
  put("t2.csv", "f0,f1,f2,label\n11,5,3,a\n9,5,80,b\n", 33);
  nncl_csv_params p;
  nncl_csv_params_init(&p);
  p.label = "label";
  if (nncl_dataset_load_csv(ctx, tmp("t2.csv"), &p, &again) || nncl_dataset_apply_preprocess(again, m2)) {
    FAIL("standardize: apply from metadata: %s", nncl_errmsg(ctx));
    goto done;
  }
  nncl_dataset_read(again, 0, 2, x2, NULL);
  for (int j = 0; j < 3; j++) {
    double mean = 0, sq = 0;
    for (int64_t i = 0; i < nt; i++) mean += rt[i * 3 + j] / (double)nt;
    for (int64_t i = 0; i < nt; i++) sq += (rt[i * 3 + j] - mean) * (rt[i * 3 + j] - mean) / (double)nt;
    double sd = sqrt(sq) > 1e-12 ? sqrt(sq) : 1, raw0 = j == 0 ? 11 : j == 1 ? 5 : 3;
    if (fabs(x2[j] - (raw0 - mean) / sd) > 1e-4 * (1 + fabs(x2[j])))
      FAIL("standardize: after load, feature %d: %g, want %g", j, x2[j], (raw0 - mean) / sd);
  }
  if (!nncl_model_set_meta(m2, "nncl.standardize", "1,2;3") && !nncl_dataset_apply_preprocess(again, m2))
    FAIL("standardize: malformed metadata accepted");
done:
  free(x), free(x2);
  nncl_model_destroy(m), nncl_model_destroy(m2);
  nncl_dataset_destroy(again);
  nncl_dataset_destroy(train), nncl_dataset_destroy(val), nncl_dataset_destroy(all);
}

/* ---- augmentation ------------------------------------------------------------------------------ */

/* IDX files of n 3x4 images (pixel values 10 + 20 k + i) and labels. */
static void write_idx(int n) {
  unsigned char hdr[16] = {0, 0, 8, 3, 0, 0, 0, (unsigned char)n, 0, 0, 0, 3, 0, 0, 0, 4}, lab[8] = {0, 0, 8, 1, 0, 0, 0, (unsigned char)n};
  FILE *f = fopen(tmp("a-images"), "wb"), *g = fopen(tmp("a-labels"), "wb");
  fwrite(hdr, 1, 16, f);
  fwrite(lab, 1, 8, g);
  for (int i = 0; i < n; i++) {
    for (int k = 0; k < 12; k++) fputc(10 + 20 * k + i, f);
    fputc(i % 2, g);
  }
  fclose(f), fclose(g);
}

/* Candidate (oy, ox, flip) of image img (3x4, converted) with pad value z. */
static void transform(const float *img, int oy, int ox, int flip, float z, float *out) {
  for (int y = 0; y < 3; y++)
    for (int x = 0; x < 4; x++) {
      int sy = y + oy, sx = (flip ? 3 - x : x) + ox;
      out[y * 4 + x] = sy >= 0 && sy < 3 && sx >= 0 && sx < 4 ? img[sy * 4 + sx] : z;
    }
}

static void test_augment(void) {
  enum { N = 40 };
  write_idx(N);
  nncl_dataset *d = NULL;
  if (nncl_dataset_load_idx(ctx, tmp("a-images"), tmp("a-labels"), &d) || nncl_dataset_normalize(d, 0.5f, 0.25f)) {
    FAIL("augment: load: %s", nncl_errmsg(ctx));
    return;
  }
  float plain[N * 12], aug[N * 12], again[N * 12], one[12], cand[12];
  int32_t lab[N], lab2[N];
  nncl_dataset_read(d, 0, N, plain, lab);
  nncl_augment a = {.crop = 1, .flip = 1, .seed = 1234};
  int seen[3][3][2] = {{{0}}};
  const float z = (0 - 0.5f) / 0.25f; /* a raw 0 after normalisation */
  for (int ep = 1; ep <= 5; ep++) {
    if (nncl_dataset_read_augmented(d, &a, ep, 0, N, aug, lab2)) {
      FAIL("augment: read: %s", nncl_errmsg(ctx));
      break;
    }
    if (memcmp(lab, lab2, sizeof lab)) FAIL("augment: labels changed");
    for (int i = 0; i < N; i++) {
      int match = 0;
      for (int oy = -1; oy <= 1; oy++)
        for (int ox = -1; ox <= 1; ox++)
          for (int fl = 0; fl < 2; fl++) {
            transform(plain + i * 12, oy, ox, fl, z, cand);
            if (!memcmp(cand, aug + i * 12, sizeof cand) && !match) match = 1, seen[oy + 1][ox + 1][fl]++;
          }
      if (!match) {
        FAIL("augment: sample %d epoch %d is no crop/flip of the image (first value %g)", i, ep, aug[i * 12]);
        ep = 99;
        break;
      }
    }
    /* the same (seed, epoch): bit for bit, however the batch is cut */
    nncl_dataset_read_augmented(d, &a, ep, 0, N, again, NULL);
    for (int i = 0; i < N; i++) nncl_dataset_read_augmented(d, &a, ep, i, 1, again + i * 12, NULL) ? FAIL("augment: read one") : 0;
    if (ep < 99 && memcmp(aug, again, sizeof aug)) FAIL("augment: epoch %d not reproducible sample by sample", ep);
  }
  for (int oy = 0; oy < 3; oy++)
    for (int ox = 0; ox < 3; ox++)
      for (int fl = 0; fl < 2; fl++)
        if (!seen[oy][ox][fl]) FAIL("augment: offset (%d, %d) flip %d never drawn in 200 samples", oy - 1, ox - 1, fl);
  /* another epoch or seed gives another draw */
  nncl_dataset_read_augmented(d, &a, 1, 0, N, aug, NULL);
  nncl_dataset_read_augmented(d, &a, 2, 0, N, again, NULL);
  if (!memcmp(aug, again, sizeof aug)) FAIL("augment: epochs 1 and 2 drew the same");
  a.seed = 99;
  nncl_dataset_read_augmented(d, &a, 1, 0, N, again, NULL);
  if (!memcmp(aug, again, sizeof aug)) FAIL("augment: seeds 1234 and 99 drew the same");
  /* flip only: identity or mirror; crop only, explicit: sample shifted by one row */
  nncl_augment f = {.flip = 1, .seed = 7};
  nncl_dataset_read_augmented(d, &f, 3, 5, 1, one, NULL);
  float id[12], mir[12];
  transform(plain + 5 * 12, 0, 0, 0, z, id);
  transform(plain + 5 * 12, 0, 0, 1, z, mir);
  if (memcmp(one, id, sizeof one) && memcmp(one, mir, sizeof one)) FAIL("augment: flip gave neither the image nor its mirror");
  if (memcmp(mir, plain + 5 * 12, sizeof mir) == 0 || mir[0] != plain[5 * 12 + 3]) FAIL("augment: mirror reference broken");
  /* noise: mean ~0 and std ~0.5 over 40 x 12 values, no crop or flip */
  nncl_augment nz = {.noise = 0.5f, .seed = 5};
  nncl_dataset_read_augmented(d, &nz, 1, 0, N, aug, NULL);
  double mean = 0, sq = 0;
  for (int i = 0; i < N * 12; i++) mean += (aug[i] - plain[i]) / (N * 12.0);
  for (int i = 0; i < N * 12; i++)
    if (!isfinite(aug[i])) {
      FAIL("augment: noise gave %g at %d", aug[i], i);
      break;
    }
  for (int i = 0; i < N * 12; i++) sq += (aug[i] - plain[i] - mean) * (aug[i] - plain[i] - mean) / (N * 12.0);
  if (fabs(mean) > 0.1 || fabs(sqrt(sq) - 0.5) > 0.06) FAIL("augment: noise mean %g std %g, want 0 and 0.5", mean, sqrt(sq));
  /* refused: crop or flip without an image shape, negative crop */
  int64_t shape[1] = {3};
  float fx[3] = {1, 2, 3};
  int32_t fy[1] = {0};
  nncl_dataset *flat = NULL;
  nncl_augment bad = {.flip = 1};
  if (nncl_dataset_from_arrays(ctx, 1, 1, shape, fx, fy, 2, &flat) || !nncl_dataset_read_augmented(flat, &bad, 1, 0, 1, one, NULL))
    FAIL("augment: flip of a 1-d sample accepted");
  bad.flip = 0, bad.crop = -1;
  if (!nncl_dataset_read_augmented(d, &bad, 1, 0, 1, one, NULL)) FAIL("augment: negative crop accepted");
  nncl_dataset_destroy(flat);
  nncl_dataset_destroy(d);
}

int main(void) {
  snprintf(dir, sizeof dir, "/tmp/nncl-data-XXXXXX");
  if (!mkdtemp(dir)) return printf("FAIL mkdtemp\n"), 1;
  nncl_ctx_params p;
  char err[256];
  nncl_ctx_params_init(&p);
  p.device = "c";
  if (nncl_ctx_create(&p, &ctx, err, sizeof err)) return printf("FAIL context: %s\n", err), 1;
  test_csv();
  test_standardize();
  test_augment();
  nncl_ctx_destroy(ctx);
  const char *names[] = {"t.csv", "t2.csv", "s.safetensors", "a-images", "a-labels"};
  for (size_t i = 0; i < sizeof names / sizeof *names; i++) remove(tmp(names[i]));
  rmdir(dir);
  if (!failures) printf("PASS data layer\n");
  return failures ? 1 : 0;
}
