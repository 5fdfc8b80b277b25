/* test_modelfile.c - model description syntax: good files, every error with its
 * line:column, garbage bytes and random mutations (never a crash), value round trips. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "modelfile.h"
#include "filetest.h"
#include "nncl.h"

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static uint32_t rnd(void) {
  rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
  return (uint32_t)(rng >> 16);
}

static void test_good(nncl_ctx *ctx) {
  const char *text = "# a comment line\n"
                     "\n"
                     "input shape=1,28,28   # trailing comment\r\n"
                     "  dense units=128 act=relu name=\"fc 1\"\n"
                     "\tdropout rate=0.25\n"
                     "dense units=10 text=\"say \\\"hi\\\" \\\\ # not a comment\" x=-3\n"
                     "softmax";
  nncl_mf mf;
  int r = nncl_mf_parse(ctx, text, strlen(text), "net.txt", &mf);
  CHECK(r == 0, "parse failed: %s", nncl_errmsg(ctx));
  if (r) return;
  CHECK(mf.nlines == 5, "nlines %d", mf.nlines);
  CHECK(!strcmp(mf.name, "net.txt"), "name %s", mf.name);
  const nncl_mf_line *l = &mf.lines[0];
  CHECK(!strcmp(l->kind, "input") && l->line == 3 && l->col == 1 && l->nkv == 1, "line0 %s %d:%d", l->kind,
        l->line, l->col);
  CHECK(!strcmp(nncl_mf_get(l, "shape"), "1,28,28"), "shape");
  int64_t v[8];
  int n;
  CHECK(!nncl_mf_ints(ctx, &mf, l, "shape", 3, v, &n) && n == 3 && v[0] == 1 && v[1] == 28 && v[2] == 28,
        "ints");
  CHECK(nncl_mf_ints(ctx, &mf, l, "shape", 2, v, &n) == NNCL_EFORMAT, "ints max");
  CHECK(strstr(nncl_errmsg(ctx), "net.txt:3:13: key 'shape' expects at most 2"), "msg %s", nncl_errmsg(ctx));
  CHECK(!nncl_mf_ints(ctx, &mf, l, "absent", 3, v, &n) && n == 0, "ints absent");
  l = &mf.lines[1];
  CHECK(!strcmp(l->kind, "dense") && l->line == 4 && l->col == 3 && l->nkv == 3, "line1");
  CHECK(!strcmp(nncl_mf_get(l, "name"), "fc 1") && l->kv[2].col == 28, "quoted %d", l->kv[2].col);
  int64_t units;
  CHECK(!nncl_mf_int(ctx, &mf, l, "units", 0, 1, INT64_MAX, &units) && units == 128, "units");
  CHECK(!nncl_mf_int(ctx, &mf, l, "nope", 7, 1, 9, &units) && units == 7, "default");
  CHECK(nncl_mf_int(ctx, &mf, l, "act", 0, 1, INT64_MAX, &units) == NNCL_EFORMAT, "int of ident");
  CHECK(!strcmp(nncl_errmsg(ctx), "net.txt:4:23: key 'act' expects a positive integer, got 'relu'"), "msg %s",
        nncl_errmsg(ctx));
  CHECK(nncl_mf_int(ctx, &mf, l, "units", 0, 1, 100, &units) == NNCL_EFORMAT &&
            strstr(nncl_errmsg(ctx), "an integer in [1, 100], got '128'"),
        "range: %s", nncl_errmsg(ctx));
  const char *known[] = {"units", "act", "name", NULL}, *few[] = {"units", "ack", NULL}, *none[] = {NULL};
  CHECK(!nncl_mf_check_keys(ctx, &mf, l, known), "keys");
  CHECK(nncl_mf_check_keys(ctx, &mf, l, few) == NNCL_EFORMAT &&
            !strcmp(nncl_errmsg(ctx), "net.txt:4:19: unknown key 'act' for 'dense'; did you mean 'ack'?"),
        "suggest: %s", nncl_errmsg(ctx));
  CHECK(nncl_mf_check_keys(ctx, &mf, l, none) == NNCL_EFORMAT && strstr(nncl_errmsg(ctx), "takes no keys"),
        "none: %s", nncl_errmsg(ctx));
  l = &mf.lines[2];
  double d;
  CHECK(!strcmp(l->kind, "dropout") && l->col == 2, "tab col %d", l->col);
  CHECK(!nncl_mf_float(ctx, &mf, l, "rate", 0, &d) && d == 0.25, "float %g", d);
  l = &mf.lines[3];
  CHECK(!strcmp(nncl_mf_get(l, "text"), "say \"hi\" \\ # not a comment"), "escapes '%s'",
        nncl_mf_get(l, "text"));
  CHECK(!nncl_mf_int(ctx, &mf, l, "x", 0, INT64_MIN, INT64_MAX, &units) && units == -3, "negative");
  CHECK(nncl_mf_int(ctx, &mf, l, "x", 0, 0, INT64_MAX, &units) == NNCL_EFORMAT &&
            strstr(nncl_errmsg(ctx), "a non-negative integer"),
        "%s", nncl_errmsg(ctx));
  CHECK(nncl_mf_check_keys(ctx, &mf, l, known) == NNCL_EFORMAT &&
            strstr(nncl_errmsg(ctx),
                   "net.txt:6:16: unknown key 'text' for 'dense'; known keys: units, act, name"),
        "list: %s", nncl_errmsg(ctx));
  CHECK(!strcmp(mf.lines[4].kind, "softmax") && mf.lines[4].nkv == 0 && mf.lines[4].kv == NULL, "last line");
  nncl_mf_free(&mf);
  nncl_mf_free(&mf); /* emptied: a second free is harmless */

  CHECK(!nncl_mf_parse(ctx, "", 0, NULL, &mf) && mf.nlines == 0, "empty text");
  nncl_mf_free(&mf);
  CHECK(!nncl_mf_parse(ctx, "\n \n# x\n", 7, NULL, &mf) && mf.nlines == 0, "blank text");
  nncl_mf_free(&mf);
}

