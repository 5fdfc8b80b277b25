/* safetensors.c - .safetensors reader (strict JSON, every offset validated) and atomic
 * writer. Format: https://github.com/huggingface/safetensors (README "Format"). */
#include "safetensors.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"
#include "modelfile.h" /* nncl_strbuf */

#define JSON_MAX_DEPTH 64
#define SHOW_MAX 64 /* bytes of a name quoted in a message */

static const struct {
  const char *name;
  int size;
} dtypes[] = {
    {"F64", 8}, {"F32", 4}, {"F16", 2}, {"BF16", 2}, {"I64", 8},  {"I32", 4},     {"I16", 2},     {"I8", 1},
    {"U64", 8}, {"U32", 4}, {"U16", 2}, {"U8", 1},   {"BOOL", 1}, {"F8_E4M3", 1}, {"F8_E5M2", 1},
};
#define NDTYPES ((int)(sizeof dtypes / sizeof dtypes[0]))

static int dtype_index(const char *s) {
  for (int i = 0; i < NDTYPES; i++)
    if (!strcmp(dtypes[i].name, s)) return i;
  return -1;
}

int nncl_st_dtype_size(const char *dtype) {
  int i = dtype ? dtype_index(dtype) : -1;
  return i < 0 ? 0 : dtypes[i].size;
}

/* Length of the valid UTF-8 sequence at p (< e), 0 if invalid (RFC 3629: no overlongs,
 * no surrogates, nothing above U+10FFFF). */
static size_t utf8_len(const unsigned char *p, const unsigned char *e) {
  unsigned c = p[0];
  size_t n;
  unsigned lo = 0x80, hi = 0xBF;
  if (c < 0x80) return 1;
  if (c >= 0xC2 && c <= 0xDF)
    n = 2;
  else if (c >= 0xE0 && c <= 0xEF)
    n = 3, lo = c == 0xE0 ? 0xA0 : 0x80, hi = c == 0xED ? 0x9F : 0xBF;
  else if (c >= 0xF0 && c <= 0xF4)
    n = 4, lo = c == 0xF0 ? 0x90 : 0x80, hi = c == 0xF4 ? 0x8F : 0xBF;
  else
    return 0;
  if ((size_t)(e - p) < n || p[1] < lo || p[1] > hi) return 0;
  for (size_t i = 2; i < n; i++)
    if (p[i] < 0x80 || p[i] > 0xBF) return 0;
  return n;
}

static int utf8_valid(const char *s) {
  const unsigned char *p = (const unsigned char *)s, *e = p + strlen(s);
  while (p < e) {
    size_t n = utf8_len(p, e);
    if (!n) return 0;
    p += n;
  }
  return 1;
}

/* ---- the open file ---------------------------------------------------------------- */

typedef struct st_entry {
  const char *name;
  int dtype; /* index into dtypes */
  int ndim;
  int64_t shape[NNCL_ST_MAX_DIMS];
  uint64_t begin, end;
  size_t pos; /* file offset of the name, for messages */
} st_entry;

typedef struct st_meta {
  nncl_st_kv kv;
  size_t pos;
} st_meta;

struct nncl_st_file {
  struct nncl_ctx *ctx;
  char *path;
  char *strings;       /* unescaped names, keys and values */
  unsigned char *data; /* the data section */
  size_t data_size;
  st_entry *t;
  size_t nt, cap_t;
  const st_entry **by_name;
  st_meta *meta;
  size_t nmeta, cap_meta;
};

/* ---- strict JSON, directed by the safetensors schema ------------------------------ */

typedef struct jp {
  nncl_st_file *f;
  const unsigned char *s, *p, *e; /* header [s, e), cursor p */
  size_t out_len;                 /* used bytes of f->strings (never exceeds e - s) */
} jp;

