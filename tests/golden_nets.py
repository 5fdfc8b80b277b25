"""What tests/gen_golden_layers.py, gen_golden_rnn.py and gen_golden_attn.py share: where
the golden file goes, one net's parameters and gradients as tests/goldentest.h reads them,
and writing the file.

The scripts import this from their own folder, which Python puts first on sys.path when
it runs a script (/usr/bin/python3 tests/gen_golden_X.py).
"""
import os
import sys

import numpy as np


def out_path(file):
    """The file to write: the first command-line argument, else tests/data/<file>."""
    return sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", file)


def record_params(res, name, init, params, after=False):
    """Into res: "<name>.p.<k>", the value init holds for every parameter k of params, and
    "<name>.grad.<k>", the gradient of each that takes one; with after, "<name>.after.<k>"
    for the others (running statistics after the training forward)."""
    for k, v in params.items():
        res[f"{name}.p.{k}"] = init[k]
        if v.requires_grad:
            res[f"{name}.grad.{k}"] = v.grad.numpy()
        elif after:
            res[f"{name}.after.{k}"] = v.detach().numpy()


def save_golden(path, res, meta, nets):
    """Writes the tensors of res (as float32) and the metadata meta to path; says what it wrote."""
    from safetensors.numpy import save_file
    res = {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in res.items()}
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    save_file(res, path, metadata=meta)
    print(f"{path}: {os.path.getsize(path)} bytes, {nets} nets, {len(res)} tensors")
