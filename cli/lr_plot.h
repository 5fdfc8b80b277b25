/* lr_plot.h - lr-find's CSV and SVG outputs. Both return 0 or -1 (errno set). */
#ifndef NNCL_LR_PLOT_H
#define NNCL_LR_PLOT_H

#include "nncl.h"

int lr_find_write_csv(const char *path, const nncl_lr_find_result *r);
int lr_find_write_svg(const char *path, const nncl_lr_find_result *r);

#endif
