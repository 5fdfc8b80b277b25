#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz harnesses into fuzz/corpus/<harness>/: small valid
files and near misses. Checkpoints are written by nncl itself (trained for one epoch on a
tiny IDX data set made here).

usage: fuzz/make_corpus.py PATH/TO/nncl
"""
import gzip
import os
import struct
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "corpus")


def put(harness, name, data):
    d = os.path.join(OUT, harness)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def idx(dims, payload):
    return bytes([0, 0, 8, len(dims)]) + b"".join(struct.pack(">I", d) for d in dims) + bytes(payload)


def gz(b):
    return gzip.compress(b, mtime=0)


# ---- IDX: 5 images of 2x2 in 3 classes, their labels ------------------------------------
images = idx([5, 2, 2], [(i * 37 + 11) & 255 for i in range(20)])
labels = idx([5], [i % 3 for i in range(5)])
for name, b in {
    "images": images, "labels": labels, "images.gz": gz(images), "labels.gz": gz(labels),
    "4d": idx([2, 1, 2, 2], range(8)), "one_byte": idx([1], [7]),
    "truncated": images[:-3], "trailing": images + b"\0", "type_float": images[:2] + b"\x0d" + images[3:],
    "zero_dim": idx([5, 0, 2], []), "five_dims": bytes([0, 0, 8, 5]) + b"\0\0\0\1" * 5 + b"\1",
    "huge_dims": bytes([0, 0, 8, 3]) + b"\xff\xff\xff\xff" * 3,
    "gz_truncated": gz(images)[:-6], "gz_trailing": gz(images + b"x"), "header_only.gz": gz(images[:16]),
}.items():
    put("idx", name, b)

# ---- data sets: u16 LE length of the image file, the image file, the label file ----------
def pair(im, lb):
    return struct.pack("<H", len(im)) + im + lb

for name, b in {
    "plain": pair(images, labels), "gzip": pair(gz(images), gz(labels)), "mixed": pair(images, gz(labels)),
    "count_mismatch": pair(images, idx([4], [0, 1, 2, 0])), "labels_2d": pair(images, idx([5, 1], [0] * 5)),
    "images_1d": pair(labels, labels), "label_255": pair(images, idx([5], [0, 1, 255, 2, 0])),
}.items():
    put("dataset", name, b)

# ---- model descriptions ----------------------------------------------------------------
EXAMPLES = os.path.join(HERE, "..", "examples", "models")
models = {name[:-4]: open(os.path.join(EXAMPLES, name), "rb").read() for name in sorted(os.listdir(EXAMPLES))}
models.update({
    "tiny": b"input shape=2,2\ndense units=8 act=relu\ndense units=3\nsoftmax\n",
    "every_act": b"input shape=3 name=in\ndense units=4 act=leaky_relu alpha=0.1 init=he_normal\nelu alpha=0.5\n"
                 b"gelu\nsigmoid\ntanh\nrelu name=\"r e l u\"\ndense units=2 init=zeros # out\nsoftmax\n",
    "inits": b"input shape=1,2,3\r\ndense units=2 init=xavier_normal\r\ndense units=2 init=lecun_uniform\r\n"
             b"dense units=2 init=lecun_normal act=tanh\r\n\t# comment\r\n",
    "quoted": b"input shape=4 name=\"a \\\"b\\\" \\\\ \xc3\xa9\"\ndense units=1 name=\"#x=y\"\n",
    "bad_units": b"input shape=784\ndense units=12x act=relu\n",
    "no_input": b"dense units=3\n",
    "dup_key": b"input shape=2 shape=3\ndense units=1\n",
    "huge": b"input shape=65536,65536,65536\ndense units=999999999\n",
    "unknown": b"input shape=2\nconv filters=3\n",
    "dup_name": b"input shape=2\ndense units=2 name=a\ndense units=2 name=a\n",
    "joins": b"input shape=1,2,2 name=x\nflatten\ndense units=4 act=relu name=a\ndense units=4 name=b\n"
             b"add from=a,b name=s\ntanh from=s\nadd from=s,b\ndense units=2 from=a\n",
    "alpha_inf": b"input shape=2\nleaky_relu alpha=1e39\n",  # found by review: inf did not write back
    "sequence": b"input shape=6,8\nposenc kind=learned max_len=9 name=pe\ndense units=1 act=relu name=m\n"
                b"attention heads=2 causal=1 dropout=0.25 bias=0 mask_from=m from=pe\n"
                b"transformer heads=4 ff=12 norm=pre act=gelu mask_from=input mask_pad=0\nseqpool mode=max\n",
    "conv": b"input shape=1,4,4\nconv2d filters=2 kernel=3 padding=1 act=relu\nbatchnorm\nmaxpool kernel=2\n"
            b"flatten\ndropout p=0.1\ndense units=3\nsoftmax\n",
    "conv1d": b"input shape=2,9\nconv1d filters=4 kernel=3 stride=2 dilation=2 groups=2 bias=0\nlayernorm dims=2\n"
              b"avgpool kernel=2 ceil=1 count_include_pad=0\nglobalmaxpool\n",
    "conv_kernel_too_big": b"input shape=1,4,4\nconv2d filters=2 kernel=5\n",
    "conv_groups": b"input shape=3,4,4\nconv2d filters=4 kernel=1 groups=2\n",
    "pool_padding": b"input shape=1,4,4\nmaxpool kernel=2 padding=3\n",
    "concat_mismatch": b"input shape=1,4,4 name=a\nconv2d filters=2 kernel=3 name=b\nconcat from=a,b\n",
})
for name, b in models.items():
    put("model", name, b)

# ---- checkpoints written by nncl ---------------------------------------------------------
nncl = sys.argv[1] if len(sys.argv) > 1 else sys.exit(__doc__)
with tempfile.TemporaryDirectory() as tmp:
    for prefix in ("train", "t10k"):
        with open(os.path.join(tmp, prefix + "-images-idx3-ubyte"), "wb") as f:
            f.write(images)
        with open(os.path.join(tmp, prefix + "-labels-idx1-ubyte"), "wb") as f:
            f.write(labels)
    model = os.path.join(tmp, "tiny.txt")
    with open(model, "wb") as f:
        f.write(models["tiny"])
    conv_data = os.path.join(tmp, "conv")
    os.makedirs(conv_data)
    for prefix in ("train", "t10k"):
        with open(os.path.join(conv_data, prefix + "-images-idx3-ubyte"), "wb") as f:
            f.write(idx([6, 4, 4], [(i * 53 + 7) & 255 for i in range(96)]))
        with open(os.path.join(conv_data, prefix + "-labels-idx1-ubyte"), "wb") as f:
            f.write(idx([6], [i % 3 for i in range(6)]))
    with open(os.path.join(tmp, "conv.txt"), "wb") as f:
        f.write(models["conv"])
    ck = os.path.join(tmp, "conv.safetensors")
    if subprocess.run([nncl, "train", os.path.join(tmp, "conv.txt"), "--data", conv_data, "--epochs", "1", "--batch", "2",
                       "--out", ck, "--device", "c", "--threads", "1"], stdout=subprocess.DEVNULL).returncode == 0:
        put("checkpoint", "conv", open(ck, "rb").read())
    else:
        print("warning: the conv model does not train: no conv checkpoint seed", file=sys.stderr)
    for opt in ("adam", "sgd"):
        ck = os.path.join(tmp, opt + ".safetensors")
        subprocess.run([nncl, "train", model, "--data", tmp, "--epochs", "1", "--batch", "2", "--optimizer", opt,
                        "--momentum", "0.9" if opt == "sgd" else "0", "--out", ck, "--device", "c", "--threads", "1"],
                       check=True, stdout=subprocess.DEVNULL)
        b = open(ck, "rb").read()
        put("checkpoint", opt, b)
        n = struct.unpack("<Q", b[:8])[0]
        put("checkpoint", opt + "_truncated", b[: 8 + n + 40])
        put("checkpoint", opt + "_header_cut", b[: 8 + n // 2])
        put("checkpoint", opt + "_length_lies", struct.pack("<Q", n + 4) + b[8:])
ck = open(os.path.join(OUT, "checkpoint", "adam"), "rb").read()
put("checkpoint", "no_metadata", b"\x02\0\0\0\0\0\0\0{}")
put("checkpoint", "python", open(os.path.join(HERE, "..", "tests", "data", "python.safetensors"), "rb").read())
put("checkpoint", "model_swapped", ck.replace(b"units=8", b"units=9", 1))
