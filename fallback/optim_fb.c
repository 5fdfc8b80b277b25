/* optim_fb.c - SGD, Adam/AdamW, RMSprop and Adagrad updates as PyTorch defines them,
 * elementwise over n0; none while the skip flag t5 (when given) is non-zero. */
#include <math.h>

#include "fb.h"

typedef struct opt_job {
  float *w, *m, *v, *u;
  const float *g;
  const float *f;
  int flag, flag2;
} opt_job;

/* Whether t5, the optional skip flag, is raised (*skip set; 0) or the ref is bad. */
static int skipped(nncl_backend *be, const nncl_args *a, int *skip)
{
  const float *f;
  *skip = 0;
  if (!a->t[5].buf) return 0;
  FB_PTR(f, 5, 1);
  *skip = f[0] != 0.0f;
  return 0;
}

#define FB_SKIP()                                  \
  do {                                             \
    int skip_, st_ = skipped(be, a, &skip_);       \
    if (st_ || skip_) return st_;                  \
  } while (0)

/* Decoupled: w *= 1 - lr wd; else g = g + wd w. v = mu v + g; g = nesterov ? g + mu v : v;
 * w -= lr g */
static void sgd_range(void *p, size_t lo, size_t hi)
{
  const opt_job *j = p;
  float *restrict w = j->w, *restrict v = j->v;
  const float *restrict gr = j->g;
  const float lr = j->f[0], mu = j->f[1], wd = j->f[2];
  const float decay = j->flag2 ? 1.0f - lr * wd : 1.0f, l2 = j->flag2 ? 0.0f : wd;
  if (mu == 0.0f) {
    for (size_t k = lo; k < hi; k++) w[k] = w[k] * decay - lr * (gr[k] + l2 * w[k]);
  } else if (j->flag) {
    for (size_t k = lo; k < hi; k++) {
      float g = gr[k] + l2 * w[k];
      v[k] = mu * v[k] + g;
      w[k] = w[k] * decay - lr * (g + mu * v[k]);
    }
  } else {
    for (size_t k = lo; k < hi; k++) {
      v[k] = mu * v[k] + (gr[k] + l2 * w[k]);
      w[k] = w[k] * decay - lr * v[k];
    }
  }
}

int fb_sgd_update(nncl_backend *be, const nncl_args *a)
{
  size_t n = a->n[0];
  float *w, *v = NULL;
  const float *g;
  FB_PTR(w, 0, n);
  FB_PTR(g, 1, n);
  if (a->f[1] != 0.0f) FB_PTR(v, 2, n);
  FB_SKIP();
  opt_job j = {.w = w, .v = v, .g = g, .f = a->f, .flag = a->i[0], .flag2 = a->i[1]};
  fb_parallel(fb_of(be), n, FB_GRAIN_MEM, 16, sgd_range, &j);
  return 0;
}

/* AdamW: w *= 1 - lr wd; Adam: g += wd w. m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;
 * w -= lr (m c1) / (sqrt(v c2) + eps) */
static void adam_range(void *p, size_t lo, size_t hi)
{
  const opt_job *j = p;
  float *restrict w = j->w, *restrict m = j->m, *restrict v = j->v;
  const float *restrict gr = j->g;
  const float lr = j->f[0], b1 = j->f[1], b2 = j->f[2], eps = j->f[3], wd = j->f[4];
  const float c1 = j->f[5], c2 = j->f[6];
  const float decay = j->flag ? 1.0f - lr * wd : 1.0f, l2 = j->flag ? 0.0f : wd;
  for (size_t k = lo; k < hi; k++) {
    float g = gr[k] + l2 * w[k];
    m[k] = b1 * m[k] + (1.0f - b1) * g;
    v[k] = b2 * v[k] + (1.0f - b2) * (g * g);
    w[k] = w[k] * decay - lr * (m[k] * c1) / (sqrtf(v[k] * c2) + eps);
  }
}

