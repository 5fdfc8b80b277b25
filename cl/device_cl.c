/* device_cl.c - OpenCL platform and device discovery, ranking, choice and the report. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cl/backend_cl.h"
#include "internal.h"

void nncl_cl_pocl_env(void)
{
  char dir[1024];
  if (getenv("POCL_CACHE_DIR") || nncl_cache_dir(dir, sizeof dir - 8) != 0 || !dir[0])
    return;
  strcat(dir, "/pocl");
  if (mkdir(dir, 0700) != 0 && errno != EEXIST)
    return;
  setenv("POCL_CACHE_DIR", dir, 0);
}

const char *nncl_cl_type_name(cl_device_type t)
{
  if (t & CL_DEVICE_TYPE_GPU)
    return "GPU";
  if (t & CL_DEVICE_TYPE_ACCELERATOR)
    return "accelerator";
  if (t & CL_DEVICE_TYPE_CPU)
    return "CPU";
  return "other";
}

/* Copies a string property into out (n bytes), trimmed; "?" when the query fails. */
static void put_str(char *out, size_t n, const char *s, cl_int err)
{
  if (err != CL_SUCCESS || !s) {
    snprintf(out, n, "?");
    return;
  }
  while (isspace((unsigned char)*s))
    s++;
  snprintf(out, n, "%s", s);
  for (size_t k = strlen(out); k > 0 && isspace((unsigned char)out[k - 1]); k--)
    out[k - 1] = 0;
}

static void plat_str(cl_platform_id p, cl_platform_info what, char *out, size_t n)
{
  size_t len = 0;
  cl_int err = clGetPlatformInfo(p, what, 0, NULL, &len);
  char *s = err == CL_SUCCESS ? calloc(len + 1, 1) : NULL;
  if (s)
    err = clGetPlatformInfo(p, what, len, s, NULL);
  put_str(out, n, s, s ? err : CL_OUT_OF_HOST_MEMORY);
  free(s);
}

static void dev_str(cl_device_id d, cl_device_info what, char *out, size_t n)
{
  size_t len = 0;
  cl_int err = clGetDeviceInfo(d, what, 0, NULL, &len);
  char *s = err == CL_SUCCESS ? calloc(len + 1, 1) : NULL;
  if (s)
    err = clGetDeviceInfo(d, what, len, s, NULL);
  put_str(out, n, s, s ? err : CL_OUT_OF_HOST_MEMORY);
  free(s);
}

/* Scalar property; 0 when the query fails. */
static void dev_val(cl_device_id d, cl_device_info what, void *out, size_t size)
{
  memset(out, 0, size);
  if (clGetDeviceInfo(d, what, size, out, NULL) != CL_SUCCESS)
    memset(out, 0, size);
}

static void describe(nncl_cl_dev *v)
{
  cl_bool avail = 0, compiler = 0;
  int major = 0, minor = 0;
  dev_str(v->device, CL_DEVICE_NAME, v->name, sizeof v->name);
  dev_str(v->device, CL_DEVICE_VENDOR, v->vendor, sizeof v->vendor);
  dev_str(v->device, CL_DRIVER_VERSION, v->driver, sizeof v->driver);
  dev_str(v->device, CL_DEVICE_OPENCL_C_VERSION, v->clc, sizeof v->clc);
  dev_val(v->device, CL_DEVICE_TYPE, &v->type, sizeof v->type);
  dev_val(v->device, CL_DEVICE_MAX_COMPUTE_UNITS, &v->units, sizeof v->units);
  dev_val(v->device, CL_DEVICE_MAX_CLOCK_FREQUENCY, &v->mhz, sizeof v->mhz);
  dev_val(v->device, CL_DEVICE_PREFERRED_VECTOR_WIDTH_FLOAT, &v->vec_float, sizeof v->vec_float);
  dev_val(v->device, CL_DEVICE_GLOBAL_MEM_SIZE, &v->global_mem, sizeof v->global_mem);
  dev_val(v->device, CL_DEVICE_MAX_MEM_ALLOC_SIZE, &v->max_alloc, sizeof v->max_alloc);
  dev_val(v->device, CL_DEVICE_LOCAL_MEM_SIZE, &v->local_mem, sizeof v->local_mem);
  dev_val(v->device, CL_DEVICE_MAX_WORK_GROUP_SIZE, &v->max_wg, sizeof v->max_wg);
  dev_val(v->device, CL_DEVICE_AVAILABLE, &avail, sizeof avail);
  dev_val(v->device, CL_DEVICE_COMPILER_AVAILABLE, &compiler, sizeof compiler);
  v->pocl = strstr(v->plat_name, "Portable Computing Language") != NULL;
  if (sscanf(v->clc, "OpenCL C %d.%d", &major, &minor) != 2)
    major = minor = 0;
  if (!avail)
    v->unusable = "not available";
  else if (!compiler)
    v->unusable = "no compiler";
  else if (major * 10 + minor < 12)
    v->unusable = "OpenCL C older than 1.2";
  else if (v->max_wg < 64 || v->local_mem < 16384)
    v->unusable = "work-groups under 64 items or local memory under 16 KiB";
}

