#!/usr/bin/python3
"""PyTorch reads nncl checkpoints: the test helper trains a model briefly and saves it;
this script loads the .safetensors file with safetensors.torch.load_file, builds the torch
network from the "model" description in its metadata, runs the helper's inputs and
compares with nncl's outputs (relative 1e-5).

usage: torch_load_checkpoint.py HELPER MODEL...   (HELPER = the torch_ckpt_helper executable)
Fails (never skips) when torch or safetensors is missing: CI installs both.
"""
import os
import shlex
import subprocess
import sys
import tempfile

try:
    import numpy as np
    import torch
    import torch.nn as nn
    from safetensors import safe_open
    from safetensors.torch import load_file
except ImportError as e:
    print(f"FAIL torch_load_checkpoint needs numpy, torch and safetensors in {sys.executable}: {e}")
    sys.exit(1)

# Every layer kind and activation of the model-file format, beyond the seed network.
EVERY_ACT = """input shape=2,3,4
flatten
dense units=16 act=relu name=a
dense units=12 act=leaky_relu alpha=0.05
dense units=12 act=elu alpha=0.7
dense units=10 act=gelu
dense units=10 act=sigmoid
dense units=8 act=tanh
leaky_relu
dense units=8
elu
gelu
tanh
sigmoid
relu
dense units=5 act=softmax
"""


def parse_line(line):
    """kind and key=value pairs of one model-file line (quotes and # comments allowed)."""
    toks, cur, quoted, i = [], "", False, 0
    while i < len(line):
        c = line[i]
        if quoted:
            if c == "\\" and i + 1 < len(line):
                cur += line[i + 1]
                i += 1
            elif c == '"':
                quoted = False
            else:
                cur += c
        elif c == '"':
            quoted = True
        elif c == "#":
            break
        elif c in " \t":
            if cur:
                toks.append(cur)
            cur = ""
        else:
            cur += c
        i += 1
    if cur:
        toks.append(cur)
    if not toks:
        return None, {}
    return toks[0], dict(t.split("=", 1) for t in toks[1:])


def activation(kind, kv):
    if kind == "relu":
        return nn.ReLU()
    if kind == "leaky_relu":
        return nn.LeakyReLU(float(kv.get("alpha", 0.01)))
    if kind == "elu":
        return nn.ELU(float(kv.get("alpha", 1.0)))
    if kind == "gelu":
        return nn.GELU()
    if kind == "sigmoid":
        return nn.Sigmoid()
    if kind == "tanh":
        return nn.Tanh()
    if kind == "softmax":
        return nn.Softmax(dim=1)
    raise ValueError(f"unknown activation '{kind}'")


def build(text, weights):
    """torch.nn.Sequential of the description, with the checkpoint's weights."""
    layers, features, used = [nn.Flatten()], None, set()
    for raw in text.splitlines():
        kind, kv = parse_line(raw)
        if kind is None:
            continue
        name = kv.get("name")
        if name is None:
            raise ValueError(f"layer '{raw}' has no name= (nncl writes one for every layer)")
        if kind == "input":
            features = int(np.prod([int(d) for d in kv["shape"].split(",")]))
        elif kind == "dense":
            units = int(kv["units"])
            lin = nn.Linear(features, units).double()
            with torch.no_grad():
                lin.weight.copy_(weights[f"{name}.weight"])
                lin.bias.copy_(weights[f"{name}.bias"])
            used.update((f"{name}.weight", f"{name}.bias"))
            layers.append(lin)
            if kv.get("act", "none") != "none":
                layers.append(activation(kv["act"], kv))
            features = units
        elif kind != "flatten":  # the Sequential starts with nn.Flatten
            layers.append(activation(kind, kv))
    extra = {k for k in weights if not k.startswith("optimizer.")} - used
    if extra:
        raise ValueError(f"checkpoint tensors not used by the description: {sorted(extra)}")
    return nn.Sequential(*layers)


def check(helper, model_path, tmp):
    out = os.path.join(tmp, os.path.basename(model_path) + ".out")
    os.makedirs(out, exist_ok=True)
    cmd = [helper, model_path, out]
    r = subprocess.run(cmd, capture_output=True, text=True)
    sys.stdout.write(r.stdout)
    if r.returncode:
        print(f"FAIL {shlex.join(cmd)} exited {r.returncode}: {r.stderr.strip()}")
        return False
    ckpt = os.path.join(out, "model.safetensors")
    weights = load_file(ckpt)
    with safe_open(ckpt, framework="pt") as f:
        meta = f.metadata()
    for key in ("model", "epoch", "step", "optimizer", "nncl_version"):
        if key not in meta:
            print(f"FAIL {ckpt}: metadata lacks '{key}': {sorted(meta)}")
            return False
    if meta["epoch"] != "1" or not meta["optimizer"].startswith("adam") or int(meta["step"]) != 8:
        print(f"FAIL {ckpt}: epoch {meta['epoch']}, step {meta['step']}, optimizer {meta['optimizer']}: "
              "want epoch 1, 8 Adam steps")
        return False
    net = build(meta["model"], weights)
    params = [k for k in weights if not k.startswith("optimizer.")]
    for k in params:
        for state in ("m", "v"):
            if f"optimizer.{state}.{k}" not in weights:
                print(f"FAIL {ckpt}: no optimizer state 'optimizer.{state}.{k}'")
                return False
        if weights[k].dtype != torch.float32:
            print(f"FAIL {ckpt}: {k} is {weights[k].dtype}, want float32")
            return False
    n_in = net[1].in_features
    x = np.fromfile(os.path.join(out, "x.f32"), dtype="<f4").reshape(-1, n_in)
    y_nncl = np.fromfile(os.path.join(out, "y.f32"), dtype="<f4").reshape(x.shape[0], -1)
    with torch.no_grad():
        y_torch = net(torch.from_numpy(x.astype(np.float64))).numpy()
    if y_torch.shape != y_nncl.shape:
        print(f"FAIL {model_path}: torch output {y_torch.shape}, nncl {y_nncl.shape}")
        return False
    err = np.abs(y_nncl - y_torch)
    tol = 1e-5 * np.abs(y_torch) + 1e-7
    bad = np.argwhere(err > tol)
    nparams = sum(weights[k].numel() for k in params)
    if len(bad):
        i = tuple(bad[0])
        print(f"FAIL {model_path}: {len(bad)} of {err.size} outputs beyond 1e-5 relative; first {i}: "
              f"nncl {y_nncl[i]:.9g}, torch {y_torch[i]:.9g}")
        return False
    print(f"ok   {model_path}: {nparams} parameters, torch {torch.__version__} matches nncl's {y_nncl.shape} outputs "
          f"(max rel err {float(np.max(err / (np.abs(y_torch) + 1e-30))):.2e})")
    return True


def main():
    if len(sys.argv) < 3:
        print(__doc__)
        return 2
    helper, models = sys.argv[1], sys.argv[2:]
    good = True
    with tempfile.TemporaryDirectory(prefix="nncl-torch-") as tmp:
        every = os.path.join(tmp, "every_act.txt")
        with open(every, "w") as f:
            f.write(EVERY_ACT)
        for m in models + [every]:
            good &= check(helper, m, tmp)
    print("PASSED" if good else "FAILED")
    return 0 if good else 1


if __name__ == "__main__":
    sys.exit(main())
