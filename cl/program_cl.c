/* program_cl.c - kernel sources, tunables, lazy program builds and kernel objects. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cl/backend_cl.h"
#include "internal.h"

static const char *const family_names[] = {
#define NNCL_X_(id, file) #file,
    NNCL_CL_FAMILIES(NNCL_X_)
#undef NNCL_X_
};

static const struct {
  int fam;
  const char *name;
} kernels[] = {
#define NNCL_X_(id, fam, name) {NNCL_CL_FAM_##fam, #name},
    NNCL_CL_KERNELS(NNCL_X_)
#undef NNCL_X_
};

const char *nncl_cl_family_name(int fam) { return family_names[fam]; }

const char *nncl_cl_kernel_name(int kid) { return kernels[kid].name; }

static int floor_pow2(size_t v, int cap)
{
  int p = 1;
  while ((size_t)p * 2 <= v && p * 2 <= cap)
    p *= 2;
  return p;
}

void nncl_cl_tune_init(nncl_clbe *b)
{
  const nncl_cl_dev *d = &b->dev;
  int gpu = (d->type & (CL_DEVICE_TYPE_GPU | CL_DEVICE_TYPE_ACCELERATOR)) != 0;
  nncl_cl_tune *t = &b->tune;
  t->vw = floor_pow2(d->vec_float ? d->vec_float : 1, gpu ? 4 : 8);
  t->ls = floor_pow2(d->max_wg, 256);
  t->rwg = floor_pow2(d->max_wg, gpu ? 256 : 64);
  t->sum_k = gpu ? 8 : 64;
  t->srx = gpu ? 32 : 64;
  t->sry = gpu ? floor_pow2(d->max_wg / (size_t)t->srx, 8) : 1;
  /* A narrow row is one work-item's loop; a wide one a work-group's. On a CPU a loop is
   * cheap and work-groups are not. */
  t->wide_cols = gpu ? 64 : 2048;
  /* gemm.cl: measured on PoCL (AVX-512, 2 cores) 64/64/16 with 16 x 16 blocks of float16
   * runs ~18 GFLOPS, 4 x 4 blocks ~1.5. GPUs: 16 x 16 items of 4 x 4 (float4). */
  t->tm = t->tn = 64;
  t->tk = 16;
  if (gpu) {
    t->vn = t->wm = t->wn = 4;
    if (d->max_wg < 256)
      t->tm = t->tn = 32;
  } else {
    t->vn = floor_pow2(d->vec_float ? d->vec_float : 4, 16);
    t->vn = t->vn < 4 ? 4 : t->vn;
    t->wm = t->wn = 16;
  }
}

static void family_options(const nncl_clbe *b, int fam, char *out, size_t n)
{
  const nncl_cl_tune *t = &b->tune;
  int k = snprintf(out, n, "-cl-std=CL1.2");
  switch (fam) {
  case NNCL_CL_FAM_SOFTMAX:
    snprintf(out + k, n - k, " -DVW=%d -DRWG=%d -DSUM_K=%d -DSRX=%d -DSRY=%d", t->vw, t->rwg,
             t->sum_k, t->srx, t->sry);
    break;
  case NNCL_CL_FAM_GEMM:
    snprintf(out + k, n - k, " -DTM=%d -DTN=%d -DTK=%d -DWM=%d -DWN=%d -DVN=%d", t->tm, t->tn,
             t->tk, t->wm, t->wn, t->vn);
    break;
  default:
    snprintf(out + k, n - k, " -DVW=%d", t->vw);
    break;
  }
}

