/* test_golden_rnn.c - small nets of the sequence layers on the device under test
 * ($NNCL_DEVICE) against torch.nn in float64 (tests/gen_golden_rnn.py writes
 * tests/data/golden_rnn.safetensors: the nets' model descriptions in its metadata as
 * "net.<name>", their inputs, parameters and results as "<name>.<what>"):
 * LSTM, GRU, RNN tanh/relu; one and two layers; bidirectional; return=last and sequence;
 * learned initial states; embedding with padding_idx, alone and feeding an LSTM or GRU.
 * Per net: the output, dL/dx and every parameter gradient for L = sum(y * dy), and the
 * evaluation-mode output; each net also built from the text nncl writes for it, compiled
 * for more rows than it runs, and frozen (dx only: backward through time without the
 * parameter gradients). */
#include "goldentest.h"

int main(void) { return golden_main("golden_rnn.safetensors", 14, "gen_golden_rnn.py"); }
