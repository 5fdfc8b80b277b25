/* csv.c - tabular data: a header of column names, one sample per line, numeric features
 * and a label column whose values (strings) are mapped to class indices. Fields may be
 * quoted ("a,b", "" for a quote); CRLF and a missing final newline are accepted, blank
 * lines skipped. Every failure names the file, line and column. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dataset.h"

#define CSV_MAX_BYTES ((long)1 << 31) /* file size */
#define CSV_MAX_FIELD 4096            /* bytes in one field */
#define CSV_MAX_COLS 100000
#define CSV_MAX_CLASSES 10000

void nncl_csv_params_init(nncl_csv_params *p) {
  memset(p, 0, sizeof *p);
  p->delimiter = ',';
}

typedef struct csv_reader {
  nncl_ctx *ctx;
  const char *path, *p, *end;
  char delim;
  long line;
  char field[CSV_MAX_FIELD + 1];
} csv_reader;

/* Reads the next field into rd->field; *last is set at the end of the record. Returns 0
 * or a status naming line and column `col` (1-based). */
static int next_field(csv_reader *rd, int col, int *last) {
  size_t n = 0;
  const char *p = rd->p;
  int quoted = p < rd->end && *p == '"';
  if (quoted) p++;
  for (;;) {
    if (p >= rd->end) {
      if (quoted) return nncl_err(rd->ctx, NNCL_EFORMAT, "%s: line %ld, column %d: unterminated quoted field", rd->path, rd->line, col);
      *last = 1;
      break;
    }
    char c = *p;
    if (quoted && c == '"') {
      if (p + 1 < rd->end && p[1] == '"') p++;
      else {
        quoted = 0, p++;
        if (p < rd->end && *p != rd->delim && *p != '\n' && *p != '\r')
          return nncl_err(rd->ctx, NNCL_EFORMAT, "%s: line %ld, column %d: text after a closing quote", rd->path, rd->line, col);
        continue;
      }
    } else if (!quoted && (c == rd->delim || c == '\n' || c == '\r')) {
      if (c == rd->delim) p++, *last = 0;
      else {
        p += c == '\r' && p + 1 < rd->end && p[1] == '\n' ? 2 : 1;
        *last = 1;
      }
      break;
    } else if (c == 0) {
      return nncl_err(rd->ctx, NNCL_EFORMAT, "%s: line %ld, column %d: NUL byte", rd->path, rd->line, col);
    } else if (quoted && c == '\n') {
      return nncl_err(rd->ctx, NNCL_EFORMAT, "%s: line %ld, column %d: line break inside a quoted field", rd->path, rd->line, col);
    }
    if (n >= CSV_MAX_FIELD)
      return nncl_err(rd->ctx, NNCL_ELIMIT, "%s: line %ld, column %d: field longer than %d bytes", rd->path, rd->line, col, CSV_MAX_FIELD);
    rd->field[n++] = c;
    p++;
  }
  rd->field[n] = 0;
  rd->p = p;
  return 0;
}

/* Skips blank lines (only spaces, tabs, CR); returns 1 if a record follows. */
static int skip_blank(csv_reader *rd) {
  for (;;) {
    const char *q = rd->p;
    while (q < rd->end && (*q == ' ' || *q == '\t' || *q == '\r')) q++;
    if (q >= rd->end) return 0;
    if (*q != '\n') return 1;
    rd->p = q + 1;
    rd->line++;
  }
}

/* The field without surrounding spaces (in place). */
static char *trim(char *s) {
  while (*s == ' ' || *s == '\t') s++;
  size_t n = strlen(s);
  while (n && (s[n - 1] == ' ' || s[n - 1] == '\t')) s[--n] = 0;
  return s;
}

/* A finite float, the whole (trimmed) string; 0 or -1. */
static int parse_float(const char *s, float *out) {
  char *end;
  if (!*s) return -1;
  errno = 0;
  double v = strtod(s, &end);
  if (*end || !isfinite(v) || fabs(v) > 3.4e38) return -1;
  *out = (float)v;
  return 0;
}

