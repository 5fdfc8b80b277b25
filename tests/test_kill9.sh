#!/bin/bash
# test_kill9.sh - kill -9 of a training run at random moments, repeated: the checkpoint
# (written after every epoch: temporary file, fsync, rename) is never torn, always loads
# (nncl eval) and training resumes from it (nncl train CKPT loads its weights), and killed
# writers leave at most one temporary file behind.
# usage: test_kill9.sh PATH/TO/nncl [ROUNDS]
set -u
NNCL=${1:?usage: test_kill9.sh PATH/TO/nncl [ROUNDS]}
ROUNDS=${2:-10}
TMP=$(mktemp -d "${TMPDIR:-/tmp}/nncl-kill9-XXXXXX")
pid=
trap '[ -n "$pid" ] && kill -9 "$pid" 2>/dev/null; rm -rf "$TMP"' EXIT
export NNCL_DEVICE=${NNCL_DEVICE:-c}
fails=0
fail() { echo "FAIL $*"; fails=$((fails + 1)); }

# A data set of 4x4 images in 4 classes (class c lights row c): 2000 for training, 200 to
# test; an epoch takes milliseconds, so most of the time goes to writing checkpoints.
/usr/bin/python3 - "$TMP" <<'PY' || exit 1
import struct, sys
def write(path, dims, payload):
    with open(path, "wb") as f:
        f.write(bytes([0, 0, 8, len(dims)]) + b"".join(struct.pack(">I", d) for d in dims) + bytes(payload))
for prefix, n in (("train", 2000), ("t10k", 200)):
    px = [200 if p // 4 == i % 4 else (i * 31 + p * 7) % 50 for i in range(n) for p in range(16)]
    write(f"{sys.argv[1]}/{prefix}-images-idx3-ubyte", [n, 4, 4], px)
    write(f"{sys.argv[1]}/{prefix}-labels-idx1-ubyte", [n], [i % 4 for i in range(n)])
PY
printf 'input shape=4,4\ndense units=32 act=relu\ndense units=4\nsoftmax\n' >"$TMP/model.txt"
CK=$TMP/ckpt.safetensors
RANDOM=${KILL9_SEED:-$$}

kills=0 loads=0 midwrite=0
for ((round = 1; round <= ROUNDS; round++)); do
  # the first run and any run after a kill that came before the first checkpoint start
  # from the description; the others continue from the last checkpoint
  from=$TMP/model.txt
  [ -e "$CK" ] && from=$CK
  "$NNCL" train "$from" --data "$TMP" --epochs 100000 --batch 50 --lr 0.01 --threads 1 --out "$CK" \
    >"$TMP/out" 2>"$TMP/err" &
  pid=$!
  # wait for the first checkpoint of this run in one round out of three (kills then land
  # mid-training), else kill after 0..1.5 s wherever the run is (start-up, a write...)
  if ((round % 3 == 0)); then
    for ((i = 0; i < 300; i++)); do [ -e "$CK" ] && break; sleep 0.05; done
  fi
  delay=$(printf '0.%03d' $((RANDOM % 1000)))
  ((RANDOM % 2)) && delay=1${delay#0}
  sleep "$delay"
  if kill -9 "$pid" 2>/dev/null; then kills=$((kills + 1)); else fail "round $round: training ended by itself: $(tail -c 300 "$TMP/err")"; fi
  wait "$pid" 2>/dev/null
  ntmp=$(find "$TMP" -maxdepth 1 -name 'ckpt.safetensors.tmp.*' | wc -l)
  [ "$ntmp" -le 1 ] || fail "round $round: $ntmp temporary files left: $(ls "$TMP")"
  [ -n "$(find "$TMP" -maxdepth 1 -name "ckpt.safetensors.tmp.$pid")" ] && midwrite=$((midwrite + 1)) &&
    echo "     round $round: killed while writing a checkpoint"
  pid=
  if [ -e "$CK" ]; then
    if "$NNCL" eval "$CK" --data "$TMP" --threads 1 >"$TMP/eval" 2>&1; then
      loads=$((loads + 1))
      echo "ok   round $round: killed after ${delay}s, checkpoint loads: $(cat "$TMP/eval")"
    else
      fail "round $round: killed after ${delay}s, the checkpoint does not load: $(cat "$TMP/eval")"
      cp "$CK" "${TMPDIR:-/tmp}/nncl-kill9-torn.safetensors" && echo "     kept as ${TMPDIR:-/tmp}/nncl-kill9-torn.safetensors"
      rm -f "$CK"
    fi
  else
    echo "ok   round $round: killed after ${delay}s, before the first checkpoint"
  fi
done
[ $loads -gt 0 ] || fail "no round wrote a checkpoint"

# the last checkpoint resumes: one more epoch from it, to completion
if [ -e "$CK" ]; then
  if "$NNCL" train "$CK" --data "$TMP" --epochs 1 --batch 50 --threads 1 --out "$TMP/resumed.safetensors" >"$TMP/out" 2>&1 &&
    "$NNCL" eval "$TMP/resumed.safetensors" --data "$TMP" --threads 1 >"$TMP/eval" 2>&1; then
    echo "ok   resumed from the last checkpoint: $(cat "$TMP/eval")"
  else
    fail "resume from the last checkpoint: $(tail -c 600 "$TMP/out") $(cat "$TMP/eval" 2>/dev/null)"
  fi
fi
echo "$kills kills ($midwrite while writing), $loads checkpoints loaded, $fails failures"
[ $fails -eq 0 ]
