/* data_cli.c - the nncl command's data sets (IDX or CSV, held-out splits, standardisation
 * stored with the model), augmentation and class-weight options, and metric reports. */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

void cli_data_free(cli_data *d) {
  if (d->val) nncl_dataset_destroy(d->train); /* views first, then what they share */
  nncl_dataset_destroy(d->val);
  if (d->pool != d->all) nncl_dataset_destroy(d->pool);
  if (d->test != d->all) nncl_dataset_destroy(d->test);
  for (int k = 1; k >= 0; k--)
    if (d->parents[k] != d->all) nncl_dataset_destroy(d->parents[k]);
  nncl_dataset_destroy(d->all);
  memset(d, 0, sizeof *d);
}

cli_data_opts cli_data_options(const opts *o) {
  return (cli_data_opts){.dir = o->data, .csv = o->csv, .label = o->label, .header = o->header, .val = o->val,
                         .test = o->test, .test_set = o->test >= 0, .seed = o->seed, .classes = o->classes,
                         .limit = o->limit};
}

/* "5-9" or "1,3,7" (or a mix) -> classes[]; returns the count or -1. */
static int parse_classes(const char *s, int *classes, int max) {
  int n = 0;
  while (*s) {
    char *end;
    long lo = strtol(s, &end, 10), hi = lo;
    if (end == s || lo < 0) return -1;
    if (*end == '-' && (hi = strtol(end + 1, &end, 10)) < lo) return -1;
    for (long c = lo; c <= hi; c++) {
      if (n >= max || c > INT_MAX) return -1;
      classes[n++] = (int)c;
    }
    if (*end && *end != ',') return -1;
    s = *end ? end + 1 : end;
  }
  return n ? n : -1;
}

/* --classes / --limit: *set becomes the selection (limit > 0: that many samples, drawn
 * with the seed); the view it replaces goes to parents[k]. */
static int select_classes(nncl_ctx *ctx, cli_data *d, const cli_data_opts *o, nncl_dataset **set, int64_t limit, int k) {
  int classes[4096], nc = 0;
  if (!o->classes && !limit) return 0;
  if (o->classes && (nc = parse_classes(o->classes, classes, 4096)) < 0)
    return fail("--classes: bad list '%s'%s (e.g. 5-9 or 0,2,4)", o->classes, "");
  if (!o->classes) /* --limit alone: every class, in order */
    for (; nc < nncl_dataset_classes(*set) && nc < 4096; nc++) classes[nc] = nc;
  nncl_dataset *sub;
  int r = nncl_dataset_subset(*set, classes, nc, limit, &sub);
  if (r) return fail_ctx(ctx, r, "cannot select --classes/--limit");
  d->parents[k] = *set;
  *set = sub;
  return 0;
}

static const char *const header_kinds[] = {[NNCL_CSV_HEADER] = "names", [NNCL_CSV_NO_HEADER] = "none", [NNCL_CSV_SKLEARN] = "sklearn"};

/* The header kind: o->header, else the one in m's nncl.csv_split, else names. */
static int header_kind(const nncl_model *m, const cli_data_opts *o) {
  const char *h = o->header, *split = m ? nncl_model_meta(m, "nncl.csv_split") : NULL, *at;
  char buf[16] = "names";
  if (!h && split && (at = strstr(split, "header="))) {
    snprintf(buf, sizeof buf, "%.*s", (int)strcspn(at + 7, " "), at + 7);
    h = buf;
  }
  for (int k = 0; k < 3; k++)
    if (h && !strcmp(h, header_kinds[k])) return k;
  if (!h) return NNCL_CSV_HEADER;
  fprintf(stderr, "nncl: unknown --header '%s' (names, none, sklearn)\n", h);
  return -1;
}

