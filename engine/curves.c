/* curves.c - training curves: the per-epoch history as CSV, and an SVG with two plots
 * (loss, accuracy), training vs validation, with axes, ticks and a legend. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fit.h"

#define CSV_HEADER "epoch,train_loss,train_acc,val_loss,val_acc,lr,seconds"

int nncl_history_add(nncl_ctx *ctx, nncl_history *h, const nncl_curve_row *r) {
  if (h->n == h->cap) {
    int cap = h->cap ? 2 * h->cap : 16;
    nncl_curve_row *g = realloc(h->rows, (size_t)cap * sizeof *g);
    if (!g) return nncl_err(ctx, NNCL_ENOMEM, "curves: out of memory");
    h->rows = g, h->cap = cap;
  }
  h->rows[h->n++] = *r;
  return 0;
}

void nncl_history_free(nncl_history *h) {
  free(h->rows);
  memset(h, 0, sizeof *h);
}

/* Empty for a missing (negative) validation value. */
static int put_val(char *s, size_t n, double v) { return v < 0 ? snprintf(s, n, ",") : snprintf(s, n, ",%.9g", v); }

char *nncl_history_csv(const nncl_history *h) {
  size_t cap = 64 + (size_t)h->n * 160, len;
  char *t = malloc(cap);
  if (!t) return NULL;
  len = (size_t)snprintf(t, cap, CSV_HEADER "\n");
  for (int i = 0; i < h->n; i++) {
    const nncl_curve_row *r = &h->rows[i];
    len += (size_t)snprintf(t + len, cap - len, "%d,%.9g,%.9g", r->epoch, r->train_loss, r->train_acc);
    len += (size_t)put_val(t + len, cap - len, r->val_loss);
    len += (size_t)put_val(t + len, cap - len, r->val_acc);
    len += (size_t)snprintf(t + len, cap - len, ",%.7g,%.4f\n", r->lr, r->seconds);
  }
  return t;
}

int nncl_history_parse(nncl_ctx *ctx, const char *csv, nncl_history *h, const char *what) {
  h->n = 0;
  size_t hl = strlen(CSV_HEADER);
  if (strncmp(csv, CSV_HEADER, hl) || csv[hl] != '\n') return nncl_err(ctx, NNCL_EFORMAT, "%s: not a curves table", what);
  int line = 1;
  for (const char *p = csv + hl + 1; *p; line++) {
    nncl_curve_row r;
    double *f[] = {&r.train_loss, &r.train_acc, &r.val_loss, &r.val_acc, &r.lr, &r.seconds};
    char *end;
    long ep = strtol(p, &end, 10);
    if (end == p || *end != ',' || ep < 1 || ep > 1000000) goto bad;
    r.epoch = (int)ep;
    p = end;
    for (int k = 0; k < 6; k++) {
      if (*p++ != ',') goto bad;
      if ((k == 2 || k == 3) && (*p == ',' || *p == '\n')) { /* no validation */
        *f[k] = -1;
        continue;
      }
      *f[k] = strtod(p, &end);
      if (end == p) goto bad;
      p = end;
    }
    if (*p++ != '\n') goto bad;
    int st = nncl_history_add(ctx, h, &r);
    if (st) return st;
  }
  return 0;
bad:
  return nncl_err(ctx, NNCL_EFORMAT, "%s: bad curves row %d", what, line);
}

/* ---- SVG ------------------------------------------------------------------------------- */

#define W 960
#define H 400
#define PW 380 /* plot area of each panel */
#define PH 270
#define PX0 80 /* left edge of the first panel's plot area; the second is PW + 100 further */
#define PY0 60

/* A "nice" tick step (1, 2, 5 x 10^k) giving about `n` ticks over span. */
static double nice_step(double span, int n) {
  double raw = span / n, p = pow(10, floor(log10(raw))), f = raw / p;
  return (f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10) * p;
}

typedef struct panel {
  double x0, y0;           /* top-left of the plot area */
  double xmin, xmax, ymin, ymax;
} panel;