int fb_adam_update(nncl_backend *be, const nncl_args *a)
{
  size_t n = a->n[0];
  float *w, *m, *v;
  const float *g;
  FB_PTR(w, 0, n);
  FB_PTR(g, 1, n);
  FB_PTR(m, 2, n);
  FB_PTR(v, 3, n);
  FB_SKIP();
  opt_job j = {.w = w, .m = m, .v = v, .g = g, .f = a->f, .flag = a->i[0]};
  fb_parallel(fb_of(be), n, FB_GRAIN_MEM / 4, 16, adam_range, &j);
  return 0;
}

/* Decoupled: w *= 1 - lr wd; else g += wd w. s = a s + (1-a) g^2; centered: c = a c + (1-a) g,
 * d = sqrt(s - c^2) + eps, else d = sqrt(s) + eps; momentum: b = mom b + g/d, w -= lr b;
 * else w -= lr g/d. m = square_avg, v = momentum buffer, u = grad_avg. */
static void rmsprop_range(void *p, size_t lo, size_t hi)
{
  const opt_job *j = p;
  float *restrict w = j->w, *restrict s = j->m, *restrict b = j->v, *restrict c = j->u;
  const float *restrict gr = j->g;
  const float lr = j->f[0], al = j->f[1], eps = j->f[2], wd = j->f[3], mom = j->f[4];
  const float decay = j->flag2 ? 1.0f - lr * wd : 1.0f, l2 = j->flag2 ? 0.0f : wd;
  for (size_t k = lo; k < hi; k++) {
    float g = gr[k] + l2 * w[k];
    s[k] = al * s[k] + (1.0f - al) * (g * g);
    float var = s[k];
    if (j->flag) {
      c[k] = al * c[k] + (1.0f - al) * g;
      var = s[k] - c[k] * c[k];
    }
    float step = g / (sqrtf(var) + eps);
    if (mom != 0.0f) {
      b[k] = mom * b[k] + step;
      step = b[k];
    }
    w[k] = w[k] * decay - lr * step;
  }
}

int fb_rmsprop_update(nncl_backend *be, const nncl_args *a)
{
  size_t n = a->n[0];
  float *w, *s, *b = NULL, *c = NULL;
  const float *g;
  FB_PTR(w, 0, n);
  FB_PTR(g, 1, n);
  FB_PTR(s, 2, n);
  if (a->f[4] != 0.0f) FB_PTR(b, 3, n);
  if (a->i[0]) FB_PTR(c, 4, n);
  FB_SKIP();
  opt_job j = {.w = w, .m = s, .v = b, .u = c, .g = g, .f = a->f, .flag = a->i[0], .flag2 = a->i[1]};
  fb_parallel(fb_of(be), n, FB_GRAIN_MEM / 4, 16, rmsprop_range, &j);
  return 0;
}

/* Decoupled: w *= 1 - clr wd; else g += wd w. sum += g^2; w -= clr g / (sqrt(sum) + eps) */
static void adagrad_range(void *p, size_t lo, size_t hi)
{
  const opt_job *j = p;
  float *restrict w = j->w, *restrict s = j->m;
  const float *restrict gr = j->g;
  const float lr = j->f[0], eps = j->f[1], wd = j->f[2];
  const float decay = j->flag ? 1.0f - lr * wd : 1.0f, l2 = j->flag ? 0.0f : wd;
  for (size_t k = lo; k < hi; k++) {
    float g = gr[k] + l2 * w[k];
    s[k] += g * g;
    w[k] = w[k] * decay - lr * g / (sqrtf(s[k]) + eps);
  }
}

int fb_adagrad_update(nncl_backend *be, const nncl_args *a)
{
  size_t n = a->n[0];
  float *w, *s;
  const float *g;
  FB_PTR(w, 0, n);
  FB_PTR(g, 1, n);
  FB_PTR(s, 2, n);
  FB_SKIP();
  opt_job j = {.w = w, .m = s, .g = g, .f = a->f, .flag = a->i[0]};
  fb_parallel(fb_of(be), n, FB_GRAIN_MEM / 4, 16, adagrad_range, &j);
  return 0;
}
