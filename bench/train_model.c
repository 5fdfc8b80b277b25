/* train_model.c - training throughput of a model file on Fashion-MNIST (Adam lr 1e-3,
 * batch 64, shuffled): the C backend, OpenCL when a device opens, and PyTorch's version of
 * the same network in the same run (bench/train_torch.py) when /usr/bin/python3 imports
 * torch. Each figure is the median of --repeats epochs (or of --batches batches each) timed
 * around nncl_fit; ratios are nncl / PyTorch.
 *
 * usage: train_model MODEL [--torch mlp|cnn|resnet|lstm|transformer|none] [--data DIR] [--threads N]
 *                    [--batches N] [--repeats N] [--device DEV] [--no-cl] [--freeze LAYERS]
 *   MODEL: a model file, e.g. examples/models/seed_mlp.txt (relative paths are also tried
 *          under the source tree)
 *   --torch: PyTorch's model (default: from the file name: seed_mlp mlp, lenet5 cnn,
 *            resnet_small resnet, lstm_rows lstm, transformer_rows transformer; else none)
 *   --no-cl: skip the OpenCL run
 *   --freeze LAYERS: also time the C backend with those layers frozen (as nncl train
 *            --freeze): frozen layers do no weight-gradient work
 *   --device: the OpenCL device string (default $NNCL_DEVICE when it names cl, else "cl")
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "bench/benchutil.h"
#include "nncl.h"
#include "nncl_config.h"

#define BATCH 64
#define MAX_REPEATS 15

typedef struct opts {
  const char *model, *torch, *data, *device, *freeze;
  int threads, batches, repeats, cl;
} opts;

/* PyTorch's twin of the example models, by file name. */
static const char *torch_twin(const char *model) {
  static const char *const twins[][2] = {
    {"seed_mlp.txt", "mlp"}, {"lenet5.txt", "cnn"},           {"resnet_small.txt", "resnet"},
    {"lstm_rows.txt", "lstm"}, {"transformer_rows.txt", "transformer"}};
  const char *base = strrchr(model, '/') ? strrchr(model, '/') + 1 : model;
  for (size_t k = 0; k < sizeof twins / sizeof *twins; k++)
    if (!strcmp(base, twins[k][0])) return twins[k][1];
  return "none";
}

/* CPU seconds of this process (all threads): samples per CPU second are much less
 * disturbed by other processes than samples per second. */
static double cpu_s(void) {
  struct rusage ru;
  if (getrusage(RUSAGE_SELF, &ru)) return 0;
  return (double)ru.ru_utime.tv_sec + 1e-6 * (double)ru.ru_utime.tv_usec + (double)ru.ru_stime.tv_sec + 1e-6 * (double)ru.ru_stime.tv_usec;
}

static double peak_rss_mb(void) {
  struct rusage ru;
  return getrusage(RUSAGE_SELF, &ru) ? -1 : (double)ru.ru_maxrss / 1024.0; /* ru_maxrss is KiB on Linux */
}

static int last_loss(void *user, const nncl_epoch_stats *s, int epoch_end) {
  if (epoch_end) *(double *)user = s->train_loss;
  return 0;
}

/* Times `repeats` epochs of the model on `device`; rates in samples/s. Returns 0, or a
 * status with the reason in why. */
