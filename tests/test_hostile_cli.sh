#!/bin/bash
# test_hostile_cli.sh - hostile files through every nncl command that reads files:
# each model description and checkpoint in tests/hostile/{model,checkpoint}/ (and large
# ones written here: long lines, deep models) as MODEL of summary and train and as
# CHECKPOINT of eval and predict, read by both loaders (.txt and .safetensors names), and
# each IDX file in tests/hostile/idx/ in every role of a data set (train/t10k images/labels)
# for train, eval and predict. Each run must end within 20 s, with an error exit (1..125,
# not a signal), and exactly one line on stderr.
# usage: test_hostile_cli.sh PATH/TO/nncl [FILTER]   FILTER: run only files matching *FILTER*
set -u
NNCL=${1:?usage: test_hostile_cli.sh PATH/TO/nncl [FILTER]}
FILTER=${2:-}
HOSTILE=$(cd "$(dirname "$0")" && pwd)/hostile
TMP=$(mktemp -d "${TMPDIR:-/tmp}/nncl-hostile-XXXXXX")
trap 'rm -rf "$TMP"' EXIT
export NNCL_DEVICE=${NNCL_DEVICE:-c}
fails=0 runs=0

# check WHAT CMD...: the run's verdict, one line per failure
check() {
  local what=$1 rc lines
  shift
  runs=$((runs + 1))
  timeout -k 5 20 "$@" >"$TMP/out" 2>"$TMP/err"
  rc=$?
  lines=$(wc -l <"$TMP/err")
  if [ $rc -eq 124 ] || [ $rc -eq 137 ]; then
    echo "FAIL $what: no answer within 20 s (hang)"
  elif [ $rc -ge 126 ]; then
    echo "FAIL $what: exit $rc (signal $((rc - 128))): $(head -c 400 "$TMP/err")"
  elif [ $rc -eq 0 ]; then
    echo "FAIL $what: exit 0, want an error: $(head -c 200 "$TMP/out")"
  elif [ "$lines" -ne 1 ]; then
    echo "FAIL $what: $lines lines on stderr, want one: $(head -c 400 "$TMP/err")"
  else
    [ -n "${VERBOSE:-}" ] && echo "ok   $what: $(cat "$TMP/err")"
    return 0
  fi
  fails=$((fails + 1))
  return 1
}

# ---- a valid data set (2x2 images, 3 classes), model and checkpoint ----------------------
mkdir -p "$TMP/data"
/usr/bin/python3 - "$TMP/data" <<'PY' || exit 1
import struct, sys
def write(path, dims, payload):
    with open(path, "wb") as f:
        f.write(bytes([0, 0, 8, len(dims)]) + b"".join(struct.pack(">I", d) for d in dims) + bytes(payload))
for prefix in ("train", "t10k"):
    write(f"{sys.argv[1]}/{prefix}-images-idx3-ubyte", [40, 2, 2], [(i * 13) % 256 for i in range(160)])
    write(f"{sys.argv[1]}/{prefix}-labels-idx1-ubyte", [40], [i % 3 for i in range(40)])
PY
MODEL=$TMP/valid.txt CK=$TMP/valid.safetensors
printf 'input shape=2,2\ndense units=8 act=relu\ndense units=3\nsoftmax\n' >"$MODEL"
if ! "$NNCL" train "$MODEL" --data "$TMP/data" --epochs 1 --batch 8 --out "$CK" >"$TMP/out" 2>&1; then
  echo "FAIL cannot train the valid model: $(cat "$TMP/out")"
  exit 1
fi

# ---- large hostile model descriptions, written here ---------------------------------------
mkdir -p "$TMP/model"
{ printf 'input shape=784 name='; head -c 100000 /dev/zero | tr '\0' a; printf '\ndense units=10\n'; } >"$TMP/model/long_line.txt"
yes '# padding' | head -n 30000 >"$TMP/model/long_file.txt"
{ yes '' | head -n 100001; printf 'input shape=4\ndense units=2\n'; } >"$TMP/model/many_blank_lines.txt"
{ echo 'input shape=4'; yes relu | head -n 40000; echo 'conv2d filters=3'; } >"$TMP/model/deep_then_error.txt"
{ echo 'input shape=4'; yes 'dense units=1' | head -n 10000; echo 'bogus'; } >"$TMP/model/deep_dense_then_error.txt"

# ---- models and checkpoints: summary, train, eval, predict, under both file names -------------
for f in "$HOSTILE"/model/* "$HOSTILE"/checkpoint/* "$TMP"/model/*; do
  name=${f#"$HOSTILE"/}
  name=${name#"$TMP"/}
  [[ $name == *"$FILTER"* ]] || continue
  base=${f##*/}
  base=${base%.*}
  cp "$f" "$TMP/$base.txt"
  cp "$f" "$TMP/$base.safetensors"
  for as in "$TMP/$base.txt" "$TMP/$base.safetensors"; do
    check "summary $name (as ${as##*.})" "$NNCL" summary "$as"
    check "train $name (as ${as##*.})" "$NNCL" train "$as" --data "$TMP/data" --epochs 1 --batch 8
  done
  check "eval $name" "$NNCL" eval "$f" --data "$TMP/data"
  check "predict $name" "$NNCL" predict "$f" --data "$TMP/data" --count 5
  rm -f "$TMP/$base.txt" "$TMP/$base.safetensors"
done

# ---- IDX files in every role of a data set ---------------------------------------------------
for f in "$HOSTILE"/idx/*; do
  name=idx/${f##*/}
  [[ $name == *"$FILTER"* ]] || continue
  for role in train-images train-labels t10k-images t10k-labels; do
    rm -rf "$TMP/bad"
    cp -r "$TMP/data" "$TMP/bad"
    cp "$f" "$TMP/bad/$role-idx$([ "${role#*-}" = images ] && echo 3 || echo 1)-ubyte"
    check "train --data with $name as $role" "$NNCL" train "$MODEL" --data "$TMP/bad" --epochs 1 --batch 8
    if [ "${role%-*}" = t10k ]; then
      check "eval --data with $name as $role" "$NNCL" eval "$CK" --data "$TMP/bad"
      check "predict --data with $name as $role" "$NNCL" predict "$CK" --data "$TMP/bad" --count 5
    fi
  done
done

# ---- not regular files: a directory, a FIFO nobody writes to --------------------------------
if [ -z "$FILTER" ]; then
  mkdir "$TMP/dir.safetensors" "$TMP/dir.txt"
  mkfifo "$TMP/fifo.safetensors" "$TMP/fifo.txt"
  for f in dir.txt dir.safetensors fifo.txt fifo.safetensors; do
    check "summary $f" "$NNCL" summary "$TMP/$f"
  done
  check "eval fifo" "$NNCL" eval "$TMP/fifo.safetensors" --data "$TMP/data"
  rm -rf "$TMP/bad"
  cp -r "$TMP/data" "$TMP/bad"
  rm "$TMP/bad/t10k-labels-idx1-ubyte"
  mkfifo "$TMP/bad/t10k-labels-idx1-ubyte"
  check "eval --data with a FIFO as labels" "$NNCL" eval "$CK" --data "$TMP/bad"
fi

echo "$runs runs, $fails failures"
[ $fails -eq 0 ]
