#!/usr/bin/env python3
"""Writes the hostile files that tests/test_hostile_cli.sh runs through every nncl command
that reads files: model/ (model descriptions), checkpoint/ (safetensors), idx/ (IDX data,
plain or gzip). Every file must be refused with a one-line error. Deterministic: running
it again rewrites the same bytes. Files of 100 kB and more (long lines, deep models) are
written by the test itself.

usage: tests/hostile/make_hostile.py
"""
import gzip
import json
import os
import random
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
rng = random.Random(6)


def put(kind, name, data):
    os.makedirs(os.path.join(HERE, kind), exist_ok=True)
    with open(os.path.join(HERE, kind, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


def garbage(n):
    return bytes(rng.randrange(256) for _ in range(n))


def gz(b):
    return gzip.compress(b, mtime=0)


# ---- model descriptions ------------------------------------------------------------------
for name, text in {
    "garbage.txt": garbage(4096),
    "nul_bytes.txt": b"input shape=784\n\0dense units=10\n",
    "nul_in_value.txt": b"input shape=78\x004\ndense units=10\n",
    "escaped_quotes.txt": 'input shape=4 name="' + '\\"' * 3000 + '"\ndense units=2\n',
    "unterminated_quote.txt": 'input shape=4 name="abc\ndense units=2\n',
    "utf16.txt": "\ufeffinput shape=784\ndense units=10\n".encode("utf-16-le"),
    "cr_only.txt": "input shape=784\rdense units=10\r",
    "huge_dims.txt": "input shape=65536,65536,65536\ndense units=10\n",
    "huge_units.txt": "input shape=784\ndense units=999999999\n",
    "huge_weights.txt": "input shape=65536,65536\nflatten\ndense units=65536\n",
    "int_overflow.txt": "input shape=99999999999999999999999\ndense units=1\n",
    "negative_dim.txt": "input shape=-784\ndense units=10\n",
    "six_dims.txt": "input shape=1,1,1,1,1,1\ndense units=1\n",
    "alpha_inf.txt": "input shape=2\nleaky_relu alpha=1e39\n",
    "alpha_nan.txt": "input shape=2\nelu alpha=nan\n",
    "json.txt": "[" * 5000 + "]" * 5000,
    "empty.txt": "",
    "only_comments.txt": "# nothing\n   # here\n",
    "no_input.txt": "dense units=10\nsoftmax\n",
    "input_only.txt": "input shape=784\n",
    "two_inputs.txt": "input shape=784\ninput shape=10\ndense units=2\n",
    "dup_names.txt": "input shape=4\ndense units=2 name=a\ndense units=2 name=a\n",
    "dup_key.txt": "input shape=4 shape=4\ndense units=2\n",
    "name_too_long.txt": "input shape=4\ndense units=2 name=" + "n" * 48 + "\n",
    "control_chars.txt": "input shape=4\ndense units=2\x1b[31m\n",
    "unknown_kind.txt": "input shape=4\nlstm units=8\n",
    "bad_act.txt": "input shape=4\ndense units=2 act=swish\n",
}.items():
    put("model", name, text)

# ---- checkpoints -------------------------------------------------------------------------
# A real nncl checkpoint (written by nncl train: 2x2 -> 8 relu -> 3 softmax, Adam state) is
# the base: its header is edited, its data section kept.
base = open(os.path.join(HERE, "..", "..", "fuzz", "corpus", "checkpoint", "adam"), "rb").read()
hlen = struct.unpack("<Q", base[:8])[0]
header = json.loads(base[8:8 + hlen])
data = base[8 + hlen:]


def ckpt(h, d=data, raw=None):
    hb = raw if raw is not None else json.dumps(h).encode()
    return struct.pack("<Q", len(hb)) + hb + d


def edit(fn):
    h = json.loads(json.dumps(header))
    fn(h)
    return ckpt(h)


def meta(key, value):
    return edit(lambda h: h["__metadata__"].__setitem__(key, value))


def tensor(name, key, value):
    return edit(lambda h: h[name].__setitem__(key, value))


w = "dense1.weight"
for name, b in {
    "empty.safetensors": b"",
    "seven_bytes.safetensors": b"\x10\0\0\0\0\0\0",
    "header_cut.safetensors": base[: 8 + hlen // 2],
    "data_cut.safetensors": base[:-100],
    "header_len_huge.safetensors": struct.pack("<Q", 1 << 63) + base[8:],
    "header_len_past_end.safetensors": struct.pack("<Q", len(base)) + base[8:],
    "header_len_zero.safetensors": struct.pack("<Q", 0) + base[8:],
    "header_not_json.safetensors": ckpt(None, raw=b"<html>" + b" " * 64),
    "header_json_array.safetensors": ckpt(None, raw=b"[1, 2, 3]"),
    "header_deep.safetensors": ckpt(None, raw=b'{"a":' + b"[" * 10000 + b"]" * 10000 + b"}"),
    "header_bad_utf8.safetensors": ckpt(None, raw=json.dumps(header).encode().replace(b"dense1", b"dens\xc3\x28", 1)),
    "header_nul.safetensors": ckpt(None, raw=json.dumps(header).encode().replace(b"dense1", b"den\0e1", 1)),
    "offsets_past_end.safetensors": tensor(w, "data_offsets", [0, 1 << 40]),
    "offsets_reversed.safetensors": tensor(w, "data_offsets", [128, 0]),
    "offsets_negative.safetensors": tensor(w, "data_offsets", [-128, 0]),
    "offsets_overlap.safetensors": tensor("dense1.bias", "data_offsets", header[w]["data_offsets"]),
    "offsets_float.safetensors": tensor(w, "data_offsets", [0.5, 128.5]),
    "shape_overflow.safetensors": tensor(w, "shape", [1 << 32, 1 << 32, 1 << 32]),
    "shape_negative.safetensors": tensor(w, "shape", [-8, -4]),
    "shape_seven_dims.safetensors": tensor(w, "shape", [1, 1, 1, 1, 1, 8, 4]),
    "shape_lies.safetensors": tensor(w, "shape", [4, 8]),
    "dtype_unknown.safetensors": tensor(w, "dtype", "F128"),
    "dtype_f16.safetensors": edit(lambda h: h[w].update(dtype="F16", shape=[8, 8])),
    "tensor_missing.safetensors": edit(lambda h: h.pop(w)),
    "no_metadata.safetensors": edit(lambda h: h.pop("__metadata__")),
    "metadata_not_string.safetensors": meta("model", 5),
    "model_garbage.safetensors": meta("model", garbage(200).decode("latin-1")),
    "model_empty.safetensors": meta("model", ""),
    "model_nul.safetensors": meta("model", "input shape=2,2\0\ndense units=8 act=relu\n"),
    "model_huge.safetensors": meta("model", "input shape=65536,65536,65536\ndense units=10\n"),
    "model_bigger_than_file.safetensors": meta("model", "input shape=4096\ndense units=16384\n"),
    "model_deep.safetensors": meta("model", "input shape=2,2\n" + "relu\n" * 3000 + "dense units=3\n"),
    "model_swapped.safetensors": meta("model", "input shape=2,2\ndense units=9 act=relu\ndense units=3\nsoftmax\n"),
    "model_long_line.safetensors": meta("model", "input shape=2,2 name=" + "x" * 10000 + "\n"),
    "duplicate_names.safetensors": ckpt(None, raw=json.dumps(header).encode()[:-1] + b', "dense1.weight": '
                                        + json.dumps(header[w]).encode() + b"}"),
    "gzip.safetensors": gz(base),
}.items():
    put("checkpoint", name, b)

# ---- IDX files (each takes every role of a data set in turn) -------------------------------
def idx(dims, payload, type_byte=8):
    return bytes([0, 0, type_byte, len(dims)]) + b"".join(struct.pack(">I", d) for d in dims) + bytes(payload)


valid = idx([40, 2, 2], [(i * 13) % 256 for i in range(160)])
for name, b in {
    "empty": b"",
    "garbage": garbage(1000),
    "text": b"hello, world\n",
    "bad_magic": b"\x01\x02" + valid[2:],
    "type_float": idx([40, 2, 2], [0] * 640, 0x0D),
    "type_unknown": idx([40, 2, 2], [0] * 160, 0x42),
    "zero_dims": bytes([0, 0, 8, 0]),
    "dims_255": bytes([0, 0, 8, 255]) + b"\0\0\0\1" * 255,
    "zero_dim": idx([40, 0, 2], []),
    "huge_dims": bytes([0, 0, 8, 3]) + b"\xff\xff\xff\xff" * 3,
    "huge_dims.gz": gz(bytes([0, 0, 8, 3]) + b"\xff\xff\xff\xff" * 3),
    "dims_product_2g.gz": gz(bytes([0, 0, 8, 3]) + struct.pack(">III", 32768, 256, 256) + b"\0" * 64),
    "header_cut": valid[:10],
    "payload_cut": valid[:-7],
    "trailing": valid + b"\0\0",
    "gz_cut": gz(valid)[:-12],
    "gz_crc": gz(valid)[:-8] + b"\xde\xad\xbe\xef" + gz(valid)[-4:],
    "gz_garbage": b"\x1f\x8b\x08\x00" + garbage(200),
    "gz_of_gz": gz(gz(valid)),
    "wrong_count": idx([41, 2, 2], [1] * 164),
    "wrong_sample_shape": idx([40, 3, 3], [1] * 360),
    "labels_2d": idx([40, 1], [0] * 40),
}.items():
    put("idx", name, b)
