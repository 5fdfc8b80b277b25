#!/usr/bin/env bash
# All the tests: installs what is missing, then builds and tests
#   1. everything found (OpenCL, CLBlast, OpenBLAS, OpenMP) on the C backend,
#   2. the same build on the OpenCL backend through PoCL (--setup=pocl),
#   3. a pure C build (-Dopencl=disabled -Dblas=disabled).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh --test
scripts/build.sh build
meson test -C build --print-errorlogs
meson test -C build --setup=pocl --print-errorlogs
scripts/build.sh build-purec -Dopencl=disabled -Dblas=disabled
meson test -C build-purec --print-errorlogs
echo "all test suites passed"
