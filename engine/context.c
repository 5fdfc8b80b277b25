/* context.c - backend selection, per-context RNG, error message and log callback. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "internal.h"
#include "nncl_config.h"

#define ERRMSG_CAP (64 * 1024) /* room for an OpenCL build log */

struct nncl_ctx {
  nncl_backend *be;
  char *errmsg;
  char device[768]; /* backend description (256) and the reason it was chosen */
  nncl_log_fn log;
  void *log_user;
  int log_level;
  uint64_t rng[4];
  int have_spare;   /* Box-Muller keeps its second value */
  double spare;
  double created_s; /* monotonic clock at creation */
};

double nncl_now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

double nncl_ctx_age_s(const nncl_ctx *ctx) { return nncl_now_s() - ctx->created_s; }

const char *nncl_op_name(int op) {
  static const char *const names[] = {
#define NNCL_OP(id, name) #name,
#include "ops.def"
#undef NNCL_OP
  };
  return op >= 0 && op < NNCL_OP_COUNT ? names[op] : NULL;
}

int nncl_run(nncl_backend *be, int op, const nncl_args *a) {
  if (op < 0 || op >= NNCL_OP_COUNT || !be->kernel[op])
    return nncl_err(be->ctx, NNCL_EUNSUPPORTED, "%s backend has no kernel for op %s", be->name,
                    nncl_op_name(op) ? nncl_op_name(op) : "?");
  return be->kernel[op](be, a);
}

int nncl_write_async(nncl_backend *be, nncl_buf *buf, size_t off, const void *src, size_t n) {
  return be->write_async ? be->write_async(be, buf, off, src, n) : be->write(be, buf, off, src, n);
}

int nncl_read_start(nncl_backend *be, nncl_buf *buf, size_t off, void *dst, size_t n, void **pending) {
  *pending = NULL;
  return be->read_start ? be->read_start(be, buf, off, dst, n, pending) : be->read(be, buf, off, dst, n);
}

int nncl_read_wait(nncl_backend *be, void *pending) { return pending && be->read_wait ? be->read_wait(be, pending) : 0; }

int nncl_err(nncl_ctx *ctx, int status, const char *fmt, ...) {
  if (!ctx || !ctx->errmsg) return status;
  /* format into a fresh buffer: arguments may point into the current message */
  char *msg = malloc(ERRMSG_CAP);
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg ? msg : ctx->errmsg, ERRMSG_CAP, fmt, ap);
  va_end(ap);
  if (msg) free(ctx->errmsg), ctx->errmsg = msg;
  nncl_log(ctx, NNCL_LOG_DEBUG, "error %d (%s): %s", status, nncl_strerror(status), ctx->errmsg);
  return status;
}

