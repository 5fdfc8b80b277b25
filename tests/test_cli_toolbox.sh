#!/bin/bash
# test_cli_toolbox.sh - the training toolbox on the command line.
# usage: test_cli_toolbox.sh PATH/TO/nncl
# lr-find (CSV, SVG, suggestion, the checkpoint left alone), train with RMSprop/Adagrad,
# schedules and clipping, bad specs and options (one-line errors), and a diverging run
# that stops with the guard's message and leaves the checkpoint on disk as it was.
set -u
NNCL=${1:?usage: test_cli_toolbox.sh PATH/TO/nncl}
TMP=$(mktemp -d "${TMPDIR:-/tmp}/nncl-toolbox-XXXXXX")
trap 'rm -rf "$TMP"' EXIT
export NNCL_DEVICE=${NNCL_DEVICE:-c}
fails=0
fail() { echo "FAIL $*"; fails=$((fails + 1)); }

# run NAME WANT_RC CMD...: WANT_RC 0 or "fail" (exit 1..125)
run() {
  local name=$1 want=$2
  shift 2
  "$@" >"$TMP/out" 2>"$TMP/err"
  rc=$?
  if [ "$want" = 0 ] && [ $rc -ne 0 ]; then fail "$name: exit $rc: $(head -c 600 "$TMP/err")"; return 1; fi
  if [ "$want" = fail ] && { [ $rc -eq 0 ] || [ $rc -gt 125 ]; }; then
    fail "$name: exit $rc, want an error exit: $(head -c 600 "$TMP/err")"
    return 1
  fi
  echo "ok   $name (exit $rc)"
  return 0
}
has() { grep -qF -- "$3" "$2" || fail "$1: $(basename "$2") lacks '$3': $(head -c 600 "$2")"; }
one_line() { [ "$(wc -l <"$TMP/err")" -eq 1 ] && grep -qF -- "$2" "$TMP/err" || fail "$1: want one line with '$2': $(cat "$TMP/err")"; }

# A tiny IDX data set: class c = i mod 3 lights pixel c of a 2x2 image.
bytes() { local f="" b; for b in "$@"; do f+=$(printf '\\%03o' "$b"); done; printf "$f"; }
be32() { bytes $(($1 >> 24 & 255)) $(($1 >> 16 & 255)) $(($1 >> 8 & 255)) $(($1 & 255)); }
idx() {
  local dir=$1 prefix=$2 n=$3 i px=() lb=()
  for ((i = 0; i < n; i++)); do
    local c=$((i % 3)) noise=$(((i * 37) % 40))
    for p in 0 1 2 3; do if [ $p -eq $c ]; then px+=($((200 + noise))); else px+=($((noise))); fi; done
    lb+=($c)
  done
  { be32 $((0x803)); be32 "$n"; be32 2; be32 2; bytes "${px[@]}"; } >"$dir/$prefix-images-idx3-ubyte"
  { be32 $((0x801)); be32 "$n"; bytes "${lb[@]}"; } >"$dir/$prefix-labels-idx1-ubyte"
}
DATA=$TMP/data
mkdir -p "$DATA"
idx "$DATA" train 240
idx "$DATA" t10k 30
printf 'input shape=2,2\ndense units=8 act=relu\ndense units=3\nsoftmax\n' >"$TMP/tiny.txt"
CK=$TMP/tiny.safetensors

run "lr-find --help" 0 "$NNCL" lr-find --help && has "lr-find --help" "$TMP/out" "usage: nncl lr-find"
run "help lists lr-find" 0 "$NNCL" --help && has "help" "$TMP/out" "lr-find MODEL"
run "train rmsprop cosine clip-norm" 0 "$NNCL" train "$TMP/tiny.txt" --data "$DATA" --epochs 3 --batch 16 --lr 0.01 \
  --optimizer rmsprop --momentum 0.5 --schedule cosine:warmup=5 --clip-norm 1 --val 0.2 --out "$CK" &&
  has "train rmsprop" "$TMP/out" "rmsprop lr 0.01" && has "train rmsprop" "$TMP/out" "epoch 3/3"