static void test_numbers(nncl_ctx *ctx) {
  static const struct {
    const char *v;
    int ok;
    double want;
  } fl[] = {{"0.5", 1, 0.5}, {"-1e-3", 1, -1e-3}, {"+2", 1, 2},  {".5", 1, 0.5}, {"5.", 1, 5},
            {"1E2", 1, 100}, {"1.2.3", 0, 0},     {"nan", 0, 0}, {"inf", 0, 0},  {"1e999", 0, 0},
            {"0x10", 0, 0},  {"1e", 0, 0},        {".", 0, 0},   {"-", 0, 0},    {"1,2", 0, 0}};
  static const struct {
    const char *v;
    int ok;
    int64_t want;
  } in[] = {{"9223372036854775807", 1, INT64_MAX},
            {"-9223372036854775808", 1, INT64_MIN},
            {"9223372036854775808", 0, 0},
            {"+5", 1, 5},
            {"1.0", 0, 0},
            {"1e3", 0, 0},
            {"", 0, 0},
            {"--1", 0, 0}};
  char text[128];
  nncl_mf mf;
  for (size_t i = 0; i < sizeof fl / sizeof *fl; i++) {
    snprintf(text, sizeof text, "k v=%s", fl[i].v);
    double d = -7;
    int r = nncl_mf_parse(ctx, text, strlen(text), "f", &mf);
    if (r) { /* only the empty value is a syntax error */
      CHECK(0, "parse '%s': %s", text, nncl_errmsg(ctx));
      continue;
    }
    r = nncl_mf_float(ctx, &mf, &mf.lines[0], "v", 1, &d);
    CHECK(fl[i].ok ? r == 0 && d == fl[i].want : r == NNCL_EFORMAT, "float '%s' -> %d %g", fl[i].v, r, d);
    if (!fl[i].ok)
      CHECK(strstr(nncl_errmsg(ctx), "f:1:5: key 'v' expects a finite decimal number"), "%s",
            nncl_errmsg(ctx));
    nncl_mf_free(&mf);
  }
  for (size_t i = 0; i < sizeof in / sizeof *in; i++) {
    snprintf(text, sizeof text, "k v=\"%s\"", in[i].v);
    int64_t x = -7;
    if (nncl_mf_parse(ctx, text, strlen(text), "f", &mf)) {
      CHECK(0, "parse '%s': %s", text, nncl_errmsg(ctx));
      continue;
    }
    int r = nncl_mf_int(ctx, &mf, &mf.lines[0], "v", 1, INT64_MIN, INT64_MAX, &x);
    CHECK(in[i].ok ? r == 0 && x == in[i].want : r == NNCL_EFORMAT, "int '%s' -> %d %lld", in[i].v, r,
          (long long)x);
    nncl_mf_free(&mf);
  }
  const char *bad_lists[] = {"1,,2", ",1", "1,", "a", "1,2,3,4"};
  for (size_t i = 0; i < sizeof bad_lists / sizeof *bad_lists; i++) {
    int64_t v[3];
    int n = -1;
    snprintf(text, sizeof text, "k v=%s", bad_lists[i]);
    if (nncl_mf_parse(ctx, text, strlen(text), "f", &mf)) {
      CHECK(0, "parse '%s': %s", text, nncl_errmsg(ctx));
      continue;
    }
    CHECK(nncl_mf_ints(ctx, &mf, &mf.lines[0], "v", 3, v, &n) == NNCL_EFORMAT && n == 0, "list '%s' accepted",
          bad_lists[i]);
    nncl_mf_free(&mf);
  }
}

