/* filetest.h - what the file-format tests share (test_idx.c, test_safetensors.c,
 * test_modelfile.c): CHECK, which prints and counts a failure and carries on; a C context;
 * a fresh temporary folder; writing a fresh file; the verdict. Header-only; include it
 * once, in the test's main file. */
#ifndef NNCL_FILETEST_H
#define NNCL_FILETEST_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "nncl.h"

static int fails;
#define CHECK(c, ...)                                                                                        \
  do {                                                                                                       \
    if (!(c)) {                                                                                              \
      fails++;                                                                                               \
      printf("FAIL %s:%d: %s: ", __FILE__, __LINE__, #c);                                                    \
      printf(__VA_ARGS__);                                                                                   \
      printf("\n");                                                                                          \
    }                                                                                                        \
  } while (0)

/* A context on the C backend. Returns 0, 1 after printing why there is none. */
static inline int ft_open_c(nncl_ctx **ctx) {
  nncl_ctx_params p;
  char err[256];
  nncl_ctx_params_init(&p);
  p.device = "c";
  if (nncl_ctx_create(&p, ctx, err, sizeof err)) {
    printf("FAIL context: %s\n", err);
    return 1;
  }
  return 0;
}

/* A fresh folder <$TMPDIR, else /tmp>/<name>-XXXXXX, its path in dir[0..n). Returns 0, 1
 * after printing why there is none. */
static inline int ft_temp_dir(char *dir, size_t n, const char *name) {
  const char *tmp = getenv("TMPDIR");
  snprintf(dir, n, "%s/%s-XXXXXX", tmp && *tmp ? tmp : "/tmp", name);
  if (!mkdtemp(dir)) {
    printf("FAIL mkdtemp %s: %s\n", dir, strerror(errno));
    return 1;
  }
  return 0;
}

/* b[0..n) as the file at path, a fresh file each time: ext4 flushes files truncated and
 * rewritten (auto_da_alloc). Returns 0, -1 when it cannot be written. */
static inline int ft_write(const char *path, const void *b, size_t n) {
  unlink(path);
  FILE *f = fopen(path, "wb");
  if (!f) return -1;
  size_t w = fwrite(b, 1, n, f);
  return fclose(f) || w != n ? -1 : 0;
}

/* Prints the failure count; returns the test's exit status. */
static inline int ft_verdict(void) {
  printf("%s: %d failures\n", fails ? "FAIL" : "ok", fails);
  return fails ? 1 : 0;
}

#endif
