#!/bin/bash
# test_tabular.sh - the training options of the nncl command end to end:
#  - the tabular example (examples/models/breast_cancer.txt on scikit-learn's breast cancer
#    CSV): test accuracy >= 93% on the held-out 20%, eval with per-class metrics and the
#    confusion matrix, predict with the standardisation from the checkpoint;
#  - early stopping with a best checkpoint, training curves (CSV rows, SVG that parses as
#    XML with both plots, axes, ticks, legend and curves, and renders with rsvg-convert);
#  - --resume continues to the same weights as an uninterrupted run (same eval output);
#  - class weights, focal loss, augmentation on IDX images;
#  - bad options and hostile CSV files: one-line errors naming line and column.
# usage: test_tabular.sh PATH/TO/nncl
set -u
NNCL=${1:?usage: test_tabular.sh PATH/TO/nncl}
SRC=$(cd "$(dirname "$0")/.." && pwd)
TMP=$(mktemp -d "${TMPDIR:-/tmp}/nncl-tab-XXXXXX")
trap 'rm -rf "$TMP"' EXIT
export NNCL_DEVICE=${NNCL_DEVICE:-c}
PY=/usr/bin/python3
CSV=$($PY -c 'import sklearn.datasets, os; print(os.path.join(os.path.dirname(sklearn.datasets.__file__), "data", "breast_cancer.csv"))' 2>/dev/null)
fails=0
fail() { echo "FAIL $*"; fails=$((fails + 1)); }

run() { # run NAME CMD...: must succeed; output in $TMP/out
  local name=$1
  shift
  if ! "$@" >"$TMP/out" 2>"$TMP/err"; then
    fail "$name: '$*' failed: $(head -c 600 "$TMP/err")"
    return 1
  fi
}
expect() { grep -qF -- "$2" "$TMP/out" || fail "$1: output lacks '$2': $(head -c 800 "$TMP/out")"; }
refuse() { # refuse NAME PATTERN CMD...: exit 1..125 with one line on stderr containing PATTERN
  local name=$1 pat=$2
  shift 2
  "$@" >"$TMP/out" 2>"$TMP/err"
  local rc=$?
  if [ $rc -eq 0 ] || [ $rc -gt 125 ] || [ "$(wc -l <"$TMP/err")" -ne 1 ] || ! grep -qF -- "$pat" "$TMP/err"; then
    fail "$name: exit $rc, stderr: $(head -c 600 "$TMP/err") (want one line with '$pat')"
  else
    echo "ok   $name: $(cat "$TMP/err")"
  fi
}

[ -f "$CSV" ] || { fail "scikit-learn's breast_cancer.csv not found (scripts/deps.sh --test installs python3-sklearn)"; exit 1; }
command -v rsvg-convert >/dev/null || { fail "rsvg-convert not found (scripts/deps.sh --test installs librsvg2-bin)"; exit 1; }

# ---- the tabular example ------------------------------------------------------------------
CK=$TMP/bc.safetensors
if run "train example" "$NNCL" train "$SRC/examples/models/breast_cancer.txt" --csv "$CSV" --header sklearn --epochs 40 \
  --batch 32 --val 0.15 --early-stop 5 --out "$CK" --threads 2; then
  sed 's/^/    /' "$TMP/out" | tail -8
  acc=$(sed -n 's/^test: loss [0-9.]*  accuracy \([0-9.]*\)%.*/\1/p' "$TMP/out")
  [ -n "$acc" ] && $PY -c "import sys; sys.exit(0 if $acc >= 93 else 1)" || fail "example: test accuracy '$acc' < 93%"
  expect "train example" "best epoch"
  expect "train example" "(114 samples)"
  for f in "$CK" "$TMP/bc.best.safetensors" "$TMP/bc.curves.csv" "$TMP/bc.curves.svg"; do [ -s "$f" ] || fail "example: no $f"; done
  cp "$TMP/out" "$TMP/train.out"
