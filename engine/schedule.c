/* schedule.c - learning-rate schedules as torch.optim.lr_scheduler (closed forms), a
 * linear warm-up composed with them, the linear batch-size scaling rule, and the parser
 * of "KIND:key=value,..." specs. Formulas in nncl.h. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "optim.h"

static const double PI = 3.14159265358979323846;

static const char *const kind_names[] = {
  [NNCL_SCHED_CONSTANT] = "constant", [NNCL_SCHED_STEP] = "step", [NNCL_SCHED_MULTISTEP] = "multistep",
  [NNCL_SCHED_EXPONENTIAL] = "exponential", [NNCL_SCHED_COSINE] = "cosine", [NNCL_SCHED_COSINE_RESTARTS] = "cosine-restarts",
  [NNCL_SCHED_PLATEAU] = "plateau", [NNCL_SCHED_ONECYCLE] = "onecycle",
};
#define NKINDS ((int)(sizeof kind_names / sizeof *kind_names))

void nncl_schedule_params_init(nncl_schedule_params *p) {
  memset(p, 0, sizeof *p);
  p->gamma = 0.1f;
  p->step_size = 30;
  p->t_0 = 10, p->t_mult = 1;
  p->factor = 0.1f, p->threshold = 1e-4f, p->patience = 10;
  p->pct_start = 0.3f, p->div_factor = 25, p->final_div_factor = 1e4f, p->cycle_momentum = 1;
  p->base_momentum = 0.85f, p->max_momentum = 0.95f;
  p->warmup_start = 0.01f;
}

/* anneal_cos of OneCycleLR: end + (start - end)/2 (cos(pi pct) + 1) */
static double anneal(double start, double end, double pct) { return end + (start - end) / 2 * (cos(PI * pct) + 1); }

static double onecycle(const nncl_schedule_params *p, double max_lr, int64_t t, double *mom) {
  double total = (double)(p->total_steps ? p->total_steps : (int64_t)p->epochs * p->steps_per_epoch);
  double init = max_lr / p->div_factor, min = init / p->final_div_factor;
  double bm = p->base_momentum, mm = p->max_momentum;
  if (total < 1) total = 1;
  if ((double)t > total) t = (int64_t)total;
  /* phases: end step, lr from/to, momentum from/to (torch's _schedule_phases) */
  double ph[3][5];
  int nph;
  if (p->three_phase) {
    double a = (double)(float)(p->pct_start * total) - 1, b = (double)(float)(2 * p->pct_start * total) - 2;
    double q[3][5] = {{a, init, max_lr, mm, bm}, {b, max_lr, init, bm, mm}, {total - 1, init, min, mm, mm}};
    memcpy(ph, q, sizeof q), nph = 3;
  } else {
    double a = (double)(float)(p->pct_start * total) - 1;
    double q[2][5] = {{a, init, max_lr, mm, bm}, {total - 1, max_lr, min, bm, mm}};
    memcpy(ph, q, sizeof q), nph = 2;
  }
  double start = 0;
  for (int i = 0; i < nph; i++) {
    if ((double)t <= ph[i][0] || i == nph - 1) {
      double pct = ((double)t - start) / (ph[i][0] - start);
      if (p->cycle_momentum && mom) *mom = anneal(ph[i][3], ph[i][4], pct);
      return anneal(ph[i][1], ph[i][2], pct);
    }
    start = ph[i][0];
  }
  return max_lr;
}