typedef struct label_ref {
  char *name;
  long line;
} label_ref;

/* A class name and its index, for lookups by name (sorted with strcmp). */
typedef struct class_key {
  const char *name;
  int index;
} class_key;

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Numbers by value, ties (and equal values written differently) by text. */
static int cmp_num(const void *a, const void *b) {
  const char *x = *(char *const *)a, *y = *(char *const *)b;
  double u = strtod(x, NULL), v = strtod(y, NULL);
  return u < v ? -1 : u > v ? 1 : strcmp(x, y);
}

static int cmp_key(const void *a, const void *b) { return strcmp(((const class_key *)a)->name, ((const class_key *)b)->name); }

static char *read_file(nncl_ctx *ctx, const char *path, long *len, int *status) {
  FILE *f = fopen(path, "rb");
  char *buf = NULL;
  *status = 0;
  if (!f) {
    *status = nncl_err(ctx, NNCL_EIO, "%s: cannot open: %s", path, strerror(errno));
    return NULL;
  }
  if (fseek(f, 0, SEEK_END) || (*len = ftell(f)) < 0 || fseek(f, 0, SEEK_SET))
    *status = nncl_err(ctx, NNCL_EIO, "%s: cannot read its size (not a regular file?)", path);
  else if (*len > CSV_MAX_BYTES)
    *status = nncl_err(ctx, NNCL_ELIMIT, "%s: %ld bytes, more than the %ld a CSV file may have", path, *len, CSV_MAX_BYTES);
  else if (!(buf = malloc((size_t)*len + 1)))
    *status = nncl_err(ctx, NNCL_ENOMEM, "%s: out of memory", path);
  else if (fread(buf, 1, (size_t)*len, f) != (size_t)*len) {
    *status = nncl_err(ctx, NNCL_EIO, "%s: read failed", path);
    free(buf), buf = NULL;
  }
  fclose(f);
  return buf;
}

typedef struct csv_data {
  int64_t sk_rows;        /* sklearn header: sample count, class names */
  char *sk_classes;
  char **colnames;
  int ncols, label_col;
  float *x;
  int64_t rows, cap;
  label_ref *labels;
  char **classes;
  int nclasses;
  int32_t *y;
  char *names;
} csv_data;

static void csv_data_free(csv_data *c) {
  for (int i = 0; i < c->ncols; i++) free(c->colnames[i]);
  free(c->colnames);
  free(c->sk_classes);
  for (int64_t i = 0; i < c->rows + (c->rows < c->cap); i++) free(c->labels[i].name); /* and a row cut short */
  free(c->labels);
  free(c->x);
  for (int i = 0; i < c->nclasses; i++) free(c->classes[i]);
  free(c->classes);
  free(c->y);
  free(c->names);
}

/* scikit-learn's header "n_samples,n_features,name0,name1,...": columns "0".."F-1" and
 * "label"; the class names joined by commas. */