/* The CSV with m's classes (if any). */
static int load_csv(nncl_ctx *ctx, const nncl_model *m, const cli_data_opts *o, nncl_dataset **out) {
  nncl_csv_params p;
  nncl_csv_params_init(&p);
  if ((p.header = header_kind(m, o)) < 0) return 1;
  p.label = o->label;
  p.classes = m ? nncl_model_meta(m, "nncl.classes") : NULL;
  int r = nncl_dataset_load_csv(ctx, o->csv, &p, out);
  return r ? fail_ctx(ctx, r, "cannot load the CSV data") : 0;
}

/* pool/test by the seeded split (test fraction t; 0 = no test part). */
static int split_test(nncl_ctx *ctx, cli_data *d, double t, unsigned long long seed) {
  if (t <= 0) {
    d->pool = d->all;
    return 0;
  }
  int r = nncl_dataset_split_seeded(d->all, t, seed, &d->pool, &d->test);
  return r ? fail_ctx(ctx, r, "cannot split off the test data") : 0;
}

int cli_data_train(nncl_ctx *ctx, nncl_model *m, const cli_data_opts *o, cli_data *d) {
  memset(d, 0, sizeof *d);
  int r;
  if (!o->csv) {
    if ((r = nncl_dataset_load_idx_dir(ctx, o->dir, "train", &d->all))) return fail_ctx(ctx, r, "cannot load training data");
    if ((r = nncl_dataset_load_idx_dir(ctx, o->dir, "t10k", &d->test))) return fail_ctx(ctx, r, "cannot load test data");
    d->pool = d->all;
  } else {
    double t = o->test_set ? o->test : 0.2;
    if (load_csv(ctx, m, o, &d->all) || split_test(ctx, d, t, o->seed)) return 1;
    char split[96];
    snprintf(split, sizeof split, "test=%.17g seed=%llu header=%s", t, o->seed, header_kinds[header_kind(m, o)]);
    if ((r = nncl_model_set_meta(m, "nncl.csv_split", split))) return fail_ctx(ctx, r, "cannot record the split");
  }
  if (select_classes(ctx, d, o, &d->pool, o->limit, 0) || (d->test && select_classes(ctx, d, o, &d->test, 0, 1))) return 1;
  d->train = d->pool;
  /* the validation split has its own seed: the same split however the model was made */
  if (o->val > 0 && (r = nncl_dataset_split_seeded(d->pool, o->val, o->seed ^ 0x5eedull, &d->train, &d->val)))
    return fail_ctx(ctx, r, "cannot split off the validation data");
  if (!o->csv) return 0;
  nncl_dataset *sets[] = {d->train, d->val, d->test};
  if (!nncl_model_meta(m, "nncl.standardize")) {
    if ((r = nncl_dataset_fit_standardize(d->train)) || (r = nncl_model_set_preprocess(m, d->train)))
      return fail_ctx(ctx, r, "cannot standardise the features");
  }
  for (int i = 0; i < 3; i++)
    if (sets[i] && (r = nncl_dataset_apply_preprocess(sets[i], m))) return fail_ctx(ctx, r, "cannot standardise the features");
  return 0;
}

int cli_data_test(nncl_ctx *ctx, const nncl_model *m, const cli_data_opts *o, cli_data *d) {
  memset(d, 0, sizeof *d);
  int r;
  if (!o->csv) {
    if ((r = nncl_dataset_load_idx_dir(ctx, o->dir, "t10k", &d->test))) return fail_ctx(ctx, r, "cannot load test data");
    return select_classes(ctx, d, o, &d->test, 0, 1);
  }
  double t = o->test;
  unsigned long long seed = o->seed;
  const char *split = nncl_model_meta(m, "nncl.csv_split");
  if (!o->test_set && split && sscanf(split, "test=%lf seed=%llu", &t, &seed) != 2)
    return fprintf(stderr, "nncl: the checkpoint's nncl.csv_split metadata is malformed: '%.80s'\n", split), 1;
  if (load_csv(ctx, m, o, &d->all) || split_test(ctx, d, t, seed)) return 1;
  if (!d->test) d->test = d->all;
  if ((r = nncl_dataset_apply_preprocess(d->test, m))) return fail_ctx(ctx, r, "cannot standardise the features");
  return select_classes(ctx, d, o, &d->test, 0, 1);
}