static int jerr(jp *J, int status, const unsigned char *at, const char *fmt, ...) NNCL_PRINTF(4, 5);
static int jerr(jp *J, int status, const unsigned char *at, const char *fmt, ...) {
  char what[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(what, sizeof what, fmt, ap);
  va_end(ap);
  return nncl_err(J->f->ctx, status, "%s: offset %zu: %s", J->f->path, 8 + (size_t)(at - J->s), what);
}

/* What is at p, for messages. */
static const char *jshow(const jp *J, const unsigned char *p, char buf[24]) {
  if (p >= J->e)
    snprintf(buf, 24, "the end of the header");
  else if (*p > 0x20 && *p < 0x7f)
    snprintf(buf, 24, "'%c'", *p);
  else
    snprintf(buf, 24, "byte 0x%02x", *p);
  return buf;
}

static void jws(jp *J) {
  while (J->p < J->e && (*J->p == ' ' || *J->p == '\t' || *J->p == '\n' || *J->p == '\r')) J->p++;
}

static int jexpect(jp *J, int c, const char *where) {
  char b[24];
  jws(J);
  if (J->p < J->e && *J->p == c) {
    J->p++;
    return 0;
  }
  return jerr(J, NNCL_EFORMAT, J->p, "expected '%c' %s, got %s", c, where, jshow(J, J->p, b));
}

/* After a member or element: 1 if ',' (more follow), 0 if the closing bracket. */
static int jnext(jp *J, int close, const char *where, int *more) {
  char b[24];
  jws(J);
  if (J->p < J->e && (*J->p == ',' || *J->p == close)) {
    *more = *J->p++ == ',';
    return 0;
  }
  return jerr(J, NNCL_EFORMAT, J->p, "expected ',' or '%c' %s, got %s", close, where, jshow(J, J->p, b));
}

static int hex4(const unsigned char *p, const unsigned char *e, unsigned *out) {
  unsigned v = 0;
  if (e - p < 4) return -1;
  for (int i = 0; i < 4; i++) {
    int c = p[i], d = c >= '0' && c <= '9'   ? c - '0'
                      : c >= 'a' && c <= 'f' ? c - 'a' + 10
                      : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                             : -1;
    if (d < 0) return -1;
    v = v * 16 + (unsigned)d;
  }
  *out = v;
  return 0;
}

static size_t utf8_put(unsigned cp, char *d) {
  if (cp < 0x80) return d[0] = (char)cp, 1;
  if (cp < 0x800) return d[0] = (char)(0xC0 | cp >> 6), d[1] = (char)(0x80 | (cp & 0x3F)), 2;
  if (cp < 0x10000)
    return d[0] = (char)(0xE0 | cp >> 12), d[1] = (char)(0x80 | (cp >> 6 & 0x3F)),
           d[2] = (char)(0x80 | (cp & 0x3F)), 3;
  d[0] = (char)(0xF0 | cp >> 18), d[1] = (char)(0x80 | (cp >> 12 & 0x3F));
  d[2] = (char)(0x80 | (cp >> 6 & 0x3F)), d[3] = (char)(0x80 | (cp & 0x3F));
  return 4;
}

/* String at the cursor, unescaped into f->strings (its raw form, quotes included, is
 * longer than the result plus NUL, so the arena of header size never overflows). */
static int jstring(jp *J, char **out) {
  char b[24];
  jws(J);
  const unsigned char *q = J->p, *p = q + 1, *e = J->e;
  if (q >= e || *q != '"') return jerr(J, NNCL_EFORMAT, q, "expected a string, got %s", jshow(J, q, b));
  char *d = J->f->strings + J->out_len;
  size_t k = 0;
  for (;;) {
    if (p >= e) return jerr(J, NNCL_EFORMAT, q, "unterminated string");
    unsigned c = *p;
    if (c == '"') break;
    if (c < 0x20)
      return jerr(J, NNCL_EFORMAT, p, "control character 0x%02x in a string (must be escaped)", c);
    if (c >= 0x80) {
      size_t n = utf8_len(p, e);
      if (!n) return jerr(J, NNCL_EFORMAT, p, "invalid UTF-8 (byte 0x%02x) in a string", c);
      memcpy(d + k, p, n);
      k += n, p += n;
      continue;
    }
    if (c != '\\') {
      d[k++] = (char)c, p++;
      continue;
    }
    if (p + 1 >= e) return jerr(J, NNCL_EFORMAT, q, "unterminated string");
    const char *simple = strchr("\"\\/bfnrt", p[1]);
    if (p[1] && simple) {
      d[k++] = "\"\\/\b\f\n\r\t"[simple - "\"\\/bfnrt"];
      p += 2;
      continue;
    }
    if (p[1] != 'u')
      return jerr(J, NNCL_EFORMAT, p, "invalid escape '\\' followed by %s", jshow(J, p + 1, b));
    unsigned cp, lo;
    if (hex4(p + 2, e, &cp)) return jerr(J, NNCL_EFORMAT, p, "\\u must be followed by 4 hex digits");
    if (cp >= 0xD800 && cp <= 0xDBFF) {
      if (e - p < 12 || p[6] != '\\' || p[7] != 'u' || hex4(p + 8, e, &lo) || lo < 0xDC00 || lo > 0xDFFF)
        return jerr(J, NNCL_EFORMAT, p, "unpaired UTF-16 surrogate \\u%04X", cp);
      cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
      p += 6;
    } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
      return jerr(J, NNCL_EFORMAT, p, "unpaired UTF-16 surrogate \\u%04X", cp);
    } else if (cp == 0) {
      return jerr(J, NNCL_EFORMAT, p, "\\u0000 (NUL) is not supported in names and metadata");
    }
    k += utf8_put(cp, d + k);
    p += 6;
  }
  d[k] = 0;
  J->out_len += k + 1;
  J->p = p + 1;
  *out = d;
  return 0;
}

/* JSON number at the cursor; *u and *is_uint = 1 when it is an integer in [0, 2^64). */
static int jnumber(jp *J, uint64_t *u, int *is_uint) {
  char b[24];
  const unsigned char *p = J->p, *e = J->e, *at = p;
  int neg = 0, frac = 0, over = 0;
  uint64_t v = 0;
  if (p < e && *p == '-') neg = 1, p++;
  if (p >= e || *p < '0' || *p > '9')
    return jerr(J, NNCL_EFORMAT, p, "expected a number, got %s", jshow(J, p, b));
  if (*p == '0' && p + 1 < e && p[1] >= '0' && p[1] <= '9')
    return jerr(J, NNCL_EFORMAT, at, "leading zeros are not allowed in numbers");
  for (; p < e && *p >= '0' && *p <= '9'; p++) {
    unsigned d = (unsigned)(*p - '0');
    if (v > (UINT64_MAX - d) / 10) over = 1;
    v = v * 10 + d;
  }
  if (p < e && *p == '.') {
    frac = 1, p++;
    if (p >= e || *p < '0' || *p > '9') return jerr(J, NNCL_EFORMAT, p, "digits expected after '.'");
    while (p < e && *p >= '0' && *p <= '9') p++;
  }
  if (p < e && (*p == 'e' || *p == 'E')) {
    frac = 1, p++;
    if (p < e && (*p == '+' || *p == '-')) p++;
    if (p >= e || *p < '0' || *p > '9') return jerr(J, NNCL_EFORMAT, p, "digits expected in the exponent");
    while (p < e && *p >= '0' && *p <= '9') p++;
  }
  J->p = p;
  *u = v;
  *is_uint = !neg && !frac && !over;
  return 0;
}

