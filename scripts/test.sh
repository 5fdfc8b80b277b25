#!/usr/bin/env bash
# All the tests: installs what is missing, then builds and tests
#   1. everything found (OpenCL, CLBlast, OpenBLAS) on the C backend (own thread pool),
#   2. the same build on the OpenCL backend through PoCL (--setup=pocl),
#   3. a pure C build with OpenMP threads (-Dopencl=disabled -Dblas=disabled
#      -Dopenmp=enabled), so both GEMM paths and both threading paths are tested.
#   4. the suite under ASan+UBSan (C backend and PoCL) and valgrind memcheck (C backend),
#   5. every libFuzzer harness for 60 s (clang; installed when missing).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh --test
scripts/build.sh build
meson test -C build --print-errorlogs
meson test -C build --setup=pocl --print-errorlogs
scripts/build.sh build-purec -Dopencl=disabled -Dblas=disabled -Dopenmp=enabled
meson test -C build-purec --print-errorlogs
# 4. scripts/sanitize.sh: build-asan (gcc -Db_sanitize=address,undefined), then valgrind over
#    the C test executables of build (already built above)
scripts/sanitize.sh build
# 5. scripts/fuzz.sh: builds build-fuzz (clang) and fuzzes each file reader for 60 s from
#    its committed seed corpus; any crash, leak, UB or hang fails CI
scripts/fuzz.sh 60
echo "all test suites passed"
