/* test_safetensors.c - round trip, a file written by Python's safetensors, hostile files
 * (truncations, corruptions, malformed JSON, bad offsets and shapes) and failing writes
 * that must leave an existing file untouched. */
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "filetest.h"
#include "nncl.h"
#include "safetensors.h"

static char dir[512];
static volatile unsigned char sink; /* reads of every byte a corrupted file hands out */
static const char *in_dir(const char *name, char buf[1024]) {
  snprintf(buf, 1024, "%s/%s", dir, name);
  return buf;
}

static unsigned char *read_bytes(const char *path, size_t *n) {
  FILE *f = fopen(path, "rb");
  unsigned char *b = NULL;
  *n = 0;
  if (!f) return NULL;
  if (!fseek(f, 0, SEEK_END)) {
    long len = ftell(f);
    rewind(f);
    if (len >= 0 && (b = malloc((size_t)len + 1)) && fread(b, 1, (size_t)len, f) == (size_t)len)
      *n = (size_t)len;
  }
  fclose(f);
  return b;
}

/* A file from a header and a data section. */
static void make_st(const char *path, const char *hdr, size_t hn, const void *data, size_t dn) {
  unsigned char *b = malloc(8 + hn + dn + 1);
  for (int i = 0; i < 8; i++) b[i] = (unsigned char)((uint64_t)hn >> (8 * i));
  memcpy(b + 8, hdr, hn);
  if (dn) memcpy(b + 8 + hn, data, dn);
  if (ft_write(path, b, 8 + hn + dn)) printf("cannot write %s\n", path), exit(1);
  free(b);
}

/* Files in dir other than the ones named: leftovers of a failed write. */
static int count_tmp(void) {
  char cmd[1100];
  snprintf(cmd, sizeof cmd, "ls -a '%s' | grep -c '\\.tmp\\.'", dir);
  FILE *p = popen(cmd, "r");
  int n = -1;
  if (p) {
    if (fscanf(p, "%d", &n) != 1) n = -1;
    pclose(p);
  }
  return n;
}

static float w6[6] = {0.5f, -1.25f, 3.0f, 1e-30f, -0.0f, 42.0f};
static int32_t s1 = -7;
static int64_t big3[3] = {1, -1, INT64_MAX};
static uint8_t u5[5] = {0, 1, 127, 128, 255};
static const char *model_text =
    "input shape=1,28,28\ndense units=10 name=\"a \\\"b\\\"\"\n# comment\twith tab \x01\x1f";
static const char *odd_name = "caf\xc3\xa9 \"q\"\\\n\xf0\x9f\x98\x80";

