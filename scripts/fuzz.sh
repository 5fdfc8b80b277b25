#!/usr/bin/env bash
# Builds the libFuzzer harnesses (fuzz/, clang, ASan + UBSan) in build-fuzz and runs each
# for SECONDS (default 60), one after another, starting from its committed seed corpus.
#   scripts/fuzz.sh [SECONDS] [HARNESS...]      harnesses: model checkpoint idx dataset csv
# New inputs go to build-fuzz/corpus/<harness> (kept between runs, not in the source tree);
# a crash, leak, UB or timeout writes build-fuzz/findings/<harness>-* and fails the script.
# Prints per harness: executions, exec/s, coverage (cov: edges, ft: features), corpus size.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-60}
shift || true
harnesses=(model checkpoint idx dataset csv)
[ $# -gt 0 ] && harnesses=("$@")
dir=${FUZZ_BUILD:-build-fuzz}

if ! command -v clang >/dev/null; then
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends clang >/dev/null
fi
[ -f "$dir/build.ninja" ] || CC=clang meson setup "$dir" -Dfuzz=true -Dopencl=disabled -Dblas=disabled \
  -Dopenmp=disabled -Dbuildtype=debugoptimized -Db_ndebug=false >/dev/null
ninja -C "$dir" "${harnesses[@]/#/fuzz/fuzz_}" >/dev/null

mkdir -p "$dir/findings"
status=0
summary=()
for h in "${harnesses[@]}"; do
  work=$dir/corpus/$h
  log=$dir/fuzz-$h.log
  mkdir -p "$work"
  echo "fuzzing $h for ${secs}s (log: $log)"
  # -timeout: one input taking 20 s is a hang; the seed corpus is read-only input
  dict=()
  [ -f "fuzz/$h.dict" ] && dict=(-dict="fuzz/$h.dict")
  rc=0
  "$dir/fuzz/fuzz_$h" "$work" "fuzz/corpus/$h" "${dict[@]}" -max_total_time="$secs" -timeout=20 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="$dir/findings/$h-" >"$log" 2>&1 || rc=$?
  last=$(grep -E '^#[0-9]+' "$log" | tail -1)
  cov=$(sed -nE 's/.* cov: ([0-9]+).*/\1/p' <<<"$last")
  ft=$(sed -nE 's/.* ft: ([0-9]+).*/\1/p' <<<"$last")
  corp=$(sed -nE 's/.* corp: ([0-9]+\/[0-9]+[a-zA-Z]*).*/\1/p' <<<"$last")
  execs=$(sed -nE 's/^stat::number_of_executed_units: *([0-9]+)/\1/p' "$log")
  rate=$(sed -nE 's/^stat::average_exec_per_sec: *([0-9]+)/\1/p' "$log")
  rss=$(sed -nE 's/^stat::peak_rss_mb: *([0-9]+)/\1/p' "$log")
  line=$(printf '%-11s %10s execs %7s/s  cov %5s  ft %6s  corpus %-12s rss %sMB' "$h" "${execs:-?}" "${rate:-?}" \
    "${cov:-?}" "${ft:-?}" "${corp:-?}" "${rss:-?}")
  if [ $rc -ne 0 ]; then
    line+="  FAILED (exit $rc)"
    status=1
    grep -E '^(==[0-9]+==ERROR|SUMMARY|.*runtime error|artifact_prefix|Test unit written)' "$log" | head -8 || true
  fi
  echo "$line"
  summary+=("$line")
done
echo "---- fuzz summary (${secs}s each, $(nproc) cores, $(clang --version | head -1))"
printf '%s\n' "${summary[@]}"
exit $status