static int juint(jp *J, const char *name, const char *what, uint64_t *out) {
  int ok, r;
  jws(J);
  const unsigned char *at = J->p;
  if ((r = jnumber(J, out, &ok))) return r;
  return ok ? 0
            : jerr(J, NNCL_EFORMAT, at, "tensor '%.*s': %s must be a non-negative integer below 2^64",
                   SHOW_MAX, name, what);
}

static int jliteral(jp *J, const char *lit) {
  size_t n = strlen(lit);
  if ((size_t)(J->e - J->p) < n || memcmp(J->p, lit, n))
    return jerr(J, NNCL_EFORMAT, J->p, "invalid literal (expected %s)", lit);
  J->p += n;
  return 0;
}

/* Any JSON value, validated and dropped (unknown fields, as the reference ignores them). */
static int jskip(jp *J, int depth) {
  char b[24];
  uint64_t u;
  int more = 1, r = 0, ok;
  if (depth > JSON_MAX_DEPTH)
    return jerr(J, NNCL_ELIMIT, J->p, "JSON nested deeper than %d levels", JSON_MAX_DEPTH);
  jws(J);
  if (J->p >= J->e) return jerr(J, NNCL_EFORMAT, J->p, "expected a value, got the end of the header");
  size_t mark = J->out_len;
  char *s;
  switch (*J->p) {
  case '{':
  case '[': {
    int close = *J->p++ == '{' ? '}' : ']';
    jws(J);
    if (J->p < J->e && *J->p == close) {
      J->p++;
      return 0;
    }
    while (!r && more) {
      if (close == '}' && !(r = jstring(J, &s))) r = jexpect(J, ':', "after an object key");
      if (!r) r = jskip(J, depth + 1);
      if (!r) r = jnext(J, close, close == '}' ? "in an object" : "in an array", &more);
      J->out_len = mark;
    }
    return r;
  }
  case '"':
    r = jstring(J, &s);
    J->out_len = mark;
    return r;
  case 't': return jliteral(J, "true");
  case 'f': return jliteral(J, "false");
  case 'n': return jliteral(J, "null");
  default:
    if (*J->p == '-' || (*J->p >= '0' && *J->p <= '9')) return jnumber(J, &u, &ok);
    return jerr(J, NNCL_EFORMAT, J->p, "expected a value, got %s", jshow(J, J->p, b));
  }
}

static int jmeta(jp *J) {
  char b[24];
  int more = 1, r = 0;
  jws(J);
  if (J->p < J->e && *J->p == 'n') return jliteral(J, "null");
  if ((r = jexpect(J, '{', "to open __metadata__"))) return r;
  jws(J);
  if (J->p < J->e && *J->p == '}') return J->p++, 0;
  while (more) {
    nncl_st_file *f = J->f;
    st_meta m;
    char *k, *v;
    jws(J);
    m.pos = 8 + (size_t)(J->p - J->s);
    if ((r = jstring(J, &k)) || (r = jexpect(J, ':', "after a metadata key"))) return r;
    jws(J);
    if (J->p >= J->e || *J->p != '"')
      return jerr(J, NNCL_EFORMAT, J->p, "metadata value of '%.*s' must be a string, got %s", SHOW_MAX, k,
                  jshow(J, J->p, b));
    if ((r = jstring(J, &v))) return r;
    if (f->nmeta == f->cap_meta) {
      size_t n = f->cap_meta ? 2 * f->cap_meta : 16;
      st_meta *q = realloc(f->meta, n * sizeof *q);
      if (!q) return nncl_err(f->ctx, NNCL_ENOMEM, "%s: out of memory", f->path);
      f->meta = q, f->cap_meta = n;
    }
    m.kv = (nncl_st_kv){k, v};
    f->meta[f->nmeta++] = m;
    if ((r = jnext(J, '}', "in __metadata__", &more))) return r;
  }
  return 0;
}

static void shape_str(const st_entry *t, char *buf, size_t n) {
  size_t len = (size_t)snprintf(buf, n, "[");
  for (int i = 0; i < t->ndim && len < n; i++)
    len += (size_t)snprintf(buf + len, n - len, "%s%lld", i ? ", " : "", (long long)t->shape[i]);
  if (len < n) snprintf(buf + len, n - len, "]");
}