static int round_trip(nncl_ctx *ctx, const char *path) {
  nncl_st_tensor t[] = {
      {"u8", "U8", 1, {5}, u5, 5},          {"weight", "F32", 2, {2, 3}, w6, sizeof w6},
      {"scalar", "I32", 0, {0}, &s1, 4},    {"i64", "I64", 1, {3}, big3, sizeof big3},
      {"empty", "F32", 2, {0, 3}, NULL, 0}, {odd_name, "F32", 1, {1}, w6, 4},
  };
  nncl_st_kv meta[] = {
      {"model", model_text}, {"epoch", "3"}, {"unicode", "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"}};
  int nt = (int)(sizeof t / sizeof *t);
  int r = nncl_st_write(ctx, path, t, nt, meta, 3);
  CHECK(r == 0, "write: %s", nncl_errmsg(ctx));
  if (r) return r;
  size_t n;
  unsigned char *raw = read_bytes(path, &n);
  uint64_t hn = 0;
  for (int i = 7; i >= 0; i--) hn = hn << 8 | raw[i];
  CHECK(hn % 8 == 0 && raw[8] == '{' && hn + 8 <= n, "header length %llu", (unsigned long long)hn);
  free(raw);

  nncl_st_file *f;
  r = nncl_st_open(ctx, path, &f);
  CHECK(r == 0, "open: %s", nncl_errmsg(ctx));
  if (r) return r;
  CHECK(nncl_st_count(f) == nt, "count %d", nncl_st_count(f));
  for (int i = 0; i < nt && i < nncl_st_count(f); i++) {
    nncl_st_tensor g, h;
    CHECK(!nncl_st_get(f, i, &g), "get %d", i);
    CHECK(!strcmp(g.name, t[i].name) && !strcmp(g.dtype, t[i].dtype) && g.ndim == t[i].ndim &&
              g.bytes == t[i].bytes,
          "tensor %d: %s %s ndim %d bytes %zu", i, g.name, g.dtype, g.ndim, g.bytes);
    CHECK(!memcmp(g.shape, t[i].shape, sizeof(int64_t) * (size_t)t[i].ndim), "shape of %s", g.name);
    CHECK(!g.bytes || !memcmp(g.data, t[i].data, g.bytes), "data of %s", g.name);
    CHECK((uintptr_t)g.data % (uintptr_t)nncl_st_dtype_size(g.dtype) == 0, "%s misaligned", g.name);
    CHECK(!nncl_st_find(f, t[i].name, &h) && h.data == g.data && h.bytes == g.bytes, "find %s", g.name);
  }
  nncl_st_tensor g;
  CHECK(nncl_st_find(f, "nope", &g) == NNCL_EFORMAT && strstr(nncl_errmsg(ctx), "no tensor 'nope'"),
        "find missing: %s", nncl_errmsg(ctx));
  CHECK(nncl_st_get(f, nt, &g) == NNCL_EINVAL && nncl_st_get(f, -1, &g) == NNCL_EINVAL, "get out of range");
  CHECK(nncl_st_meta_count(f) == 3, "meta count");
  for (int i = 0; i < 3; i++) {
    const char *v = nncl_st_meta(f, meta[i].key);
    CHECK(v && !strcmp(v, meta[i].value), "meta %s = '%s'", meta[i].key, v ? v : "(null)");
    CHECK(!strcmp(nncl_st_meta_at(f, i).key, meta[i].key), "meta order");
  }
  CHECK(!nncl_st_meta(f, "absent") && !nncl_st_meta_at(f, 3).key, "absent meta");
  nncl_st_close(f);

  /* nothing at all */
  char b[1024];
  CHECK(!nncl_st_write(ctx, in_dir("empty.safetensors", b), NULL, 0, NULL, 0), "write empty: %s",
        nncl_errmsg(ctx));
  CHECK(!nncl_st_open(ctx, b, &f) && nncl_st_count(f) == 0 && nncl_st_meta_count(f) == 0, "open empty: %s",
        nncl_errmsg(ctx));
  nncl_st_close(f);
  return 0;
}

static void python_file(nncl_ctx *ctx) {
  const char *d = getenv("NNCL_TEST_DATA");
  char path[1024];
  snprintf(path, sizeof path, "%s/python.safetensors", d ? d : "tests/data");
  nncl_st_file *f;
  if (nncl_st_open(ctx, path, &f)) {
    CHECK(0, "open python file: %s", nncl_errmsg(ctx));
    return;
  }
  nncl_st_tensor t;
  float w[6];
  CHECK(!nncl_st_find(f, "w", &t) && !strcmp(t.dtype, "F32") && t.ndim == 2 && t.shape[0] == 2 &&
            t.shape[1] == 3 && t.bytes == 24,
        "w");
  memcpy(w, t.data, sizeof w);
  for (int i = 0; i < 6; i++) CHECK(w[i] == i / 4.0f - 0.5f, "w[%d] = %g", i, w[i]);
  int64_t b[3];
  CHECK(!nncl_st_find(f, "b", &t) && !strcmp(t.dtype, "I64") && t.bytes == 24, "b");
  memcpy(b, t.data, sizeof b);
  CHECK(b[0] == 1 && b[1] == -2 && b[2] == 3, "b values");
  CHECK(!nncl_st_find(f, "u", &t) && !strcmp(t.dtype, "U8") && t.bytes == 5 &&
            ((const uint8_t *)t.data)[4] == 200,
        "u");
  int32_t s;
  CHECK(!nncl_st_find(f, "s", &t) && !strcmp(t.dtype, "I32") && t.ndim == 0 && t.bytes == 4, "s");
  memcpy(&s, t.data, 4);
  CHECK(s == 7, "s = %d", s);
  uint16_t h[2];
  CHECK(!nncl_st_find(f, "h", &t) && !strcmp(t.dtype, "F16") && t.bytes == 4, "h");
  memcpy(h, t.data, 4);
  CHECK(h[0] == 0x3E00 && h[1] == 0xC000, "h bits %04x %04x", h[0], h[1]);
  CHECK(!nncl_st_find(f, "e", &t) && t.ndim == 2 && t.shape[0] == 0 && t.shape[1] == 3 && t.bytes == 0, "e");
  double x;
  CHECK(!nncl_st_find(f, "caf\xc3\xa9 \xf0\x9f\x98\x80", &t) && !strcmp(t.dtype, "F64") && t.bytes == 8,
        "unicode name");
  memcpy(&x, t.data, 8);
  CHECK(x == 1.0, "x = %g", x);
  const char *m = nncl_st_meta(f, "model");
  CHECK(m && !strcmp(m, "input shape=3\ndense units=2 name=\"fc \\\"1\\\"\"\n"), "model '%s'",
        m ? m : "(null)");
  m = nncl_st_meta(f, "unicode");
  CHECK(m && !strcmp(m, "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"), "unicode meta");
  m = nncl_st_meta(f, "ctl");
  CHECK(m && !strcmp(m, "tab\there\x01"), "ctl meta");
  CHECK(nncl_st_count(f) == 7, "count %d", nncl_st_count(f));
  nncl_st_close(f);
}