static int sklearn_header(csv_reader *rd, csv_data *c) {
  int64_t v[2] = {0, 0};
  size_t len = 1, cap = 256;
  if (!(c->sk_classes = malloc(cap))) return nncl_err(rd->ctx, NNCL_ENOMEM, "%s: out of memory", rd->path);
  c->sk_classes[0] = 0;
  for (int last = 0, col = 1; !last; col++) {
    int r = next_field(rd, col, &last);
    if (r) return r;
    char *s = trim(rd->field), *end;
    if (col <= 2) {
      v[col - 1] = strtoll(s, &end, 10);
      if (end == s || *end || v[col - 1] < 1 || v[col - 1] > (col == 1 ? NNCL_MAX_ELEMS : CSV_MAX_COLS - 1))
        return nncl_err(rd->ctx, NNCL_EFORMAT, "%s: line 1, column %d: expected the %s count of a scikit-learn header, got '%.40s'",
                        rd->path, col, col == 1 ? "sample" : "feature", s);
      continue;
    }
    if (!*s || strchr(s, ',')) return nncl_err(rd->ctx, NNCL_EFORMAT, "%s: line 1, column %d: bad class name", rd->path, col);
    size_t n = strlen(s);
    if (len + n + 1 > cap) {
      char *g = realloc(c->sk_classes, cap = 2 * (len + n + 1));
      if (!g) return nncl_err(rd->ctx, NNCL_ENOMEM, "%s: out of memory", rd->path);
      c->sk_classes = g;
    }
    if (col > 3) strcat(c->sk_classes, ",");
    strcat(c->sk_classes, s);
    len += n + 1;
  }
  if (!c->sk_classes[0]) return nncl_err(rd->ctx, NNCL_EFORMAT, "%s: line 1: no class names after the counts", rd->path);
  c->sk_rows = v[0];
  c->ncols = (int)v[1] + 1;
  if (!(c->colnames = calloc((size_t)c->ncols, sizeof *c->colnames))) return nncl_err(rd->ctx, NNCL_ENOMEM, "%s: out of memory", rd->path);
  for (int i = 0; i < c->ncols; i++) {
    char nm[16];
    snprintf(nm, sizeof nm, i < c->ncols - 1 ? "%d" : "label", i);
    if (!(c->colnames[i] = strdup(nm))) return nncl_err(rd->ctx, NNCL_ENOMEM, "%s: out of memory", rd->path);
  }
  rd->line++;
  return 0;
}

/* No header: as many columns as the first record, named by index (the record is read again). */
static int index_header(csv_reader *rd, csv_data *c) {
  const char *start = rd->p;
  int n = 0;
  for (int last = 0; !last; n++) {
    if (n >= CSV_MAX_COLS) return nncl_err(rd->ctx, NNCL_ELIMIT, "%s: more than %d columns", rd->path, CSV_MAX_COLS);
    int r = next_field(rd, n + 1, &last);
    if (r) return r;
  }
  rd->p = start;
  if (!(c->colnames = calloc((size_t)n, sizeof *c->colnames))) return nncl_err(rd->ctx, NNCL_ENOMEM, "%s: out of memory", rd->path);
  c->ncols = n;
  for (int i = 0; i < n; i++) {
    char nm[16];
    snprintf(nm, sizeof nm, "%d", i);
    if (!(c->colnames[i] = strdup(nm))) return nncl_err(rd->ctx, NNCL_ENOMEM, "%s: out of memory", rd->path);
  }
  return 0;
}

static int parse_header(csv_reader *rd, const nncl_csv_params *p, csv_data *c) {
  if (!skip_blank(rd)) return nncl_err(rd->ctx, NNCL_EFORMAT, "%s: empty file: expected a header line of column names", rd->path);
  int r = p->header == NNCL_CSV_SKLEARN ? sklearn_header(rd, c) : p->header == NNCL_CSV_NO_HEADER ? index_header(rd, c) : 0;
  if (r) return r;
  for (int last = 0, col = 1; !last && p->header == NNCL_CSV_HEADER; col++) {
    if (c->ncols >= CSV_MAX_COLS) return nncl_err(rd->ctx, NNCL_ELIMIT, "%s: more than %d columns", rd->path, CSV_MAX_COLS);
    int r = next_field(rd, col, &last);
    if (r) return r;
    char **g = realloc(c->colnames, (size_t)(c->ncols + 1) * sizeof *g);
    if (!g) return nncl_err(rd->ctx, NNCL_ENOMEM, "%s: out of memory", rd->path);
    c->colnames = g;
    if (!(c->colnames[c->ncols] = strdup(trim(rd->field)))) return nncl_err(rd->ctx, NNCL_ENOMEM, "%s: out of memory", rd->path);
    c->ncols++;
  }
  if (p->header == NNCL_CSV_HEADER) rd->line++;
  if (c->ncols < 2) return nncl_err(rd->ctx, NNCL_EFORMAT, "%s: line 1: %d column: need features and a label", rd->path, c->ncols);
  const char *lab = p->label;
  c->label_col = -1;
  if (!lab) c->label_col = c->ncols - 1;
  else {
    for (int i = 0; i < c->ncols && c->label_col < 0; i++)
      if (!strcmp(c->colnames[i], lab)) c->label_col = i;
    if (c->label_col < 0 && *lab && strspn(lab, "0123456789") == strlen(lab) && strlen(lab) < 9) c->label_col = atoi(lab);
    if (c->label_col < 0 || c->label_col >= c->ncols)
      return nncl_err(rd->ctx, NNCL_EINVAL, "%s: no label column '%s' (a header name, or an index 0..%d)", rd->path, lab, c->ncols - 1);
  }
  return 0;
}

