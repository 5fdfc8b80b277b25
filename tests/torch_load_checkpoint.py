#!/usr/bin/python3
"""PyTorch reads nncl checkpoints: the test helper trains a model briefly and saves it;
this script loads the .safetensors file with safetensors.torch.load_file, builds the torch
network from the "model" description in its metadata, runs the helper's inputs and
compares with nncl's outputs (relative 1e-5).

usage: torch_load_checkpoint.py HELPER MODEL...   (HELPER = the torch_ckpt_helper executable)
Fails (never skips) when torch or safetensors is missing: CI installs both.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_ckpt_common as common  # noqa: E402
from torch_ckpt_common import ACTS, np, nn, parse_line, torch  # noqa: E402

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
                layers.append(ACTS[kv["act"]](kv))
            features = units
        elif kind != "flatten":  # the Sequential starts with nn.Flatten
            layers.append(ACTS[kind](kv))
    extra = {k for k in weights if not k.startswith("optimizer.")} - used
    if extra:
        raise ValueError(f"checkpoint tensors not used by the description: {sorted(extra)}")
    return nn.Sequential(*layers)


def check(helper, model_path, tmp):
    out = common.run_helper(helper, model_path, tmp)
    if out is None:
        return False
    ckpt = os.path.join(out, "model.safetensors")
    weights, meta = common.load_checkpoint(out)
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
    _, y_nncl, y_torch = common.outputs(net, out, net[1].in_features)
    err = common.compare(model_path, y_nncl, y_torch, 1e-5, 1e-7, "outputs beyond 1e-5 relative")
    if err is None:
        return False
    nparams = sum(weights[k].numel() for k in params)
    print(f"ok   {model_path}: {nparams} parameters, torch {torch.__version__} matches nncl's {y_nncl.shape} outputs "
          f"(max rel err {float(np.max(err / (np.abs(y_torch) + 1e-30))):.2e})")
    return True


if __name__ == "__main__":
    sys.exit(common.main(__doc__, check, "nncl-torch-", extra={"every_act.txt": EVERY_ACT}))