/* open must fail with status and a message "<path>: ..." holding `what`. */
static void expect_fail(nncl_ctx *ctx, const char *path, int status, const char *what, long offset,
                        const char *label) {
  nncl_st_file *f = (nncl_st_file *)1;
  int r = nncl_st_open(ctx, path, &f);
  const char *m = nncl_errmsg(ctx);
  char off[64] = "";
  if (offset >= 0) snprintf(off, sizeof off, ": offset %ld: ", offset);
  CHECK(r == status && !f && !strncmp(m, path, strlen(path)) && strstr(m, what) && strstr(m, off),
        "%s: got %d '%s', want %d '%s' '%s'", label, r, m, status, off, what);
  if (!r) nncl_st_close(f);
}

static void truncations_and_corruptions(nncl_ctx *ctx, const char *good) {
  size_t n;
  unsigned char *raw = read_bytes(good, &n), *mut = malloc(n);
  char p[1024];
  in_dir("bad.safetensors", p);
  for (size_t len = 0; len < n; len++) {
    ft_write(p, raw, len);
    char label[64];
    snprintf(label, sizeof label, "truncated to %zu bytes", len);
    expect_fail(ctx, p, NNCL_EFORMAT, "", -1, label);
    CHECK(strstr(nncl_errmsg(ctx), "offset "), "%s: no offset in '%s'", label, nncl_errmsg(ctx));
  }
  /* every header byte replaced by a few troublemakers: any result but a crash or a leak */
  static const unsigned char evil[] = {0, ' ', '"', '\\', '{', '}', '[', ',', ':', '9', 0x80, 0xff};
  int opened = 0;
  for (size_t i = 0; i < n; i++)
    for (size_t k = 0; k < sizeof evil; k++) {
      memcpy(mut, raw, n);
      mut[i] = evil[k];
      ft_write(p, mut, n);
      nncl_st_file *f;
      if (!nncl_st_open(ctx, p, &f)) {
        opened++;
        for (int t = 0; t < nncl_st_count(f); t++) {
          nncl_st_tensor x;
          nncl_st_get(f, t, &x);
          for (size_t j = 0; j < x.bytes; j++) sink ^= ((const unsigned char *)x.data)[j];
        }
        nncl_st_close(f);
      } else {
        CHECK(!strncmp(nncl_errmsg(ctx), p, strlen(p)), "corruption %zu: '%s'", i, nncl_errmsg(ctx));
      }
    }
  printf("corruptions: %zu, opened anyway (data bytes changed): %d\n", n * sizeof evil, opened);

  /* header length field */
  static const uint64_t lens[] = {0, 1, 7, UINT64_MAX, (uint64_t)1 << 63, (uint64_t)1 << 32};
  for (size_t i = 0; i < sizeof lens / sizeof *lens; i++) {
    memcpy(mut, raw, n);
    for (int b = 0; b < 8; b++) mut[b] = (unsigned char)(lens[i] >> (8 * b));
    ft_write(p, mut, n);
    expect_fail(ctx, p, NNCL_EFORMAT, "", i == 0 ? 8 : i < 3 ? 9 : 0, "header length");
  }
  memcpy(mut, raw, n);
  mut[0] = (unsigned char)(n - 7), mut[1] = (unsigned char)((n - 7) >> 8);
  ft_write(p, mut, n);
  expect_fail(ctx, p, NNCL_EFORMAT, "exceeds the", 0, "header length one past the file");
  free(raw);
  free(mut);

  /* a (sparse) file larger than the header limit, claiming a header above it */
  unlink(p);
  int fd = open(p, O_WRONLY | O_CREAT, 0600);
  unsigned char h8[8] = {0};
  uint64_t hn = NNCL_ST_MAX_HEADER + 1;
  for (int b = 0; b < 8; b++) h8[b] = (unsigned char)(hn >> (8 * b));
  CHECK(fd >= 0 && write(fd, h8, 8) == 8 && !ftruncate(fd, NNCL_ST_MAX_HEADER + 64), "sparse file");
  close(fd);
  expect_fail(ctx, p, NNCL_ELIMIT, "exceeds the limit", 0, "header above the limit");

  expect_fail(ctx, in_dir("does-not-exist.safetensors", p), NNCL_EIO, "No such file", -1, "nonexistent");
  expect_fail(ctx, dir, NNCL_EIO, "not a regular file", -1, "directory");
  ft_write(in_dir("zero.safetensors", p), "", 0);
  expect_fail(ctx, p, NNCL_EFORMAT, "ends before the 8-byte header length", 0, "empty file");
}

