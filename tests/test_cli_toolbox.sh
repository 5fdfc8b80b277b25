#!/bin/bash
# test_cli_toolbox.sh - the training toolbox on the command line.
# usage: test_cli_toolbox.sh PATH/TO/nncl
# lr-find (CSV, SVG, suggestion, the checkpoint left alone), train with RMSprop/Adagrad,
# schedules and clipping, bad specs and options (one-line errors), and a diverging run
# that stops with the guard's message and leaves the checkpoint on disk as it was.
set -u
NNCL=${1:?usage: test_cli_toolbox.sh PATH/TO/nncl}
. "$(dirname "$0")/clilib.sh" toolbox
has() { grep -qF -- "$3" "$2" || fail "$1: $(basename "$2") lacks '$3': $(head -c 600 "$2")"; }

DATA=$TMP/data
mkdir -p "$DATA"
idx "$DATA" train 240
idx "$DATA" t10k 30
printf 'input shape=2,2\nflatten\ndense units=8 act=relu\ndense units=3\nsoftmax\n' >"$TMP/tiny.txt"
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