static int run_nncl(const opts *o, const char *device, const char *freeze, double *rates, double *cpu_rates, char *desc,
                    size_t dlen, char *why, size_t wlen) {
  nncl_ctx_params p;
  nncl_ctx_params_init(&p);
  p.device = device;
  p.threads = o->threads;
  p.seed = 1;
  nncl_ctx *ctx;
  int r = nncl_ctx_create(&p, &ctx, why, wlen);
  if (r) return r;
  snprintf(desc, dlen, "%s", nncl_ctx_device(ctx));
  nncl_model *m = NULL;
  nncl_optim *opt = NULL;
  nncl_dataset *all = NULL, *sub = NULL;
  float *x = NULL;
  int32_t *y = NULL;
  if ((r = nncl_dataset_load_idx_dir(ctx, o->data, "train", &all))) goto done;
  const nncl_dataset *train = all;
  if (o->batches > 0 && (int64_t)o->batches * BATCH < nncl_dataset_size(all)) {
    int64_t n = (int64_t)o->batches * BATCH;
    const int64_t shape[1] = {nncl_dataset_sample_size(all)};
    x = malloc((size_t)n * (size_t)shape[0] * sizeof *x);
    y = malloc((size_t)n * sizeof *y);
    if (!x || !y) {
      r = NNCL_ENOMEM;
      goto done;
    }
    if ((r = nncl_dataset_read(all, 0, n, x, y)) ||
        (r = nncl_dataset_from_arrays(ctx, n, 1, shape, x, y, nncl_dataset_classes(all), &sub)))
      goto done;
    train = sub;
  }
  nncl_optim_params op;
  nncl_optim_params_init(&op); /* Adam, lr 1e-3 */
  nncl_fit_params fp;
  nncl_fit_params_init(&fp);
  fp.batch = BATCH;
  fp.epochs = 1;
  double loss = 0;
  fp.progress = last_loss;
  fp.user = &loss;
  char path[4096];
  snprintf(path, sizeof path, "%s%s", access(o->model, R_OK) ? NNCL_SOURCE_DIR "/" : "", o->model);
  if ((r = nncl_model_parse_file(ctx, path, &m)) || (r = nncl_model_compile(m, BATCH, NNCL_MODE_TRAIN)) ||
      (freeze && (r = nncl_model_freeze(m, freeze, 1))) || (r = nncl_optim_create(m, &op, &opt)))
    goto done;
  printf("  %-8s", device);
  for (int i = 0; i < o->repeats; i++) {
    double t0 = bench_now_s(), c0 = cpu_s();
    if ((r = nncl_fit(m, opt, train, NULL, &fp))) goto done;
    rates[i] = (double)nncl_dataset_size(train) / (bench_now_s() - t0);
    cpu_rates[i] = (double)nncl_dataset_size(train) / (cpu_s() - c0);
    printf(" %.0f (loss %.3f, %.0f per CPU s)", rates[i], loss, cpu_rates[i]);
    fflush(stdout);
  }
  printf("\n");
done:
  if (r) snprintf(why, wlen, "%s: %s", nncl_strerror(r), nncl_errmsg(ctx));
  free(x);
  free(y);
  nncl_optim_destroy(opt);
  nncl_model_destroy(m);
  nncl_dataset_destroy(sub);
  nncl_dataset_destroy(all);
  nncl_ctx_destroy(ctx);
  return r;
}

/* PyTorch's median samples/s (and per CPU second in *cpu_rate) from bench/train_torch.py,
 * or a negative value. */
static double run_torch(const opts *o, char version[64], double *cpu_rate) {
  if (system("/usr/bin/python3 -c 'import torch' >/dev/null 2>&1") != 0) return -1;
  char cmd[8192], line[1024];
  snprintf(cmd, sizeof cmd,
           "OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=%d /usr/bin/python3 '%s/bench/train_torch.py' --model %s --data '%s' "
           "--threads %d --batches %d --repeats %d",
           o->threads, NNCL_SOURCE_DIR, o->torch, o->data, o->threads, o->batches, o->repeats);
  FILE *f = popen(cmd, "r");
  if (!f) return -1;
  double rate = -1;
  snprintf(version, 64, "?");
  while (fgets(line, sizeof line, f)) {
    printf("  torch    %s", line);
    sscanf(line, "median_samples_per_s %lf", &rate);
    sscanf(line, "median_samples_per_cpu_s %lf", cpu_rate);
    sscanf(line, "torch %63s", version);
  }
  return pclose(f) == 0 ? rate : -1;
}

static int usage(void) {
  fprintf(stderr, "usage: train_model MODEL [--torch mlp|cnn|resnet|lstm|transformer|none] [--data DIR] [--threads N]\n"
                  "                   [--batches N] [--repeats N] [--device DEV] [--no-cl] [--freeze LAYERS]\n");
  return 2;
}

