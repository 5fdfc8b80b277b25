# clilib.sh - what the command-line tests share (sourced): a scratch directory, failure
# counting, running a command expecting success or an error exit, message checks, and a
# tiny IDX data set.
# usage: . clilib.sh NAME   (NAME names the scratch directory; sets TMP, fails)
TMP=$(mktemp -d "${TMPDIR:-/tmp}/nncl-$1-XXXXXX")
trap 'rm -rf "$TMP"' EXIT
export NNCL_DEVICE=${NNCL_DEVICE:-c}
fails=0

fail() { echo "FAIL $*"; fails=$((fails + 1)); }

# run NAME WANT_RC CMD...: runs CMD with stdout/stderr in $TMP/out, $TMP/err; WANT_RC is
# 0 or "fail" (any exit 1..125: an error, not a crash or a signal).
run() {
  local name=$1 want=$2
  shift 2
  "$@" >"$TMP/out" 2>"$TMP/err"
  rc=$?
  if [ "$want" = 0 ] && [ $rc -ne 0 ]; then
    fail "$name: '$*' exited $rc: $(head -c 600 "$TMP/err")"
    return 1
  fi
  if [ "$want" = fail ] && { [ $rc -eq 0 ] || [ $rc -gt 125 ]; }; then
    fail "$name: '$*' exited $rc, want an error exit (1..125): $(head -c 600 "$TMP/err")"
    return 1
  fi
  return 0
}

# expect_out NAME PATTERN: stdout contains the fixed string PATTERN
expect_out() { grep -qF -- "$2" "$TMP/out" || fail "$1: stdout lacks '$2': $(head -c 600 "$TMP/out")"; }
# one_line NAME [PATTERN]: stderr is exactly one line (containing PATTERN)
one_line() {
  local n
  n=$(wc -l <"$TMP/err")
  if [ "$n" -ne 1 ]; then
    fail "$1: want a one-line message on stderr, got $n lines: $(head -c 600 "$TMP/err")"
  elif [ $# -ge 2 ] && ! grep -qF -- "$2" "$TMP/err"; then
    fail "$1: message lacks '$2': $(cat "$TMP/err")"
  else
    echo "ok   $1 (exit $rc): $(cat "$TMP/err")"
  fi
}

# ---- a tiny IDX data set: 2x2 images of 3 classes ---------------------------------------
# bytes BYTE... : the bytes as binary
bytes() { local f="" b; for b in "$@"; do f+=$(printf '\\%03o' "$b"); done; printf "$f"; }
be32() { bytes $(($1 >> 24 & 255)) $(($1 >> 16 & 255)) $(($1 >> 8 & 255)) $(($1 & 255)); }
# idx DIR PREFIX N: N images whose class c = i mod 3 lights pixel c brightly
idx() {
  local dir=$1 prefix=$2 n=$3 i px=() lb=()
  for ((i = 0; i < n; i++)); do
    local c=$((i % 3)) noise=$(((i * 37) % 40))
    for p in 0 1 2 3; do
      if [ $p -eq $c ]; then px+=($((200 + noise))); else px+=($((noise))); fi
    done
    lb+=($c)
  done
  { be32 $((0x803)); be32 "$n"; be32 2; be32 2; bytes "${px[@]}"; } >"$dir/$prefix-images-idx3-ubyte"
  { be32 $((0x801)); be32 "$n"; bytes "${lb[@]}"; } >"$dir/$prefix-labels-idx1-ubyte"
}