int nncl_cl_devices(nncl_cl_dev **out, int *n, char *why, size_t whylen)
{
  cl_uint np = 0;
  cl_platform_id *plats = NULL;
  nncl_cl_dev *devs = NULL;
  int count = 0;
  *out = NULL;
  *n = 0;
  cl_int err = clGetPlatformIDs(0, NULL, &np);
  if (err == CL_PLATFORM_NOT_FOUND_KHR) {
    snprintf(why, whylen, "no OpenCL ICD (-1001 CL_PLATFORM_NOT_FOUND_KHR from clGetPlatformIDs)");
    return NNCL_ENODEV;
  }
  if (err != CL_SUCCESS) {
    snprintf(why, whylen, "clGetPlatformIDs: %s (%d)", nncl_cl_errname(err), (int)err);
    return NNCL_ENODEV;
  }
  if (np == 0) {
    snprintf(why, whylen, "no OpenCL platform");
    return NNCL_ENODEV;
  }
  plats = calloc(np, sizeof *plats);
  if (!plats || (err = clGetPlatformIDs(np, plats, NULL)) != CL_SUCCESS) {
    snprintf(why, whylen, "clGetPlatformIDs: %s", plats ? nncl_cl_errname(err) : "out of memory");
    free(plats);
    return NNCL_ENODEV;
  }
  for (cl_uint p = 0; p < np; p++) {
    cl_uint nd = 0;
    if (clGetDeviceIDs(plats[p], CL_DEVICE_TYPE_ALL, 0, NULL, &nd) != CL_SUCCESS || nd == 0)
      continue;
    cl_device_id *ids = calloc(nd, sizeof *ids);
    nncl_cl_dev *grown = realloc(devs, (count + nd) * sizeof *devs);
    if (!ids || !grown) {
      free(ids);
      free(grown ? grown : devs);
      free(plats);
      snprintf(why, whylen, "out of memory listing OpenCL devices");
      return NNCL_ENOMEM;
    }
    devs = grown;
    if (clGetDeviceIDs(plats[p], CL_DEVICE_TYPE_ALL, nd, ids, NULL) != CL_SUCCESS)
      nd = 0;
    for (cl_uint d = 0; d < nd; d++) {
      nncl_cl_dev *v = &devs[count++];
      memset(v, 0, sizeof *v);
      v->platform = plats[p];
      v->device = ids[d];
      v->plat_index = (int)p;
      v->dev_index = (int)d;
      plat_str(plats[p], CL_PLATFORM_NAME, v->plat_name, sizeof v->plat_name);
      plat_str(plats[p], CL_PLATFORM_VERSION, v->plat_version, sizeof v->plat_version);
      describe(v);
    }
    free(ids);
  }
  free(plats);
  if (count == 0) {
    free(devs);
    snprintf(why, whylen, "no OpenCL device on %u platform%s", np, np == 1 ? "" : "s");
    return NNCL_ENODEV;
  }
  *out = devs;
  *n = count;
  return 0;
}

/* GPU > accelerator > CPU > other. */
static int type_rank(cl_device_type t)
{
  return (t & CL_DEVICE_TYPE_GPU) ? 3 : (t & CL_DEVICE_TYPE_ACCELERATOR) ? 2
                                      : (t & CL_DEVICE_TYPE_CPU) ? 1 : 0;
}

/* > 0 when a ranks above b: type, then compute units x clock, then global memory. */
static int better(const nncl_cl_dev *a, const nncl_cl_dev *b)
{
  int ta = type_rank(a->type), tb = type_rank(b->type);
  uint64_t pa = (uint64_t)a->units * a->mhz, pb = (uint64_t)b->units * b->mhz;
  if (ta != tb)
    return ta - tb;
  if (pa != pb)
    return pa > pb ? 1 : -1;
  if (a->global_mem != b->global_mem)
    return a->global_mem > b->global_mem ? 1 : -1;
  return 0;
}

static int icontains(const char *hay, const char *needle)
{
  size_t n = strlen(needle);
  for (; *hay; hay++) {
    size_t k = 0;
    while (k < n && hay[k] && tolower((unsigned char)hay[k]) == tolower((unsigned char)needle[k]))
      k++;
    if (k == n)
      return 1;
  }
  return n == 0;
}

static int matches(const nncl_cl_dev *v, const nncl_devspec *spec)
{
  static const cl_device_type types[] = {0, CL_DEVICE_TYPE_GPU, CL_DEVICE_TYPE_CPU,
                                         CL_DEVICE_TYPE_ACCELERATOR};
  if (spec->type > 0 && spec->type < 4 && !(v->type & types[spec->type]))
    return 0;
  return icontains(v->plat_name, spec->name) || icontains(v->name, spec->name) ||
         icontains(v->vendor, spec->name);
}

