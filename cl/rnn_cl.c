/* rnn_cl.c - host side of the sequence ops on the OpenCL backend (rnn.cl): embedding and
 * its gradient, RNN / LSTM / GRU cells and their gradients. Argument meanings are those of
 * engine/ops.def; every index a kernel computes is checked to fit a uint. */
#include "cl/backend_cl.h"
#include "internal.h"

static nncl_clbe *clbe(nncl_backend *be) { return (nncl_clbe *)be; }

/* a * b, or SIZE_MAX on overflow (then nncl_cl_check_size refuses it). */
static size_t mul(size_t a, size_t b)
{
  size_t r;
  return __builtin_mul_overflow(a, b, &r) ? SIZE_MAX : r;
}

static int enqueue_1d(nncl_cl_call *c, size_t n)
{
  size_t local = (size_t)c->b->tune.ls;
  return nncl_cl_enqueue(c, 1, &n, &local);
}

int nncl_cl_embedding(nncl_backend *be, const nncl_args *a)
{
  nncl_clbe *b = clbe(be);
  nncl_cl_call c;
  size_t n = a->n[0], vocab = a->n[1], dim = a->n[2];
  int st = nncl_cl_check_size(b, "embedding", mul(n, dim));
  if (st == 0)
    st = nncl_cl_check_size(b, "embedding", mul(vocab, dim));
  if (st != 0)
    return st;
  if (nncl_cl_begin(b, NNCL_CL_K_EMBEDDING, &c) != 0)
    return c.status;
  nncl_cl_arg_ref(&c, a->t[0], n);
  nncl_cl_arg_ref(&c, a->t[1], vocab * dim);
  nncl_cl_arg_ref(&c, a->t[2], n * dim);
  nncl_cl_arg_ref(&c, a->t[3], 1);
  nncl_cl_arg_u32(&c, n);
  nncl_cl_arg_u32(&c, vocab);
  nncl_cl_arg_u32(&c, dim);
  return enqueue_1d(&c, n * dim);
}

/* Vocabulary blocks of embedding_grad: enough items to fill a device (about 4096), never
 * more blocks than rows. */
int nncl_cl_embedding_grad(nncl_backend *be, const nncl_args *a)
{
  nncl_clbe *b = clbe(be);
  nncl_cl_call c;
  size_t n = a->n[0], vocab = a->n[1], dim = a->n[2];
  int st = nncl_cl_check_size(b, "embedding_grad", mul(n, dim));
  if (st == 0)
    st = nncl_cl_check_size(b, "embedding_grad", mul(vocab, dim));
  if (st != 0 || vocab == 0 || dim == 0)
    return st;
  size_t blocks = 4096 / dim + 1;
  if (blocks > vocab)
    blocks = vocab;
  if (nncl_cl_begin(b, NNCL_CL_K_EMBEDDING_GRAD, &c) != 0)
    return c.status;
  nncl_cl_arg_ref(&c, a->t[0], n);
  nncl_cl_arg_ref(&c, a->t[1], n * dim);
  nncl_cl_arg_ref(&c, a->t[2], vocab * dim);
  nncl_cl_arg_u32(&c, n);
  nncl_cl_arg_u32(&c, vocab);
  nncl_cl_arg_u32(&c, dim);
  nncl_cl_arg_i32(&c, a->i[0]);
  nncl_cl_arg_u32(&c, blocks);
  size_t l0 = dim < 64 ? dim : 64, items[2] = {dim, blocks}, local[2] = {l0, 1};
  return nncl_cl_enqueue(&c, 2, items, local);
}

/* Refs of a cell op: widths in units of H per row (0: a bias of `gates` H floats). */
static int cell(nncl_backend *be, const nncl_args *a, int kid, const char *op, int nrefs,
                const int *width, int gates)
{
  nncl_clbe *b = clbe(be);
  nncl_cl_call c;
  size_t N = a->n[0], H = a->n[1];
  int st = nncl_cl_check_size(b, op, mul(mul(N, H), 4));
  if (st != 0)
    return st;
  if (nncl_cl_begin(b, kid, &c) != 0)
    return c.status;
  for (int k = 0; k < nrefs; k++)
    nncl_cl_arg_ref(&c, a->t[k], width[k] ? N * H * (size_t)width[k] : H * (size_t)gates);
  nncl_cl_arg_u32(&c, N);
  nncl_cl_arg_u32(&c, H);
  if (kid == NNCL_CL_K_RNN_CELL)
    nncl_cl_arg_i32(&c, a->i[0]);
  return enqueue_1d(&c, N * H);
}

int nncl_cl_rnn_cell(nncl_backend *be, const nncl_args *a)
{
  static const int w[] = {1, 0, 0, 1};
  return cell(be, a, NNCL_CL_K_RNN_CELL, "rnn_cell", 4, w, 1);
}

int nncl_cl_lstm_cell(nncl_backend *be, const nncl_args *a)
{
  static const int w[] = {4, 0, 0, 1, 1, 1};
  return cell(be, a, NNCL_CL_K_LSTM_CELL, "lstm_cell", 6, w, 4);
}

int nncl_cl_lstm_cell_grad(nncl_backend *be, const nncl_args *a)
{
  static const int w[] = {4, 1, 1, 1, 1, 4};
  return cell(be, a, NNCL_CL_K_LSTM_CELL_GRAD, "lstm_cell_grad", 6, w, 4);
}

int nncl_cl_gru_cell(nncl_backend *be, const nncl_args *a)
{
  static const int w[] = {3, 3, 0, 0, 1, 1, 1};
  return cell(be, a, NNCL_CL_K_GRU_CELL, "gru_cell", 7, w, 3);
}

int nncl_cl_gru_cell_grad(nncl_backend *be, const nncl_args *a)
{
  static const int w[] = {3, 1, 1, 1, 3, 3, 1};
  return cell(be, a, NNCL_CL_K_GRU_CELL_GRAD, "gru_cell_grad", 7, w, 3);
}
