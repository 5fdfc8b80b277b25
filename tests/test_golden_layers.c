/* test_golden_layers.c - small nets of the vision layers on the device under test
 * ($NNCL_DEVICE) against PyTorch in float64 (tests/gen_golden_layers.py writes
 * tests/data/golden_layers.safetensors: the nets' model descriptions in its metadata as
 * "net.<name>", their inputs, parameters and results as "<name>.<what>"):
 * conv2d (stride, asymmetric and `same` padding, dilation, groups, depthwise, no bias),
 * conv1d, max/avg/global pooling (padding, ceil mode, count_include_pad), batch norm after
 * conv and dense, layer norm, ResNet-style add and DenseNet-style concat. Per net: the
 * training-mode output, dL/dx and every parameter gradient for L = sum(y * dy), the
 * running statistics after that step, and the evaluation-mode output after it. The same
 * checks read tests/data/golden_attn.safetensors (tests/gen_golden_attn.py: attention,
 * transformer blocks, positions and pooling against PyTorch's modules). */
#include <stdlib.h>

#include "goldentest.h"

/* usage: test_golden_layers [FILE NETS]: the golden file in the test data folder (default
 * golden_layers.safetensors, 17 nets; golden_attn.safetensors holds the sequence layers). */
int main(int argc, char **argv) {
  return golden_main(argc > 2 ? argv[1] : "golden_layers.safetensors", argc > 2 ? atoi(argv[2]) : 17, "gen_golden_layers.py");
}
