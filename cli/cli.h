/* cli.h - helpers of the nncl command for the data layer and the training options. */
#ifndef NNCL_CLI_H
#define NNCL_CLI_H

#include "nncl.h"

/* Where samples come from: IDX files in `dir`, or a CSV file with a label column. */
typedef struct cli_data_opts {
  const char *dir, *csv, *label;
  const char *header;     /* names | none | sklearn; NULL = the model's, else names */
  double val, test;       /* fractions held out for validation and test (CSV test default: 0.2) */
  int test_set;           /* --test given */
  unsigned long long seed;
} cli_data_opts;

typedef struct cli_data {
  nncl_dataset *all, *pool, *train, *val, *test; /* pool = all minus test; train = pool minus val */
} cli_data;

/* Training data (train, optional val, test when there is one) for model m. For CSV: the
 * class list and standardisation come from m's metadata when it has them (a resumed
 * model), else standardisation is fitted on the training part and stored in m with the
 * split settings. Prints the reason and returns 1 on failure. */
int cli_data_train(nncl_ctx *ctx, nncl_model *m, const cli_data_opts *o, cli_data *d);
/* Test data for a trained model m: IDX t10k files, or the CSV's held-out part (the split
 * m was trained with unless --test is given; the whole file with --test 0). */
int cli_data_test(nncl_ctx *ctx, const nncl_model *m, const cli_data_opts *o, cli_data *d);
void cli_data_free(cli_data *d);

/* "crop=4,flip,noise=0.1" -> a. 0 or 1 with a message printed. */
int cli_parse_augment(const char *s, nncl_augment *a);
/* "w0,w1,..." (exactly nclasses values) or "balanced" (from train) into w. */
int cli_class_weights(const char *s, const nncl_dataset *train, int nclasses, float *w);
/* Name of class c: the c-th of names "a,b,c", else its index. */
void cli_class_name(const char *names, int c, char *out, size_t n);
/* Accuracy, per-class precision/recall/F1/support and the confusion matrix. */
void cli_print_metrics(const nncl_metrics *mt, const char *class_names);

#endif
