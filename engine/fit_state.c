/* fit_state.c - what a resumed run needs beyond weights and optimizer state, as one
 * line of checkpoint metadata ("train_state"): epoch, the context's generator, the
 * dropout seed and counter, the augmentation seed and the early-stopping state. Integers
 * in decimal, doubles as C99 hex floats (exact). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fit.h"

char *nncl_train_state_text(const nncl_train_state *s) {
  char *t = malloc(1024);
  if (!t) return NULL;
  const nncl_early_stop *e = &s->es;
  snprintf(t, 1024,
           "epoch=%d rng=%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 " dropout_seed=%" PRIu64
           " dropout_step=%" PRIu64 " augment_seed=%" PRIu64 " best_epoch=%d best=%a wait=%d",
           s->epoch, s->rng[0], s->rng[1], s->rng[2], s->rng[3], s->rng[4], s->rng[5], s->dropout_seed, s->dropout_step,
           s->augment_seed, e->best_epoch, e->best, e->wait);
  return t;
}

static int parse_u64(const char *v, uint64_t *out) {
  char *end;
  if (*v < '0' || *v > '9') return -1;
  *out = strtoull(v, &end, 10);
  return *end == 0 || *end == ' ' || *end == ',' ? 0 : -1;
}

int nncl_train_state_parse(nncl_ctx *ctx, const char *text, nncl_train_state *s, const char *path) {
  memset(s, 0, sizeof *s);
  int seen = 0;
  for (const char *p = text; *p;) {
    while (*p == ' ') p++;
    const char *eq = strchr(p, '='), *end = strchr(p, ' ');
    if (!*p) break;
    if (!eq || (end && end < eq)) goto bad;
    const char *v = eq + 1;
    size_t kl = (size_t)(eq - p);
    uint64_t u = 0;
    char *fe;
#define KEY(k) (kl == strlen(k) && !strncmp(p, k, kl))
    if (KEY("rng")) {
      for (int i = 0; i < 6; i++) {
        if (parse_u64(v, &s->rng[i])) goto bad;
        v += strspn(v, "0123456789");
        if (i < 5 && *v++ != ',') goto bad;
      }
      seen |= 1;
    } else if (KEY("best")) {
      s->es.best = strtod(v, &fe);
      if (fe == v) goto bad;
    } else {
      if (parse_u64(v, &u)) goto bad;
      if (KEY("epoch") && u <= 1000000) s->epoch = (int)u, seen |= 2;
      else if (KEY("dropout_seed")) s->dropout_seed = u;
      else if (KEY("dropout_step")) s->dropout_step = u;
      else if (KEY("augment_seed")) s->augment_seed = u;
      else if (KEY("best_epoch") && u <= 1000000) s->es.best_epoch = (int)u;
      else if (KEY("wait") && u <= 1000000) s->es.wait = (int)u;
      else goto bad;
    }
#undef KEY
    p = end ? end : p + strlen(p);
  }
  if (seen == 3) return 0;
bad:
  return nncl_err(ctx, NNCL_EFORMAT, "%s: malformed train_state metadata: cannot resume from it", path);
}