double nncl_sched_lr(const nncl_schedule_params *p, double base, int64_t t, double *mom) {
  int64_t spe = p->steps_per_epoch;
  int64_t e = spe > 0 ? t / spe : 0;
  double lr = base;
  switch (p->kind) {
  case NNCL_SCHED_STEP: lr = base * pow(p->gamma, (double)(e / p->step_size)); break;
  case NNCL_SCHED_MULTISTEP: {
    int k = 0;
    while (k < p->nmilestones && p->milestones[k] <= e) k++;
    lr = base * pow(p->gamma, k);
    break;
  }
  case NNCL_SCHED_EXPONENTIAL: lr = base * pow(p->gamma, (double)e); break;
  case NNCL_SCHED_COSINE: {
    double tmax = p->t_max ? p->t_max : p->epochs > 0 ? p->epochs : 1;
    lr = p->eta_min + (base - p->eta_min) * (1 + cos(PI * (double)e / tmax)) / 2;
    break;
  }
  case NNCL_SCHED_COSINE_RESTARTS: {
    double ep = spe > 0 ? (double)t / (double)spe : 0, t0 = p->t_0, ti = t0, tcur = ep;
    if (ep >= t0) {
      if (p->t_mult == 1) tcur = fmod(ep, t0);
      else {
        double n = floor(log(ep / t0 * (p->t_mult - 1) + 1) / log(p->t_mult));
        tcur = ep - t0 * (pow(p->t_mult, n) - 1) / (p->t_mult - 1);
        ti = t0 * pow(p->t_mult, n);
      }
    }
    lr = p->eta_min + (base - p->eta_min) * (1 + cos(PI * tcur / ti)) / 2;
    break;
  }
  case NNCL_SCHED_ONECYCLE: lr = onecycle(p, base, t, mom); break;
  default: break; /* CONSTANT; PLATEAU's state holds its rate */
  }
  if (p->warmup_steps > 0) {
    double w = (double)(t < p->warmup_steps ? t : p->warmup_steps) / (double)p->warmup_steps;
    lr *= p->warmup_start + (1 - p->warmup_start) * w;
  }
  return lr;
}

int nncl_sched_check(const nncl_schedule_params *p, char *why, size_t n) {
  const char *bad = NULL;
  if (p->kind < 0 || p->kind >= NKINDS) bad = "unknown kind";
  else if (p->steps_per_epoch < 0 || p->epochs < 0) bad = "steps_per_epoch and epochs must be >= 0";
  else if (!(p->gamma > 0) || !isfinite(p->gamma)) bad = "gamma must be > 0";
  else if (p->kind == NNCL_SCHED_STEP && p->step_size < 1) bad = "step_size must be >= 1";
  else if (p->nmilestones < 0 || p->nmilestones > NNCL_SCHED_MAX_MILESTONES) bad = "too many milestones";
  else if (p->kind == NNCL_SCHED_COSINE && p->t_max < 0) bad = "t_max must be >= 0";
  else if (p->t_0 < 1 || p->t_mult < 1) bad = "t_0 and t_mult must be >= 1";
  else if (!(p->eta_min >= 0) || !(p->min_lr >= 0)) bad = "eta_min and min_lr must be >= 0";
  else if (!(p->factor > 0 && p->factor < 1)) bad = "factor must be in (0, 1)";
  else if (p->patience < 0 || p->cooldown < 0 || !(p->threshold >= 0)) bad = "patience, cooldown, threshold must be >= 0";
  else if (!(p->pct_start > 0 && p->pct_start < 1) || !(p->div_factor > 0) || !(p->final_div_factor > 0))
    bad = "pct_start must be in (0, 1), div_factor and final_div_factor > 0";
  else if (p->total_steps < 0) bad = "total_steps must be >= 0";
  else if (!(p->base_momentum >= 0 && p->base_momentum < 1) || !(p->max_momentum >= 0 && p->max_momentum < 1))
    bad = "base_momentum and max_momentum must be in [0, 1)";
  else if (p->warmup_steps < 0 || !(p->warmup_start > 0 && p->warmup_start <= 1))
    bad = "warmup must be >= 0 steps and warmup_start in (0, 1]";
  else if (p->base_batch < 0) bad = "base_batch must be >= 0";
  for (int k = 1; !bad && k < p->nmilestones; k++)
    if (p->milestones[k] <= p->milestones[k - 1]) bad = "milestones must increase";
  if (bad) snprintf(why, n, "%s", bad);
  return bad ? NNCL_EINVAL : 0;
}

/* The base rate after the linear scaling rule. */
static double scaled_base(const nncl_optim *o) {
  int b = o->sched.base_batch;
  return b > 0 ? (double)o->p.lr * (double)o->model->g.batch / b : o->p.lr;
}