fi
if run "eval example" "$NNCL" eval "$CK" --csv "$CSV"; then
  sed 's/^/    /' "$TMP/out"
  expect "eval example" "(114 samples"
  expect "eval example" "malignant"
  expect "eval example" "confusion matrix"
  # the same test accuracy as training reported (same split, standardisation from the checkpoint)
  a1=$(sed -n 's/^test: loss \([0-9.]*\)  accuracy \([0-9.]*\)%.*/\1 \2/p' "$TMP/train.out")
  a2=$(sed -n 's/^test: loss \([0-9.]*\)  accuracy \([0-9.]*\)%.*/\1 \2/p' "$TMP/out")
  [ "$a1" = "$a2" ] || fail "eval: '$a2' differs from training's test result '$a1'"
  # confusion matrix rows sum to the supports; their total is 114
  tot=$(awk '/^confusion matrix/{on=1; getline; next} on && NF==3 {s+=$2+$3} END{print s}' "$TMP/out")
  [ "$tot" = 114 ] || fail "eval: confusion matrix sums to '$tot'"
fi
run "predict example" "$NNCL" predict "$CK" --csv "$CSV" --count 5 && expect "predict example" "confidence"

# ---- curves -------------------------------------------------------------------------------------
epochs=$(grep -c '^epoch [0-9]' "$TMP/train.out")
rows=$(($(wc -l <"$TMP/bc.curves.csv") - 1))
head -1 "$TMP/bc.curves.csv" | grep -qx 'epoch,train_loss,train_acc,val_loss,val_acc,lr,seconds' || fail "curves: CSV header"
[ "$rows" = "$epochs" ] || fail "curves: $rows CSV rows for $epochs epochs"
$PY - "$TMP/bc.curves.svg" "$rows" <<'PYEOF' || fail "curves: SVG check"
import sys, xml.etree.ElementTree as ET
ns = "{http://www.w3.org/2000/svg}"
root = ET.parse(sys.argv[1]).getroot()
rows = int(sys.argv[2])
assert root.tag == ns + "svg", root.tag
for panel in ("loss", "accuracy"):
    g = [e for e in root.iter(ns + "g") if e.get("id") == panel]
    assert len(g) == 1, panel
    g = g[0]
    texts = [t.text for t in g.iter(ns + "text")]
    assert "epoch" in texts and "training" in texts and "validation" in texts, texts
    lines = {p.get("class"): p.get("points").split() for p in g.iter(ns + "polyline")}
    assert len(lines.get("training", [])) == rows and len(lines.get("validation", [])) == rows, lines.keys()
    ticks = [t for t in texts if t.replace(".", "").isdigit()]
    assert len(ticks) >= 6, ticks
print("svg ok")
PYEOF
rsvg-convert "$TMP/bc.curves.svg" -o "$TMP/curves.png" && [ "$(head -c 4 "$TMP/curves.png" | od -An -c | tr -d ' ')" = "211PNG" ] ||
  fail "curves: rsvg-convert did not render a PNG"

# ---- resume: 2 epochs + 2 resumed = 4 uninterrupted -------------------------------------------------
common=(--csv "$CSV" --header sklearn --batch 32 --val 0.15 --threads 2 --seed 7)
run "uninterrupted" "$NNCL" train "$SRC/examples/models/breast_cancer.txt" "${common[@]}" --epochs 4 --out "$TMP/full.safetensors"
run "interrupted" "$NNCL" train "$SRC/examples/models/breast_cancer.txt" "${common[@]}" --epochs 2 --out "$TMP/part.safetensors"
if run "resumed" "$NNCL" train --resume "$TMP/part.safetensors" "${common[@]}" --epochs 4; then
  expect "resumed" "epoch 4/4"
  grep -q "^epoch [12]/" "$TMP/out" && fail "resumed: trained epochs 1-2 again"
  run "eval full" "$NNCL" eval "$TMP/full.safetensors" --csv "$CSV" && cp "$TMP/out" "$TMP/full.out"
  run "eval resumed" "$NNCL" eval "$TMP/part.safetensors" --csv "$CSV" && cmp -s <(grep -v device "$TMP/out" | sed 's/, c:.*//') \
    <(sed 's/, c:.*//' "$TMP/full.out") || fail "resume: eval of the resumed run differs from the uninterrupted one"
  [ "$(wc -l <"$TMP/part.curves.csv")" = 5 ] || fail "resume: curves CSV should hold 4 epochs"
