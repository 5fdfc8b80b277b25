/* modelfile.h - syntax layer of the text model description (no knowledge of layers).
 *
 * Syntax, one layer per line:
 *     kind key=value key=value ...   # comment
 *  - '#' outside a quoted string starts a comment to the end of the line; blank and
 *    comment-only lines are ignored; "\r\n" line ends are accepted.
 *  - kind and keys are identifiers [A-Za-z_][A-Za-z0-9_]*; '=' follows the key directly.
 *  - a value is either a bare token of printable ASCII without spaces, '"', '#' or '='
 *    (numbers, identifiers, comma lists such as shape=1,28,28 or from=a,b), or a
 *    double-quoted string with the escapes \" and \\ (any other byte but control
 *    characters allowed inside, UTF-8 included).
 *  - a key appears at most once per line.
 *  - limits: NNCL_MF_MAX_LINE bytes per line, NNCL_MF_MAX_LINES lines; NUL bytes and
 *    control characters other than tab and CR are refused.
 * Errors are NNCL_EFORMAT (NNCL_ELIMIT for the limits) with the message
 * "<name>:<line>:<col>: <what>"; lines and columns count from 1, columns in bytes.
 */
#ifndef NNCL_MODELFILE_H
#define NNCL_MODELFILE_H

#include <stddef.h>
#include <stdint.h>

struct nncl_ctx;

#define NNCL_MF_MAX_LINE 4096
#define NNCL_MF_MAX_LINES 100000

typedef struct nncl_mf_kv {
  char *key;
  char *value;   /* unquoted and unescaped */
  int line, col; /* position of the key; the value starts at col + strlen(key) + 1 */
} nncl_mf_kv;

typedef struct nncl_mf_line {
  char *kind;
  int line, col; /* position of the kind */
  int nkv;
  nncl_mf_kv *kv; /* in the order written */
} nncl_mf_line;

typedef struct nncl_mf {
  int nlines; /* non-blank lines only */
  nncl_mf_line *lines;
  const char *name; /* copy of the name given to nncl_mf_parse */
  char *strings;    /* owns every string above */
  nncl_mf_kv *kvs;  /* owns every kv array above */
} nncl_mf;

/* Parses len bytes of text (need not be NUL-terminated). name labels messages (e.g. the
 * file name; NULL means "<model>"). On success *out owns its memory (nncl_mf_free);
 * on failure *out is empty and needs no free. */
int nncl_mf_parse(struct nncl_ctx *ctx, const char *text, size_t len, const char *name, nncl_mf *out);
/* Frees what nncl_mf_parse allocated and empties mf; accepts an empty or NULL mf. */
void nncl_mf_free(nncl_mf *mf);

/* The value of key on line l, NULL if absent. */
const char *nncl_mf_get(const nncl_mf_line *l, const char *key);

/* Typed getters. Absent key: *out = dflt and 0. Present: the parsed value, or
 * NNCL_EFORMAT with "<name>:<line>:<col>: key 'units' expects a positive integer, got 'abc'"
 * pointing at the value. */
/* Decimal integer in [min, max]. */
int nncl_mf_int(struct nncl_ctx *ctx, const nncl_mf *mf, const nncl_mf_line *l, const char *key, int64_t dflt,
                int64_t min, int64_t max, int64_t *out);
/* Finite decimal number ("0.5", "-1e-3"), independent of the C locale. */
int nncl_mf_float(struct nncl_ctx *ctx, const nncl_mf *mf, const nncl_mf_line *l, const char *key,
                  double dflt, double *out);
/* Comma list of 1..max decimal integers into vals[0..*n); absent key: *n = 0 and 0. */
int nncl_mf_ints(struct nncl_ctx *ctx, const nncl_mf *mf, const nncl_mf_line *l, const char *key, int max,
                 int64_t *vals, int *n);
/* known: NULL-terminated list of the keys the layer kind accepts. Fails (NNCL_EFORMAT)
 * naming the first key of l not in known, with a suggestion when one is close. */
int nncl_mf_check_keys(struct nncl_ctx *ctx, const nncl_mf *mf, const nncl_mf_line *l,
                       const char *const *known);

/* ---- writing -------------------------------------------------------------------- */

/* A growing NUL-terminated string. Start from {0}; s is malloc'd (caller frees, or
 * nncl_sb_free). On allocation failure `failed` is set, later appends are ignored and the
 * content is incomplete: check failed before using s. */
typedef struct nncl_strbuf {
  char *s;
  size_t len, cap;
  int failed;
} nncl_strbuf;

void nncl_sb_printf(nncl_strbuf *sb, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
void nncl_sb_append(nncl_strbuf *sb, const char *s, size_t n);
void nncl_sb_free(nncl_strbuf *sb);
/* Appends v as a model-file value: bare if it is a valid bare token, else quoted and
 * escaped ("" when empty). Returns 0, or NNCL_EINVAL appending nothing when v holds a
 * control character (not representable on one line). */
int nncl_sb_value(nncl_strbuf *sb, const char *v);

#endif