/* Whether the optimizer's momentum can be cycled (it has a momentum term). */
static int has_momentum(const nncl_optim *o) {
  int k = o->p.kind;
  return k == NNCL_OPT_ADAM || k == NNCL_OPT_ADAMW || ((k == NNCL_OPT_SGD || k == NNCL_OPT_RMSPROP) && o->p.momentum > 0);
}

void nncl_sched_apply(nncl_optim *o) {
  double mom = o->mom;
  double lr = nncl_sched_lr(&o->sched, o->sched.kind == NNCL_SCHED_PLATEAU ? o->plateau.lr : scaled_base(o), o->t,
                            has_momentum(o) ? &mom : NULL);
  o->lr = (float)lr;
  o->mom = (float)mom;
}

static void plateau_reset(nncl_optim *o) {
  o->plateau = (nncl_plateau){.best = INFINITY, .lr = scaled_base(o)};
}

int nncl_optim_set_schedule(nncl_optim *o, const nncl_schedule_params *p) {
  if (!o || !p) return NNCL_EINVAL;
  char why[160];
  if (nncl_sched_check(p, why, sizeof why)) return nncl_err(o->model->ctx, NNCL_EINVAL, "schedule: %s", why);
  o->sched = *p;
  o->has_sched = 1;
  plateau_reset(o);
  nncl_sched_apply(o);
  return 0;
}

int nncl_sched_fit_begin(nncl_optim *o, int64_t batches_per_epoch, int epochs) {
  if (!o->has_sched) return 0;
  if (!o->sched.steps_per_epoch) o->sched.steps_per_epoch = batches_per_epoch;
  if (!o->sched.epochs) o->sched.epochs = (int)(o->t / (batches_per_epoch ? batches_per_epoch : 1)) + epochs;
  if (o->t == 0) plateau_reset(o);
  nncl_sched_apply(o);
  return 0;
}

void nncl_sched_state_text(const nncl_optim *o, char *buf, size_t n) {
  const nncl_plateau *s = &o->plateau;
  if (o->has_sched && o->sched.kind == NNCL_SCHED_PLATEAU)
    snprintf(buf, n, "plateau best=%.17g num_bad=%d cooldown=%d lr=%.17g", s->best, s->num_bad, s->cooldown_counter, s->lr);
  else snprintf(buf, n, "none");
}

int nncl_sched_state_parse(nncl_optim *o, const char *text) {
  nncl_plateau s;
  if (o->has_sched && o->sched.kind == NNCL_SCHED_PLATEAU && text &&
      sscanf(text, "plateau best=%lg num_bad=%d cooldown=%d lr=%lg", &s.best, &s.num_bad, &s.cooldown_counter, &s.lr) == 4) {
    if (!(s.lr > 0) || !isfinite(s.lr) || s.num_bad < 0 || s.cooldown_counter < 0)
      return nncl_err(o->model->ctx, NNCL_EFORMAT, "checkpoint: bad plateau state '%s'", text);
    o->plateau = s;
  }
  if (o->has_sched) nncl_sched_apply(o);
  return 0;
}

/* ReduceLROnPlateau.step(metrics), mode min, threshold_mode rel, eps 1e-8 */
int nncl_optim_epoch_end(nncl_optim *o, double loss) {
  if (!o) return NNCL_EINVAL;
  if (!o->has_sched || o->sched.kind != NNCL_SCHED_PLATEAU) return 0;
  nncl_plateau *s = &o->plateau;
  const nncl_schedule_params *p = &o->sched;
  if (loss < s->best * (1 - (double)p->threshold)) s->best = loss, s->num_bad = 0;
  else s->num_bad++;
  if (s->cooldown_counter > 0) s->cooldown_counter--, s->num_bad = 0;
  if (s->num_bad > p->patience) {
    double lr = s->lr * p->factor;
    if (lr < p->min_lr) lr = p->min_lr;
    if (s->lr - lr > 1e-8) s->lr = lr;
    s->cooldown_counter = p->cooldown;
    s->num_bad = 0;
  }
  nncl_sched_apply(o);
  return 0;
}

/* ---- "KIND:key=value,..." -------------------------------------------------------- */

