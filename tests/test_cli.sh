#!/bin/bash
# test_cli.sh - the nncl command line end to end.
# usage: test_cli.sh PATH/TO/nncl
# Help texts, summary of the seed network, devices, error handling (bad and missing files,
# unknown options, garbage IDX data: non-zero exit, one-line message, no crash), and
# train -> eval -> predict on a tiny IDX data set written here.
set -u
NNCL=${1:?usage: test_cli.sh PATH/TO/nncl}
SRC=$(cd "$(dirname "$0")/.." && pwd)
. "$(dirname "$0")/clilib.sh" cli

# ---- help, version, devices, summary ------------------------------------------------
run help 0 "$NNCL" --help && expect_out help "usage: nncl"
run no-args fail "$NNCL"
for cmd in devices summary train eval predict; do
  run "$cmd --help" 0 "$NNCL" "$cmd" --help && expect_out "$cmd --help" "usage: nncl $cmd"
done
run version 0 "$NNCL" version && expect_out version "nncl "
run devices 0 "$NNCL" devices
[ -s "$TMP/out" ] || fail "devices: printed nothing"
run summary 0 "$NNCL" summary "$SRC/examples/models/seed_mlp.txt" && expect_out summary "total parameters: 109386"

# ---- errors: one line, non-zero exit ---------------------------------------------------
printf 'input shape=784\ndense units=12x act=relu\n' >"$TMP/bad.txt"
run "bad model" fail "$NNCL" summary "$TMP/bad.txt" && one_line "bad model" "$TMP/bad.txt:2:13"
run "missing model" fail "$NNCL" summary "$TMP/nope.txt" && one_line "missing model" "$TMP/nope.txt"
run "unknown option" fail "$NNCL" summary --frobnicate 3 "$SRC/examples/models/seed_mlp.txt" &&
  one_line "unknown option" "--frobnicate"
run "unknown command" fail "$NNCL" frobnicate && one_line "unknown command" "frobnicate"
run "missing value" fail "$NNCL" train "$SRC/examples/models/seed_mlp.txt" --epochs && one_line "missing value" "--epochs"
run "bad value" fail "$NNCL" train "$SRC/examples/models/seed_mlp.txt" --epochs zero && one_line "bad value" "zero"
run "no model" fail "$NNCL" eval && one_line "no model"
run "bad device" fail "$NNCL" train "$SRC/examples/models/seed_mlp.txt" --device warp-drive --data "$TMP" &&
  one_line "bad device"

DATA=$TMP/data
mkdir -p "$DATA"
idx "$DATA" train 120
idx "$DATA" t10k 30
gzip "$DATA"/train-*-ubyte   # the loader takes gzip as well as plain files
printf 'input shape=2,2\nflatten\ndense units=8 act=relu\ndense units=3\nsoftmax\n' >"$TMP/tiny.txt"
CK=$TMP/tiny.safetensors

if run train 0 "$NNCL" train "$TMP/tiny.txt" --data "$DATA" --epochs 1 --batch 16 --lr 0.01 --out "$CK" --threads 2; then
  sed 's/^/    /' "$TMP/out"
  expect_out train "epoch 1/1"
  expect_out train "test: loss"
  [ -s "$CK" ] || fail "train: no checkpoint at $CK"
fi
if [ -s "$CK" ]; then
  run eval 0 "$NNCL" eval "$CK" --data "$DATA" && expect_out eval "(30 samples" && sed 's/^/    /' "$TMP/out"
  if run predict 0 "$NNCL" predict "$CK" --data "$DATA" --count 5; then
    expect_out predict "predicted"
    n=$(grep -cE '^ +[0-9]+ +[0-9] ' "$TMP/out")
    [ "$n" -eq 5 ] || fail "predict --count 5: $n prediction lines: $(cat "$TMP/out")"
  fi
  run "summary of a checkpoint" 0 "$NNCL" summary "$CK" && expect_out "summary of a checkpoint" "total parameters: 67"
  run "resume training" 0 "$NNCL" train "$CK" --data "$DATA" --epochs 2 --batch 16 --lr 0.01 && expect_out "resume training" "epoch 2/2"
  printf 'not a checkpoint' >"$TMP/junk.safetensors"
  run "eval junk checkpoint" fail "$NNCL" eval "$TMP/junk.safetensors" --data "$DATA" && one_line "eval junk checkpoint"
  head -c 100 "$CK" >"$TMP/cut.safetensors"
  run "predict truncated checkpoint" fail "$NNCL" predict "$TMP/cut.safetensors" --data "$DATA" &&
    one_line "predict truncated checkpoint"
  run "eval without data" fail "$NNCL" eval "$CK" --data "$TMP/nowhere" && one_line "eval without data" "$TMP/nowhere"
  run "wrong input size" fail "$NNCL" train "$SRC/examples/models/seed_mlp.txt" --data "$DATA" --epochs 1 &&
    one_line "wrong input size"
fi

# ---- garbage IDX files -----------------------------------------------------------------
# garbage NAME: a copy of the data set with train images replaced by what stdin gives
garbage() {
  local name=$1 dir=$TMP/g
  rm -rf "$dir"
  mkdir -p "$dir"
  cp "$DATA"/t10k-* "$dir"/
  gunzip -c "$DATA/train-labels-idx1-ubyte.gz" >"$dir/train-labels-idx1-ubyte"
  cat >"$dir/train-images-idx3-ubyte"
  run "garbage IDX: $name" fail "$NNCL" train "$TMP/tiny.txt" --data "$dir" --epochs 1 && one_line "garbage IDX: $name"
}
printf 'hello, world' | garbage "text"
: | garbage "empty"
{ be32 $((0x803)); be32 120; be32 2; be32 2; bytes 1 2 3; } | garbage "truncated pixels"
{ be32 $((0x803)); be32 4294967295; be32 65535; be32 65535; } | garbage "huge dims"
{ be32 $((0x0703)); be32 120; be32 2; be32 2; } | garbage "unknown dtype"
{ be32 $((0x080D)); be32 120; be32 2; be32 2; } | garbage "13 dimensions"
{ be32 $((0x803)); be32 119; be32 2; be32 2; head -c 476 /dev/zero; } | garbage "label count mismatch"
head -c 3000 /dev/urandom | garbage "random bytes"
printf '\037\213\010\000garbage' | garbage "broken gzip"

if [ $fails -eq 0 ]; then echo PASSED; else echo "FAILED ($fails)"; fi
[ $fails -eq 0 ]