/* Checks one parsed entry against its dtype and the data section. */
static int check_entry(jp *J, const st_entry *t, const unsigned char *at) {
  const char *nm = t->name;
  int64_t n = 1;
  for (int i = 0; i < t->ndim; i++) n = t->shape[i] ? n : 0;
  for (int i = 0; i < t->ndim && n; i++) {
    if (n > NNCL_MAX_ELEMS / t->shape[i])
      return jerr(J, NNCL_ELIMIT, at, "tensor '%.*s': shape has more than 2^34 elements", SHOW_MAX, nm);
    n *= t->shape[i];
  }
  uint64_t bytes = (uint64_t)n * (uint64_t)dtypes[t->dtype].size;
  char sh[160];
  shape_str(t, sh, sizeof sh);
  if (t->begin > t->end)
    return jerr(J, NNCL_EFORMAT, at, "tensor '%.*s': data_offsets [%llu, %llu] end before they begin",
                SHOW_MAX, nm, (unsigned long long)t->begin, (unsigned long long)t->end);
  if (t->end > J->f->data_size)
    return jerr(J, NNCL_EFORMAT, at,
                "tensor '%.*s': data_offsets [%llu, %llu] reach past the data section (%zu bytes)", SHOW_MAX,
                nm, (unsigned long long)t->begin, (unsigned long long)t->end, J->f->data_size);
  if (t->end - t->begin != bytes)
    return jerr(J, NNCL_EFORMAT, at,
                "tensor '%.*s': %s %s needs %llu bytes but data_offsets [%llu, %llu] hold %llu", SHOW_MAX, nm,
                dtypes[t->dtype].name, sh, (unsigned long long)bytes, (unsigned long long)t->begin,
                (unsigned long long)t->end, (unsigned long long)(t->end - t->begin));
  return 0;
}

/* {"dtype": ..., "shape": [...], "data_offsets": [b, e]} for the tensor called name. */
static int jtensor(jp *J, const char *name, const unsigned char *name_at) {
  char b[24];
  int more = 1, r;
  st_entry t = {.name = name, .pos = 8 + (size_t)(name_at - J->s)};
  static const char *const fields[3] = {"dtype", "shape", "data_offsets"};
  const unsigned char *seen[3] = {NULL, NULL, NULL}; /* where each field's value starts */
  if ((r = jexpect(J, '{', "to open a tensor entry"))) return r;
  jws(J);
  if (J->p < J->e && *J->p == '}') J->p++, more = 0;
  while (more) {
    size_t mark = J->out_len;
    char *field, *s;
    jws(J);
    const unsigned char *fat = J->p;
    if ((r = jstring(J, &field)) || (r = jexpect(J, ':', "after a field name"))) return r;
    jws(J);
    int which = 0;
    while (which < 3 && strcmp(field, fields[which])) which++;
    if (which < 3 && seen[which])
      return jerr(J, NNCL_EFORMAT, fat, "tensor '%.*s': field \"%s\" given twice", SHOW_MAX, name, field);
    if (which < 3) seen[which] = J->p;
    if (which == 0) {
      if ((r = jstring(J, &s))) return r;
      if ((t.dtype = dtype_index(s)) < 0)
        return jerr(J, NNCL_EFORMAT, seen[0], "tensor '%.*s': unknown dtype \"%.*s\"", SHOW_MAX, name,
                    SHOW_MAX, s);
    } else if (which == 1) {
      if ((r = jexpect(J, '[', "to open a shape"))) return r;
      jws(J);
      int m = J->p < J->e && *J->p == ']' ? (J->p++, 0) : 1;
      while (m) {
        uint64_t d;
        jws(J);
        if (t.ndim == NNCL_ST_MAX_DIMS)
          return jerr(J, NNCL_ELIMIT, J->p, "tensor '%.*s': more than %d dimensions", SHOW_MAX, name,
                      NNCL_ST_MAX_DIMS);
        const unsigned char *dat = J->p;
        if ((r = juint(J, name, "a dimension", &d))) return r;
        if (d > (uint64_t)NNCL_MAX_ELEMS)
          return jerr(J, NNCL_ELIMIT, dat, "tensor '%.*s': dimension %llu is too large", SHOW_MAX, name,
                      (unsigned long long)d);
        t.shape[t.ndim++] = (int64_t)d;
        if ((r = jnext(J, ']', "in a shape", &m))) return r;
      }
    } else if (which == 2) {
      if ((r = jexpect(J, '[', "to open data_offsets")) || (r = juint(J, name, "data_offsets", &t.begin)) ||
          (r = jexpect(J, ',', "between the two data_offsets")) ||
          (r = juint(J, name, "data_offsets", &t.end)))
        return r;
      jws(J);
      if (J->p >= J->e || *J->p != ']')
        return jerr(J, NNCL_EFORMAT, J->p, "tensor '%.*s': data_offsets must be [begin, end], got %s",
                    SHOW_MAX, name, jshow(J, J->p, b));
      J->p++;
    } else if ((r = jskip(J, 3))) {
      return r;
    }
    J->out_len = mark;
    if ((r = jnext(J, '}', "in a tensor entry", &more))) return r;
  }
  for (int i = 0; i < 3; i++)
    if (!seen[i])
      return jerr(J, NNCL_EFORMAT, name_at, "tensor '%.*s': no \"%s\" field", SHOW_MAX, name, fields[i]);
  if ((r = check_entry(J, &t, seen[2]))) return r;
  nncl_st_file *f = J->f;
  if (f->nt == f->cap_t) {
    size_t n = f->cap_t ? 2 * f->cap_t : 16;
    st_entry *q = realloc(f->t, n * sizeof *q);
    if (!q) return nncl_err(f->ctx, NNCL_ENOMEM, "%s: out of memory", f->path);
    f->t = q, f->cap_t = n;
  }
  f->t[f->nt++] = t;
  return 0;
}