#define A "\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}"
#define B(off) "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":" off "}"
#define WITH_NAME(n) "{\"" n "\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}"
#define WITH_SHAPE(s, off) "{\"a\":{\"dtype\":\"F32\",\"shape\":" s ",\"data_offsets\":" off "}}"
#define WITH_EXTRA(v) "{\"a\":{\"dtype\":\"F32\",\"x\":" v ",\"shape\":[2],\"data_offsets\":[0,8]}}"

static void headers(nncl_ctx *ctx) {
  static const struct {
    const char *hdr;
    size_t hn; /* 0: strlen */
    int status;
    const char *what;
    const char *at; /* the message's offset is where this first occurs in hdr (NULL: unchecked) */
    int adj;        /* ... plus adj bytes */
  } cases[] = {
      /* accepted */
      {"{}", 0, 0, "", NULL, 0},
      {"{" A "}", 0, 0, "", NULL, 0},
      {" \t\r\n{ " A " }  \n\t ", 0, 0, "", NULL, 0},
      {"{\"__metadata__\":null," A "}", 0, 0, "", NULL, 0},
      {"{\"__metadata__\":{}," A "}", 0, 0, "", NULL, 0},
      {WITH_EXTRA("{\"k\":[1,2.5e-3,-0,0.5E+2,true,false,null,\"s\\u00e9\\n\",{},[]]}"), 0, 0, "", NULL, 0},
      {"{\"z\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[4,4]}," A "}", 0, 0, "", NULL, 0},
      {"{\"s\":{\"dtype\":\"I32\",\"shape\":[],\"data_offsets\":[8,12]}," A "}", 0, 0, "", NULL, 0},
      {WITH_NAME("\\u00e9\\ud83d\\ude00\\/\\b\\f\\n\\r\\t\\\"\\\\"), 0, 0, "", NULL, 0},
      {"{" A "," B("[8,16]") "}", 0, 0, "", NULL, 0},
      {WITH_SHAPE("[4294967296,4294967296,0]", "[0,0]"), 0, 0, "", NULL, 0},
      /* JSON structure */
      {"", 0, NNCL_EFORMAT, "must be a JSON object, got the end of the header", "", 0},
      {"[]", 0, NNCL_EFORMAT, "must be a JSON object, got '['", "[", 0},
      {"\"x\"", 0, NNCL_EFORMAT, "must be a JSON object", "\"", 0},
      {"{", 0, NNCL_EFORMAT, "expected a string, got the end of the header", "", 0},
      {"{\"a\"", 0, NNCL_EFORMAT, "expected ':' after a tensor name", "", 0},
      {"{\"a\" \"b\"}", 0, NNCL_EFORMAT, "expected ':'", "\"b", 0},
      {"{\"a\":", 0, NNCL_EFORMAT, "expected '{' to open a tensor entry", "", 0},
      {"{\"a\":{}}", 0, NNCL_EFORMAT, "tensor 'a': no \"dtype\" field", "\"a\"", 0},
      {"{" A ",}", 0, NNCL_EFORMAT, "expected a string, got '}'", ",}", 1},
      {"{,}", 0, NNCL_EFORMAT, "expected a string, got ','", ",", 0},
      {"{'a':1}", 0, NNCL_EFORMAT, "expected a string, got '''", "'", 0},
      {"{" A "} x", 0, NNCL_EFORMAT, "unexpected 'x' after the JSON header", "x", 0},
      {"{" A "}}", 0, NNCL_EFORMAT, "unexpected '}' after", "}}}", 2},
      {"{" A " " A "}", 0, NNCL_EFORMAT, "expected ',' or '}' in the header object, got '\"'", NULL, 0},
      {"{\0}", 3, NNCL_EFORMAT, "expected a string, got byte 0x00", NULL, 0},
      {"{\"abc", 0, NNCL_EFORMAT, "unterminated string", "\"abc", 0},
      /* tensor entries */
      {"{\"a\":{\"dtype\":\"F33\",\"shape\":[2],\"data_offsets\":[0,8]}}", 0, NNCL_EFORMAT,
       "unknown dtype \"F33\"", "\"F33", 0},
      {"{\"a\":{\"dtype\":4,\"shape\":[2],\"data_offsets\":[0,8]}}", 0, NNCL_EFORMAT,
       "expected a string, got '4'", "4", 0},
      {"{\"a\":{\"dtype\":\"F32\",\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 0, NNCL_EFORMAT,
       "field \"dtype\" given twice", NULL, 0},
      {"{\"a\":{\"dtype\":\"F32\",\"data_offsets\":[0,8]}}", 0, NNCL_EFORMAT, "no \"shape\" field", "\"a", 0},
      {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2]}}", 0, NNCL_EFORMAT, "no \"data_offsets\" field", "\"a", 0},
      {"{\"a\":[]}", 0, NNCL_EFORMAT, "expected '{' to open a tensor entry", "[]", 0},
      {WITH_SHAPE("[-1]", "[0,8]"), 0, NNCL_EFORMAT, "a dimension must be a non-negative integer", "-1", 0},
      {WITH_SHAPE("[2.0]", "[0,8]"), 0, NNCL_EFORMAT, "a dimension must be a non-negative integer", "2.0", 0},
      {WITH_SHAPE("[1e2]", "[0,8]"), 0, NNCL_EFORMAT, "a dimension must be a non-negative integer", "1e2", 0},
      {WITH_SHAPE("[02]", "[0,8]"), 0, NNCL_EFORMAT, "leading zeros", "02", 0},
      {WITH_SHAPE("[]", "[0,8]"), 0, NNCL_EFORMAT, "F32 [] needs 4 bytes but data_offsets [0, 8] hold 8",
       "[0,8]", 0},
      {WITH_SHAPE("[99999999999999999999]", "[0,8]"), 0, NNCL_EFORMAT, "below 2^64", "999", 0},
      {WITH_SHAPE("[17179869185]", "[0,8]"), 0, NNCL_ELIMIT, "dimension 17179869185 is too large", "171", 0},
      {WITH_SHAPE("[131072,131072,2]", "[0,8]"), 0, NNCL_ELIMIT, "more than 2^34 elements", "[0,8]", 0},
      {WITH_SHAPE("[1,1,1,1,1,1,1]", "[0,4]"), 0, NNCL_ELIMIT, "more than 6 dimensions", "1]", 0},
      {WITH_SHAPE("[1,]", "[0,4]"), 0, NNCL_EFORMAT, "expected a number, got ']'", "]", 0},
      {WITH_SHAPE("[1 2]", "[0,4]"), 0, NNCL_EFORMAT, "expected ',' or ']' in a shape, got '2'", "2]", 0},
      {WITH_SHAPE("[2]", "[8,0]"), 0, NNCL_EFORMAT, "data_offsets [8, 0] end before they begin", "[8,0]", 0},
      {WITH_SHAPE("[2]", "[0,4]"), 0, NNCL_EFORMAT, "F32 [2] needs 8 bytes but data_offsets [0, 4] hold 4",
       "[0,4]", 0},
      {WITH_SHAPE("[2]", "[8,24]"), 0, NNCL_EFORMAT, "reach past the data section (16 bytes)", "[8,24]", 0},
      {WITH_SHAPE("[0]", "[18446744073709551615,18446744073709551615]"), 0, NNCL_EFORMAT, "reach past",
       "[1844", 0},
      {WITH_SHAPE("[2]", "[0,8,16]"), 0, NNCL_EFORMAT, "data_offsets must be [begin, end], got ','", ",16",
       0},
      {WITH_SHAPE("[2]", "[0]"), 0, NNCL_EFORMAT, "expected ',' between the two data_offsets, got ']'", "]}",
       0},
      {WITH_SHAPE("[2]", "{}"), 0, NNCL_EFORMAT, "expected '[' to open data_offsets", "{}", 0},
      {"{" A "," B("[4,12]") "}", 0, NNCL_EFORMAT, "tensors 'a' [0, 8] and 'b' [4, 12] overlap", "\"b", 0},
      {"{" B("[4,12]") "," A "}", 0, NNCL_EFORMAT, "tensors 'a' [0, 8] and 'b' [4, 12] overlap", "\"a", 0},
      {"{" A "," A "}", 0, NNCL_EFORMAT, "tensor name 'a' given twice", ",\"a", 1},
      /* metadata */
      {"{\"__metadata__\":{},\"__metadata__\":{}}", 0, NNCL_EFORMAT, "__metadata__ given twice", ",\"", 1},
      {"{\"__metadata__\":{\"k\":1}}", 0, NNCL_EFORMAT, "metadata value of 'k' must be a string, got '1'",
       "1", 0},
      {"{\"__metadata__\":{\"k\":\"a\",\"k\":\"b\"}}", 0, NNCL_EFORMAT, "metadata key 'k' given twice",
       ",\"k", 1},
      {"{\"__metadata__\":[]}", 0, NNCL_EFORMAT, "expected '{' to open __metadata__", "[]", 0},
      {"{\"__metadata__\":{\"k\":\"v\"", 0, NNCL_EFORMAT, "expected ',' or '}' in __metadata__", "", 0},
      /* strings */
      {WITH_NAME("\\x"), 0, NNCL_EFORMAT, "invalid escape '\\' followed by 'x'", "\\x", 0},
      {WITH_NAME("\\u12"), 0, NNCL_EFORMAT, "\\u must be followed by 4 hex digits", "\\u", 0},
      {WITH_NAME("\\u12G4"), 0, NNCL_EFORMAT, "4 hex digits", "\\u", 0},
      {WITH_NAME("\\uD800"), 0, NNCL_EFORMAT, "unpaired UTF-16 surrogate \\uD800", "\\u", 0},
      {WITH_NAME("\\ud800\\u0041"), 0, NNCL_EFORMAT, "unpaired UTF-16 surrogate \\uD800", "\\u", 0},
      {WITH_NAME("\\uDC00"), 0, NNCL_EFORMAT, "unpaired UTF-16 surrogate \\uDC00", "\\u", 0},
      {WITH_NAME("a\\u0000"), 0, NNCL_EFORMAT, "\\u0000 (NUL) is not supported", "\\u", 0},
      {WITH_NAME("a\x01"), 0, NNCL_EFORMAT, "control character 0x01", "\x01", 0},
      {WITH_NAME("a\nb"), 0, NNCL_EFORMAT, "control character 0x0a", "\n", 0},
      {WITH_NAME("\xff"), 0, NNCL_EFORMAT, "invalid UTF-8 (byte 0xff)", "\xff", 0},
      {WITH_NAME("\xc0\x80"), 0, NNCL_EFORMAT, "invalid UTF-8 (byte 0xc0)", "\xc0", 0},
      {WITH_NAME("\xed\xa0\x80"), 0, NNCL_EFORMAT, "invalid UTF-8 (byte 0xed)", "\xed", 0},
      {WITH_NAME("\xf4\x90\x80\x80"), 0, NNCL_EFORMAT, "invalid UTF-8 (byte 0xf4)", "\xf4", 0},
      {WITH_NAME("\xe2\x82"), 0, NNCL_EFORMAT, "invalid UTF-8 (byte 0xe2)", "\xe2", 0},
      {"{\"\xe2\x82", 0, NNCL_EFORMAT, "invalid UTF-8 (byte 0xe2)", "\xe2", 0},
      /* values inside an ignored field */
      {WITH_EXTRA("tru"), 0, NNCL_EFORMAT, "invalid literal (expected true)", "tru", 0},
      {WITH_EXTRA("nul"), 0, NNCL_EFORMAT, "invalid literal (expected null)", "nul", 0},
      {WITH_EXTRA("-"), 0, NNCL_EFORMAT, "expected a number, got ','", "-", 1},
      {WITH_EXTRA("1."), 0, NNCL_EFORMAT, "digits expected after '.'", ".,", 1},
      {WITH_EXTRA("1e+"), 0, NNCL_EFORMAT, "digits expected in the exponent", ",\"shape", 0},
      {WITH_EXTRA("+1"), 0, NNCL_EFORMAT, "expected a value, got '+'", "+", 0},
      {WITH_EXTRA("NaN"), 0, NNCL_EFORMAT, "expected a value, got 'N'", "NaN", 0},
      {WITH_EXTRA("[1,]"), 0, NNCL_EFORMAT, "expected a value, got ']'", "]", 0},
      {WITH_EXTRA("{\"k\" 1}"), 0, NNCL_EFORMAT, "expected ':' after an object key", " 1}", 1},
      {WITH_EXTRA("{1:1}"), 0, NNCL_EFORMAT, "expected a string, got '1'", "1:", 0},
      {WITH_EXTRA("[1 2]"), 0, NNCL_EFORMAT, "expected ',' or ']' in an array", "2]", 0},
  };
  char p[1024];
  unsigned char data[16] = {0};
  in_dir("hdr.safetensors", p);
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    const char *h = cases[i].hdr;
    size_t hn = cases[i].hn ? cases[i].hn : strlen(h);
    make_st(p, h, hn, data, strcmp(h, "{}") ? sizeof data : 0);
    char label[64];
    snprintf(label, sizeof label, "header case %zu", i);
    if (!cases[i].status) {
      nncl_st_file *f;
      int r = nncl_st_open(ctx, p, &f);
      CHECK(r == 0, "%s: %s", label, nncl_errmsg(ctx));
      if (!r) nncl_st_close(f);
      continue;
    }
    long off = -1;
    if (cases[i].at) {
      const char *q = *cases[i].at ? strstr(h, cases[i].at) : h + hn;
      off = q ? 8 + (long)(q - h) + cases[i].adj : -2;
    }
    expect_fail(ctx, p, cases[i].status, cases[i].what, off, label);
  }

  /* names decoded from escapes are found by their UTF-8 form */
  make_st(p, WITH_NAME("\\u00e9\\ud83d\\ude00"), strlen(WITH_NAME("\\u00e9\\ud83d\\ude00")), data,
          sizeof data);
  nncl_st_file *f;
  nncl_st_tensor t;
  CHECK(!nncl_st_open(ctx, p, &f) && !nncl_st_find(f, "\xc3\xa9\xf0\x9f\x98\x80", &t), "escaped name: %s",
        nncl_errmsg(ctx));
  nncl_st_close(f);

  /* nesting: 60 levels inside an ignored field are fine, 70 are refused */
  for (int depth = 60; depth <= 70; depth += 10) {
    char h[512];
    int k = snprintf(h, sizeof h, "{\"a\":{\"x\":");
    for (int d = 0; d < depth; d++) h[k++] = d % 2 ? '[' : '{', k += d % 2 ? 0 : sprintf(h + k, "\"k\":");
    for (int d = depth - 1; d >= 0; d--) h[k++] = d % 2 ? ']' : '}';
    k += snprintf(h + k, sizeof h - (size_t)k, ",\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}");
    make_st(p, h, (size_t)k, data, sizeof data);
    int r = nncl_st_open(ctx, p, &f);
    CHECK(depth == 60 ? r == 0 : r == NNCL_ELIMIT && strstr(nncl_errmsg(ctx), "nested deeper than 64"),
          "depth %d: %s", depth, nncl_errmsg(ctx));
    if (!r) nncl_st_close(f);
  }
}

