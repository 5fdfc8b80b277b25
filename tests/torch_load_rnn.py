#!/usr/bin/python3
"""PyTorch runs recurrent models trained in nncl: the helper (torch_ckpt_helper) trains a
model for 8 Adam steps on random data and saves it; this script builds the same network
from the "model" description in the checkpoint's metadata with torch.nn.LSTM / GRU / RNN
(batch_first=True) and nn.Linear modules named like nncl's layers, loads the weights with
load_state_dict(strict=True) (nncl's names are torch's state_dict names), and compares
torch's outputs (float64) with nncl's: within 1e-5 relative.

usage: torch_load_rnn.py HELPER MODEL...
Fails (never skips) when torch or safetensors is missing: CI installs both.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_ckpt_common as common  # noqa: E402
from torch_ckpt_common import np, nn, parse, torch  # noqa: E402


class Recurrent(nn.Module):
    """nncl lstm/gru/rnn: torch's module; return=last is h_n of the last layer, both
    directions concatenated."""

    def __init__(self, kind, d_in, kv):
        super().__init__()
        cls = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}[kind]
        extra = {"nonlinearity": kv.get("act", "tanh")} if kind == "rnn" else {}
        self.m = cls(d_in, int(kv["units"]), num_layers=int(kv.get("layers", 1)),
                     bidirectional=kv.get("bidirectional", "0") == "1", batch_first=True, **extra)
        self.kind, self.seq = kind, kv.get("return", "last") == "sequence"
        if kv.get("initial", "zeros") != "zeros":
            raise ValueError("initial=learned has no torch.nn equivalent module")

    def forward(self, x):
        out, h = self.m(x)
        h = h[0] if self.kind == "lstm" else h
        dirs = 2 if self.m.bidirectional else 1
        return out if self.seq else torch.cat([h[-dirs + k] for k in range(dirs)], 1)


class Net(nn.Module):
    """The description as modules named like nncl's layers: the checkpoint's
    "<layer>.weight_ih_l0" is "<layer>.m.weight_ih_l0" here (renamed on load)."""

    def __init__(self, text):
        super().__init__()
        self.layers = []
        shape = None
        for kind, kv in parse(text):
            if kind == "input":
                shape = [int(d) for d in kv["shape"].split(",")]
                self.input_shape = shape
                continue
            if kind in ("lstm", "gru", "rnn"):
                m = Recurrent(kind, shape[-1], kv)
                dirs = 2 if kv.get("bidirectional", "0") == "1" else 1
                shape = [shape[0], int(kv["units"]) * dirs] if m.seq else [int(kv["units"]) * dirs]
            elif kind == "dense":
                m = nn.Linear(int(np.prod(shape)), int(kv["units"]))
                shape = [int(kv["units"])]
            elif kind == "softmax":
                m = nn.Softmax(dim=1)
            else:
                raise ValueError(f"layer kind {kind} is not handled here")
            self.add_module(kv["name"], m)
            self.layers.append((kind, m))

    def forward(self, x):
        x = x.reshape([x.shape[0]] + self.input_shape)
        for kind, m in self.layers:
            x = m(x.flatten(1) if kind in ("dense", "softmax") else x)
        return x


def check(helper, model_path, tmp):
    out = common.run_helper(helper, model_path, tmp)
    if out is None:
        return False
    tensors, meta = common.load_checkpoint(out)
    text = meta["model"]
    moments = [v for k, v in tensors.items() if k.startswith("optimizer.")]
    if not moments or not any(bool(torch.any(v != 0)) for v in moments):
        print(f"FAIL {model_path}: the checkpoint holds no trained optimizer state: the model was not trained")
        return False
    net = Net(text).double()
    names = dict(net.named_modules())
    weights = {}
    for k, v in tensors.items():
        if k.startswith("optimizer."):
            continue
        layer, rest = k.split(".", 1)
        weights[f"{layer}.m.{rest}" if isinstance(names.get(layer), Recurrent) else k] = v.double()
    net.load_state_dict(weights, strict=True)
    _, y_nncl, y_torch = common.outputs(net, out, int(np.prod(net.input_shape)))
    err = common.compare(model_path, y_nncl, y_torch, 1e-5, 1e-8, "outputs beyond 1e-5 relative")
    if err is None:
        return False
    nparams = sum(v.numel() for v in weights.values())
    print(f"ok   {os.path.basename(model_path)}: {nparams} parameters trained in nncl load into torch {torch.__version__} "
          f"modules; outputs {y_nncl.shape} match (max rel err {float(np.max(err / np.abs(y_torch))):.2e})")
    return True


if __name__ == "__main__":
    sys.exit(common.main(__doc__, check, "nncl-torch-rnn-"))