static int jheader(jp *J) {
  char b[24];
  int more = 1, r, have_meta = 0;
  jws(J);
  if (J->p >= J->e || *J->p != '{')
    return jerr(J, NNCL_EFORMAT, J->p, "the header must be a JSON object, got %s", jshow(J, J->p, b));
  J->p++;
  jws(J);
  if (J->p < J->e && *J->p == '}') J->p++, more = 0;
  while (more) {
    char *key;
    jws(J);
    const unsigned char *at = J->p;
    if ((r = jstring(J, &key)) || (r = jexpect(J, ':', "after a tensor name"))) return r;
    if (!strcmp(key, "__metadata__")) {
      if (have_meta++) return jerr(J, NNCL_EFORMAT, at, "__metadata__ given twice");
      r = jmeta(J);
    } else {
      r = jtensor(J, key, at);
    }
    if (r || (r = jnext(J, '}', "in the header object", &more))) return r;
  }
  jws(J);
  if (J->p < J->e)
    return jerr(J, NNCL_EFORMAT, J->p, "unexpected %s after the JSON header", jshow(J, J->p, b));
  return 0;
}

/* ---- index checks over all tensors ------------------------------------------------ */

static int cmp_by_name(const void *a, const void *b) {
  return strcmp((*(const st_entry *const *)a)->name, (*(const st_entry *const *)b)->name);
}

static int cmp_by_offset(const void *a, const void *b) {
  const st_entry *x = *(const st_entry *const *)a, *y = *(const st_entry *const *)b;
  if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
  return (x->end > y->end) - (x->end < y->end);
}

static int cmp_meta(const void *a, const void *b) {
  const st_meta *x = *(const st_meta *const *)a, *y = *(const st_meta *const *)b;
  int c = strcmp(x->kv.key, y->kv.key);
  return c ? c : (x->pos > y->pos) - (x->pos < y->pos);
}

static int check_index(nncl_st_file *f) {
  const char *P = f->path;
  size_t n = f->nt > f->nmeta ? f->nt : f->nmeta;
  const st_entry **tmp = malloc((n ? n : 1) * sizeof *tmp);
  if (!(f->by_name = malloc((f->nt ? f->nt : 1) * sizeof *f->by_name)) || !tmp) {
    free(tmp);
    return nncl_err(f->ctx, NNCL_ENOMEM, "%s: out of memory", P);
  }
  int r = 0;
  for (size_t i = 0; i < f->nt; i++) f->by_name[i] = tmp[i] = &f->t[i];
  qsort(f->by_name, f->nt, sizeof *tmp, cmp_by_name);
  for (size_t i = 1; i < f->nt && !r; i++)
    if (!strcmp(f->by_name[i]->name, f->by_name[i - 1]->name)) {
      const st_entry *x = f->by_name[i], *y = f->by_name[i - 1];
      r = nncl_err(f->ctx, NNCL_EFORMAT, "%s: offset %zu: tensor name '%.*s' given twice", P,
                   x->pos > y->pos ? x->pos : y->pos, SHOW_MAX, x->name);
    }
  qsort(tmp, f->nt, sizeof *tmp, cmp_by_offset);
  const st_entry *last = NULL; /* the tensor reaching furthest so far */
  for (size_t i = 0; i < f->nt && !r; i++) {
    const st_entry *x = tmp[i];
    if (last && x->begin < last->end && x->end > x->begin)
      r = nncl_err(f->ctx, NNCL_EFORMAT,
                   "%s: offset %zu: tensors '%.*s' [%llu, %llu] and '%.*s' [%llu, %llu] overlap", P,
                   x->pos > last->pos ? x->pos : last->pos, SHOW_MAX, last->name,
                   (unsigned long long)last->begin, (unsigned long long)last->end, SHOW_MAX, x->name,
                   (unsigned long long)x->begin, (unsigned long long)x->end);
    if (!last || x->end > last->end) last = x;
  }
  const st_meta **mt = (const st_meta **)tmp;
  for (size_t i = 0; i < f->nmeta; i++) mt[i] = &f->meta[i];
  qsort(mt, f->nmeta, sizeof *mt, cmp_meta);
  for (size_t i = 1; i < f->nmeta && !r; i++)
    if (!strcmp(mt[i]->kv.key, mt[i - 1]->kv.key))
      r = nncl_err(f->ctx, NNCL_EFORMAT, "%s: offset %zu: metadata key '%.*s' given twice", P, mt[i]->pos,
                   SHOW_MAX, mt[i]->kv.key);
  free(tmp);
  return r;
}

/* ---- reading ---------------------------------------------------------------------- */

static int read_full(nncl_st_file *f, int fd, void *buf, size_t n, size_t off) {
  unsigned char *p = buf;
  size_t got = 0;
  while (got < n) {
    size_t want = n - got < ((size_t)1 << 30) ? n - got : (size_t)1 << 30;
    ssize_t k = read(fd, p + got, want);
    if (k < 0 && errno == EINTR) continue;
    if (k < 0)
      return nncl_err(f->ctx, NNCL_EIO, "%s: offset %zu: read failed: %s", f->path, off + got,
                      strerror(errno));
    if (k == 0)
      return nncl_err(f->ctx, NNCL_EIO, "%s: offset %zu: file ended early (changed while being read?)",
                      f->path, off + got);
    got += (size_t)k;
  }
  return 0;
}

