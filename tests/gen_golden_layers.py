#!/usr/bin/python3
"""Golden vectors for the vision layers from PyTorch (float64), read by tests/test_golden_layers.c.

usage: /usr/bin/python3 tests/gen_golden_layers.py [OUT]   (default tests/data/golden_layers.safetensors)

Each net below is written twice: as an nncl model description (stored in the metadata as
"net.<name>") and as a PyTorch forward over the same named parameters. Values are random
(numpy, fixed seed) and stored, so the C side only reads them. Per net, tensors named
"<name>.<what>", float32:
  x                 the input (N, ...)
  dy                dL/dy for L = sum(y * dy), (N, outputs)
  p.<param>         every parameter and buffer before the step ("<layer>.weight",
                    "<layer>.bias", "<layer>.running_mean", "<layer>.running_var")
  y                 output in training mode (batch norm with batch statistics)
  dx, grad.<param>  dL/dx and dL/d<param> for every trainable parameter
  after.<buffer>    running statistics after that one training forward
  y_eval            output in evaluation mode after it (running statistics)
"""
import warnings

import numpy as np
import torch
import torch.nn.functional as F

from golden_nets import out_path, record_params, save_golden

RNG = np.random.default_rng(20240601)
warnings.filterwarnings("ignore", message="Using padding='same'")  # the copy it warns of is fine here
NETS = []  # (name, nncl text, input shape with batch, {param: shape}, forward(p, x, training))


def net(name, text, xshape, params):
    def register(fn):
        NETS.append((name, text, xshape, params, fn))
        return fn
    return register