int cli_parse_augment(const char *s, nncl_augment *a) {
  memset(a, 0, sizeof *a);
  char buf[256];
  if (snprintf(buf, sizeof buf, "%s", s) >= (int)sizeof buf) return fprintf(stderr, "nncl: --augment: too long\n"), 1;
  for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
    char *eq = strchr(tok, '='), *end;
    if (eq) *eq++ = 0;
    errno = 0;
    double v = eq ? strtod(eq, &end) : 0;
    int bad = eq && (end == eq || *end || errno);
    if (!strcmp(tok, "flip") && !eq) a->flip = 1;
    else if (!strcmp(tok, "crop") && eq && !bad && v >= 1 && v <= 64 && v == floor(v)) a->crop = (int)v;
    else if (!strcmp(tok, "noise") && eq && !bad && v > 0 && v <= 100) a->noise = (float)v;
    else {
      fprintf(stderr, "nncl: --augment: bad item '%s%s%s' (crop=PIXELS 1..64, flip, noise=STD)\n", tok, eq ? "=" : "", eq ? eq : "");
      return 1;
    }
  }
  return 0;
}

int cli_class_weights(const char *s, const nncl_dataset *train, int nclasses, float *w) {
  if (!strcmp(s, "balanced")) {
    int C = nncl_dataset_classes(train);
    if (C > nclasses) return fprintf(stderr, "nncl: --class-weights: %d classes, the model has %d outputs\n", C, nclasses), 1;
    float *tmp = malloc((size_t)C * sizeof *tmp);
    if (!tmp || nncl_class_weights_balanced(train, tmp)) return free(tmp), 1;
    for (int c = 0; c < nclasses; c++) w[c] = c < C ? tmp[c] : 0;
    free(tmp);
    return 0;
  }
  const char *p = s;
  for (int c = 0; c < nclasses; c++) {
    char *end;
    errno = 0;
    double v = strtod(p, &end);
    if (end == p || errno || !(v >= 0 && v <= 1e6) || (c < nclasses - 1 ? *end != ',' : *end != 0))
      return fprintf(stderr, "nncl: --class-weights: expected %d comma-separated weights >= 0 or 'balanced', got '%s'\n", nclasses, s),
             1;
    w[c] = (float)v;
    p = end + 1;
  }
  return 0;
}

void cli_class_name(const char *names, int c, char *out, size_t n) {
  for (int k = 0; names && *names && k < c; k++) {
    names = strchr(names, ',');
    if (!names) break;
    names++;
  }
  if (names && *names) snprintf(out, n, "%.*s", (int)strcspn(names, ","), names);
  else snprintf(out, n, "%d", c);
}

void cli_print_metrics(const nncl_metrics *mt, const char *names) {
  char nm[24];
  printf("%-16s %9s %9s %9s %9s\n", "class", "precision", "recall", "f1", "support");
  for (int c = 0; c < mt->nclasses; c++) {
    cli_class_name(names, c, nm, sizeof nm);
    printf("%-16s %9.4f %9.4f %9.4f %9lld\n", nm, mt->precision[c], mt->recall[c], mt->f1[c], (long long)mt->support[c]);
  }
  printf("%-16s %9.4f %9.4f %9.4f %9lld\n", "macro avg", mt->macro_precision, mt->macro_recall, mt->macro_f1, (long long)mt->n);
  printf("confusion matrix (rows: true class, columns: predicted)\n%16s", "");
  for (int c = 0; c < mt->nclasses; c++) {
    cli_class_name(names, c, nm, sizeof nm);
    printf(" %10.10s", nm);
  }
  printf("\n");
  for (int t = 0; t < mt->nclasses; t++) {
    cli_class_name(names, t, nm, sizeof nm);
    printf("%-16s", nm);
    for (int c = 0; c < mt->nclasses; c++) printf(" %10lld", (long long)mt->confusion[(size_t)t * (size_t)mt->nclasses + (size_t)c]);
    printf("\n");
  }
}
