/* test_limits.c - absurd sizes through the API and in model files: zero, negative and
 * huge dims, 2^40 elements, products that overflow int64, huge sample counts and batches.
 * Each is refused with an error status (never a crash) before anything large is allocated:
 * the test runs under an address-space limit of its current size plus 512 MiB, so on the C
 * backend an attempted large allocation would surface as NNCL_ENOMEM, which therefore fails
 * the test there (on OpenCL, NNCL_ENOMEM is also how the device accounting refuses sizes
 * beyond the device before asking the driver). Sizes the engine accepts but this limit
 * cannot hold must fail cleanly. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "nncl.h"

/* Sanitized builds: a failed allocation returns NULL (the engine's path) instead of aborting. */
const char *__asan_default_options(void);
const char *__asan_default_options(void) { return "allocator_may_return_null=1"; }

#define MIB ((uint64_t)1 << 20)
#define P2(k) ((int64_t)1 << (k))

static int fails, on_cl;

/* A call that must be refused by validation: an error, on the C backend not NNCL_ENOMEM. */
static void refused(nncl_ctx *ctx, int r, const char *what) {
  if (r < 0 && (r != NNCL_ENOMEM || on_cl)) return;
  fails++;
  printf("FAIL %s: status %d (%s), want a refusal before allocating: %s\n", what, r, nncl_strerror(r),
         nncl_errmsg(ctx));
}

/* A call within the engine's limits but beyond the address-space limit: a clean failure. */
static void clean_fail(nncl_ctx *ctx, int r, const char *what) {
  if (r < 0) return;
  fails++;
  printf("FAIL %s: status %d, want an error: %s\n", what, r, nncl_errmsg(ctx));
}

/* Limits the address space to its current size plus extra bytes. */
static int limit_address_space(uint64_t extra) {
  FILE *f = fopen("/proc/self/statm", "r");
  unsigned long long pages = 0;
  if (!f || fscanf(f, "%llu", &pages) != 1) return f ? fclose(f), -1 : -1;
  fclose(f);
  struct rlimit rl = {.rlim_cur = pages * (uint64_t)sysconf(_SC_PAGESIZE) + extra};
  rl.rlim_max = rl.rlim_cur;
  return setrlimit(RLIMIT_AS, &rl);
}

typedef struct shape {
  int ndim;
  int64_t d[NNCL_MAX_DIMS];
  const char *what;
} shape;

static const shape bad_shapes[] = {
  {1, {0}, "a zero dim"},
  {3, {4, 0, 4}, "a zero dim in the middle"},
  {1, {-1}, "a negative dim"},
  {2, {-65536, -65536}, "two negative dims with a positive product"},
  {1, {INT64_MIN}, "INT64_MIN"},
  {1, {INT64_MAX}, "INT64_MAX"},
  {1, {P2(40)}, "2^40 elements"},
  {2, {P2(20), P2(20)}, "2^20 x 2^20"},
  {2, {P2(32), P2(32)}, "2^32 x 2^32 (wraps to 0 in 64 bits)"},
  {2, {3037000500, 3037000500}, "a product just above INT64_MAX"},
  {3, {P2(21), P2(21), P2(22)}, "2^64 (wraps to 0)"},
  {5, {P2(13), P2(13), P2(13), P2(13), P2(13)}, "five dims of 2^13"},
  {5, {P2(31), P2(31), 1, 1, -4}, "overflow before a negative dim"},
};
#define NBAD ((int)(sizeof bad_shapes / sizeof *bad_shapes))

static void tensors(nncl_ctx *ctx) {
  char what[160];
  nncl_tensor *t;
  for (int i = 0; i < NBAD; i++) {
    snprintf(what, sizeof what, "nncl_tensor_create(%s)", bad_shapes[i].what);
    t = NULL;
    refused(ctx, nncl_tensor_create(ctx, bad_shapes[i].ndim, bad_shapes[i].d, NNCL_F32, &t), what);
    if (t) printf("FAIL %s: *out not NULL\n", what), fails++;
  }
  int64_t six[7] = {2, 2, 2, 2, 2, 2, 2};
  refused(ctx, nncl_tensor_create(ctx, 0, six, NNCL_F32, &t), "nncl_tensor_create(ndim 0)");
  refused(ctx, nncl_tensor_create(ctx, -3, six, NNCL_F32, &t), "nncl_tensor_create(ndim -3)");
  refused(ctx, nncl_tensor_create(ctx, 7, six, NNCL_F32, &t), "nncl_tensor_create(ndim 7)");
  refused(ctx, nncl_tensor_create(ctx, 2, NULL, NNCL_F32, &t), "nncl_tensor_create(NULL shape)");
  refused(ctx, nncl_tensor_create(ctx, 1, six, 99, &t), "nncl_tensor_create(dtype 99)");
  int64_t at_limit[2] = {P2(17), P2(17)}; /* 2^34 floats, 64 GiB: accepted, cannot be held */
  clean_fail(ctx, nncl_tensor_create(ctx, 2, at_limit, NNCL_F32, &t), "nncl_tensor_create(2^34 elements, 64 GiB)");
}