/* Parses every record; labels are kept as strings. */
static int parse_rows(csv_reader *rd, csv_data *c) {
  int F = c->ncols - 1;
  while (skip_blank(rd)) {
    if (c->rows == c->cap) {
      int64_t cap = c->cap ? 2 * c->cap : 256;
      if (cap * F > NNCL_MAX_ELEMS) return nncl_err(rd->ctx, NNCL_ELIMIT, "%s: too many values", rd->path);
      float *x = realloc(c->x, (size_t)(cap * F) * sizeof *x);
      if (x) c->x = x;
      label_ref *l = x ? realloc(c->labels, (size_t)cap * sizeof *l) : NULL;
      if (!l) return nncl_err(rd->ctx, NNCL_ENOMEM, "%s: out of memory at line %ld", rd->path, rd->line);
      memset(l + c->cap, 0, (size_t)(cap - c->cap) * sizeof *l);
      c->labels = l, c->cap = cap;
    }
    float *row = c->x + c->rows * F;
    c->labels[c->rows].name = NULL;
    int last = 0, col = 0;
    for (; !last; col++) {
      if (col >= c->ncols)
        return nncl_err(rd->ctx, NNCL_EFORMAT, "%s: line %ld: more than the header's %d fields", rd->path, rd->line, c->ncols);
      int r = next_field(rd, col + 1, &last);
      if (r) return r;
      char *s = trim(rd->field);
      if (col == c->label_col) {
        if (!*s) return nncl_err(rd->ctx, NNCL_EFORMAT, "%s: line %ld, column %d ('%s'): empty label", rd->path, rd->line, col + 1,
                                 c->colnames[col]);
        if (strchr(s, ','))
          return nncl_err(rd->ctx, NNCL_EFORMAT, "%s: line %ld, column %d: a label may not contain ','", rd->path, rd->line, col + 1);
        free(c->labels[c->rows].name);
        if (!(c->labels[c->rows].name = strdup(s))) return nncl_err(rd->ctx, NNCL_ENOMEM, "%s: out of memory", rd->path);
        c->labels[c->rows].line = rd->line;
      } else if (parse_float(s, &row[col < c->label_col ? col : col - 1])) {
        if (!*s) return nncl_err(rd->ctx, NNCL_EFORMAT, "%s: line %ld, column %d ('%s'): empty cell", rd->path, rd->line, col + 1, c->colnames[col]);
        return nncl_err(rd->ctx, NNCL_EFORMAT, "%s: line %ld, column %d ('%s'): not a finite number: '%.40s%s'", rd->path, rd->line,
                        col + 1, c->colnames[col], s, strlen(s) > 40 ? "..." : "");
      }
    }
    if (col < c->ncols) {
      return nncl_err(rd->ctx, NNCL_EFORMAT, "%s: line %ld: %d fields, the header has %d", rd->path, rd->line, col, c->ncols);
    }
    c->rows++;
    rd->line++;
  }
  if (!c->rows) return nncl_err(rd->ctx, NNCL_EFORMAT, "%s: a header but no data rows", rd->path);
  return 0;
}