static int load(nncl_st_file *f, int fd) {
  struct stat st;
  unsigned char h8[8];
  const char *P = f->path;
  if (fstat(fd, &st)) return nncl_err(f->ctx, NNCL_EIO, "%s: %s", P, strerror(errno));
  if (!S_ISREG(st.st_mode)) return nncl_err(f->ctx, NNCL_EIO, "%s: not a regular file", P);
  if ((uint64_t)st.st_size > SIZE_MAX / 2) return nncl_err(f->ctx, NNCL_ELIMIT, "%s: file too large", P);
  size_t size = (size_t)st.st_size;
  if (size < 8)
    return nncl_err(f->ctx, NNCL_EFORMAT,
                    "%s: offset %zu: file of %zu bytes ends before the 8-byte header length", P, size, size);
  int r = read_full(f, fd, h8, 8, 0);
  if (r) return r;
  uint64_t hn = 0;
  for (int i = 7; i >= 0; i--) hn = hn << 8 | h8[i];
  if (hn > size - 8)
    return nncl_err(f->ctx, NNCL_EFORMAT,
                    "%s: offset 0: header length %llu exceeds the %zu bytes that follow", P,
                    (unsigned long long)hn, size - 8);
  if (hn > NNCL_ST_MAX_HEADER)
    return nncl_err(f->ctx, NNCL_ELIMIT, "%s: offset 0: header length %llu exceeds the limit of %d bytes", P,
                    (unsigned long long)hn, NNCL_ST_MAX_HEADER);
  f->data_size = size - 8 - (size_t)hn;
  unsigned char *hdr = malloc((size_t)hn + 1);
  f->strings = malloc((size_t)hn + 1);
  f->data = malloc(f->data_size ? f->data_size : 1);
  if (!hdr || !f->strings || !f->data)
    r = nncl_err(f->ctx, NNCL_ENOMEM, "%s: cannot allocate %zu bytes", P, size);
  if (!r) r = read_full(f, fd, hdr, (size_t)hn, 8);
  if (!r) r = read_full(f, fd, f->data, f->data_size, 8 + (size_t)hn);
  if (!r) {
    jp J = {f, hdr, hdr, hdr + hn, 0};
    r = jheader(&J);
  }
  free(hdr);
  return r ? r : check_index(f);
}

int nncl_st_open(struct nncl_ctx *ctx, const char *path, nncl_st_file **out) {
  *out = NULL;
  nncl_st_file *f = calloc(1, sizeof *f);
  if (!f || !(f->path = strdup(path))) {
    free(f);
    return nncl_err(ctx, NNCL_ENOMEM, "%s: out of memory", path);
  }
  f->ctx = ctx;
  int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK); /* a FIFO must not block: load() refuses it */
  int r = fd < 0 ? nncl_err(ctx, NNCL_EIO, "%s: cannot open: %s", path, strerror(errno)) : load(f, fd);
  if (fd >= 0) close(fd);
  if (r) {
    nncl_st_close(f);
    return r;
  }
  *out = f;
  return 0;
}

void nncl_st_close(nncl_st_file *f) {
  if (!f) return;
  free(f->path);
  free(f->strings);
  free(f->data);
  free(f->t);
  free(f->by_name);
  free(f->meta);
  free(f);
}

int nncl_st_count(const nncl_st_file *f) { return (int)f->nt; }

static void fill(const nncl_st_file *f, const st_entry *e, nncl_st_tensor *out) {
  out->name = e->name;
  out->dtype = dtypes[e->dtype].name;
  out->ndim = e->ndim;
  memset(out->shape, 0, sizeof out->shape);
  memcpy(out->shape, e->shape, (size_t)e->ndim * sizeof *e->shape);
  out->data = f->data + e->begin;
  out->bytes = (size_t)(e->end - e->begin);
}

int nncl_st_get(const nncl_st_file *f, int i, nncl_st_tensor *out) {
  if (i < 0 || (size_t)i >= f->nt)
    return nncl_err(f->ctx, NNCL_EINVAL, "%s: tensor index %d out of range [0, %zu)", f->path, i, f->nt);
  fill(f, &f->t[i], out);
  return 0;
}

static int cmp_find(const void *key, const void *elem) {
  return strcmp(key, (*(const st_entry *const *)elem)->name);
}

int nncl_st_find(const nncl_st_file *f, const char *name, nncl_st_tensor *out) {
  const st_entry *const *e = bsearch(name, f->by_name, f->nt, sizeof *f->by_name, cmp_find);
  if (!e) return nncl_err(f->ctx, NNCL_EFORMAT, "%s: no tensor '%.*s'", f->path, SHOW_MAX, name);
  fill(f, *e, out);
  return 0;
}

const char *nncl_st_meta(const nncl_st_file *f, const char *key) {
  for (size_t i = 0; i < f->nmeta; i++)
    if (!strcmp(f->meta[i].kv.key, key)) return f->meta[i].kv.value;
  return NULL;
}

int nncl_st_meta_count(const nncl_st_file *f) { return (int)f->nmeta; }

nncl_st_kv nncl_st_meta_at(const nncl_st_file *f, int i) {
  return i >= 0 && (size_t)i < f->nmeta ? f->meta[i].kv : (nncl_st_kv){NULL, NULL};
}

/* ---- writing ---------------------------------------------------------------------- */