static void model_api(nncl_ctx *ctx) {
  char what[160];
  nncl_model *m;
  for (int i = 0; i < NBAD; i++) {
    if (bad_shapes[i].ndim >= NNCL_MAX_DIMS) continue;
    if (nncl_model_create(ctx, &m)) printf("FAIL nncl_model_create: %s\n", nncl_errmsg(ctx)), exit(1);
    snprintf(what, sizeof what, "nncl_model_input(%s)", bad_shapes[i].what);
    refused(ctx, nncl_model_input(m, bad_shapes[i].ndim, bad_shapes[i].d), what);
    nncl_model_destroy(m);
  }
  int64_t ok[1] = {P2(20)}, huge_in[1] = {P2(34)};
  int64_t units[] = {0, -5, 999999999, INT64_MAX, INT64_MIN, P2(24)};
  for (size_t i = 0; i < sizeof units / sizeof *units; i++) {
    nncl_model_create(ctx, &m);
    nncl_model_input(m, 1, ok);
    snprintf(what, sizeof what, "nncl_model_dense(units %" PRId64 ") after 2^20 inputs", units[i]);
    refused(ctx, nncl_model_dense(m, units[i], NNCL_ACT_RELU, NNCL_INIT_DEFAULT), what);
    nncl_model_destroy(m);
  }
  /* 2^34 inputs (no parameters) is accepted; one unit makes 2^34 weights, still accepted
   * (64 GiB), two units exceed the limit */
  nncl_model_create(ctx, &m);
  if (nncl_model_input(m, 1, huge_in)) printf("FAIL nncl_model_input(2^34): %s\n", nncl_errmsg(ctx)), fails++;
  refused(ctx, nncl_model_dense(m, 2, NNCL_ACT_NONE, NNCL_INIT_DEFAULT), "nncl_model_dense(2) after 2^34 inputs");
  nncl_model_destroy(m);
  /* activations only: 2^34 per sample through 64 nodes; batch 2^24 makes 2^64 floats */
  nncl_model_create(ctx, &m);
  nncl_model_input(m, 1, huge_in);
  for (int i = 0; i < 63; i++) nncl_model_activation(m, NNCL_ACT_RELU, 0);
  refused(ctx, nncl_model_compile(m, 1 << 24, NNCL_MODE_TRAIN), "compile 64 x 2^34 activations, batch 2^24, train");
  refused(ctx, nncl_model_compile(m, 1 << 24, NNCL_MODE_INFER), "compile 64 x 2^34 activations, batch 2^24, infer");
  clean_fail(ctx, nncl_model_compile(m, 1, NNCL_MODE_INFER), "compile 2^34 activations, batch 1 (128 GiB)");
  refused(ctx, nncl_model_compile(m, -1, NNCL_MODE_INFER), "compile batch -1");
  refused(ctx, nncl_model_compile(m, 0x7fffffff, NNCL_MODE_INFER), "compile batch INT_MAX");
  nncl_model_destroy(m);
}

