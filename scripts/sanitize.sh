#!/usr/bin/env bash
# The test suite under sanitizers and valgrind (a CI stage of scripts/test.sh):
#   1. build-asan: gcc with -Db_sanitize=address,undefined (UB aborts, leaks fail), meson test
#      on the C backend, then on PoCL (--setup=pocl) with address and UB checks only;
#   2. valgrind memcheck (errors and definite/indirect leaks fail) over every C test
#      executable of an ordinary build, on the C backend (scripts/valgrind.supp: glibc only).
# usage: scripts/sanitize.sh [BUILD_DIR]    BUILD_DIR: the ordinary build (default build)
set -euo pipefail
cd "$(dirname "$0")/.."
src=$PWD
plain=${1:-build}
asan=${ASAN_BUILD:-build-asan}

[ -f "$asan/build.ninja" ] || meson setup "$asan" -Db_sanitize=address,undefined -Db_lundef=false \
  -Dbuildtype=debugoptimized -Db_ndebug=false >/dev/null
ninja -C "$asan"
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
meson test -C "$asan" --print-errorlogs
# On PoCL, address and UB checks only: LeakSanitizer's stop-the-world tracer crashes now
# and then ("Tracer caught signal 11") while PoCL's worker threads run. Leaks are checked
# by the C-backend run above and by valgrind below.
ASAN_OPTIONS=detect_leaks=0 meson test -C "$asan" --setup=pocl --print-errorlogs

[ -f "$plain/build.ninja" ] || meson setup "$plain" >/dev/null
ninja -C "$plain"
# C executables only (not the bash and Python drivers); test_ops_clblast differs from
# test_ops only on OpenCL, so on the C backend it would repeat test_ops at 20x the cost.
mapfile -t tests < <(meson introspect "$plain" --tests | /usr/bin/python3 -c '
import json, os, sys
build = os.path.realpath(sys.argv[1])
for t in json.load(sys.stdin):
    if t["cmd"][0].startswith(build + "/") and t["name"] != "test_ops_clblast":
        print(t["name"])' "$plain")
echo "valgrind: ${tests[*]}"
meson test -C "$plain" --print-errorlogs --timeout-multiplier 4 --wrapper \
  "valgrind --quiet --leak-check=full --errors-for-leak-kinds=definite,indirect --error-exitcode=1 --suppressions=$src/scripts/valgrind.supp" \
  "${tests[@]}"
echo "sanitizers and valgrind: all passed"
