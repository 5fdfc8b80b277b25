#!/usr/bin/python3
"""PyTorch runs nncl's attention and transformer checkpoints: the helper (torch_ckpt_helper)
trains each model for a few Adam steps on random data (dropout active) and saves it; this
script builds the torch network from the "model" description in the checkpoint's metadata
out of torch's own modules (nn.Linear, nn.MultiheadAttention and nn.TransformerEncoderLayer
with batch_first=True, registered under nncl's layer names, so the checkpoint's names are
the state_dict's), loads the weights with load_state_dict(strict=True), and compares its
eval-mode outputs with nncl's within 1e-5 relative.

usage: torch_load_attn.py HELPER MODEL...   (with no MODEL: the example transformer and the
       built-in descriptions below)
Fails (never skips) when torch or safetensors is missing: CI installs both.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_ckpt_common as common  # noqa: E402
from torch_ckpt_common import ACTS, np, nn, parse, torch  # noqa: E402

MODELS = {
    "attention.txt": "input shape=6,8\nattention heads=2 dropout=0.1 name=att\nseqpool mode=mean\ndense units=4 name=fc\nsoftmax\n",
    "prenorm.txt": "input shape=5,6\ndense units=8 name=emb\nposenc kind=learned max_len=10 name=pe\n"
                   "transformer heads=2 ff=16 norm=pre act=gelu name=tf\nattention heads=4 causal=1 bias=0 name=att\n"
                   "posenc max_len=5 name=sin\nseqpool mode=last\ndense units=3 name=fc\nsoftmax\n",
    "maxpool.txt": "input shape=7,4\ntransformer heads=4 ff=8 dropout=0.2 causal=1 name=tf\nseqpool mode=max\n"
                   "dense units=5 name=fc\n",
}


class PosEnc(nn.Module):
    """y = x + table[:T]: "weight" when learned, the buffer "pe" when sinusoidal."""

    def __init__(self, max_len, d, learned):
        super().__init__()
        t = torch.zeros(max_len, d, dtype=torch.float64)
        if learned:
            self.weight = nn.Parameter(t)
        else:
            self.register_buffer("pe", t)
        self.learned = learned

    def forward(self, x):
        t = self.weight if self.learned else self.pe
        return x + t[: x.shape[1]]


class Layer(nn.Module):
    """One nncl layer over torch modules; m is registered under the layer's name."""

    def __init__(self, kind, kv, m):
        super().__init__()
        self.kind, self.kv, self.m = kind, kv, m

    def forward(self, x):
        k, kv = self.kind, self.kv
        if k == "attention":
            t = x.shape[1]
            causal = torch.triu(torch.ones(t, t, dtype=torch.bool), 1) if kv.get("causal", "0") == "1" else None
            return self.m(x, x, x, attn_mask=causal, need_weights=False)[0]
        if k == "transformer":
            t = x.shape[1]
            causal = torch.triu(torch.ones(t, t, dtype=torch.bool), 1) if kv.get("causal", "0") == "1" else None
            return self.m(x, src_mask=causal)
        if k == "seqpool":
            mode = kv.get("mode", "mean")
            return x.mean(1) if mode == "mean" else x.amax(1) if mode == "max" else x[:, -1]
        if k == "dense":
            y = self.m(x)
            return ACTS[kv["act"]](kv)(y) if kv.get("act", "none") != "none" else y
        return self.m(x)


class Net(nn.Module):
    def __init__(self, text):
        super().__init__()
        self.graph, self.shape = [], None
        d = None
        for kind, kv in parse(text):
            name = kv["name"]
            if kind == "input":
                self.shape, self.input_name = [int(v) for v in kv["shape"].split(",")], name
                d = self.shape[-1]
                continue
            heads = int(kv.get("heads", 1))
            if kind == "dense":
                m = nn.Linear(d, int(kv["units"]))
                d = int(kv["units"])
            elif kind == "attention":
                m = nn.MultiheadAttention(d, heads, dropout=float(kv.get("dropout", 0)), bias=kv.get("bias", "1") == "1",
                                          batch_first=True)
            elif kind == "transformer":
                m = nn.TransformerEncoderLayer(d, heads, int(kv.get("ff", 2048)), dropout=float(kv.get("dropout", 0.1)),
                                               activation=kv.get("act", "relu"), layer_norm_eps=float(kv.get("eps", 1e-5)),
                                               batch_first=True, norm_first=kv.get("norm", "post") == "pre")
            elif kind == "posenc":
                m = PosEnc(int(kv.get("max_len", 512)), d, kv.get("kind", "sinusoidal") == "learned")
            elif kind == "softmax":
                m = nn.Softmax(dim=-1)
            elif kind == "seqpool":
                m = nn.Identity()
            else:
                raise ValueError(f"torch_load_attn: no torch module for '{kind}'")
            self.add_module(name, m.double())
            ins = kv["from"].split(",") if "from" in kv else [self.graph[-1][0] if self.graph else self.input_name]
            self.graph.append((name, Layer(kind, kv, m), ins))

    def forward(self, x):
        vals = {self.input_name: x.reshape([x.shape[0]] + self.shape)}
        for name, layer, ins in self.graph:
            vals[name] = layer(vals[ins[0]])
        return vals[self.graph[-1][0]].flatten(1)


def check(helper, model_path, tmp):
    out = common.run_helper(helper, model_path, tmp)
    if out is None:
        return False
    tensors, meta = common.load_checkpoint(out)
    text, step = meta["model"], meta.get("step", "?")
    weights = {k: v.double() for k, v in tensors.items() if not k.startswith("optimizer.")}
    net = Net(text)
    try:
        net.load_state_dict(weights, strict=True)
    except RuntimeError as e:
        print(f"FAIL {model_path}: the checkpoint does not load into torch's modules: {e}")
        return False
    attn = [k for k in weights if k.endswith("in_proj_weight")]
    net.eval()
    _, y_nncl, y_torch = common.outputs(net, out, int(np.prod(net.shape)))
    err = common.compare(model_path, y_nncl, y_torch, 1e-5, 1e-7, "eval outputs beyond 1e-5 relative")
    if err is None:
        return False
    nparams = sum(v.numel() for k, v in weights.items() if not k.endswith(".pe"))
    print(f"ok   {os.path.basename(model_path)}: {nparams} parameters, {len(attn)} attention layers trained by nncl "
          f"(step {step}) load strictly into torch {torch.__version__}'s modules; eval outputs {y_nncl.shape} match "
          f"(max rel err {float(np.max(err / np.maximum(np.abs(y_torch), 1e-30))):.2e})")
    return True


if __name__ == "__main__":
    sys.exit(common.main(__doc__, check, "nncl-torch-attn-", min_args=2, extra=MODELS))