/* scikit-learn files: label k is the k-th class name of the header. */
static int sklearn_labels(csv_reader *rd, csv_data *c) {
  if (c->rows != c->sk_rows)
    return nncl_err(rd->ctx, NNCL_EFORMAT, "%s: the header announces %lld samples, the file has %lld", rd->path, (long long)c->sk_rows,
                    (long long)c->rows);
  int ncls = 1;
  for (const char *s = c->sk_classes; *s; s++) ncls += *s == ',';
  const char **start = malloc((size_t)ncls * sizeof *start); /* where each name begins */
  if (!start) return nncl_err(rd->ctx, NNCL_ENOMEM, "%s: out of memory", rd->path);
  start[0] = c->sk_classes;
  for (int j = 1; j < ncls; j++) start[j] = strchr(start[j - 1], ',') + 1;
  int r = 0;
  for (int64_t i = 0; i < c->rows && !r; i++) {
    char *end, *lab = c->labels[i].name;
    long k = strtol(lab, &end, 10);
    char *name = NULL;
    if (end == lab || *end || k < 0 || k >= ncls)
      r = nncl_err(rd->ctx, NNCL_EFORMAT, "%s: line %ld, column %d: label '%.40s' is not a class index 0..%d", rd->path,
                   c->labels[i].line, c->label_col + 1, lab, ncls - 1);
    else if (!(name = strndup(start[k], strcspn(start[k], ","))))
      r = nncl_err(rd->ctx, NNCL_ENOMEM, "%s: out of memory", rd->path);
    else {
      free(lab);
      c->labels[i].name = name;
    }
  }
  free(start);
  return r;
}

/* Class list: given (comma-separated) or the sorted distinct labels; then y. Sorting and
 * binary search keep this O(rows log rows) for any number of classes. */
static int map_labels(csv_reader *rd, const nncl_csv_params *p, csv_data *c) {
  if (!(c->y = malloc((size_t)c->rows * sizeof *c->y)) || !(c->classes = calloc(CSV_MAX_CLASSES, sizeof *c->classes)))
    return nncl_err(rd->ctx, NNCL_ENOMEM, "%s: out of memory", rd->path);
  const char *given = p->classes ? p->classes : c->sk_classes;
  if (given) {
    for (const char *s = given; *s && c->nclasses < CSV_MAX_CLASSES;) {
      size_t n = strcspn(s, ",");
      if (!(c->classes[c->nclasses++] = strndup(s, n))) return nncl_err(rd->ctx, NNCL_ENOMEM, "%s: out of memory", rd->path);
      s += n + (s[n] == ',');
    }
  } else {
    char **all = malloc((size_t)c->rows * sizeof *all);
    if (!all) return nncl_err(rd->ctx, NNCL_ENOMEM, "%s: out of memory", rd->path);
    for (int64_t i = 0; i < c->rows; i++) all[i] = c->labels[i].name;
    qsort(all, (size_t)c->rows, sizeof *all, cmp_str);
    int numeric = 1, r = 0;
    for (int64_t i = 0; i < c->rows && !r; i++) {
      if (i > 0 && !strcmp(all[i], all[i - 1])) continue;
      float v;
      if (c->nclasses >= CSV_MAX_CLASSES)
        r = nncl_err(rd->ctx, NNCL_ELIMIT, "%s: the label column '%s' has more than %d distinct values: is it the right column?",
                     rd->path, c->colnames[c->label_col], CSV_MAX_CLASSES);
      else if (!(c->classes[c->nclasses++] = strdup(all[i])))
        r = nncl_err(rd->ctx, NNCL_ENOMEM, "%s: out of memory", rd->path);
      else if (parse_float(all[i], &v)) numeric = 0;
    }
    free(all);
    if (r) return r;
    qsort(c->classes, (size_t)c->nclasses, sizeof *c->classes, numeric ? cmp_num : cmp_str);
  }
  class_key *keys = malloc((size_t)c->nclasses * sizeof *keys + 1);
  if (!keys) return nncl_err(rd->ctx, NNCL_ENOMEM, "%s: out of memory", rd->path);
  for (int i = 0; i < c->nclasses; i++) keys[i] = (class_key){c->classes[i], i};
  qsort(keys, (size_t)c->nclasses, sizeof *keys, cmp_key);
  for (int64_t i = 0; i < c->rows; i++) {
    class_key want = {c->labels[i].name, 0}, *k = bsearch(&want, keys, (size_t)c->nclasses, sizeof *keys, cmp_key);
    if (!k) {
      free(keys);
      return nncl_err(rd->ctx, NNCL_EFORMAT, "%s: line %ld, column %d: label '%.40s' is not one of the model's classes (%.200s)", rd->path,
                      c->labels[i].line, c->label_col + 1, c->labels[i].name, given);
    }
    c->y[i] = k->index;
  }
  free(keys);
  size_t len = 1;
  for (int i = 0; i < c->nclasses; i++) len += strlen(c->classes[i]) + 1;
  if (!(c->names = malloc(len))) return nncl_err(rd->ctx, NNCL_ENOMEM, "%s: out of memory", rd->path);
  char *q = c->names;
  for (int i = 0; i < c->nclasses; i++) q += sprintf(q, "%s%s", i ? "," : "", c->classes[i]);
  return 0;
}

