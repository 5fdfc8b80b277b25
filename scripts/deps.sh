#!/usr/bin/env bash
# Installs what nncl needs on Debian/Ubuntu and is not there yet.
#   scripts/deps.sh          build + run: compiler, meson, OpenCL (ICD loader, PoCL), CLBlast,
#                            OpenBLAS, zlib, libdeflate, Fashion-MNIST
#   scripts/deps.sh --test   also the Python packages the reference tests use
#                            (numpy, PyTorch, safetensors), valgrind, and clang with
#                            libFuzzer for the sanitizer and fuzzing stages
set -euo pipefail
pkgs=(gcc pkg-config meson ninja-build zlib1g-dev libdeflate-dev libopenblas-dev ocl-icd-opencl-dev opencl-c-headers
      ocl-icd-libopencl1 pocl-opencl-icd libclblast-dev clinfo dataset-fashion-mnist python3)
[ "${1:-}" = "--test" ] && pkgs+=(python3-numpy python3-torch python3-pip valgrind clang libclang-rt-dev)
# the tabular example and its tests read scikit-learn's bundled CSV files; the curves test renders SVG
[ "${1:-}" = "--test" ] && pkgs+=(python3-sklearn librsvg2-bin)

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi
if [ "${1:-}" = "--test" ] && ! /usr/bin/python3 -c "import safetensors" 2>/dev/null; then
  $sudo /usr/bin/python3 -m pip install -q --break-system-packages safetensors
fi