static void write_errors(nncl_ctx *ctx) {
  char p[1024], sub[1100];
  float x[4] = {1, 2, 3, 4};
  nncl_st_tensor t[2] = {{"x", "F32", 1, {4}, x, sizeof x}, {"y", "F32", 1, {4}, x, sizeof x}};
  const char *missing = "/nonexistent-nncl-dir/a.safetensors";
  CHECK(nncl_st_write(ctx, missing, t, 1, NULL, 0) == NNCL_EIO && strstr(nncl_errmsg(ctx), missing) &&
            strstr(nncl_errmsg(ctx), "No such file"),
        "missing dir: %s", nncl_errmsg(ctx));

  /* the existing file survives every failed write */
  in_dir("keep.safetensors", p);
  CHECK(!nncl_st_write(ctx, p, t, 1, NULL, 0), "write keep: %s", nncl_errmsg(ctx));
  size_t n0, n1;
  unsigned char *before = read_bytes(p, &n0), *after;
#define UNTOUCHED(label)                                                                                     \
  after = read_bytes(p, &n1);                                                                                \
  CHECK(after &&n1 == n0 && !memcmp(after, before, n0), "%s: existing file changed", label);                 \
  free(after);                                                                                               \
  CHECK(count_tmp() == 0, "%s: temporary file left behind", label)

  /* disk full, simulated by a file size limit (EFBIG) */
  struct rlimit old, lim;
  getrlimit(RLIMIT_FSIZE, &old);
  lim = old;
  lim.rlim_cur = 64;
  void (*prev)(int) = signal(SIGXFSZ, SIG_IGN);
  CHECK(!setrlimit(RLIMIT_FSIZE, &lim), "setrlimit");
  int r = nncl_st_write(ctx, p, t, 2, NULL, 0);
  setrlimit(RLIMIT_FSIZE, &old);
  signal(SIGXFSZ, prev);
  CHECK(r == NNCL_EIO && strstr(nncl_errmsg(ctx), p) && strstr(nncl_errmsg(ctx), "cannot write"),
        "file too large: %d %s", r, nncl_errmsg(ctx));
  UNTOUCHED("disk full");

  /* the temporary name is taken by a directory */
  snprintf(sub, sizeof sub, "%s.tmp.%ld", p, (long)getpid());
  CHECK(!mkdir(sub, 0700), "mkdir %s", sub);
  r = nncl_st_write(ctx, p, t, 2, NULL, 0);
  CHECK(r == NNCL_EIO && strstr(nncl_errmsg(ctx), "cannot create"), "tmp blocked: %d %s", r,
        nncl_errmsg(ctx));
  rmdir(sub);
  UNTOUCHED("tmp blocked");

  /* read-only directory (root writes anyway: skipped then) */
  if (geteuid() != 0) {
    CHECK(!chmod(dir, 0500), "chmod");
    r = nncl_st_write(ctx, p, t, 2, NULL, 0);
    chmod(dir, 0700);
    CHECK(r == NNCL_EIO && strstr(nncl_errmsg(ctx), "Permission denied"), "read-only dir: %d %s", r,
          nncl_errmsg(ctx));
    UNTOUCHED("read-only dir");
  } else {
    printf("read-only directory case skipped: running as root\n");
  }

  /* rename over a non-empty directory fails: the temporary file must go */
  snprintf(sub, sizeof sub, "%s/adir", dir);
  char inner[1200];
  snprintf(inner, sizeof inner, "%s/f", sub);
  CHECK(!mkdir(sub, 0700) && !ft_write(inner, "x", 1), "mkdir");
  r = nncl_st_write(ctx, sub, t, 2, NULL, 0);
  CHECK(r == NNCL_EIO && strstr(nncl_errmsg(ctx), "cannot rename"), "rename over dir: %d %s", r,
        nncl_errmsg(ctx));
  CHECK(count_tmp() == 0, "rename: temporary file left behind");
  unlink(inner);
  rmdir(sub);

  /* invalid arguments */
  nncl_st_tensor bad = t[0];
  nncl_st_tensor two[2] = {t[0], t[0]};
  CHECK(nncl_st_write(ctx, p, two, 2, NULL, 0) == NNCL_EINVAL &&
            strstr(nncl_errmsg(ctx), "tensor name 'x' given twice"),
        "dup names: %s", nncl_errmsg(ctx));
  bad.dtype = "F33";
  CHECK(nncl_st_write(ctx, p, &bad, 1, NULL, 0) == NNCL_EINVAL, "bad dtype");
  bad = t[0], bad.bytes = 12;
  CHECK(nncl_st_write(ctx, p, &bad, 1, NULL, 0) == NNCL_EINVAL, "bad size");
  bad = t[0], bad.name = "__metadata__";
  CHECK(nncl_st_write(ctx, p, &bad, 1, NULL, 0) == NNCL_EINVAL, "reserved name");
  bad = t[0], bad.shape[0] = -4;
  CHECK(nncl_st_write(ctx, p, &bad, 1, NULL, 0) == NNCL_EINVAL, "negative dim");
  bad = t[0], bad.ndim = 7;
  CHECK(nncl_st_write(ctx, p, &bad, 1, NULL, 0) == NNCL_EINVAL, "7 dims");
  nncl_st_kv dupm[2] = {{"k", "a"}, {"k", "b"}}, badm = {"k", "\xff"};
  CHECK(nncl_st_write(ctx, p, t, 1, dupm, 2) == NNCL_EINVAL, "dup meta");
  CHECK(nncl_st_write(ctx, p, t, 1, &badm, 1) == NNCL_EINVAL, "meta not UTF-8");
  UNTOUCHED("invalid arguments");
  free(before);
}

int main(void) {
  nncl_ctx *ctx;
  char good[1024];
  if (ft_open_c(&ctx)) return 1;
  if (ft_temp_dir(dir, sizeof dir, "nncl-st")) return 1;
  if (!round_trip(ctx, in_dir("good.safetensors", good))) truncations_and_corruptions(ctx, good);
  python_file(ctx);
  headers(ctx);
  write_errors(ctx);
  nncl_ctx_destroy(ctx);
  char cmd[600];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  if (system(cmd)) printf("cannot remove %s\n", dir);
  return ft_verdict();
}
