/* lr_plot.c - lr-find's outputs: the loss-vs-rate curve as CSV and as an SVG plot
 * (log-scaled rate axis, raw and smoothed loss, the suggested rates marked). */
#include <math.h>
#include <stdio.h>

#include "lr_plot.h"

int lr_find_write_csv(const char *path, const nncl_lr_find_result *r) {
  FILE *f = fopen(path, "w");
  if (!f) return -1;
  fprintf(f, "step,lr,loss,smoothed_loss\n");
  for (int i = 0; i < r->n; i++) fprintf(f, "%d,%.9g,%.9g,%.9g\n", i, r->lr[i], r->loss[i], r->smoothed[i]);
  return fclose(f) ? -1 : 0;
}

/* Plot area: x in [L, L+W] for log10(lr), y in [T, T+H] for the loss (top = high). */
#define L 70.0
#define T 30.0
#define W 560.0
#define H 320.0

static double px(double lr, double lo, double hi) { return L + W * (log10(lr) - lo) / (hi - lo > 0 ? hi - lo : 1); }
static double py(double v, double lo, double hi) {
  double y = T + H * (1 - (v - lo) / (hi - lo > 0 ? hi - lo : 1));
  return y < T ? T : y > T + H ? T + H : y;
}

static void polyline(FILE *f, const nncl_lr_find_result *r, const double *v, double xlo, double xhi, double ylo, double yhi,
                     const char *style) {
  fprintf(f, "<polyline fill=\"none\" %s points=\"", style);
  for (int i = 0; i < r->n; i++)
    if (isfinite(v[i])) fprintf(f, "%.1f,%.1f ", px(r->lr[i], xlo, xhi), py(v[i], ylo, yhi));
  fprintf(f, "\"/>\n");
}

static void marker(FILE *f, double lr, double xlo, double xhi, const char *color, const char *label, double dy) {
  double x = px(lr, xlo, xhi);
  fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" stroke-dasharray=\"4 3\"/>\n", x, T, x, T + H, color);
  fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"11\" fill=\"%s\">%s %.3g</text>\n", x + 4, T + 14 + dy, color, label, lr);
}

int lr_find_write_svg(const char *path, const nncl_lr_find_result *r) {
  if (r->n < 1) return -1;
  double xlo = floor(log10(r->lr[0])), xhi = ceil(log10(r->lr[r->n - 1]));
  /* y range: the smoothed curve, clipped at 3x its first value so a divergence does not
   * flatten the interesting part */
  double ylo = INFINITY, yhi = -INFINITY, cap = 3 * r->smoothed[0];
  for (int i = 0; i < r->n; i++) {
    double v = r->smoothed[i];
    if (!isfinite(v)) continue;
    ylo = fmin(ylo, fmin(v, r->loss[i]));
    yhi = fmax(yhi, fmin(fmax(v, r->loss[i]), cap));
  }
  if (!isfinite(ylo)) ylo = 0, yhi = 1;
  if (yhi <= ylo) yhi = ylo + 1;
  FILE *f = fopen(path, "w");
  if (!f) return -1;
  fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" font-family=\"sans-serif\">\n",
          (int)(L + W + 20), (int)(T + H + 50));
  fprintf(f, "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n");
  fprintf(f, "<text x=\"%.0f\" y=\"18\" font-size=\"13\">lr-find: loss against learning rate</text>\n", L);
  fprintf(f, "<rect x=\"%.0f\" y=\"%.0f\" width=\"%.0f\" height=\"%.0f\" fill=\"none\" stroke=\"#888\"/>\n", L, T, W, H);
  for (double e = xlo; e <= xhi; e++) {
    double x = px(pow(10, e), xlo, xhi);
    fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>\n", x, T, x, T + H);
    fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"11\" text-anchor=\"middle\">1e%d</text>\n", x, T + H + 16, (int)e);
  }
  for (int k = 0; k <= 4; k++) {
    double v = ylo + (yhi - ylo) * k / 4, y = py(v, ylo, yhi);
    fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"11\" text-anchor=\"end\">%.3g</text>\n", L - 6, y + 4, v);
  }
  fprintf(f, "<text x=\"%.0f\" y=\"%.0f\" font-size=\"12\" text-anchor=\"middle\">learning rate (log scale)</text>\n", L + W / 2,
          T + H + 36);
  polyline(f, r, r->loss, xlo, xhi, ylo, yhi, "stroke=\"#bbb\" stroke-width=\"1\"");
  polyline(f, r, r->smoothed, xlo, xhi, ylo, yhi, "stroke=\"#1f77b4\" stroke-width=\"2\"");
  marker(f, r->lr_steepest, xlo, xhi, "#d62728", "steepest", 0);
  marker(f, r->lr_min10, xlo, xhi, "#2ca02c", "min/10", 14);
  fprintf(f, "</svg>\n");
  return fclose(f) ? -1 : 0;
}