fi

# ---- class weights, focal loss, augmentation --------------------------------------------------
run "balanced focal" "$NNCL" train "$SRC/examples/models/breast_cancer.txt" --csv "$CSV" --header sklearn --epochs 3 \
  --loss focal --gamma 2 --class-weights balanced --threads 2 && expect "balanced focal" "test: loss"
run "class weights" "$NNCL" train "$SRC/examples/models/breast_cancer.txt" --csv "$CSV" --header sklearn --epochs 2 \
  --class-weights 2,0.5 --threads 2 && expect "class weights" "test: loss"
D=$TMP/idx
mkdir -p "$D"
$PY - "$D" <<'PYEOF'
import sys, struct
d = sys.argv[1]
for prefix, n in (("train", 60), ("t10k", 20)):
    px = bytes((i * 7 + k * 13) % 256 for i in range(n) for k in range(36))
    open(f"{d}/{prefix}-images-idx3-ubyte", "wb").write(struct.pack(">IIII", 0x803, n, 6, 6) + px)
    open(f"{d}/{prefix}-labels-idx1-ubyte", "wb").write(struct.pack(">II", 0x801, n) + bytes(i % 2 for i in range(n)))
PYEOF
printf 'input shape=1,6,6\nconv2d filters=2 kernel=3 act=relu\nflatten\ndense units=2\nsoftmax\n' >"$TMP/img.txt"
run "augment" "$NNCL" train "$TMP/img.txt" --data "$D" --epochs 2 --batch 8 --augment crop=2,flip,noise=0.1 --threads 2 &&
  expect augment "epoch 2/2"

# ---- errors ----------------------------------------------------------------------------------------
M=$SRC/examples/models/breast_cancer.txt
refuse "bad augment" "--augment" "$NNCL" train "$M" --csv "$CSV" --augment crop=x
refuse "bad class weights" "--class-weights" "$NNCL" train "$M" --csv "$CSV" --header sklearn --class-weights 1,2,3
refuse "early stop without val" "--early-stop needs" "$NNCL" train "$M" --csv "$CSV" --early-stop 3
refuse "bad monitor" "--monitor" "$NNCL" train "$M" --csv "$CSV" --val 0.1 --early-stop 3 --monitor accuracy
refuse "bad loss" "unknown loss" "$NNCL" train "$M" --csv "$CSV" --loss hinge
refuse "bad header kind" "--header" "$NNCL" train "$M" --csv "$CSV" --header maybe
refuse "resume non-checkpoint" "cannot load model" "$NNCL" train --resume "$TMP/nope.safetensors" --csv "$CSV"
printf 'a,b,c\n1,2,x\n3,oops,y\n' >"$TMP/bad.csv"
refuse "non-numeric cell" "line 3, column 2 ('b')" "$NNCL" train "$M" --csv "$TMP/bad.csv" --label c
printf 'a,b,c\n1,2,x\n3,4\n' >"$TMP/ragged.csv"
refuse "ragged CSV" "line 3: 2 fields" "$NNCL" train "$M" --csv "$TMP/ragged.csv"
: >"$TMP/empty.csv"
refuse "empty CSV" "empty file" "$NNCL" train "$M" --csv "$TMP/empty.csv"
printf 'a,b,c\n1,2,x\n3,4,y\n' >"$TMP/small.csv"
refuse "wrong feature count" "the model takes 30" "$NNCL" train "$M" --csv "$TMP/small.csv" --test 0
refuse "missing label column" "no label column 'z'" "$NNCL" train "$M" --csv "$TMP/small.csv" --label z

if [ $fails -eq 0 ]; then echo PASSED; else echo "FAILED ($fails)"; fi
[ $fails -eq 0 ]
