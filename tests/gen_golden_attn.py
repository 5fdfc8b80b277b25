#!/usr/bin/python3
"""Golden vectors for the sequence layers from PyTorch's own modules (float64), read by
tests/test_golden_layers.c (run as: test_golden_layers golden_attn.safetensors NETS).

usage: /usr/bin/python3 tests/gen_golden_attn.py [OUT]   (default tests/data/golden_attn.safetensors)

Nets: nn.MultiheadAttention (batch_first) with and without a causal mask and a key padding
mask, without biases; nn.TransformerEncoderLayer (batch_first) post- and pre-norm, relu and
gelu, with a padding mask; a small TransformerNet (dense, learned positions, two blocks,
mean/max/last pooling, dense). Dropout is off (p = 0 in the description, eval() in torch),
so the training and evaluation outputs agree. The modules run through
torch.nn.utils.stateless.functional_call with the stored parameters. Tensors as
tests/gen_golden_layers.py writes them: "<net>.x", ".dy", ".p.<param>", ".y", ".y_eval",
".dx", ".grad.<param>"; the description as metadata "net.<name>".
"""
import math

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.utils.stateless import functional_call

from golden_nets import out_path, record_params, save_golden

RNG = np.random.default_rng(20261127)
NETS = []  # (name, nncl text, x (float32), {param: shape}, forward(p, x))
PAD = [1, 3]  # padded steps of the padding-mask nets (first value of the step == 0)


def net(name, text, xshape, params, padded=False):
    def register(fn):
        x = RNG.uniform(-1, 1, xshape).astype(np.float32)
        if padded:
            x[0, PAD, 0] = 0  # sample 0: steps 1 and 3 are padding; sample 1 has none
            x[1, -1, 0] = 0   # sample 1: its last step
        NETS.append((name, text, x, params, fn))
        return fn
    return register


def sub(p, prefix):
    """The parameters under "<prefix>." with the prefix removed (a module's state_dict)."""
    return {k[len(prefix) + 1:]: v for k, v in p.items() if k.startswith(prefix + ".")}


def mha_params(name, d, bias=True):
    p = {f"{name}.in_proj_weight": (3 * d, d), f"{name}.out_proj.weight": (d, d)}
    if bias:
        p.update({f"{name}.in_proj_bias": (3 * d,), f"{name}.out_proj.bias": (d,)})
    return p


def tf_params(name, d, ff):
    p = mha_params(f"{name}.self_attn", d)
    p.update({f"{name}.linear1.weight": (ff, d), f"{name}.linear1.bias": (ff,), f"{name}.linear2.weight": (d, ff),
              f"{name}.linear2.bias": (d,), f"{name}.norm1.weight": (d,), f"{name}.norm1.bias": (d,),
              f"{name}.norm2.weight": (d,), f"{name}.norm2.bias": (d,)})
    return p


def mha(p, name, x, heads, causal=False, pad=None, bias=True):
    m = nn.MultiheadAttention(x.shape[2], heads, bias=bias, batch_first=True).double().eval()
    t = x.shape[1]
    mask = torch.triu(torch.ones(t, t, dtype=torch.bool), 1) if causal else None
    return functional_call(m, sub(p, name), (x, x, x), {"attn_mask": mask, "key_padding_mask": pad, "need_weights": False})[0]


def tf(p, name, x, heads, ff, norm_first=False, act="relu", pad=None):
    m = nn.TransformerEncoderLayer(x.shape[2], heads, ff, dropout=0.0, activation=act, batch_first=True,
                                   norm_first=norm_first).double().eval()
    return functional_call(m, sub(p, name), (x,), {"src_key_padding_mask": pad})


def pad_of(x):
    return x.detach()[:, :, 0] == 0


@net("mha", "input shape=5,8\nattention heads=2 name=att\n", (2, 5, 8), mha_params("att", 8))
def _(p, x):
    return mha(p, "att", x, 2)


@net("mha_causal", "input shape=6,8\nattention heads=4 causal=1 name=att\n", (2, 6, 8), mha_params("att", 8))
def _(p, x):
    return mha(p, "att", x, 4, causal=True)


@net("mha_pad", "input shape=5,6\nattention heads=3 mask_from=input mask_pad=0 name=att\n", (2, 5, 6), mha_params("att", 6),
     padded=True)
def _(p, x):
    return mha(p, "att", x, 3, pad=pad_of(x))


@net("mha_pad_causal_nobias", "input shape=5,4\nattention heads=1 causal=1 bias=0 mask_from=input mask_pad=0 name=att\n",
     (2, 5, 4), mha_params("att", 4, bias=False), padded=True)
