"""What the torch_load_*.py scripts share: the imports (a FAIL naming the script when
numpy, torch or safetensors is missing: CI installs them), the model-file reader, the
activations, running torch_ckpt_helper (it trains a model and writes model.safetensors,
x.f32 and y.f32), reading its checkpoint and outputs, comparing torch's outputs with
nncl's, and the main loop over the models.

Each script puts its own folder first on sys.path to import this (meson runs them from the
build folder).
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
    print(f"FAIL {os.path.splitext(os.path.basename(sys.argv[0]))[0]} needs numpy, torch and safetensors in "
          f"{sys.executable}: {e}")
    sys.exit(1)

ACTS = {"relu": lambda kv: nn.ReLU(), "leaky_relu": lambda kv: nn.LeakyReLU(float(kv.get("alpha", 0.01))),
        "elu": lambda kv: nn.ELU(float(kv.get("alpha", 1.0))), "gelu": lambda kv: nn.GELU(),
        "sigmoid": lambda kv: nn.Sigmoid(), "tanh": lambda kv: nn.Tanh(), "softmax": lambda kv: nn.Softmax(dim=1)}


def parse_line(line):
    """kind and key=value pairs of one model-file line (quotes and # comments allowed);
    (None, {}) for a blank line."""
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


def parse(text):
    """(kind, {key: value}) per non-blank line of a model description."""
    return [kv for kv in map(parse_line, text.splitlines()) if kv[0] is not None]


def run_helper(helper, model_path, tmp):
    """Runs the helper on model_path into a folder of tmp and returns that folder (None after
    a failure, reported)."""
    out = os.path.join(tmp, os.path.basename(model_path) + ".out")
    os.makedirs(out, exist_ok=True)
    cmd = [helper, model_path, out]
    r = subprocess.run(cmd, capture_output=True, text=True)
    sys.stdout.write(r.stdout)
    if r.returncode:
        print(f"FAIL {shlex.join(cmd)} exited {r.returncode}: {r.stderr.strip()}")
        return None
    return out


def load_checkpoint(out):
    """The helper's checkpoint in out: (tensors, metadata)."""
    ckpt = os.path.join(out, "model.safetensors")
    tensors = load_file(ckpt)
    with safe_open(ckpt, framework="pt") as f:
        meta = f.metadata()
    return tensors, meta


def outputs(net, out, n_in):
    """The helper's inputs x (rows of n_in), nncl's outputs for them and torch's net(x) in
    float64."""
    x = np.fromfile(os.path.join(out, "x.f32"), dtype="<f4").reshape(-1, n_in)
    y_nncl = np.fromfile(os.path.join(out, "y.f32"), dtype="<f4").reshape(x.shape[0], -1)
    with torch.no_grad():
        y_torch = net(torch.from_numpy(x.astype(np.float64))).numpy()
    return x, y_nncl, y_torch


def compare(model_path, y_nncl, y_torch, rtol, atol, what):
    """|y_nncl - y_torch| <= rtol |y_torch| + atol everywhere: returns the errors, None after
    a failure (reported; `what` names the outputs and the tolerance)."""
    if y_torch.shape != y_nncl.shape:
        print(f"FAIL {model_path}: torch output {y_torch.shape}, nncl {y_nncl.shape}")
        return None
    err = np.abs(y_nncl - y_torch)
    bad = np.argwhere(err > rtol * np.abs(y_torch) + atol)
    if len(bad):
        i = tuple(bad[0])
        print(f"FAIL {model_path}: {len(bad)} of {err.size} {what}; first {i}: "
              f"nncl {y_nncl[i]:.9g}, torch {y_torch[i]:.9g}")
        return None
    return err


def main(doc, check, tmp_prefix, min_args=3, extra=None):
    """usage: SCRIPT HELPER MODEL...: check(helper, model, tmp) for every MODEL, then for every
    description of extra ({file name: text}, written to tmp). Returns the exit status."""
    if len(sys.argv) < min_args:
        print(doc)
        return 2
    helper, models = sys.argv[1], sys.argv[2:]
    good = True
    with tempfile.TemporaryDirectory(prefix=tmp_prefix) as tmp:
        for name, text in (extra or {}).items():
            path = os.path.join(tmp, name)
            with open(path, "w") as f:
                f.write(text)
            models.append(path)
        for m in models:
            good &= check(helper, m, tmp)
    print("PASSED" if good else "FAILED")
    return 0 if good else 1