int main(int argc, char **argv) {
  opts o = {.data = "/usr/share/datasets/fashion-mnist", .threads = 2, .repeats = 3, .cl = 1};
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (a[0] != '-' && !o.model) o.model = a;
    else if (!strcmp(a, "--no-cl")) o.cl = 0;
    else if (!v) return usage();
    else if (!strcmp(a, "--torch")) o.torch = v, i++;
    else if (!strcmp(a, "--freeze")) o.freeze = v, i++;
    else if (!strcmp(a, "--data")) o.data = v, i++;
    else if (!strcmp(a, "--device")) o.device = v, i++;
    else if (!strcmp(a, "--threads")) o.threads = atoi(v), i++;
    else if (!strcmp(a, "--batches")) o.batches = atoi(v), i++;
    else if (!strcmp(a, "--repeats")) o.repeats = atoi(v), i++;
    else return usage();
  }
  if (!o.model || o.threads < 1 || o.batches < 0 || o.repeats < 1 || o.repeats > MAX_REPEATS) return usage();
  if (!o.torch) o.torch = torch_twin(o.model);
  int torch = strcmp(o.torch, "none") != 0;
  const char *env = getenv("NNCL_DEVICE");
  const char *cl_dev = o.device ? o.device : env && !strncmp(env, "cl", 2) ? env : "cl";

  char cpu[256], why[1024], tv[64];
  bench_cpu_model(cpu, sizeof cpu);
  printf("train_model: %s (PyTorch: %s), Adam lr 1e-3, batch %d, %s, median of %d\n", o.model, o.torch, BATCH,
         o.batches ? "limited batches" : "full epochs", o.repeats);
  printf("machine: %s, %ld cores online, %d threads, nncl %s, load average %.2f\n", cpu, sysconf(_SC_NPROCESSORS_ONLN),
         o.threads, nncl_version(), bench_load_average());
  if (o.batches) printf("batches per repeat: %d (%d samples)\n", o.batches, o.batches * BATCH);
  printf("samples/s per repeat:\n");

  double c_rates[MAX_REPEATS], cl_rates[MAX_REPEATS], c_cpu[MAX_REPEATS], cl_cpu[MAX_REPEATS], c_med = -1, cl_med = -1, rss = -1,
         t_cpu = -1;
  char c_desc[512] = "", cl_desc[512] = "";
  if (run_nncl(&o, "c", NULL, c_rates, c_cpu, c_desc, sizeof c_desc, why, sizeof why)) {
    fprintf(stderr, "train_model: C backend failed: %s\n", why);
    return 1;
  }
  c_med = bench_median(c_rates, o.repeats);
  rss = peak_rss_mb();
  if (!o.cl) printf("  %-8s not run (--no-cl)\n", cl_dev);
  else if (run_nncl(&o, cl_dev, NULL, cl_rates, cl_cpu, cl_desc, sizeof cl_desc, why, sizeof why) == 0)
    cl_med = bench_median(cl_rates, o.repeats);
  else printf("  %-8s not run: %s\n", cl_dev, why);
  double f_rates[MAX_REPEATS], f_cpu[MAX_REPEATS], f_med = -1;
  if (o.freeze && run_nncl(&o, "c", o.freeze, f_rates, f_cpu, c_desc, sizeof c_desc, why, sizeof why)) {
    fprintf(stderr, "train_model: C backend with --freeze %s failed: %s\n", o.freeze, why);
    return 1;
  }
  if (o.freeze) f_med = bench_median(f_rates, o.repeats);
  double t_med = torch ? run_torch(&o, tv, &t_cpu) : -1;
  if (torch && t_med < 0) printf("  torch    not run: /usr/bin/python3 cannot import torch or the script failed\n");

  printf("\nresults (median samples/s; load average now %.2f):\n", bench_load_average());
  printf("  nncl C       %10.0f   %s\n", c_med, c_desc);
  printf("  peak RSS after the C run: %.0f MiB (includes the 47 MB uint8 training set)\n", rss);
  if (f_med > 0) printf("  nncl C, %s frozen: %.0f (%.2fx the unfrozen run: no weight-gradient work for them)\n", o.freeze, f_med, f_med / c_med);
  if (cl_med > 0) printf("  nncl OpenCL  %10.0f   %s\n", cl_med, cl_desc);
  if (t_med > 0) {
    printf("  PyTorch      %10.0f   torch %s, %d threads, OPENBLAS_NUM_THREADS=1\n", t_med, tv, o.threads);
    printf("  ratio nncl C / PyTorch:      %.2f\n", c_med / t_med);
    if (t_cpu > 0)
      printf("  per CPU second: nncl C %.0f, PyTorch %.0f samples, ratio %.2f\n", bench_median(c_cpu, o.repeats), t_cpu,
             bench_median(c_cpu, o.repeats) / t_cpu);
    if (cl_med > 0) printf("  ratio nncl OpenCL / PyTorch: %.2f\n", cl_med / t_med);
  }
  if (cl_med > 0) printf("  ratio nncl OpenCL / nncl C:  %.2f\n", cl_med / c_med);
  return 0;
}
