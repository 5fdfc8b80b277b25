/* internal.h - engine-wide internals shared by engine/, fallback/ and cl/. */
#ifndef NNCL_INTERNAL_H
#define NNCL_INTERNAL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "nncl.h"
#include "backend.h"

#if defined(__GNUC__)
#define NNCL_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define NNCL_PRINTF(a, b)
#endif

/* Largest tensor we accept, in elements (2^34 floats = 64 GiB): anything beyond is
 * refused as absurd before allocation. */
#define NNCL_MAX_ELEMS ((int64_t)1 << 34)
#define NNCL_MAX_PARAM_ELEMS ((int64_t)1 << 31) /* values in one parameter tensor */

/* Sets the context's error message and returns status. ctx may be NULL. */
int nncl_err(struct nncl_ctx *ctx, int status, const char *fmt, ...) NNCL_PRINTF(3, 4);
/* Logs through the context's callback at `level` (nncl_log_level). */
void nncl_log(struct nncl_ctx *ctx, int level, const char *fmt, ...) NNCL_PRINTF(3, 4);

/* The context's backend. */
nncl_backend *nncl_ctx_be(struct nncl_ctx *ctx);

/* Context random generator (xoshiro256**), seeded from nncl_ctx_params.seed. */
uint64_t nncl_rng_next(struct nncl_ctx *ctx);
double nncl_rng_uniform(struct nncl_ctx *ctx);  /* [0, 1) */
double nncl_rng_normal(struct nncl_ctx *ctx);   /* N(0, 1) */
/* The generator's whole state (xoshiro words, the pending normal) for resumable runs. */
void nncl_rng_get(const struct nncl_ctx *ctx, uint64_t st[6]);
void nncl_rng_set(struct nncl_ctx *ctx, const uint64_t st[6]);

/* Product of dims with overflow and NNCL_MAX_ELEMS checks; returns -1 if invalid
 * (a dim < 1, overflow, or too large). */
int64_t nncl_shape_numel(int ndim, const int64_t *shape);

/* Monotonic clock in seconds, and seconds since ctx was created. */
double nncl_now_s(void);
double nncl_ctx_age_s(const struct nncl_ctx *ctx);

/* Directory for nncl's caches: $NNCL_CACHE_DIR, else $XDG_CACHE_HOME/nncl, else
 * $HOME/.cache/nncl. Created if missing. Returns 0 or status (writes "" on failure). */
int nncl_cache_dir(char *out, size_t n);

#endif