int nncl_dataset_load_csv(nncl_ctx *ctx, const char *path, const nncl_csv_params *p, nncl_dataset **out) {
  if (!ctx || !path || !out) return nncl_err(ctx, NNCL_EINVAL, "csv: NULL argument");
  *out = NULL;
  nncl_csv_params def;
  if (!p) nncl_csv_params_init(&def), p = &def;
  if (p->header < NNCL_CSV_HEADER || p->header > NNCL_CSV_SKLEARN) return nncl_err(ctx, NNCL_EINVAL, "csv: unknown header kind");
  if (!p->delimiter || p->delimiter == '"' || p->delimiter == '\n' || p->delimiter == '\r')
    return nncl_err(ctx, NNCL_EINVAL, "csv: bad delimiter");
  long len;
  int r;
  char *buf = read_file(ctx, path, &len, &r);
  if (!buf) return r;
  csv_reader *rd = malloc(sizeof *rd);
  csv_data c;
  memset(&c, 0, sizeof c);
  if (!rd) {
    free(buf);
    return nncl_err(ctx, NNCL_ENOMEM, "%s: out of memory", path);
  }
  *rd = (csv_reader){.ctx = ctx, .path = path, .p = buf, .end = buf + len, .delim = p->delimiter, .line = 1};
  if (len >= 3 && !memcmp(buf, "\xef\xbb\xbf", 3)) rd->p += 3; /* UTF-8 byte order mark */
  nncl_dataset *d = NULL;
  if ((r = parse_header(rd, p, &c)) || (r = parse_rows(rd, &c)) || (c.sk_classes && (r = sklearn_labels(rd, &c))) ||
      (r = map_labels(rd, p, &c)))
    goto done;
  if (!(d = calloc(1, sizeof *d))) {
    r = nncl_err(ctx, NNCL_ENOMEM, "%s: out of memory", path);
    goto done;
  }
  d->ctx = ctx, d->std = 1;
  d->n = c.rows, d->ndim = 1, d->shape[0] = c.ncols - 1, d->sample_size = c.ncols - 1;
  d->f32 = d->owned[0] = c.x;
  d->labels = d->owned[1] = c.y;
  d->class_names = d->owned[4] = c.names;
  d->nclasses = c.nclasses < 2 ? 2 : c.nclasses;
  c.x = NULL, c.y = NULL, c.names = NULL;
  *out = d;
done:
  csv_data_free(&c);
  free(rd);
  free(buf);
  return r;
}