static double px(const panel *p, double x) { return p->x0 + (x - p->xmin) / (p->xmax - p->xmin) * PW; }
static double py(const panel *p, double y) { return p->y0 + PH - (y - p->ymin) / (p->ymax - p->ymin) * PH; }

/* value of row r for series k: 0 train loss, 1 val loss, 2 train acc, 3 val acc */
static double series(const nncl_curve_row *r, int k) {
  return k == 0 ? r->train_loss : k == 1 ? r->val_loss : k == 2 ? r->train_acc : r->val_acc;
}

static void draw_panel(FILE *f, const nncl_history *h, int acc, double x0) {
  panel p = {x0, PY0, 1, h->n > 1 ? h->rows[h->n - 1].epoch : 2, INFINITY, -INFINITY};
  if (h->n > 0) p.xmin = h->rows[0].epoch;
  if (p.xmax <= p.xmin) p.xmax = p.xmin + 1;
  for (int i = 0; i < h->n; i++)
    for (int k = 2 * acc; k < 2 * acc + 2; k++) {
      double v = series(&h->rows[i], k);
      if ((k & 1) && v < 0) continue;
      if (!isfinite(v)) continue;
      p.ymin = fmin(p.ymin, v), p.ymax = fmax(p.ymax, v);
    }
  if (!(p.ymin <= p.ymax)) p.ymin = 0, p.ymax = 1;
  if (acc) p.ymin = fmin(p.ymin, 1), p.ymax = fmax(p.ymax, 0);
  if (!acc) p.ymin = fmin(p.ymin, 0);
  if (p.ymax - p.ymin < 1e-9) p.ymax = p.ymin + 1;
  double ys = nice_step(p.ymax - p.ymin, 5);
  p.ymin = floor(p.ymin / ys) * ys, p.ymax = ceil(p.ymax / ys) * ys;
  if (acc) {
    p.ymin = fmax(p.ymin, 0);
    p.ymax = fmin(p.ymax, 1);
    if (p.ymax - p.ymin < ys) p.ymax = p.ymin + ys;
  }
  const char *title = acc ? "Accuracy" : "Loss";
  fprintf(f, "<g class=\"panel\" id=\"%s\">\n", acc ? "accuracy" : "loss");
  fprintf(f, "<text x=\"%.1f\" y=\"%d\" font-size=\"16\" font-weight=\"bold\" text-anchor=\"middle\">%s</text>\n",
          x0 + PW / 2.0, PY0 - 20, title);
  /* grid and y ticks */
  for (double y = p.ymin; y <= p.ymax + ys * 1e-6; y += ys) {
    double yy = py(&p, y);
    fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#e0e0e0\"/>\n", x0, yy, x0 + PW, yy);
    fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"black\"/>\n", x0 - 5, yy, x0, yy);
    fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"12\" text-anchor=\"end\">%g</text>\n", x0 - 8, yy + 4,
            fabs(y) < ys * 1e-6 ? 0.0 : y);
  }
  /* x ticks at whole epochs */
  double xs = fmax(1, nice_step(p.xmax - p.xmin, 8));
  xs = ceil(xs);
  for (double x = ceil(p.xmin); x <= p.xmax + 1e-9; x += xs) {
    double xx = px(&p, x);
    fprintf(f, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"black\"/>\n", xx, PY0 + PH, xx, PY0 + PH + 5);
    fprintf(f, "<text x=\"%.1f\" y=\"%d\" font-size=\"12\" text-anchor=\"middle\">%g</text>\n", xx, PY0 + PH + 19, x);
  }
  /* axes and labels */
  fprintf(f, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"black\"/>\n", x0, PY0, x0, PY0 + PH);
  fprintf(f, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"black\"/>\n", x0, PY0 + PH, x0 + PW, PY0 + PH);
  fprintf(f, "<text x=\"%.1f\" y=\"%d\" font-size=\"13\" text-anchor=\"middle\">epoch</text>\n", x0 + PW / 2.0, PY0 + PH + 38);
  fprintf(f, "<text transform=\"translate(%.1f,%.1f) rotate(-90)\" font-size=\"13\" text-anchor=\"middle\">%s</text>\n",
          x0 - 55, PY0 + PH / 2.0, acc ? "accuracy" : "loss");
  /* the two series */
  static const char *colour[2] = {"#1f77b4", "#ff7f0e"}, *name[2] = {"training", "validation"};
  for (int s = 0; s < 2; s++) {
    int k = 2 * acc + s, any = 0;
    for (int i = 0; i < h->n; i++) {
      double v = series(&h->rows[i], k);
      if ((s == 1 && v < 0) || !isfinite(v)) continue;
      if (!any) fprintf(f, "<polyline class=\"%s\" fill=\"none\" stroke=\"%s\" stroke-width=\"2\"%s points=\"", name[s], colour[s],
                        s ? " stroke-dasharray=\"6,3\"" : "");
      fprintf(f, "%s%.1f,%.1f", any ? " " : "", px(&p, h->rows[i].epoch), py(&p, v));
      any = 1;
    }
    if (any) fprintf(f, "\"/>\n");
    for (int i = 0; i < h->n; i++) {
      double v = series(&h->rows[i], k);
      if ((s == 1 && v < 0) || !isfinite(v)) continue;
      fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%s\"/>\n", px(&p, h->rows[i].epoch), py(&p, v), colour[s]);
    }
  }
  /* legend where the curves usually are not: top right for loss, bottom right for accuracy */
  int shown = 1; /* validation only when there is some */
  for (int i = 0; i < h->n; i++) shown = h->rows[i].val_loss >= 0 ? 2 : shown;
  double ly0 = acc ? PY0 + PH - 6 - 18 * shown - 4 : PY0 + 2, lx = x0 + PW - 120;
  fprintf(f, "<rect class=\"legend\" x=\"%.1f\" y=\"%.1f\" width=\"115\" height=\"%d\" fill=\"white\" stroke=\"#999\"/>\n", lx - 5,
          ly0, 6 + 18 * shown);
  for (int s = 0; s < shown; s++) {
    double ly = ly0 + 12 + 18 * s;
    fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" stroke-width=\"2\"%s/>\n", lx, ly, lx + 25, ly,
            colour[s], s ? " stroke-dasharray=\"6,3\"" : "");
    fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"12\">%s</text>\n", lx + 32, ly + 4, name[s]);
  }
  fprintf(f, "</g>\n");
}