void nncl_log(nncl_ctx *ctx, int level, const char *fmt, ...) {
  if (!ctx || !ctx->log || level > ctx->log_level) return;
  char line[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(line, sizeof line, fmt, ap);
  va_end(ap);
  ctx->log(ctx->log_user, level, line);
}

const char *nncl_errmsg(const nncl_ctx *ctx) { return ctx && ctx->errmsg ? ctx->errmsg : ""; }
const char *nncl_ctx_backend(const nncl_ctx *ctx) { return ctx->be->name; }
const char *nncl_ctx_device(const nncl_ctx *ctx) { return ctx->device; }
nncl_backend *nncl_ctx_be(nncl_ctx *ctx) { return ctx->be; }

/* ---- random numbers: splitmix64 seeding, xoshiro256** ---------------------------- */

static uint64_t splitmix64(uint64_t *x) {
  uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t nncl_rng_next(nncl_ctx *ctx) {
  uint64_t *s = ctx->rng;
  uint64_t r = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
  s[2] ^= s[0];
  s[3] ^= s[1];
  s[1] ^= s[2];
  s[0] ^= s[3];
  s[2] ^= t;
  s[3] = rotl(s[3], 45);
  return r;
}

void nncl_rng_get(const nncl_ctx *ctx, uint64_t st[6]) {
  memcpy(st, ctx->rng, 4 * sizeof *st);
  st[4] = (uint64_t)ctx->have_spare;
  memcpy(&st[5], &ctx->spare, sizeof st[5]);
}

void nncl_rng_set(nncl_ctx *ctx, const uint64_t st[6]) {
  memcpy(ctx->rng, st, 4 * sizeof *st);
  ctx->have_spare = st[4] != 0;
  memcpy(&ctx->spare, &st[5], sizeof ctx->spare);
}

double nncl_rng_uniform(nncl_ctx *ctx) { return (nncl_rng_next(ctx) >> 11) * 0x1.0p-53; }

double nncl_rng_normal(nncl_ctx *ctx) {
  if (ctx->have_spare) {
    ctx->have_spare = 0;
    return ctx->spare;
  }
  double u, v, s;
  do {
    u = 2 * nncl_rng_uniform(ctx) - 1;
    v = 2 * nncl_rng_uniform(ctx) - 1;
    s = u * u + v * v;
  } while (s >= 1 || s == 0);
  s = sqrt(-2 * log(s) / s);
  ctx->spare = v * s;
  ctx->have_spare = 1;
  return u * s;
}

/* ---- helpers --------------------------------------------------------------------- */

int64_t nncl_shape_numel(int ndim, const int64_t *shape) {
  if (ndim < 0 || ndim > NNCL_MAX_DIMS) return -1;
  int64_t n = 1;
  for (int i = 0; i < ndim; i++) {
    if (shape[i] < 1 || shape[i] > NNCL_MAX_ELEMS || n > NNCL_MAX_ELEMS / shape[i]) return -1;
    n *= shape[i];
  }
  return n;
}

static int mkdir_p(char *path) {
  for (char *p = path + 1; *p; p++) {
    if (*p != '/') continue;
    *p = 0;
    int r = mkdir(path, 0755);
    *p = '/';
    if (r && errno != EEXIST) return -1;
  }
  return mkdir(path, 0755) && errno != EEXIST ? -1 : 0;
}

int nncl_cache_dir(char *out, size_t n) {
  const char *env = getenv("NNCL_CACHE_DIR"), *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
  int len;
  if (env && *env) len = snprintf(out, n, "%s", env);
  else if (xdg && *xdg) len = snprintf(out, n, "%s/nncl", xdg);
  else if (home && *home) len = snprintf(out, n, "%s/.cache/nncl", home);
  else len = snprintf(out, n, "/tmp/nncl-cache");
  if (len < 0 || (size_t)len >= n || mkdir_p(out)) {
    if (n) out[0] = 0;
    return NNCL_EIO;
  }
  return 0;
}

/* ---- device selection -------------------------------------------------------------- */

#if NNCL_HAVE_OPENCL
/* Parses "cl[:name-substring][:gpu|cpu|acc][:index]" (after "cl"). */
static int parse_devspec(const char *s, nncl_devspec *spec, char *err, size_t errlen) {
  memset(spec, 0, sizeof *spec);
  spec->index = -1;
  while (*s == ':') {
    s++;
    size_t len = strcspn(s, ":");
    char tok[128];
    if (len == 0 || len >= sizeof tok) {
      snprintf(err, errlen, "device string: empty or too long field");
      return NNCL_EINVAL;
    }
    memcpy(tok, s, len);
    tok[len] = 0;
    s += len;
    char *end;
    long idx = strtol(tok, &end, 10);
    if (!strcmp(tok, "gpu")) spec->type = 1;
    else if (!strcmp(tok, "cpu")) spec->type = 2;
    else if (!strcmp(tok, "acc")) spec->type = 3;
    else if (*end == 0 && idx >= 0 && idx < 1000) spec->index = (int)idx;
    else if (!spec->name[0]) memcpy(spec->name, tok, len + 1);
    else {
      snprintf(err, errlen, "device string: unexpected field '%s'", tok);
      return NNCL_EINVAL;
    }
  }
  if (*s) {
    snprintf(err, errlen, "device string: unexpected text '%s'", s);
    return NNCL_EINVAL;
  }
  return 0;
}
#endif

void nncl_ctx_params_init(nncl_ctx_params *p) {
  memset(p, 0, sizeof *p);
  p->seed = 42;
  p->log_level = NNCL_LOG_INFO;
}

static int select_backend(nncl_ctx *ctx, const nncl_ctx_params *p, const char *dev, char *err,
                          size_t errlen) {
  int r;
  if (!strcmp(dev, "c")) {
    r = nncl_fb_create(ctx, p->threads, &ctx->be);
    if (!r) snprintf(ctx->device, sizeof ctx->device, "c: %s (asked for)", ctx->be->device);
    return r;
  }
  int is_auto = !strcmp(dev, "auto");
  if (!is_auto && strncmp(dev, "cl", 2)) {
    snprintf(err, errlen, "unknown device '%s' (expected auto, c or cl[:name][:gpu|cpu|acc][:index])", dev);
    return NNCL_EINVAL;
  }
#if NNCL_HAVE_OPENCL
  nncl_devspec spec;
  if ((r = parse_devspec(is_auto ? "" : dev + 2, &spec, err, errlen))) return r;
  r = nncl_cl_create(ctx, &spec, is_auto, &ctx->be);
  if (!r) {
    snprintf(ctx->device, sizeof ctx->device, "cl: %s (%s)", ctx->be->device,
             is_auto ? "auto: best GPU/accelerator" : "asked for");
    return 0;
  }
  if (!is_auto) {
    snprintf(err, errlen, "%s", nncl_errmsg(ctx));
    return r;
  }
  char why[400];
  snprintf(why, sizeof why, "%s", nncl_errmsg(ctx));
#else
  const char *why = "built without OpenCL";
  if (!is_auto) {
    snprintf(err, errlen, "device '%s': this nncl was built without OpenCL", dev);
    return NNCL_ENODEV;
  }
#endif
  r = nncl_fb_create(ctx, p->threads, &ctx->be);
  if (!r) {
    snprintf(ctx->device, sizeof ctx->device, "c: %s (auto: no OpenCL GPU/accelerator: %s)",
             ctx->be->device, why);
    nncl_log(ctx, NNCL_LOG_INFO, "using the C backend: %s", why);
  }
  return r;
}

int nncl_ctx_create(const nncl_ctx_params *p, nncl_ctx **out, char *err, size_t errlen) {
  nncl_ctx_params defaults;
  char dummy[8];
  if (!err) err = dummy, errlen = sizeof dummy;
  err[0] = 0;
  if (!out) return NNCL_EINVAL;
  *out = NULL;
  if (!p) nncl_ctx_params_init(&defaults), p = &defaults;
  if (p->threads < 0 || p->threads > 1024) {
    snprintf(err, errlen, "threads must be 0..1024, got %d", p->threads);
    return NNCL_EINVAL;
  }
  nncl_ctx *ctx = calloc(1, sizeof *ctx);
  if (!ctx || !(ctx->errmsg = calloc(1, ERRMSG_CAP))) {
    free(ctx);
    snprintf(err, errlen, "out of memory");
    return NNCL_ENOMEM;
  }
  ctx->created_s = nncl_now_s();
  ctx->log = p->log;
  ctx->log_user = p->log_user;
  ctx->log_level = p->log_level;
  uint64_t sm = p->seed;
  for (int i = 0; i < 4; i++) ctx->rng[i] = splitmix64(&sm);

  const char *dev = p->device;
  if (!dev || !*dev) dev = getenv("NNCL_DEVICE");
  if (!dev || !*dev) dev = "auto";
  int r = select_backend(ctx, p, dev, err, errlen);
  if (r) {
    if (!err[0]) snprintf(err, errlen, "%s", ctx->errmsg);
    nncl_ctx_destroy(ctx);
    return r;
  }
  ctx->be->ctx = ctx;
  nncl_log(ctx, NNCL_LOG_INFO, "device: %s", ctx->device);
  *out = ctx;
  return 0;
}

void nncl_ctx_destroy(nncl_ctx *ctx) {
  if (!ctx) return;
  if (ctx->be) ctx->be->destroy(ctx->be);
  free(ctx->errmsg);
  free(ctx);
}

int nncl_devices_report(void (*fn)(void *user, const char *line), void *user) {
#if NNCL_HAVE_OPENCL
  return nncl_cl_report(fn, user);
#else
  fn(user, "OpenCL: not built in (meson -Dopencl=enabled to build it)");
  fn(user, "auto picks: the C backend");
  return 0;
#endif
}
