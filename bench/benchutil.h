/* benchutil.h - what the benchmarks share: a clock, medians, timing a call, the
 * machine's description (CPU model, load average) and the command-line options.
 * Header-only. */
#ifndef NNCL_BENCHUTIL_H
#define NNCL_BENCHUTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static inline double bench_now_s(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static inline int bench_cmp_double(const void *a, const void *b)
{
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* Median of v[0..n), n <= 64 (v is left as it was). */
static inline double bench_median(const double *v, int n)
{
  double s[64];
  n = n < 64 ? n : 64;
  memcpy(s, v, (size_t)n * sizeof *s);
  qsort(s, (size_t)n, sizeof *s, bench_cmp_double);
  return n % 2 ? s[n / 2] : 0.5 * (s[n / 2 - 1] + s[n / 2]);
}

/* Median seconds per call of fn(user) over `reps` (<= 64) timed batches, each long enough
 * (>= 2 ms) to time, after a pause of pause_ms: spinning workers of whatever ran before
 * (OpenBLAS's spin ~0.1 s) would steal the cores. -1 when a call fails. */
static inline double bench_time_call(int (*fn)(void *user), void *user, int reps, int pause_ms)
{
  nanosleep(&(struct timespec){pause_ms / 1000, (long)(pause_ms % 1000) * 1000000L}, NULL);
  double t0 = bench_now_s(), ts[64];
  int inner = 0;
  do {
    if (fn(user)) return -1;
    inner++;
  } while (bench_now_s() - t0 < 2e-3);
  reps = reps < 64 ? reps : 64;
  for (int r = 0; r < reps; r++) {
    t0 = bench_now_s();
    for (int i = 0; i < inner; i++)
      if (fn(user)) return -1;
    ts[r] = (bench_now_s() - t0) / inner;
  }
  return bench_median(ts, reps);
}

static inline void bench_cpu_model(char *out, size_t n)
{
  snprintf(out, n, "unknown CPU");
  FILE *f = fopen("/proc/cpuinfo", "r");
  if (!f) return;
  char line[512];
  while (fgets(line, sizeof line, f)) {
    char *colon = strchr(line, ':');
    if (!strncmp(line, "model name", 10) && colon) {
      snprintf(out, n, "%s", colon + 2);
      out[strcspn(out, "\n")] = 0;
      break;
    }
  }
  fclose(f);
}

/* The 1-minute load average: other processes share the cores the timings assume. */
static inline double bench_load_average(void)
{
  double l[1];
  return getloadavg(l, 1) == 1 ? l[0] : -1;
}

/* The options bench_gemm and bench_conv take: --threads N (0, the default: all cores),
 * --device cl[:...] (an OpenCL device to run too; default $NNCL_DEVICE when it names one),
 * --quick (fewer repetitions). */
typedef struct bench_options {
  int threads, quick;
  const char *cldev; /* NULL: none */
} bench_options;

/* Fills o from the command line. Returns 0, or 2 (the exit status) after printing the usage. */
static inline int bench_parse_options(int argc, char **argv, bench_options *o)
{
  o->threads = 0, o->quick = 0;
  o->cldev = getenv("NNCL_DEVICE");
  if (o->cldev && strncmp(o->cldev, "cl", 2)) o->cldev = NULL;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--threads") && i + 1 < argc) {
      o->threads = atoi(argv[++i]);
    } else if (!strcmp(argv[i], "--device") && i + 1 < argc) {
      o->cldev = argv[++i];
    } else if (!strcmp(argv[i], "--quick")) {
      o->quick = 1;
    } else {
      fprintf(stderr, "usage: %s [--threads N] [--device cl[:...]] [--quick]\n", argv[0]);
      return 2;
    }
  }
  return 0;
}

#endif