static void model_files(nncl_ctx *ctx) {
  static const char *const bad[] = {
    "input shape=784\ndense units=999999999\n",
    "input shape=65536,65536,65536\ndense units=10\n",
    "input shape=65536,65536\nflatten\ndense units=65536\n",
    "input shape=4294967296,4294967296\ndense units=1\n",
    "input shape=99999999999999999999999\ndense units=1\n",
    "input shape=-1\ndense units=1\n",
    "input shape=0\ndense units=1\n",
    "input shape=1,1,1,1,1,1\ndense units=1\n",
    "input shape=784\ndense units=-3\n",
    "input shape=784\ndense units=0x10\n",
    "input shape=17179869184\ndense units=2\n",
    "input shape=4096\ndense units=4096\ndense units=4096\ndense units=16777216\n",
    "input shape=1024,1024,1024\nconv2d filters=1048576 kernel=4096\n",
    "input shape=1,65536,65536\nconv2d filters=16 kernel=3 padding=1\n",
    "input shape=1024,1024\nconv1d filters=1048576 kernel=4096\n",
    "input shape=1,8,8\nconv2d filters=1 kernel=4096 dilation=4096\n",
    "input shape=1,8,8\nconv2d filters=1 kernel=3 stride=0\n",
    "input shape=1,8,8\nmaxpool kernel=4096 stride=4096\n",
    "input shape=1,8,8\nlayernorm dims=9\n",
  };
  nncl_model *m;
  char what[200];
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    snprintf(what, sizeof what, "nncl_model_parse(\"%s\")", bad[i]);
    for (char *p = what; *p; p++) *p = *p == '\n' ? '|' : *p;
    m = NULL;
    refused(ctx, nncl_model_parse(ctx, bad[i], "limits", &m), what);
    if (m) printf("FAIL %s: *out not NULL\n", what), fails++;
  }
  /* 2^34 weights (64 GiB): within the engine's limit, beyond this process's */
  clean_fail(ctx, nncl_model_parse(ctx, "input shape=1024\ndense units=16777216\n", "limits", &m),
             "nncl_model_parse(1024 -> 2^24 units, 64 GiB of weights)");
}

static void datasets(nncl_ctx *ctx) {
  float x[4] = {0};
  int32_t y[4] = {0};
  int64_t s1[1] = {1}, s4[1] = {4};
  nncl_dataset *d;
  int64_t ns[] = {P2(40), INT64_MAX, P2(35), -1, 0, INT64_MIN};
  char what[160];
  for (size_t i = 0; i < sizeof ns / sizeof *ns; i++) {
    snprintf(what, sizeof what, "nncl_dataset_from_arrays(n %" PRId64 ")", ns[i]);
    refused(ctx, nncl_dataset_from_arrays(ctx, ns[i], 1, s1, x, y, 2, &d), what);
  }
  refused(ctx, nncl_dataset_from_arrays(ctx, P2(33), 1, s4, x, y, 2, &d), "nncl_dataset_from_arrays(2^33 samples of 4)");
  for (int i = 0; i < NBAD; i++) {
    if (bad_shapes[i].ndim >= NNCL_MAX_DIMS) continue;
    snprintf(what, sizeof what, "nncl_dataset_from_arrays(sample %s)", bad_shapes[i].what);
    refused(ctx, nncl_dataset_from_arrays(ctx, 1, bad_shapes[i].ndim, bad_shapes[i].d, x, y, 2, &d), what);
  }
  refused(ctx, nncl_dataset_from_arrays(ctx, 1, 0, s1, x, y, 2, &d), "nncl_dataset_from_arrays(ndim 0)");
  refused(ctx, nncl_dataset_from_arrays(ctx, 1, 9, s1, x, y, 2, &d), "nncl_dataset_from_arrays(ndim 9)");
  refused(ctx, nncl_dataset_from_arrays(ctx, 1, 1, s1, x, y, -2, &d), "nncl_dataset_from_arrays(-2 classes)");
}

int main(void) {
  nncl_ctx_params p;
  nncl_ctx *ctx;
  char err[512];
  nncl_ctx_params_init(&p);
  p.device = getenv("NNCL_DEVICE");
  p.threads = 2;
  int r = nncl_ctx_create(&p, &ctx, err, sizeof err);
  if (r) {
    printf("%s: cannot create a context on '%s': %s\n", p.device && !strncmp(p.device, "cl", 2) ? "SKIP" : "FAIL",
           p.device ? p.device : "auto", err);
    return p.device && !strncmp(p.device, "cl", 2) ? 77 : 1;
  }
  on_cl = !strcmp(nncl_ctx_backend(ctx), "cl");
  if (limit_address_space(512 * MIB)) printf("FAIL cannot limit the address space\n"), fails++;
  tensors(ctx);
  model_api(ctx);
  model_files(ctx);
  datasets(ctx);
  printf("%s (device %s)\n", fails ? "FAILED" : "all limits refused", nncl_ctx_device(ctx));
  nncl_ctx_destroy(ctx);
  return fails ? 1 : 0;
}