/* Source text of <name>.cl: embedded, or read from NNCL_KERNEL_DIR (malloc'd into *own). */
static int load_source(nncl_clbe *b, const char *name, const char **text, size_t *len, char **own)
{
  *own = NULL;
  if (!b->kernel_dir[0]) {
    for (int k = 0; k < nncl_cl_nsrcs; k++)
      if (strcmp(nncl_cl_srcs[k].name, name) == 0) {
        *text = nncl_cl_srcs[k].text;
        *len = nncl_cl_srcs[k].len;
        return 0;
      }
    return nncl_err(b->be.ctx, NNCL_EBUILD, "cl: no embedded kernel source %s.cl", name);
  }
  char path[1100];
  snprintf(path, sizeof path, "%s/%s.cl", b->kernel_dir, name);
  FILE *f = fopen(path, "rb");
  if (!f)
    return nncl_err(b->be.ctx, NNCL_EIO, "NNCL_KERNEL_DIR: cannot open %s: %s", path,
                    strerror(errno));
  long size = fseek(f, 0, SEEK_END) == 0 ? ftell(f) : -1;
  size_t head = strlen(path) + 16;
  char *buf = size >= 0 && fseek(f, 0, SEEK_SET) == 0 ? malloc(head + (size_t)size + 2) : NULL;
  if (!buf) {
    fclose(f);
    return nncl_err(b->be.ctx, NNCL_EIO, "NNCL_KERNEL_DIR: cannot read %s", path);
  }
  /* #line makes compiler messages name the file on disk. */
  int h = snprintf(buf, head, "#line 1 \"%s\"\n", path);
  size_t got = fread(buf + h, 1, (size_t)size, f);
  int bad = ferror(f);
  fclose(f);
  if (bad || got != (size_t)size) {
    free(buf);
    return nncl_err(b->be.ctx, NNCL_EIO, "NNCL_KERNEL_DIR: short read of %s", path);
  }
  /* The next source starts with #line: end this one with a newline. */
  if (got == 0 || buf[h + got - 1] != '\n')
    buf[h + got++] = '\n';
  buf[h + got] = 0;
  *text = *own = buf;
  *len = (size_t)h + got;
  return 0;
}

