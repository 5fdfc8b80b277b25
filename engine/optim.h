/* optim.h - optimizer state. Internal. */
#ifndef NNCL_OPTIM_H
#define NNCL_OPTIM_H

#include "model.h"

struct nncl_optim {
  nncl_model *model;
  nncl_optim_params p;
  nncl_buf *state[2];   /* SGD: velocity; Adam: m, v. Same layout as the parameter arena */
  int nstate;
  int64_t t;            /* steps taken */
};

/* Names of the optimizer's state tensors in a checkpoint ("velocity", "m", "v"). */
const char *nncl_optim_state_name(const struct nncl_optim *o, int k);
const char *nncl_optim_kind_name(int kind);
int nncl_optim_kind_parse(const char *s);  /* -1 if unknown */

#endif
