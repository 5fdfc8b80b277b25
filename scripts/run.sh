#!/usr/bin/env bash
# The main job: installs what is missing, builds, and trains the seed network
# (784-128-64-10) on Fashion-MNIST on the best device, ending with the test accuracy.
# Extra arguments go to `nncl train` (e.g. --device c --epochs 1).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
scripts/build.sh build
exec build/cli/nncl train examples/models/seed_mlp.txt --data /usr/share/datasets/fashion-mnist \
  --epochs 5 --batch 64 --lr 1e-3 --optimizer adam --seed 42 --out seed_mlp.safetensors "$@"