static void json_string(nncl_strbuf *sb, const char *s) {
  const char *run = s;
  nncl_sb_append(sb, "\"", 1);
  for (const char *p = s; *p; p++) {
    unsigned char c = (unsigned char)*p;
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    nncl_sb_append(sb, run, (size_t)(p - run));
    run = p + 1;
    const char *esc = c == '"'    ? "\\\""
                      : c == '\\' ? "\\\\"
                      : c == '\n' ? "\\n"
                      : c == '\r' ? "\\r"
                      : c == '\t' ? "\\t"
                                  : NULL;
    if (esc)
      nncl_sb_append(sb, esc, 2);
    else
      nncl_sb_printf(sb, "\\u%04x", c);
  }
  nncl_sb_append(sb, run, strlen(run));
  nncl_sb_append(sb, "\"", 1);
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

typedef struct layout {
  int size, idx; /* dtype size, index into t */
} layout;

/* Larger elements first, then the caller's order: every tensor starts aligned to its
 * element size (the header length is padded to a multiple of 8). */
static int cmp_layout(const void *a, const void *b) {
  const layout *x = a, *y = b;
  if (x->size != y->size) return y->size - x->size;
  return x->idx - y->idx;
}

/* Validates the arguments; NNCL_EINVAL naming the first bad one. */
static int check_args(struct nncl_ctx *ctx, const char *path, const nncl_st_tensor *t, int nt,
                      const nncl_st_kv *meta, int nmeta) {
  for (int i = 0; i < nt; i++) {
    const nncl_st_tensor *x = &t[i];
    const char *nm = x->name ? x->name : "(null)";
    if (!x->name || !*x->name || !strcmp(x->name, "__metadata__") || !utf8_valid(x->name))
      return nncl_err(ctx, NNCL_EINVAL, "%s: tensor %d: name '%.*s' is empty, reserved or not UTF-8", path, i,
                      SHOW_MAX, nm);
    int size = nncl_st_dtype_size(x->dtype);
    if (!size) return nncl_err(ctx, NNCL_EINVAL, "%s: tensor '%.*s': unknown dtype", path, SHOW_MAX, nm);
    if (x->ndim < 0 || x->ndim > NNCL_ST_MAX_DIMS)
      return nncl_err(ctx, NNCL_EINVAL, "%s: tensor '%.*s': ndim %d not in [0, %d]", path, SHOW_MAX, nm,
                      x->ndim, NNCL_ST_MAX_DIMS);
    int64_t n = 1;
    for (int d = 0; d < x->ndim; d++) {
      int64_t s = x->shape[d];
      if (s < 0 || s > NNCL_MAX_ELEMS || (s && n > NNCL_MAX_ELEMS / s))
        return nncl_err(ctx, NNCL_EINVAL, "%s: tensor '%.*s': invalid shape", path, SHOW_MAX, nm);
      n *= s;
    }
    if ((uint64_t)n * (uint64_t)size != x->bytes || (x->bytes && !x->data))
      return nncl_err(ctx, NNCL_EINVAL, "%s: tensor '%.*s': %zu bytes given, its shape and dtype need %llu",
                      path, SHOW_MAX, nm, x->bytes, (unsigned long long)n * (unsigned long long)size);
  }
  for (int i = 0; i < nmeta; i++)
    if (!meta[i].key || !meta[i].value || !utf8_valid(meta[i].key) || !utf8_valid(meta[i].value))
      return nncl_err(ctx, NNCL_EINVAL, "%s: metadata %d: key or value missing or not UTF-8", path, i);
  int n = nt > nmeta ? nt : nmeta, r = 0;
  const char **names = malloc((size_t)(n ? n : 1) * sizeof *names);
  if (!names) return nncl_err(ctx, NNCL_ENOMEM, "%s: out of memory", path);
  for (int pass = 0; pass < 2 && !r; pass++) {
    int k = pass ? nmeta : nt;
    for (int i = 0; i < k; i++) names[i] = pass ? meta[i].key : t[i].name;
    qsort(names, (size_t)k, sizeof *names, cmp_str);
    for (int i = 1; i < k && !r; i++)
      if (!strcmp(names[i], names[i - 1]))
        r = nncl_err(ctx, NNCL_EINVAL, "%s: %s '%.*s' given twice", path,
                     pass ? "metadata key" : "tensor name", SHOW_MAX, names[i]);
  }
  free(names);
  return r;
}

/* Header JSON padded with spaces to a multiple of 8 bytes; offsets follow `order`. */
static int build_header(struct nncl_ctx *ctx, const char *path, const nncl_st_tensor *t, int nt,
                        const nncl_st_kv *meta, int nmeta, const layout *order, nncl_strbuf *sb) {
  uint64_t *begin = malloc((size_t)(nt ? nt : 1) * sizeof *begin);
  if (!begin) return nncl_err(ctx, NNCL_ENOMEM, "%s: out of memory", path);
  uint64_t off = 0;
  for (int i = 0; i < nt; i++) {
    begin[order[i].idx] = off;
    off += t[order[i].idx].bytes;
  }
  nncl_sb_append(sb, "{", 1);
  if (nmeta) nncl_sb_append(sb, "\"__metadata__\":{", 16);
  for (int i = 0; i < nmeta; i++) {
    if (i) nncl_sb_append(sb, ",", 1);
    json_string(sb, meta[i].key);
    nncl_sb_append(sb, ":", 1);
    json_string(sb, meta[i].value);
  }
  if (nmeta) nncl_sb_append(sb, "}", 1);
  for (int i = 0; i < nt; i++) {
    if (i || nmeta) nncl_sb_append(sb, ",", 1);
    json_string(sb, t[i].name);
    nncl_sb_printf(sb, ":{\"dtype\":\"%s\",\"shape\":[", t[i].dtype);
    for (int d = 0; d < t[i].ndim; d++) nncl_sb_printf(sb, "%s%lld", d ? "," : "", (long long)t[i].shape[d]);
    nncl_sb_printf(sb, "],\"data_offsets\":[%llu,%llu]}", (unsigned long long)begin[i],
                   (unsigned long long)(begin[i] + t[i].bytes));
  }
  nncl_sb_append(sb, "}", 1);
  while (!sb->failed && sb->len % 8) nncl_sb_append(sb, " ", 1);
  free(begin);
  if (sb->failed) return nncl_err(ctx, NNCL_ENOMEM, "%s: out of memory", path);
  if (sb->len > NNCL_ST_MAX_HEADER)
    return nncl_err(ctx, NNCL_ELIMIT, "%s: header of %zu bytes exceeds the limit of %d", path, sb->len,
                    NNCL_ST_MAX_HEADER);
  return 0;
}

static int write_all(int fd, const void *buf, size_t n) {
  const unsigned char *p = buf;
  while (n) {
    ssize_t k = write(fd, p, n < ((size_t)1 << 30) ? n : (size_t)1 << 30);
    if (k < 0 && errno == EINTR) continue;
    if (k < 0) return -1;
    p += k, n -= (size_t)k;
  }
  return 0;
}

/* The directory holding path (malloc'd), NULL when out of memory. */
static char *dir_of(const char *path) {
  const char *slash = strrchr(path, '/');
  return slash ? strndup(path, slash == path ? 1 : (size_t)(slash - path)) : strdup(".");
}

/* fsync of the directory holding path, so the rename survives a crash. */
static int sync_dir(const char *path) {
  char *dir = dir_of(path);
  if (!dir) return -1;
  int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), r = -1;
  free(dir);
  if (fd < 0) return -1;
  r = fsync(fd) && errno != EINVAL ? -1 : 0; /* some file systems cannot sync directories */
  int e = errno;
  close(fd);
  errno = e;
  return r;
}