int nncl_schedule_parse(const char *spec, nncl_schedule_params *p, char *err, size_t errlen) {
  if (!spec || !p) return NNCL_EINVAL;
  size_t kl = strcspn(spec, ":");
  int kind = -1;
  for (int k = 0; k < NKINDS; k++)
    if (strlen(kind_names[k]) == kl && !strncmp(spec, kind_names[k], kl)) kind = k;
  if (kind < 0) {
    snprintf(err, errlen, "unknown schedule '%.*s' (constant, step, multistep, exponential, cosine, cosine-restarts, plateau, onecycle)",
             (int)(kl < 64 ? kl : 64), spec);
    return NNCL_EINVAL;
  }
  p->kind = kind;
  const char *s = spec[kl] ? spec + kl + 1 : spec + kl;
  while (*s) {
    size_t len = strcspn(s, ","), eq = strcspn(s, "=");
    char key[32], val[128];
    if (eq >= len || eq >= sizeof key || len - eq - 1 >= sizeof val || len - eq - 1 == 0) {
      snprintf(err, errlen, "schedule: expected key=value at '%.*s'", (int)(len < 64 ? len : 64), s);
      return NNCL_EINVAL;
    }
    memcpy(key, s, eq), key[eq] = 0;
    memcpy(val, s + eq + 1, len - eq - 1), val[len - eq - 1] = 0;
    char *end;
    double v = strtod(val, &end);
    int ok = *end == 0 && isfinite(v), is_int = ok && v == floor(v) && fabs(v) < 2e9;
    if (!strcmp(key, "milestones")) {
      p->nmilestones = 0;
      ok = 1;
      for (char *q = val; ok && *q;) {
        long m = strtol(q, &end, 10);
        ok = end != q && (*end == '/' || !*end) && m >= 0 && m < 2000000000 && p->nmilestones < NNCL_SCHED_MAX_MILESTONES;
        if (ok) p->milestones[p->nmilestones++] = (int)m;
        q = *end ? end + 1 : end;
      }
    } else {
      struct { const char *k; float *f; int *i; int64_t *l; } keys[] = {
        {"gamma", &p->gamma, 0, 0}, {"step_size", 0, &p->step_size, 0}, {"t_max", 0, &p->t_max, 0}, {"t_0", 0, &p->t_0, 0},
        {"t_mult", 0, &p->t_mult, 0}, {"eta_min", &p->eta_min, 0, 0}, {"factor", &p->factor, 0, 0},
        {"patience", 0, &p->patience, 0}, {"threshold", &p->threshold, 0, 0}, {"cooldown", 0, &p->cooldown, 0},
        {"min_lr", &p->min_lr, 0, 0}, {"total_steps", 0, 0, &p->total_steps}, {"pct_start", &p->pct_start, 0, 0},
        {"div_factor", &p->div_factor, 0, 0}, {"final_div_factor", &p->final_div_factor, 0, 0},
        {"three_phase", 0, &p->three_phase, 0}, {"cycle_momentum", 0, &p->cycle_momentum, 0},
        {"base_momentum", &p->base_momentum, 0, 0}, {"max_momentum", &p->max_momentum, 0, 0},
        {"warmup", 0, 0, &p->warmup_steps}, {"warmup_start", &p->warmup_start, 0, 0}, {"base_batch", 0, &p->base_batch, 0},
      };
      size_t k = 0, nk = sizeof keys / sizeof *keys;
      while (k < nk && strcmp(key, keys[k].k)) k++;
      if (k == nk) {
        snprintf(err, errlen, "schedule: unknown key '%s'", key);
        return NNCL_EINVAL;
      }
      if (keys[k].f && ok) *keys[k].f = (float)v;
      else if (keys[k].i && is_int) *keys[k].i = (int)v;
      else if (keys[k].l && is_int) *keys[k].l = (int64_t)v;
      else ok = 0;
    }
    if (!ok) {
      snprintf(err, errlen, "schedule: bad value '%s' for %s", val, key);
      return NNCL_EINVAL;
    }
    s += len + (s[len] == ',');
  }
  if (nncl_sched_check(p, err, errlen)) return NNCL_EINVAL;
  return 0;
}