static void spec_text(const nncl_devspec *spec, char *out, size_t n)
{
  static const char *const types[] = {"", ":gpu", ":cpu", ":acc"};
  char idx[32] = "";
  if (spec->index >= 0)
    snprintf(idx, sizeof idx, ":%d", spec->index);
  snprintf(out, n, "cl%s%s%s%s", spec->name[0] ? ":" : "", spec->name,
           spec->type > 0 && spec->type < 4 ? types[spec->type] : "", idx);
}

int nncl_cl_pick(const nncl_cl_dev *d, int n, const nncl_devspec *spec, int auto_mode,
                 char *why, size_t whylen)
{
  int best = -1, nmatch = 0, ncpu = 0, nbad = 0, cpu = -1, bad = -1;
  char want[200];
  spec_text(spec, want, sizeof want);
  for (int k = 0; k < n; k++) {
    if (!matches(&d[k], spec))
      continue;
    if (d[k].unusable) {
      nbad++;
      bad = k;
      continue;
    }
    if (auto_mode && type_rank(d[k].type) < 2) {
      ncpu++;
      cpu = k;
      continue;
    }
    if (spec->index >= 0 ? nmatch == spec->index : (best < 0 || better(&d[k], &d[best]) > 0))
      best = k;
    nmatch++;
  }
  if (best >= 0)
    return best;
  if (auto_mode && ncpu > 0)
    snprintf(why, whylen, "only CPU OpenCL devices: %s %s%s (ask with --device cl:cpu)",
             d[cpu].pocl ? "PoCL" : d[cpu].plat_name, d[cpu].name, ncpu > 1 ? " and others" : "");
  else if (nbad > 0 && nmatch == 0)
    snprintf(why, whylen, "%s: %s %s cannot be used: %s", want, d[bad].plat_name, d[bad].name,
             d[bad].unusable);
  else if (spec->index >= 0 && nmatch > 0)
    snprintf(why, whylen, "%s: index %d out of range (%d matching device%s)", want, spec->index,
             nmatch, nmatch == 1 ? "" : "s");
  else {
    char seen[300] = "";
    for (int k = 0; k < n && k < 4; k++) {
      size_t len = strlen(seen);
      snprintf(seen + len, sizeof seen - len, "%s%s [%s]", k ? ", " : "", d[k].name,
               nncl_cl_type_name(d[k].type));
    }
    snprintf(why, whylen, "%s: no %sOpenCL device matches; found %s%s", want,
             auto_mode ? "GPU or accelerator " : "", seen, n > 4 ? ", ..." : "");
  }
  return -1;
}

static void gib(char *out, size_t n, cl_ulong bytes)
{
  snprintf(out, n, "%.2f GiB", (double)bytes / (1024.0 * 1024.0 * 1024.0));
}

int nncl_cl_report(void (*fn)(void *user, const char *line), void *user)
{
  nncl_cl_dev *d = NULL;
  int n = 0, last_plat = -1;
  char why[512], line[1024], mem[32], alloc[32];
  nncl_devspec any = {.name = "", .type = 0, .index = -1};
  nncl_cl_pocl_env();
  if (nncl_cl_devices(&d, &n, why, sizeof why) != 0) {
    snprintf(line, sizeof line, "OpenCL: %s", why);
    fn(user, line);
    snprintf(line, sizeof line, "auto: C backend, because OpenCL has %s", why);
    fn(user, line);
    return 0;
  }
  for (int k = 0; k < n; k++) {
    if (d[k].plat_index != last_plat) {
      last_plat = d[k].plat_index;
      snprintf(line, sizeof line, "platform %d: %s (%s)", d[k].plat_index, d[k].plat_name,
               d[k].plat_version);
      fn(user, line);
    }
    gib(mem, sizeof mem, d[k].global_mem);
    gib(alloc, sizeof alloc, d[k].max_alloc);
    snprintf(line, sizeof line,
             "  device %d: %s [%s] %u CUs @ %u MHz, %s (max alloc %s), driver %s, %s%s%s",
             d[k].dev_index, d[k].name, nncl_cl_type_name(d[k].type), d[k].units, d[k].mhz, mem,
             alloc, d[k].driver, d[k].clc, d[k].unusable ? "; unusable: " : "",
             d[k].unusable ? d[k].unusable : "");
    fn(user, line);
  }
  int pick = nncl_cl_pick(d, n, &any, 1, why, sizeof why);
  if (pick >= 0) {
    int peers = 0;
    for (int k = 0; k < n; k++)
      peers += !d[k].unusable && type_rank(d[k].type) >= 2;
    snprintf(line, sizeof line,
             "auto: %s / %s (%s; best of %d GPU/accelerator device%s by type, compute units x "
             "clock, memory)",
             d[pick].plat_name, d[pick].name, nncl_cl_type_name(d[pick].type), peers,
             peers == 1 ? "" : "s");
  } else {
    snprintf(line, sizeof line, "auto: C backend, because %s", why);
  }
  fn(user, line);
  free(d);
  return 0;
}