/* Removes "<path>.tmp.<pid>" files of writers that were killed (no process <pid> exists),
 * so crashed writers leave at most one behind. Best effort: errors are ignored. */
static void remove_stale_tmp(const char *path) {
  const char *slash = strrchr(path, '/'), *base = slash ? slash + 1 : path;
  size_t bl = strlen(base);
  char *dir = dir_of(path);
  DIR *d = dir ? opendir(dir) : NULL;
  struct dirent *e;
  while (d && (e = readdir(d))) {
    const char *num = e->d_name + bl + 5, *p = num;
    if (strncmp(e->d_name, base, bl) || strncmp(e->d_name + bl, ".tmp.", 5)) continue;
    long pid = 0;
    while (*p >= '0' && *p <= '9' && pid < INT_MAX) pid = pid * 10 + (*p++ - '0');
    if (p == num || *p || pid <= 0 || pid >= INT_MAX || pid == (long)getpid()) continue;
    if (kill((pid_t)pid, 0) && errno == ESRCH) unlinkat(dirfd(d), e->d_name, 0);
  }
  if (d) closedir(d);
  free(dir);
}

int nncl_st_write(struct nncl_ctx *ctx, const char *path, const nncl_st_tensor *t, int nt,
                  const nncl_st_kv *meta, int nmeta) {
  if (!path || nt < 0 || nmeta < 0 || (nt && !t) || (nmeta && !meta))
    return nncl_err(ctx, NNCL_EINVAL, "nncl_st_write: invalid arguments");
  int r = check_args(ctx, path, t, nt, meta, nmeta);
  if (r) return r;
  layout *order = malloc((size_t)(nt ? nt : 1) * sizeof *order);
  char *tmp = malloc(strlen(path) + 32);
  nncl_strbuf sb = {0};
  if (!order || !tmp) {
    free(order);
    free(tmp);
    return nncl_err(ctx, NNCL_ENOMEM, "%s: out of memory", path);
  }
  for (int i = 0; i < nt; i++) order[i] = (layout){nncl_st_dtype_size(t[i].dtype), i};
  qsort(order, (size_t)nt, sizeof *order, cmp_layout);
  if ((r = build_header(ctx, path, t, nt, meta, nmeta, order, &sb))) goto done;

  unsigned char h8[8];
  for (int i = 0; i < 8; i++) h8[i] = (unsigned char)((uint64_t)sb.len >> (8 * i));
  snprintf(tmp, strlen(path) + 32, "%s.tmp.%ld", path, (long)getpid());
  const char *what = "cannot create";
  int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
  if (fd < 0 && errno == EEXIST && !unlink(tmp)) /* left by a crashed process with our pid */
    fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
  if (fd < 0) {
    r = nncl_err(ctx, NNCL_EIO, "%s: %s '%s': %s", path, what, tmp, strerror(errno));
    goto done;
  }
  int fail = write_all(fd, h8, 8) || write_all(fd, sb.s, sb.len);
  for (int i = 0; i < nt && !fail; i++) fail = write_all(fd, t[order[i].idx].data, t[order[i].idx].bytes);
  what = "cannot write";
  if (!fail && fsync(fd)) fail = 1, what = "cannot fsync";
  int e = errno;
  if (close(fd) && !fail) fail = 1, what = "cannot close", e = errno;
  if (!fail && rename(tmp, path)) fail = 1, what = "cannot rename the temporary file over it", e = errno;
  if (fail) {
    unlink(tmp);
    r = nncl_err(ctx, NNCL_EIO, "%s: %s: %s", path, what, strerror(e));
  } else if (sync_dir(path)) {
    r = nncl_err(ctx, NNCL_EIO, "%s: cannot fsync its directory: %s", path, strerror(errno));
  } else {
    remove_stale_tmp(path);
  }
done:
  nncl_sb_free(&sb);
  free(order);
  free(tmp);
  return r;
}