def _(p, x):
    return mha(p, "att", x, 1, causal=True, pad=pad_of(x), bias=False)


@net("tf_post", "input shape=5,8\ntransformer heads=2 ff=16 dropout=0 name=tf\n", (2, 5, 8), tf_params("tf", 8, 16))
def _(p, x):
    return tf(p, "tf", x, 2, 16)


@net("tf_pre_gelu", "input shape=4,8\ntransformer heads=4 ff=12 dropout=0 norm=pre act=gelu name=tf\n", (3, 4, 8),
     tf_params("tf", 8, 12))
def _(p, x):
    return tf(p, "tf", x, 4, 12, norm_first=True, act="gelu")


@net("tf_pad", "input shape=5,6\ntransformer heads=2 ff=10 dropout=0 mask_from=input mask_pad=0 name=tf\n", (2, 5, 6),
     tf_params("tf", 6, 10), padded=True)
def _(p, x):
    return tf(p, "tf", x, 2, 10, pad=pad_of(x))


def tnet_params():
    p = {"emb.weight": (8, 5), "emb.bias": (8,), "pe.weight": (9, 8)}
    p.update(tf_params("b1", 8, 12))
    p.update(tf_params("b2", 8, 12))
    p.update({"fc.weight": (3, 8), "fc.bias": (3,)})
    return p


def tnet(p, x, pool):
    h = F.linear(x, p["emb.weight"], p["emb.bias"]) + p["pe.weight"][: x.shape[1]]
    h = tf(p, "b2", tf(p, "b1", h, 2, 12), 2, 12, norm_first=True)
    h = h.mean(1) if pool == "mean" else h.max(1).values if pool == "max" else h[:, -1]
    return F.linear(h, p["fc.weight"], p["fc.bias"])


for pool in ("mean", "max", "last"):
    @net(f"tnet_{pool}", "input shape=6,5\ndense units=8 name=emb\nposenc kind=learned max_len=9 name=pe\n"
         "transformer heads=2 ff=12 dropout=0 name=b1\ntransformer heads=2 ff=12 dropout=0 norm=pre name=b2\n"
         f"seqpool mode={pool}\ndense units=3 name=fc\n", (3, 6, 5), tnet_params())
    def _(p, x, pool=pool):
        return tnet(p, x, pool)


@net("posenc_sin", "input shape=4,6\nposenc max_len=4 name=pe\nseqpool mode=mean\n", (2, 4, 6), {"pe.pe": (4, 6)})
def _(p, x):
    return (x + p["pe.pe"]).mean(1)


def values(name, shape):
    if name == "pe.pe":  # the sinusoidal table nncl initialises the buffer with
        t, d = shape
        ang = np.arange(t)[:, None] * np.exp(-(np.arange(d) // 2 * 2) * math.log(10000.0) / d)[None, :]
        return np.where(np.arange(d) % 2 == 0, np.sin(ang), np.cos(ang)).astype(np.float32)
    if name.endswith("norm1.weight") or name.endswith("norm2.weight"):
        return RNG.uniform(0.5, 1.5, shape).astype(np.float32)
    return RNG.uniform(-1, 1, shape).astype(np.float32)


def main():
    res, meta = {}, {"generator": f"tests/gen_golden_attn.py, torch {torch.__version__}"}
    for name, text, x32, pshapes, fwd in NETS:
        meta[f"net.{name}"] = text
        init = {k: values(k, s) for k, s in pshapes.items()}
        p = {k: torch.tensor(v.astype(np.float64), requires_grad=k != "pe.pe") for k, v in init.items()}
        x = torch.tensor(x32.astype(np.float64), requires_grad=True)
        y = fwd(p, x)
        assert torch.isfinite(y).all(), name
        dy32 = RNG.uniform(-1, 1, tuple(y.shape)).astype(np.float32)
        (y * torch.tensor(dy32.astype(np.float64))).sum().backward()
        rows = y.shape[0]
        res[f"{name}.x"], res[f"{name}.dy"] = x32, dy32.reshape(rows, -1)
        res[f"{name}.y"] = res[f"{name}.y_eval"] = y.detach().numpy().reshape(rows, -1)
        res[f"{name}.dx"] = x.grad.numpy()
        record_params(res, name, init, p)
        print(f"{name}: x {tuple(x32.shape)} -> y {tuple(y.shape)}, {len(init)} parameters and buffers")
    save_golden(out_path("golden_attn.safetensors"), res, meta, len(NETS))


if __name__ == "__main__":
    main()