def same_pad(size, k, s, d):
    """TensorFlow's SAME padding (before, after) for one dim, as nncl's padding=same."""
    out = -(-size // s)
    total = max((out - 1) * s + d * (k - 1) + 1 - size, 0)
    return total // 2, total - total // 2


def bn(p, name, x, training, eps=1e-5, momentum=0.1):
    """batch norm; in training updates p's running statistics in place, as nn.BatchNorm."""
    return F.batch_norm(x, p[f"{name}.running_mean"], p[f"{name}.running_var"], p[f"{name}.weight"], p[f"{name}.bias"],
                        training=training, momentum=momentum, eps=eps)


def bn_params(name, c):
    return {f"{name}.weight": (c,), f"{name}.bias": (c,), f"{name}.running_mean": (c,), f"{name}.running_var": (c,)}


# ---- convolution --------------------------------------------------------------------------

@net("conv_s2_asym", "input shape=3,7,6\nconv2d filters=4 kernel=3 stride=2 padding=1,2,0,1 name=conv\n",
     (2, 3, 7, 6), {"conv.weight": (4, 3, 3, 3), "conv.bias": (4,)})
def _(p, x, training):
    return F.conv2d(F.pad(x, (0, 1, 1, 2)), p["conv.weight"], p["conv.bias"], stride=2)


@net("conv_same", "input shape=2,6,5\nconv2d filters=3 kernel=4,3 padding=same name=a\n"
     "conv2d filters=2 kernel=3 stride=2 padding=same name=b\n",
     (2, 2, 6, 5), {"a.weight": (3, 2, 4, 3), "a.bias": (3,), "b.weight": (2, 3, 3, 3), "b.bias": (2,)})
def _(p, x, training):
    h = F.conv2d(x, p["a.weight"], p["a.bias"], padding="same")  # PyTorch's own rule (stride 1)
    t, bo = same_pad(h.shape[2], 3, 2, 1)
    l, r = same_pad(h.shape[3], 3, 2, 1)
    return F.conv2d(F.pad(h, (l, r, t, bo)), p["b.weight"], p["b.bias"], stride=2)


@net("conv_dil_groups", "input shape=4,7,7\nconv2d filters=6 kernel=3 dilation=2 groups=2 padding=2 name=conv\n",
     (2, 4, 7, 7), {"conv.weight": (6, 2, 3, 3), "conv.bias": (6,)})
def _(p, x, training):
    return F.conv2d(x, p["conv.weight"], p["conv.bias"], padding=2, dilation=2, groups=2)


@net("depthwise", "input shape=3,6,6\nconv2d filters=3 kernel=3 groups=3 padding=1 bias=0 name=dw\n"
     "conv2d filters=6 kernel=3 groups=3 stride=2 dilation=1,2 name=dw2\n",
     (2, 3, 6, 6), {"dw.weight": (3, 1, 3, 3), "dw2.weight": (6, 1, 3, 3), "dw2.bias": (6,)})
def _(p, x, training):
    h = F.conv2d(x, p["dw.weight"], None, padding=1, groups=3)
    return F.conv2d(h, p["dw2.weight"], p["dw2.bias"], stride=2, dilation=(1, 2), groups=3)


@net("conv1d", "input shape=3,11\nconv1d filters=4 kernel=3 stride=2 padding=2,1 dilation=2 name=a\n"
     "conv1d filters=2 kernel=2 groups=2 bias=0 padding=1 name=b\n",
     (2, 3, 11), {"a.weight": (4, 3, 3), "a.bias": (4,), "b.weight": (2, 2, 2)})
def _(p, x, training):
    h = F.conv1d(F.pad(x, (2, 1)), p["a.weight"], p["a.bias"], stride=2, dilation=2)
    return F.conv1d(h, p["b.weight"], None, padding=1, groups=2)


# ---- pooling ------------------------------------------------------------------------------

@net("maxpool", "input shape=2,7,7\nmaxpool kernel=3 stride=2 padding=1 ceil=1\n", (2, 2, 7, 7), {})
def _(p, x, training):
    return F.max_pool2d(x, 3, 2, padding=1, ceil_mode=True)


@net("avgpool_incl", "input shape=2,7,6\navgpool kernel=3 stride=2 padding=1 ceil=1 count_include_pad=1\n", (2, 2, 7, 6), {})
def _(p, x, training):
    return F.avg_pool2d(x, 3, 2, padding=1, ceil_mode=True, count_include_pad=True)


@net("avgpool_excl", "input shape=2,7,6\navgpool kernel=3 stride=2 padding=1 ceil=1 count_include_pad=0\n", (2, 2, 7, 6), {})
def _(p, x, training):
    return F.avg_pool2d(x, 3, 2, padding=1, ceil_mode=True, count_include_pad=False)


@net("pool_rect", "input shape=2,5,7\nconv2d filters=2 kernel=1 name=c\navgpool kernel=2,3 stride=1,2 padding=1,0\n"
     "maxpool kernel=2 ceil=1\n", (2, 2, 5, 7), {"c.weight": (2, 2, 1, 1), "c.bias": (2,)})
def _(p, x, training):
    h = F.avg_pool2d(F.conv2d(x, p["c.weight"], p["c.bias"]), (2, 3), (1, 2), padding=(1, 0))
    return F.max_pool2d(h, 2, ceil_mode=True)


@net("pool1d", "input shape=2,9\nconv1d filters=2 kernel=2 name=c\nmaxpool kernel=3 stride=2 padding=1 ceil=1\n"
     "avgpool kernel=2 ceil=1 count_include_pad=0\n", (2, 2, 9), {"c.weight": (2, 2, 2), "c.bias": (2,)})
def _(p, x, training):
    h = F.max_pool1d(F.conv1d(x, p["c.weight"], p["c.bias"]), 3, 2, padding=1, ceil_mode=True)
    return F.avg_pool1d(h, 2, ceil_mode=True, count_include_pad=False)


@net("global", "input shape=3,4,5\nconv2d filters=2 kernel=1 name=c\nglobalavgpool name=ga from=c\n"
     "globalmaxpool name=gm from=c\nconcat from=ga,gm\n", (2, 3, 4, 5), {"c.weight": (2, 3, 1, 1), "c.bias": (2,)})
def _(p, x, training):
    h = F.conv2d(x, p["c.weight"], p["c.bias"])
    return torch.cat([h.mean((2, 3), keepdim=True), h.amax((2, 3), keepdim=True)], 1)


# ---- normalisation ------------------------------------------------------------------------

@net("bn_conv", "input shape=2,4,4\nconv2d filters=3 kernel=3 padding=1 name=c1\nbatchnorm name=bn\nrelu\n"
     "conv2d filters=2 kernel=2 stride=2 name=c2\n",
     (3, 2, 4, 4), {"c1.weight": (3, 2, 3, 3), "c1.bias": (3,), **bn_params("bn", 3), "c2.weight": (2, 3, 2, 2), "c2.bias": (2,)})
def _(p, x, training):
    h = F.relu(bn(p, "bn", F.conv2d(x, p["c1.weight"], p["c1.bias"], padding=1), training))
    return F.conv2d(h, p["c2.weight"], p["c2.bias"], stride=2)


@net("bn_dense", "input shape=5\ndense units=4 name=d1\nbatchnorm momentum=0.2 eps=1e-3 name=bn\ndense units=3 name=d2\n",
     (4, 5), {"d1.weight": (4, 5), "d1.bias": (4,), **bn_params("bn", 4), "d2.weight": (3, 4), "d2.bias": (3,)})
def _(p, x, training):
    h = bn(p, "bn", F.linear(x, p["d1.weight"], p["d1.bias"]), training, eps=1e-3, momentum=0.2)
    return F.linear(h, p["d2.weight"], p["d2.bias"])


@net("bn_conv1d", "input shape=2,6\nconv1d filters=3 kernel=3 name=c\nbatchnorm momentum=0.5 name=bn\n",
     (2, 2, 6), {"c.weight": (3, 2, 3), "c.bias": (3,), **bn_params("bn", 3)})
def _(p, x, training):
    return bn(p, "bn", F.conv1d(x, p["c.weight"], p["c.bias"]), training, momentum=0.5)


@net("layernorm", "input shape=2,3,4\nconv2d filters=2 kernel=1 name=c\nlayernorm dims=2 eps=1e-4 name=ln2\n"
     "layernorm dims=1 name=ln1\nflatten\ndense units=3 name=d\n",
     (2, 2, 3, 4), {"c.weight": (2, 2, 1, 1), "c.bias": (2,), "ln2.weight": (3, 4), "ln2.bias": (3, 4), "ln1.weight": (4,),
                    "ln1.bias": (4,), "d.weight": (3, 24), "d.bias": (3,)})
def _(p, x, training):
    h = F.layer_norm(F.conv2d(x, p["c.weight"], p["c.bias"]), (3, 4), p["ln2.weight"], p["ln2.bias"], eps=1e-4)
    h = F.layer_norm(h, (4,), p["ln1.weight"], p["ln1.bias"], eps=1e-5)
    return F.linear(h.flatten(1), p["d.weight"], p["d.bias"])


# ---- joins --------------------------------------------------------------------------------

@net("resnet", "input shape=2,5,5\n"
     "conv2d filters=2 kernel=3 padding=1 bias=0 name=c1\nbatchnorm name=bn1\nrelu name=r1\n"
     "conv2d filters=2 kernel=3 padding=1 bias=0 name=c2\nbatchnorm name=bn2\n"
     "add from=input,bn2 name=skip\nrelu name=r2\nconv2d filters=2 kernel=1 name=c3\nadd from=r2,c3\n"
     "globalavgpool\nflatten\ndense units=3 name=d\n",
     (3, 2, 5, 5), {"c1.weight": (2, 2, 3, 3), **bn_params("bn1", 2), "c2.weight": (2, 2, 3, 3), **bn_params("bn2", 2),
                    "c3.weight": (2, 2, 1, 1), "c3.bias": (2,), "d.weight": (3, 2), "d.bias": (3,)})
def _(p, x, training):
    h = F.relu(bn(p, "bn1", F.conv2d(x, p["c1.weight"], None, padding=1), training))
    h = bn(p, "bn2", F.conv2d(h, p["c2.weight"], None, padding=1), training)
    r2 = F.relu(x + h)
    h = r2 + F.conv2d(r2, p["c3.weight"], p["c3.bias"])
    return F.linear(h.mean((2, 3)), p["d.weight"], p["d.bias"])


@net("densenet", "input shape=2,4,4\n"
     "conv2d filters=2 kernel=3 padding=1 name=l1\nconcat from=input,l1 name=c1\n"
     "batchnorm name=bn\nrelu\nconv2d filters=2 kernel=3 padding=1 name=l2\nconcat from=c1,l2,input name=c2\n"
     "avgpool kernel=2\nflatten\ndense units=3 name=d\n",
     (2, 2, 4, 4), {"l1.weight": (2, 2, 3, 3), "l1.bias": (2,), **bn_params("bn", 4), "l2.weight": (2, 4, 3, 3), "l2.bias": (2,),
                    "d.weight": (3, 32), "d.bias": (3,)})
def _(p, x, training):
    c1 = torch.cat([x, F.conv2d(x, p["l1.weight"], p["l1.bias"], padding=1)], 1)
    l2 = F.conv2d(F.relu(bn(p, "bn", c1, training)), p["l2.weight"], p["l2.bias"], padding=1)
    c2 = torch.cat([c1, l2, x], 1)
    return F.linear(F.avg_pool2d(c2, 2).flatten(1), p["d.weight"], p["d.bias"])


def values(name, shape):
    """float32 values: running variances in [0.5, 1.5), everything else in [-1, 1)."""
    v = RNG.uniform(0.5, 1.5, shape) if name.endswith(".running_var") else RNG.uniform(-1, 1, shape)
    return v.astype(np.float32)


def main():
    res, meta = {}, {"generator": f"tests/gen_golden_layers.py, torch {torch.__version__}"}
    for name, text, xshape, pshapes, fwd in NETS:
        meta[f"net.{name}"] = text
        init = {k: values(k, s) for k, s in pshapes.items()}
        x32 = values("x", xshape)
        p = {k: torch.tensor(v.astype(np.float64), requires_grad=not k.endswith(("running_mean", "running_var")))
             for k, v in init.items()}
        x = torch.tensor(x32.astype(np.float64), requires_grad=True)
        y = fwd(p, x, True)
        dy32 = values("dy", tuple(y.shape))
        (y * torch.tensor(dy32.astype(np.float64))).sum().backward()
        with torch.no_grad():
            y_eval = fwd(p, x, False)
        res[f"{name}.x"], res[f"{name}.dy"] = x32, dy32.reshape(y.shape[0], -1)
        res[f"{name}.y"] = y.detach().numpy().reshape(y.shape[0], -1)
        res[f"{name}.y_eval"] = y_eval.numpy().reshape(y.shape[0], -1)
        res[f"{name}.dx"] = x.grad.numpy()
        record_params(res, name, init, p, after=True)
        print(f"{name}: x {tuple(xshape)} -> y {tuple(y.shape)}, {len(init)} parameters and buffers")
    save_golden(out_path("golden_layers.safetensors"), res, meta, len(NETS))


if __name__ == "__main__":
    main()