/* Each bad text fails with status and a message starting "bad.txt:<line>:<col>: " and
 * holding `what`. */
static void test_errors(nncl_ctx *ctx) {
  static const struct {
    const char *text;
    size_t len; /* 0: strlen */
    int status, line, col;
    const char *what;
  } cases[] = {
      {"dense units=10 units=20", 0, NNCL_EFORMAT, 1, 16, "duplicate key 'units' (first given at column 7)"},
      {"a x=1 b=2 c=3 b=4 x=5", 0, NNCL_EFORMAT, 1, 15, "duplicate key 'b'"},
      {"dense units", 0, NNCL_EFORMAT, 1, 12,
       "expected '=' right after key 'units', got the end of the line"},
      {"dense units =10", 0, NNCL_EFORMAT, 1, 12, "expected '=' right after key 'units', got a space"},
      {"dense units=", 0, NNCL_EFORMAT, 1, 13, "missing value for key 'units'"},
      {"dense units= act=relu", 0, NNCL_EFORMAT, 1, 13, "missing value"},
      {"dense units=#", 0, NNCL_EFORMAT, 1, 13, "missing value"},
      {"dense name=\"abc", 0, NNCL_EFORMAT, 1, 12, "unterminated string"},
      {"dense name=\"abc\\", 0, NNCL_EFORMAT, 1, 12, "unterminated string"},
      {"dense name=\"a\\nb\"", 0, NNCL_EFORMAT, 1, 14, "unknown escape"},
      {"dense name=\"a\tb\"", 0, NNCL_EFORMAT, 1, 14, "inside a quoted string"},
      {"3dense", 0, NNCL_EFORMAT, 1, 1, "expected a layer kind"},
      {"  =x", 0, NNCL_EFORMAT, 1, 3, "expected a layer kind"},
      {"dense 3=4", 0, NNCL_EFORMAT, 1, 7, "expected key=value, got '3'"},
      {"dense a=b\"c", 0, NNCL_EFORMAT, 1, 10, "'\"' is not allowed in a bare value"},
      {"dense a=b=c", 0, NNCL_EFORMAT, 1, 10, "'=' is not allowed"},
      {"dense a=\xc3\xa9", 0, NNCL_EFORMAT, 1, 9, "byte 0xc3 is not allowed"},
      {"dense a=\"x\"y", 0, NNCL_EFORMAT, 1, 12, "unexpected 'y' after the closing quote"},
      {"dense@ a=1", 0, NNCL_EFORMAT, 1, 6, "unexpected '@' after the layer kind"},
      {"dense\xff", 0, NNCL_EFORMAT, 1, 6, "byte 0xff"},
      {"\n\ndense a=1\x01", 0, NNCL_EFORMAT, 3, 10, "byte 0x01 is not allowed"},
      {"dense a=1 # \x1b[31m", 0, NNCL_EFORMAT, 1, 13, "byte 0x1b"},
      {"dense a=1\0 b=2", 14, NNCL_EFORMAT, 1, 10, "a NUL byte is not allowed"},
      {"x\n\x7f", 0, NNCL_EFORMAT, 2, 1, "byte 0x7f"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    nncl_mf mf;
    size_t len = cases[i].len ? cases[i].len : strlen(cases[i].text);
    int r = nncl_mf_parse(ctx, cases[i].text, len, "bad.txt", &mf);
    char pre[64];
    snprintf(pre, sizeof pre, "bad.txt:%d:%d: ", cases[i].line, cases[i].col);
    const char *m = nncl_errmsg(ctx);
    CHECK(r == cases[i].status && !strncmp(m, pre, strlen(pre)) && strstr(m, cases[i].what),
          "case %zu: got %d '%s', want %d '%s%s'", i, r, m, cases[i].status, pre, cases[i].what);
    CHECK(mf.nlines == 0 && !mf.lines && !mf.strings, "case %zu: out not emptied", i);
    if (!r) nncl_mf_free(&mf);
  }

  /* limits */
  size_t big = (size_t)NNCL_MF_MAX_LINES + 1;
  char *t = malloc(big + NNCL_MF_MAX_LINE + 8);
  nncl_mf mf;
  memset(t, 'a', NNCL_MF_MAX_LINE + 1);
  CHECK(nncl_mf_parse(ctx, t, NNCL_MF_MAX_LINE, "L", &mf) == 0 && mf.nlines == 1, "longest line: %s",
        nncl_errmsg(ctx));
  nncl_mf_free(&mf);
  CHECK(nncl_mf_parse(ctx, t, NNCL_MF_MAX_LINE + 1, "L", &mf) == NNCL_ELIMIT &&
            strstr(nncl_errmsg(ctx), "L:1:4097: line longer than 4096 bytes"),
        "long line: %s", nncl_errmsg(ctx));
  memset(t, '\n', big);
  CHECK(nncl_mf_parse(ctx, t, big - 1, "L", &mf) == 0, "max lines: %s", nncl_errmsg(ctx));
  nncl_mf_free(&mf);
  CHECK(nncl_mf_parse(ctx, t, big, "L", &mf) == NNCL_ELIMIT &&
            strstr(nncl_errmsg(ctx), "L:100001:1: more than 100000 lines"),
        "too many lines: %s", nncl_errmsg(ctx));
  free(t);
}

/* Parses text; on success checks the invariants of the result, on failure the message. */
static void parse_anything(nncl_ctx *ctx, const char *text, size_t len, const char *what) {
  nncl_mf mf;
  int r = nncl_mf_parse(ctx, text, len, "fuzz", &mf);
  if (r) {
    CHECK((r == NNCL_EFORMAT || r == NNCL_ELIMIT) && !strncmp(nncl_errmsg(ctx), "fuzz:", 5), "%s: %d %s",
          what, r, nncl_errmsg(ctx));
    return;
  }
  for (int i = 0; i < mf.nlines; i++) {
    const nncl_mf_line *l = &mf.lines[i];
    CHECK(l->kind[0] && l->line >= 1 && l->col >= 1, "%s: line %d", what, i);
    for (int k = 0; k < l->nkv; k++) {
      CHECK(l->kv[k].key[0] && nncl_mf_get(l, l->kv[k].key) == l->kv[k].value, "%s: kv", what);
      int64_t v[4], x;
      int n;
      double d;
      nncl_mf_int(ctx, &mf, l, l->kv[k].key, 0, 1, 100, &x);
      nncl_mf_float(ctx, &mf, l, l->kv[k].key, 0, &d);
      nncl_mf_ints(ctx, &mf, l, l->kv[k].key, 4, v, &n);
    }
  }
  nncl_mf_free(&mf);
}

static void test_fuzz(nncl_ctx *ctx) {
  char buf[512];
  for (int it = 0; it < 3000; it++) { /* raw garbage */
    size_t n = rnd() % sizeof buf;
    for (size_t i = 0; i < n; i++) buf[i] = (char)rnd();
    char label[80];
    snprintf(label, sizeof label, "garbage %d (xorshift seed 0x9E3779B97F4A7C15)", it);
    parse_anything(ctx, buf, n, label);
  }
  const char *good = "input shape=1,28,28 # x\nconv filters=8 size=3 name=\"c 1\"\ndense units=10 act=relu\n";
  size_t gl = strlen(good);
  const char alphabet[] = " \t\r\n#=\"\\,a1_-.\xff";
  for (int it = 0; it < 20000; it++) { /* mutations of a good file */
    memcpy(buf, good, gl);
    size_t n = gl;
    for (int m = 1 + (int)(rnd() % 4); m > 0; m--) {
      size_t at = rnd() % (n + 1);
      char c = rnd() % 2 ? alphabet[rnd() % (sizeof alphabet - 1)] : (char)rnd();
      switch (rnd() % 4) {
      case 0:
        if (at < n) buf[at] = c;
        break;
      case 1:
        if (n < sizeof buf - 1) {
          memmove(buf + at + 1, buf + at, n - at);
          buf[at] = c;
          n++;
        }
        break;
      case 2:
        if (at < n) {
          memmove(buf + at, buf + at + 1, n - at - 1);
          n--;
        }
        break;
      default: n = at;
      }
    }
    char label[80];
    snprintf(label, sizeof label, "mutation %d (xorshift seed 0x9E3779B97F4A7C15)", it);
    parse_anything(ctx, buf, n, label);
  }
}

/* nncl_sb_value writes any control-free string so that it parses back unchanged. */
static void test_values(nncl_ctx *ctx) {
  const char *fixed[] = {"plain", "",    "with space",  "q\"uote", "back\\slash",
                         "#hash", "a=b", "caf\xc3\xa9", "\\\"",    "x#"};
  for (int it = 0; it < 2000; it++) {
    char v[40];
    const char *val = v;
    if (it < (int)(sizeof fixed / sizeof *fixed)) {
      val = fixed[it];
    } else {
      size_t n = rnd() % 12;
      for (size_t i = 0; i < n; i++) v[i] = (char)(0x20 + rnd() % 0x5f);
      v[n] = 0;
    }
    nncl_strbuf sb = {0};
    nncl_sb_printf(&sb, "layer k=");
    CHECK(nncl_sb_value(&sb, val) == 0, "value '%s'", val);
    nncl_sb_printf(&sb, " z=%d\n", it);
    nncl_mf mf;
    int r = nncl_mf_parse(ctx, sb.s, sb.len, "v", &mf);
    CHECK(!sb.failed && r == 0, "'%s' -> '%s': %s", val, sb.s, nncl_errmsg(ctx));
    if (!r) {
      CHECK(!strcmp(nncl_mf_get(&mf.lines[0], "k"), val), "'%s' came back as '%s'", val,
            nncl_mf_get(&mf.lines[0], "k"));
      nncl_mf_free(&mf);
    }
    nncl_sb_free(&sb);
  }
  nncl_strbuf sb = {0};
  CHECK(nncl_sb_value(&sb, "line\nbreak") == NNCL_EINVAL && sb.len == 0, "control character accepted");
  for (int i = 0; i < 10000; i++) nncl_sb_printf(&sb, "%d,", i);
  CHECK(!sb.failed && sb.len == strlen(sb.s) && !strncmp(sb.s + sb.len - 5, "9999,", 5), "strbuf growth");
  nncl_sb_free(&sb);
}

int main(void) {
  nncl_ctx *ctx;
  if (ft_open_c(&ctx)) return 1;
  test_good(ctx);
  test_numbers(ctx);
  test_errors(ctx);
  test_fuzz(ctx);
  test_values(ctx);
  nncl_ctx_destroy(ctx);
  return ft_verdict();
}