static int write_svg(FILE *f, const nncl_history *h) {
  fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
             "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
             "font-family=\"sans-serif\">\n<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n",
          W, H, W, H);
  draw_panel(f, h, 0, PX0);
  draw_panel(f, h, 1, PX0 + PW + 100);
  fprintf(f, "</svg>\n");
  return ferror(f) ? -1 : 0;
}

/* Writes via "<path>.tmp.<pid>" and a rename. */
static int write_file(nncl_ctx *ctx, const char *path, const char *text, const nncl_history *h) {
  char tmp[4200];
  if (snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid()) >= (int)sizeof tmp)
    return nncl_err(ctx, NNCL_EINVAL, "curves: path too long");
  FILE *f = fopen(tmp, "w");
  if (!f) return nncl_err(ctx, NNCL_EIO, "%s: cannot write: %s", tmp, strerror(errno));
  int bad = text ? fputs(text, f) < 0 : write_svg(f, h);
  bad |= fclose(f) != 0;
  if (bad || rename(tmp, path)) {
    int e = errno;
    remove(tmp);
    return nncl_err(ctx, NNCL_EIO, "%s: cannot write: %s", path, strerror(e));
  }
  return 0;
}

int nncl_curves_write(nncl_ctx *ctx, const char *stem, const nncl_history *h) {
  char path[4096];
  if (snprintf(path, sizeof path, "%s.csv", stem) >= (int)sizeof path) return nncl_err(ctx, NNCL_EINVAL, "curves: path too long");
  char *csv = nncl_history_csv(h);
  if (!csv) return nncl_err(ctx, NNCL_ENOMEM, "curves: out of memory");
  int r = write_file(ctx, path, csv, h);
  free(csv);
  snprintf(path, sizeof path, "%s.svg", stem);
  return r ? r : write_file(ctx, path, NULL, h);
}
