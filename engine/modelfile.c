/* modelfile.c - tokenizer/parser of the text model description and its typed getters. */
#include "modelfile.h"

#include <limits.h>
#include <locale.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define SHOW_MAX 64 /* bytes of an offending value quoted in a message */

typedef struct keyref {
  const char *key;
  size_t idx;
} keyref;

typedef struct parser {
  struct nncl_ctx *ctx;
  const char *name;
  int line;
  const char *ls, *le; /* current line [ls, le), without '\n' */
  char *pool;          /* every string; sized up front so that it never moves */
  size_t pool_len;
  nncl_mf_line *lines;
  size_t nlines, cap_lines;
  nncl_mf_kv *kvs;
  size_t nkvs, cap_kvs;
  keyref *order; /* scratch for the duplicate-key check of one line */
  size_t cap_order;
} parser;

static int is_id0(int c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_'; }
static int is_id(int c) { return is_id0(c) || (c >= '0' && c <= '9'); }
static int is_ws(int c) { return c == ' ' || c == '\t' || c == '\r'; }
static int is_ctl(int c) { return (c < 0x20 && !is_ws(c)) || c == 0x7f; }
static int is_bare(int c) { return c > 0x20 && c < 0x7f && c != '"' && c != '#' && c != '='; }

/* "'x'" for printable ASCII, a word or "byte 0xNN" otherwise. */
static const char *show_char(int c, char buf[16]) {
  if (c > 0x20 && c < 0x7f)
    snprintf(buf, 16, "'%c'", c);
  else if (c == ' ')
    snprintf(buf, 16, "a space");
  else if (c == 0)
    snprintf(buf, 16, "a NUL byte");
  else
    snprintf(buf, 16, "byte 0x%02x", (unsigned)(unsigned char)c);
  return buf;
}

static int perr(parser *P, int status, const char *at, const char *fmt, ...) NNCL_PRINTF(4, 5);
static int perr(parser *P, int status, const char *at, const char *fmt, ...) {
  char what[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(what, sizeof what, fmt, ap);
  va_end(ap);
  return nncl_err(P->ctx, status, "%s:%d:%d: %s", P->name, P->line, (int)(at - P->ls) + 1, what);
}

static char *pool_put(parser *P, const char *s, size_t n) {
  char *d = P->pool + P->pool_len;
  memcpy(d, s, n);
  d[n] = 0;
  P->pool_len += n + 1;
  return d;
}

/* Grows *p (elements of elem bytes) to hold need elements. */
static int grow(void **p, size_t *cap, size_t need, size_t elem) {
  if (need <= *cap) return 0;
  size_t n = *cap ? *cap : 16;
  while (n < need) n *= 2;
  if (n > SIZE_MAX / elem) return -1;
  void *q = realloc(*p, n * elem);
  if (!q) return -1;
  *p = q;
  *cap = n;
  return 0;
}

static int cmp_keyref(const void *a, const void *b) {
  const keyref *x = a, *y = b;
  int c = strcmp(x->key, y->key);
  return c ? c : (x->idx > y->idx) - (x->idx < y->idx);
}

/* Duplicate keys among kvs[first..nkvs): sorted, so O(k log k) even for hostile lines;
 * reports the repeat that comes first on the line. */
static int dup_check(parser *P, size_t first) {
  size_t k = P->nkvs - first;
  if (k < 2) return 0;
  if (grow((void **)&P->order, &P->cap_order, k, sizeof *P->order))
    return nncl_err(P->ctx, NNCL_ENOMEM, "%s: out of memory", P->name);
  for (size_t i = 0; i < k; i++) P->order[i] = (keyref){P->kvs[first + i].key, first + i};
  qsort(P->order, k, sizeof *P->order, cmp_keyref);
  size_t bad = SIZE_MAX, orig = 0;
  for (size_t i = 1; i < k; i++)
    if (!strcmp(P->order[i].key, P->order[i - 1].key) && P->order[i].idx < bad) {
      bad = P->order[i].idx;
      orig = P->order[i - 1].idx;
    }
  if (bad == SIZE_MAX) return 0;
  const nncl_mf_kv *kv = &P->kvs[bad];
  return perr(P, NNCL_EFORMAT, P->ls + kv->col - 1, "duplicate key '%s' (first given at column %d)", kv->key,
              P->kvs[orig].col);
}

/* Quoted value at s ('"'); copies the unescaped text into the pool, *end after the quote. */
static int quoted(parser *P, const char *s, const char *key, char **val, const char **end) {
  char *d = P->pool + P->pool_len, cb[16];
  size_t n = 0;
  const char *p = s + 1;
  for (;;) {
    if (p >= P->le) return perr(P, NNCL_EFORMAT, s, "unterminated string in the value of key '%s'", key);
    int c = (unsigned char)*p;
    if (c == '"') break;
    if (c == '\\') {
      if (p + 1 >= P->le)
        return perr(P, NNCL_EFORMAT, s, "unterminated string in the value of key '%s'", key);
      int e = (unsigned char)p[1];
      if (e != '"' && e != '\\')
        return perr(P, NNCL_EFORMAT, p, "unknown escape '\\' followed by %s (only \\\" and \\\\ exist)",
                    show_char(e, cb));
      d[n++] = (char)e;
      p += 2;
      continue;
    }
    if (c < 0x20) /* tab or CR: the rest was refused for the whole line */
      return perr(P, NNCL_EFORMAT, p, "%s inside a quoted string", show_char(c, cb));
    d[n++] = (char)c;
    p++;
  }
  d[n] = 0;
  P->pool_len += n + 1;
  *val = d;
  *end = p + 1;
  return 0;
}

/* After a token: whitespace, a comment or the end of the line must follow. */
static int token_end(parser *P, const char *p, const char *what) {
  char cb[16];
  if (p >= P->le || is_ws((unsigned char)*p) || *p == '#') return 0;
  return perr(P, NNCL_EFORMAT, p, "unexpected %s after %s", show_char((unsigned char)*p, cb), what);
}

static int parse_line(parser *P) {
  const char *p = P->ls, *e = P->le;
  char cb[16];
  for (const char *q = p; q < e; q++)
    if (is_ctl((unsigned char)*q))
      return perr(P, NNCL_EFORMAT, q, "%s is not allowed", show_char((unsigned char)*q, cb));
  while (p < e && is_ws((unsigned char)*p)) p++;
  if (p >= e || *p == '#') return 0;
  if (!is_id0((unsigned char)*p))
    return perr(P, NNCL_EFORMAT, p, "expected a layer kind (a name such as 'dense'), got %s",
                show_char((unsigned char)*p, cb));
  const char *k0 = p;
  while (p < e && is_id((unsigned char)*p)) p++;
  if (grow((void **)&P->lines, &P->cap_lines, P->nlines + 1, sizeof *P->lines))
    return nncl_err(P->ctx, NNCL_ENOMEM, "%s: out of memory", P->name);
  nncl_mf_line *L = &P->lines[P->nlines];
  *L = (nncl_mf_line){pool_put(P, k0, (size_t)(p - k0)), P->line, (int)(k0 - P->ls) + 1, 0, NULL};
  P->nlines++;
  int r = token_end(P, p, "the layer kind");
  size_t first = P->nkvs;
  while (!r) {
    while (p < e && is_ws((unsigned char)*p)) p++;
    if (p >= e || *p == '#') break;
    if (!is_id0((unsigned char)*p))
      return perr(P, NNCL_EFORMAT, p, "expected key=value, got %s", show_char((unsigned char)*p, cb));
    const char *key0 = p;
    while (p < e && is_id((unsigned char)*p)) p++;
    char *key = pool_put(P, key0, (size_t)(p - key0));
    if (p >= e || *p != '=')
      return perr(P, NNCL_EFORMAT, p, "expected '=' right after key '%s', got %s", key,
                  p >= e ? "the end of the line" : show_char((unsigned char)*p, cb));
    p++;
    char *val = NULL;
    if (p < e && *p == '"') {
      if ((r = quoted(P, p, key, &val, &p))) return r;
      r = token_end(P, p, "the closing quote");
    } else {
      const char *v0 = p;
      while (p < e && is_bare((unsigned char)*p)) p++;
      if (p == v0 && (p >= e || is_ws((unsigned char)*p) || *p == '#'))
        return perr(P, NNCL_EFORMAT, p, "missing value for key '%s'", key);
      if (p < e && !is_ws((unsigned char)*p) && *p != '#')
        return perr(P, NNCL_EFORMAT, p, "%s is not allowed in a bare value (quote the value of key '%s')",
                    show_char((unsigned char)*p, cb), key);
      val = pool_put(P, v0, (size_t)(p - v0));
    }
    if (grow((void **)&P->kvs, &P->cap_kvs, P->nkvs + 1, sizeof *P->kvs))
      return nncl_err(P->ctx, NNCL_ENOMEM, "%s: out of memory", P->name);
    P->kvs[P->nkvs++] = (nncl_mf_kv){key, val, P->line, (int)(key0 - P->ls) + 1};
    L->nkv++;
  }
  return r ? r : dup_check(P, first);
}

int nncl_mf_parse(struct nncl_ctx *ctx, const char *text, size_t len, const char *name, nncl_mf *out) {
  parser P = {.ctx = ctx, .name = name ? name : "<model>", .line = 1};
  memset(out, 0, sizeof *out);
  if (!text && len) return nncl_err(ctx, NNCL_EINVAL, "%s: no text", P.name);
  if (len > (size_t)NNCL_MF_MAX_LINES * (NNCL_MF_MAX_LINE + 1))
    return nncl_err(ctx, NNCL_ELIMIT, "%s: %zu bytes is more than %d lines of %d bytes can hold", P.name, len,
                    NNCL_MF_MAX_LINES, NNCL_MF_MAX_LINE);
  /* each string copied is at most its source bytes + a NUL, and owns >= 1 source byte */
  size_t nl = strlen(P.name);
  if (!(P.pool = malloc(2 * len + nl + 2))) return nncl_err(ctx, NNCL_ENOMEM, "%s: out of memory", P.name);
  out->name = pool_put(&P, P.name, nl);
  P.name = out->name;
  int r = 0;
  const char *p = text, *end = text + len;
  while (!r && p < end) {
    if (P.line > NNCL_MF_MAX_LINES) {
      r = nncl_err(ctx, NNCL_ELIMIT, "%s:%d:1: more than %d lines", P.name, P.line, NNCL_MF_MAX_LINES);
      break;
    }
    const char *nlp = memchr(p, '\n', (size_t)(end - p));
    P.ls = p;
    P.le = nlp ? nlp : end;
    if (P.le - P.ls > NNCL_MF_MAX_LINE)
      r = perr(&P, NNCL_ELIMIT, P.ls + NNCL_MF_MAX_LINE, "line longer than %d bytes", NNCL_MF_MAX_LINE);
    else
      r = parse_line(&P);
    p = P.le + 1;
    P.line++;
  }
  free(P.order);
  if (r) {
    free(P.pool);
    free(P.lines);
    free(P.kvs);
    memset(out, 0, sizeof *out);
    return r;
  }
  size_t k = 0;
  for (size_t i = 0; i < P.nlines; i++) {
    P.lines[i].kv = P.lines[i].nkv ? P.kvs + k : NULL;
    k += (size_t)P.lines[i].nkv;
  }
  out->nlines = (int)P.nlines;
  out->lines = P.lines;
  out->strings = P.pool;
  out->kvs = P.kvs;
  return 0;
}

void nncl_mf_free(nncl_mf *mf) {
  if (!mf) return;
  free(mf->strings);
  free(mf->lines);
  free(mf->kvs);
  memset(mf, 0, sizeof *mf);
}

static const nncl_mf_kv *find_kv(const nncl_mf_line *l, const char *key) {
  for (int i = 0; i < l->nkv; i++)
    if (!strcmp(l->kv[i].key, key)) return &l->kv[i];
  return NULL;
}

const char *nncl_mf_get(const nncl_mf_line *l, const char *key) {
  const nncl_mf_kv *kv = find_kv(l, key);
  return kv ? kv->value : NULL;
}

/* "<name>:<line>:<col of the value>: key 'k' expects <what>, got '<value>'" */
static int bad_value(struct nncl_ctx *ctx, const nncl_mf *mf, const nncl_mf_kv *kv, const char *what) {
  size_t n = strlen(kv->value);
  return nncl_err(ctx, NNCL_EFORMAT, "%s:%d:%d: key '%s' expects %s, got '%.*s%s'", mf->name, kv->line,
                  kv->col + (int)strlen(kv->key) + 1, kv->key, what, SHOW_MAX, kv->value,
                  n > SHOW_MAX ? "..." : "");
}

/* Decimal integer [+-]?[0-9]+ spanning [s, e); -1 if malformed or out of int64_t range. */
static int parse_i64(const char *s, const char *e, int64_t *out) {
  int neg = 0;
  if (s < e && (*s == '+' || *s == '-')) neg = *s++ == '-';
  if (s >= e) return -1;
  uint64_t v = 0, lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
  for (; s < e; s++) {
    if (*s < '0' || *s > '9') return -1;
    unsigned d = (unsigned)(*s - '0');
    if (v > (lim - d) / 10) return -1;
    v = v * 10 + d;
  }
  *out = neg ? (v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v) : (int64_t)v;
  return 0;
}

int nncl_mf_int(struct nncl_ctx *ctx, const nncl_mf *mf, const nncl_mf_line *l, const char *key, int64_t dflt,
                int64_t min, int64_t max, int64_t *out) {
  const nncl_mf_kv *kv = find_kv(l, key);
  if (!kv) {
    *out = dflt;
    return 0;
  }
  int64_t v;
  if (!parse_i64(kv->value, kv->value + strlen(kv->value), &v) && v >= min && v <= max) {
    *out = v;
    return 0;
  }
  char what[96];
  if (min == 1 && max == INT64_MAX)
    snprintf(what, sizeof what, "a positive integer");
  else if (min == 0 && max == INT64_MAX)
    snprintf(what, sizeof what, "a non-negative integer");
  else if (min == INT64_MIN && max == INT64_MAX)
    snprintf(what, sizeof what, "an integer");
  else if (max == INT64_MAX)
    snprintf(what, sizeof what, "an integer >= %lld", (long long)min);
  else if (min == INT64_MIN)
    snprintf(what, sizeof what, "an integer <= %lld", (long long)max);
  else
    snprintf(what, sizeof what, "an integer in [%lld, %lld]", (long long)min, (long long)max);
  return bad_value(ctx, mf, kv, what);
}

/* [+-]? (digits [. digits*] | . digits) ([eE] [+-]? digits)?  -> length of the match */
static size_t float_syntax(const char *s) {
  const char *p = s;
  size_t nd = 0;
  if (*p == '+' || *p == '-') p++;
  while (*p >= '0' && *p <= '9') p++, nd++;
  if (*p == '.') {
    p++;
    while (*p >= '0' && *p <= '9') p++, nd++;
  }
  if (!nd) return 0;
  if (*p == 'e' || *p == 'E') {
    const char *q = p + 1;
    if (*q == '+' || *q == '-') q++;
    if (!(*q >= '0' && *q <= '9')) return 0;
    while (*q >= '0' && *q <= '9') q++;
    p = q;
  }
  return (size_t)(p - s);
}

int nncl_mf_float(struct nncl_ctx *ctx, const nncl_mf *mf, const nncl_mf_line *l, const char *key,
                  double dflt, double *out) {
  const nncl_mf_kv *kv = find_kv(l, key);
  if (!kv) {
    *out = dflt;
    return 0;
  }
  const char *v = kv->value;
  size_t n = strlen(v);
  char buf[128];
  /* strtod honours the C locale's decimal point: hand it that instead of '.' */
  const char *dp = localeconv()->decimal_point;
  size_t dpl = dp && *dp ? strlen(dp) : 1;
  if (n && n < 64 && dpl < 8 && float_syntax(v) == n) {
    size_t j = 0;
    for (size_t i = 0; i < n; i++)
      if (v[i] == '.' && dp && *dp) {
        memcpy(buf + j, dp, dpl);
        j += dpl;
      } else {
        buf[j++] = v[i];
      }
    buf[j] = 0;
    char *e;
    double d = strtod(buf, &e);
    if (*e == 0 && isfinite(d)) {
      *out = d;
      return 0;
    }
  }
  return bad_value(ctx, mf, kv, "a finite decimal number");
}

int nncl_mf_ints(struct nncl_ctx *ctx, const nncl_mf *mf, const nncl_mf_line *l, const char *key, int max,
                 int64_t *vals, int *n) {
  const nncl_mf_kv *kv = find_kv(l, key);
  *n = 0;
  if (!kv) return 0;
  const char *s = kv->value;
  int k = 0;
  for (;;) {
    const char *e = strchr(s, ',');
    if (!e) e = s + strlen(s);
    int64_t v;
    if (parse_i64(s, e, &v)) return bad_value(ctx, mf, kv, "a comma-separated list of integers");
    if (k >= max) {
      char what[64];
      snprintf(what, sizeof what, "at most %d comma-separated integers", max);
      return bad_value(ctx, mf, kv, what);
    }
    vals[k++] = v;
    if (!*e) break;
    s = e + 1;
  }
  *n = k;
  return 0;
}

/* Levenshtein distance, capped: strings longer than 31 bytes count as far apart. */
static int edit_distance(const char *a, const char *b) {
  size_t la = strlen(a), lb = strlen(b);
  if (la > 31 || lb > 31) return INT_MAX;
  int row[32];
  for (size_t j = 0; j <= lb; j++) row[j] = (int)j;
  for (size_t i = 1; i <= la; i++) {
    int diag = row[0];
    row[0] = (int)i;
    for (size_t j = 1; j <= lb; j++) {
      int up = row[j], best = diag + (a[i - 1] != b[j - 1]);
      if (up + 1 < best) best = up + 1;
      if (row[j - 1] + 1 < best) best = row[j - 1] + 1;
      diag = up;
      row[j] = best;
    }
  }
  return row[lb];
}

int nncl_mf_check_keys(struct nncl_ctx *ctx, const nncl_mf *mf, const nncl_mf_line *l,
                       const char *const *known) {
  for (int i = 0; i < l->nkv; i++) {
    const nncl_mf_kv *kv = &l->kv[i];
    int ok = 0, best = INT_MAX;
    const char *near = NULL;
    for (const char *const *k = known; *k && !ok; k++) {
      ok = !strcmp(*k, kv->key);
      int d = edit_distance(*k, kv->key);
      if (d < best) best = d, near = *k;
    }
    if (ok) continue;
    char list[512] = "";
    size_t len = 0;
    if (near && best <= 2 && (size_t)best < strlen(kv->key)) {
      snprintf(list, sizeof list, "; did you mean '%s'?", near);
    } else {
      for (const char *const *k = known; *k && len + 1 < sizeof list; k++) {
        int w = snprintf(list + len, sizeof list - len, "%s%s", k == known ? "; known keys: " : ", ", *k);
        if (w < 0) break;
        len += (size_t)w;
      }
      if (!*known) snprintf(list, sizeof list, "; '%s' takes no keys", l->kind);
    }
    return nncl_err(ctx, NNCL_EFORMAT, "%s:%d:%d: unknown key '%s' for '%s'%s", mf->name, kv->line, kv->col,
                    kv->key, l->kind, list);
  }
  return 0;
}

/* ---- writing -------------------------------------------------------------------- */

static int sb_reserve(nncl_strbuf *sb, size_t extra) {
  if (sb->failed) return -1;
  if (extra < sb->cap - sb->len && sb->s) return 0;
  if (extra > SIZE_MAX / 2 - sb->len) return sb->failed = 1, -1;
  size_t n = sb->cap ? sb->cap : 256;
  while (n <= sb->len + extra) n *= 2;
  char *s = realloc(sb->s, n);
  if (!s) return sb->failed = 1, -1;
  sb->s = s;
  sb->cap = n;
  return 0;
}

void nncl_sb_printf(nncl_strbuf *sb, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  if (n < 0) {
    sb->failed = 1;
    return;
  }
  if (sb_reserve(sb, (size_t)n)) return;
  va_start(ap, fmt);
  vsnprintf(sb->s + sb->len, sb->cap - sb->len, fmt, ap);
  va_end(ap);
  sb->len += (size_t)n;
}

void nncl_sb_append(nncl_strbuf *sb, const char *s, size_t n) {
  if (sb_reserve(sb, n)) return;
  memcpy(sb->s + sb->len, s, n);
  sb->len += n;
  sb->s[sb->len] = 0;
}

void nncl_sb_free(nncl_strbuf *sb) {
  free(sb->s);
  memset(sb, 0, sizeof *sb);
}

int nncl_sb_value(nncl_strbuf *sb, const char *v) {
  int bare = *v != 0;
  for (const unsigned char *p = (const unsigned char *)v; *p; p++) {
    if (*p < 0x20 || *p == 0x7f) return NNCL_EINVAL;
    bare &= is_bare(*p);
  }
  if (bare) {
    nncl_sb_append(sb, v, strlen(v));
    return 0;
  }
  nncl_sb_append(sb, "\"", 1);
  for (const char *p = v; *p; p++) {
    if (*p == '"' || *p == '\\') nncl_sb_append(sb, "\\", 1);
    nncl_sb_append(sb, p, 1);
  }
  nncl_sb_append(sb, "\"", 1);
  return 0;
}
