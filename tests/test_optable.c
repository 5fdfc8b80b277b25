/* test_optable.c - walks ops.def: the C backend, and the OpenCL backend when one can be
 * created ($NNCL_DEVICE when it names one, else "cl"), must fill every kernel slot, and
 * nncl_op_name must match the list. */
#include "testutil.h"

static const char *const names[] = {
#define NNCL_OP(id, name) #name,
#include "ops.def"
#undef NNCL_OP
};

static int check_table(nncl_backend *be, const char *what)
{
  int holes = 0;
  for (int op = 0; op < NNCL_OP_COUNT; op++)
    if (!be->kernel[op]) {
      fprintf(stderr, "FAIL %s: no kernel for op %s\n", what, names[op]);
      holes++;
    }
  printf("%s: %d ops, %d missing (%s)\n", what, NNCL_OP_COUNT, holes, be->device);
  return holes != 0;
}

int main(void)
{
  int fail = 0;
  for (int op = 0; op < NNCL_OP_COUNT; op++)
    if (!nncl_op_name(op) || strcmp(nncl_op_name(op), names[op])) {
      fprintf(stderr, "FAIL nncl_op_name(%d) = %s, ops.def says %s\n", op,
              nncl_op_name(op) ? nncl_op_name(op) : "NULL", names[op]);
      fail = 1;
    }
  if (nncl_op_name(NNCL_OP_COUNT) || nncl_op_name(-1)) {
    fprintf(stderr, "FAIL nncl_op_name out of range is not NULL\n");
    fail = 1;
  }
  nncl_ctx *c = NULL, *cl = NULL;
  if (tu_open("c", 1, &c)) return 1;
  fail |= check_table(nncl_ctx_be(c), "c");
  const char *dev = tu_device();
  if (strncmp(dev, "cl", 2)) dev = "cl";
  if (tu_open(dev, 1, &cl) == 0)
    fail |= check_table(nncl_ctx_be(cl), "cl");
  else
    printf("cl: no OpenCL backend could be created; only the C table was checked\n");
  nncl_ctx_destroy(cl);
  nncl_ctx_destroy(c);
  return fail;
}