static double now_s(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int build_failed(nncl_clbe *b, cl_program prog, cl_int err, const char *what,
                        const char *options)
{
  size_t len = 0;
  char *log = NULL;
  if (clGetProgramBuildInfo(prog, b->dev.device, CL_PROGRAM_BUILD_LOG, 0, NULL, &len) ==
          CL_SUCCESS &&
      (log = calloc(len + 1, 1)) != NULL)
    clGetProgramBuildInfo(prog, b->dev.device, CL_PROGRAM_BUILD_LOG, len, log, NULL);
  int st = nncl_err(b->be.ctx, NNCL_EBUILD, "clBuildProgram(%s) on %s: %s (%d), options \"%s\"; build log:\n%s",
                    what, b->dev.name, nncl_cl_errname(err), (int)err, options, log ? log : "(none)");
  free(log);
  return st;
}

static int build_source(nncl_clbe *b, const char **src, const size_t *len, const char *what,
                        const char *options, cl_program *out)
{
  cl_int err;
  cl_program prog = clCreateProgramWithSource(b->context, 2, src, len, &err);
  char call[96];
  if (err != CL_SUCCESS) {
    snprintf(call, sizeof call, "clCreateProgramWithSource(%s)", what);
    return nncl_cl_fail(b, err, call);
  }
  err = clBuildProgram(prog, 1, &b->dev.device, options, NULL, NULL);
  if (err != CL_SUCCESS) {
    int st = err == CL_BUILD_PROGRAM_FAILURE || err == CL_INVALID_BUILD_OPTIONS
                 ? build_failed(b, prog, err, what, options)
                 : nncl_cl_fail(b, err, "clBuildProgram");
    clReleaseProgram(prog);
    return st;
  }
  *out = prog;
  return 0;
}

/* A family's build inputs: prelude + family source, options, and a name for messages. */
typedef struct fam_src {
  const char *src[2];
  size_t len[2];
  char *own[2];
  char options[256], what[64];
} fam_src;

static int fam_src_load(nncl_clbe *b, int fam, fam_src *s)
{
  memset(s, 0, sizeof *s);
  family_options(b, fam, s->options, sizeof s->options);
  snprintf(s->what, sizeof s->what, "%s.cl", family_names[fam]);
  int st = load_source(b, "prelude", &s->src[0], &s->len[0], &s->own[0]);
  return st ? st : load_source(b, family_names[fam], &s->src[1], &s->len[1], &s->own[1]);
}

static void fam_src_free(fam_src *s)
{
  free(s->own[0]);
  free(s->own[1]);
}

/* ---- builds ahead of use -------------------------------------------------------------
 * nncl_cl_prepare creates the programs a model will need and a thread runs clBuildProgram
 * on them (thread-safe in OpenCL; the thread touches nothing else), while the caller goes
 * on (loading data, say). The first nncl_cl_build afterwards joins the thread and adopts
 * what built; a program that failed is rebuilt there, which reports its build log. */
typedef struct warm_item {
  int fam;
  cl_program prog;
  uint64_t key;        /* binary cache key (when the cache is on) */
  char options[256];
  cl_int err;
  double seconds;
} warm_item;

struct nncl_cl_warm {
  pthread_t thread;
  pthread_mutex_t lock;
  pthread_cond_t cond;
  cl_device_id device;
  int n;
  int done;            /* items built (under lock) */
  int adopted;         /* items taken over by the backend (caller's thread only) */
  warm_item item[NNCL_CL_FAM_COUNT];
};

static void *warm_thread(void *arg)
{
  nncl_cl_warm *w = arg;
  for (int k = 0; k < w->n; k++) {
    double t0 = now_s();
    w->item[k].err = clBuildProgram(w->item[k].prog, 1, &w->device, w->item[k].options, NULL, NULL);
    w->item[k].seconds = now_s() - t0;
    pthread_mutex_lock(&w->lock);
    w->done = k + 1;
    pthread_cond_broadcast(&w->cond);
    pthread_mutex_unlock(&w->lock);
  }
  return NULL;
}

/* Takes over the built programs, first waiting for family fam's when it is being built
 * (fam -1: for all of them); ends the thread once everything is taken over. */
static void warm_adopt(nncl_clbe *b, int fam)
{
  nncl_cl_warm *w = b->warm;
  int need = fam < 0 ? w->n : 0;
  for (int k = w->adopted; k < w->n && fam >= 0; k++)
    if (w->item[k].fam == fam)
      need = k + 1;
  pthread_mutex_lock(&w->lock);
  while (w->done < need)
    pthread_cond_wait(&w->cond, &w->lock);
  int done = w->done;
  pthread_mutex_unlock(&w->lock);
  for (; w->adopted < done; w->adopted++) {
    warm_item *it = &w->item[w->adopted];
    if (it->err != CL_SUCCESS) { /* rebuilt on first use, which reports the build log */
      clReleaseProgram(it->prog);
      continue;
    }
    b->prog[it->fam] = it->prog;
    if (b->binary_cache)
      nncl_cl_cache_store(b, it->key, it->prog, family_names[it->fam]);
    nncl_log(b->be.ctx, NNCL_LOG_DEBUG, "cl: built %s.cl in %.3f s (ahead of use)",
             family_names[it->fam], it->seconds);
  }
  if (w->adopted < w->n)
    return;
  pthread_join(w->thread, NULL);
  pthread_mutex_destroy(&w->lock);
  pthread_cond_destroy(&w->cond);
  free(w);
  b->warm = NULL;
}

/* Family of an op: that of the kernel named after it ("tanh" runs "tanh_fwd"); -1 if none. */
static int op_family(const nncl_clbe *b, int op)
{
  const char *name = nncl_op_name(op);
  if (!name || (op == NNCL_OP_MATMUL && b->gemm_clblast))
    return -1;
  size_t n = strlen(name);
  for (int k = 0; k < NNCL_CL_K_COUNT; k++)
    if (strncmp(kernels[k].name, name, n) == 0 &&
        (kernels[k].name[n] == 0 || strcmp(kernels[k].name + n, "_fwd") == 0))
      return kernels[k].fam;
  return -1;
}

void nncl_cl_prepare(nncl_backend *be, const int *ops, int nops)
{
  nncl_clbe *b = (nncl_clbe *)be;
  if (b->warm)
    warm_adopt(b, -1);
  if (nncl_cl_alive(b) != 0)
    return;
  nncl_cl_warm *w = calloc(1, sizeof *w);
  if (!w)
    return;
  w->device = b->dev.device;
  int queued[NNCL_CL_FAM_COUNT] = {0};
  for (int k = 0; k < nops; k++) {
    int fam = op_family(b, ops[k]);
    if (fam < 0 || b->prog[fam] || queued[fam])
      continue;
    queued[fam] = 1;
    fam_src s;
    if (fam_src_load(b, fam, &s) != 0) { /* reported again when the family is first used */
      fam_src_free(&s);
      continue;
    }
    warm_item *it = &w->item[w->n];
    it->key = b->binary_cache ? nncl_cl_cache_key(b, s.src, s.len, 2, s.options) : 0;
    cl_program cached = b->binary_cache ? nncl_cl_cache_load(b, it->key, s.options, s.what) : NULL;
    cl_int err = CL_SUCCESS;
    if (cached)
      b->prog[fam] = cached;
    else if ((it->prog = clCreateProgramWithSource(b->context, 2, s.src, s.len, &err)) != NULL &&
             err == CL_SUCCESS) {
      it->fam = fam;
      snprintf(it->options, sizeof it->options, "%s", s.options);
      w->n++;
    }
    fam_src_free(&s);
  }
  int started = w->n > 0 && pthread_mutex_init(&w->lock, NULL) == 0;
  if (started && pthread_cond_init(&w->cond, NULL) != 0) {
    pthread_mutex_destroy(&w->lock);
    started = 0;
  }
  if (started && pthread_create(&w->thread, NULL, warm_thread, w) != 0) {
    pthread_mutex_destroy(&w->lock);
    pthread_cond_destroy(&w->cond);
    started = 0;
  }
  if (!started) { /* nothing to build, or no thread: built on first use */
    for (int k = 0; k < w->n; k++)
      clReleaseProgram(w->item[k].prog);
    free(w);
    return;
  }
  b->warm = w;
}

int nncl_cl_build(nncl_clbe *b, int fam)
{
  fam_src s;
  cl_program prog = NULL;
  int st;
  if (b->warm)
    warm_adopt(b, fam);
  if (b->prog[fam])
    return 0;
  if ((st = nncl_cl_alive(b)) != 0)
    return st;
  if ((st = fam_src_load(b, fam, &s)) != 0)
    goto done;
  double t0 = now_s();
  uint64_t key = b->binary_cache ? nncl_cl_cache_key(b, s.src, s.len, 2, s.options) : 0;
  if (b->binary_cache)
    prog = nncl_cl_cache_load(b, key, s.options, s.what);
  int cached = prog != NULL;
  if (!prog && (st = build_source(b, s.src, s.len, s.what, s.options, &prog)) != 0)
    goto done;
  if (b->binary_cache && !cached)
    nncl_cl_cache_store(b, key, prog, s.what);
  b->prog[fam] = prog;
  nncl_log(b->be.ctx, NNCL_LOG_DEBUG, "cl: %s %s in %.3f s", cached ? "loaded" : "built", s.what,
           now_s() - t0);
done:
  fam_src_free(&s);
  return st;
}

int nncl_cl_kernel(nncl_clbe *b, int kid, cl_kernel *out)
{
  cl_int err;
  int st;
  if (!b->kern[kid]) {
    if ((st = nncl_cl_build(b, kernels[kid].fam)) != 0)
      return st;
    cl_kernel k = clCreateKernel(b->prog[kernels[kid].fam], kernels[kid].name, &err);
    if (err != CL_SUCCESS) {
      char call[96];
      snprintf(call, sizeof call, "clCreateKernel(%s)", kernels[kid].name);
      return nncl_cl_fail(b, err, call);
    }
    err = clGetKernelWorkGroupInfo(k, b->dev.device, CL_KERNEL_WORK_GROUP_SIZE,
                                   sizeof b->kern_wg[kid], &b->kern_wg[kid], NULL);
    if (err != CL_SUCCESS) {
      clReleaseKernel(k);
      return nncl_cl_fail(b, err, "clGetKernelWorkGroupInfo");
    }
    b->kern[kid] = k;
  }
  *out = b->kern[kid];
  return 0;
}

void nncl_cl_programs_release(nncl_clbe *b)
{
  if (b->warm)
    warm_adopt(b, -1);
  for (int k = 0; k < NNCL_CL_K_COUNT; k++)
    if (b->kern[k])
      clReleaseKernel(b->kern[k]);
  for (int f = 0; f < NNCL_CL_FAM_COUNT; f++)
    if (b->prog[f])
      clReleaseProgram(b->prog[f]);
  memset(b->kern, 0, sizeof b->kern);
  memset(b->prog, 0, sizeof b->prog);
}