run "train adagrad plateau clip-value" 0 "$NNCL" train "$TMP/tiny.txt" --data "$DATA" --epochs 2 --batch 16 --lr 0.1 \
  --optimizer adagrad --schedule plateau:patience=0,factor=0.5 --clip-value 0.5 --weight-decay 0.01 --weight-decay-mode decoupled &&
  has "train adagrad" "$TMP/out" "test: loss"
run "train sgd onecycle" 0 "$NNCL" train "$TMP/tiny.txt" --data "$DATA" --epochs 2 --batch 16 --lr 0.5 --optimizer sgd \
  --momentum 0.9 --schedule onecycle:base_batch=32 && has "onecycle" "$TMP/out" "epoch 2/2"

# lr-find on a checkpoint: outputs written, suggestion printed, the checkpoint unchanged
sum_before=$(cksum <"$CK")
if run "lr-find" 0 "$NNCL" lr-find "$CK" --data "$DATA" --batch 16 --steps 30 --start-lr 1e-5 --end-lr 10 --out "$TMP/lrf"; then
  has "lr-find" "$TMP/out" "suggested learning rate"
  has "lr-find csv" "$TMP/lrf.csv" "step,lr,loss,smoothed_loss"
  [ "$(wc -l <"$TMP/lrf.csv")" -ge 6 ] || fail "lr-find: fewer than 5 points in the CSV"
  has "lr-find svg" "$TMP/lrf.svg" "<polyline"
  has "lr-find svg" "$TMP/lrf.svg" "</svg>"
fi
[ "$(cksum <"$CK")" = "$sum_before" ] || fail "lr-find modified the checkpoint"

# errors: one line each
run "bad schedule" fail "$NNCL" train "$TMP/tiny.txt" --data "$DATA" --schedule warp:speed=9 && one_line "bad schedule" "unknown schedule"
run "bad schedule key" fail "$NNCL" train "$TMP/tiny.txt" --data "$DATA" --schedule step:gama=0.1 && one_line "bad key" "gama"
run "bad optimizer" fail "$NNCL" train "$TMP/tiny.txt" --data "$DATA" --optimizer lion && one_line "bad optimizer" "rmsprop"
run "bad wd mode" fail "$NNCL" train "$TMP/tiny.txt" --data "$DATA" --weight-decay-mode both && one_line "bad wd mode" "decoupled"
run "bad clip" fail "$NNCL" train "$TMP/tiny.txt" --data "$DATA" --clip-norm -1 && one_line "bad clip" "--clip-norm"
run "lr-find bad range" fail "$NNCL" lr-find "$TMP/tiny.txt" --data "$DATA" --start-lr 1 --end-lr 0.1 && one_line "lr-find range" "end-lr"

# a diverging run from a checkpoint of a linear network (no saturation: the weights grow
# geometrically and overflow within the first epoch): the guard's message, the checkpoint intact
printf 'input shape=2,2\ndense units=8\ndense units=3\nsoftmax\n' >"$TMP/linear.txt"
CK=$TMP/linear.safetensors
run "linear checkpoint" 0 "$NNCL" train "$TMP/linear.txt" --data "$DATA" --epochs 1 --batch 16 --out "$CK"
sum_before=$(cksum <"$CK")
if run "diverging run" fail "$NNCL" train "$CK" --data "$DATA" --epochs 3 --batch 16 --optimizer sgd --lr 1000 --out "$CK"; then
  has "diverging run" "$TMP/err" "training diverged"
  has "diverging run" "$TMP/err" "first non-finite value in graph order"
  grep -q "^epoch 1/3" "$TMP/out" && fail "diverging run: an epoch completed (the test needs divergence within epoch 1)"
fi
[ "$(cksum <"$CK")" = "$sum_before" ] || fail "the diverging run modified the checkpoint"

echo "$fails failed"
[ $fails -eq 0 ]
