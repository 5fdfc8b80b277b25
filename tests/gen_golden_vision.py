#!/usr/bin/python3
"""Golden vectors for the vision ops from PyTorch (pooling, batch norm, layer norm).

usage: /usr/bin/python3 tests/gen_golden_vision.py [OUT]
       (default tests/data/golden_vision.safetensors; tests/test_golden_vision.c reads it)

Inputs are float32 draws (torch.manual_seed(2024)) stored in the file; every expected value
is computed by PyTorch in float64 from those float32 inputs and stored as F32. Each case is
a group of tensors named "<kind>.<k>.<what>", k = 0, 1, ... with no gaps:

  maxpool.k / avgpool.k  geom (I32): N C H W KH KW SH SW PH PW ceil count_include_pad OH OW
                         x (N,C,H,W), dy (N,C,OH,OW); y = F.max_pool2d / F.avg_pool2d(x,
                         kernel, stride, padding, ceil_mode[, count_include_pad]);
                         dx = d sum(y dy) / dx
  batchnorm.k            geom (I32): N C P; eps (F32, 1), momentum (F32, 1)
                         x (N,C,P) (an (N,C,H,W) input flattened), gamma, beta, rmean, rvar (C),
                         dy; training mode: y, mean, var (biased), dx, dgamma, dbeta, and the
                         running stats after the update: rmean_new, rvar_new (unbiased var);
                         eval mode with rmean/rvar: y_eval
  layernorm.k            geom (I32): R D (normalized over the trailing dims of size D)
                         eps (F32, 1); x (R,D), gamma, beta (D), dy; y, mean, invstd (R),
                         dx, dgamma, dbeta
"""
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.numpy import save_file

# (N, C, H, W, kernel, stride, padding, ceil_mode); global pooling has kernel = H x W
POOLS = [
    (2, 3, 9, 9, (3, 3), (2, 2), (1, 1), False),
    (1, 2, 7, 8, (2, 2), (2, 2), (0, 0), True),
    (2, 2, 6, 5, (3, 3), (1, 1), (1, 1), False),
    (1, 3, 5, 7, (2, 3), (1, 2), (1, 1), True),
    (1, 2, 7, 8, (3, 3), (2, 2), (1, 1), True),
    (2, 4, 5, 5, (5, 5), (5, 5), (0, 0), False),
]
# (x shape, eps, momentum)
BATCHNORMS = [((4, 3, 5, 5), 1e-5, 0.1), ((6, 5), 1e-3, 0.3), ((2, 7, 3, 1), 1e-5, 0.1)]
# (x shape, trailing dims normalized, eps)
LAYERNORMS = [((4, 3, 10), 1, 1e-5), ((4, 3, 10), 2, 1e-5), ((5, 1), 1, 1e-3)]


def f32(t):
    return np.ascontiguousarray(t.detach().numpy().astype(np.float32))


def draw(*shape):
    return torch.randn(*shape, dtype=torch.float32)


def pools(out):
    for kind in ("maxpool", "avgpool"):
        k = 0
        for (n, c, h, w, ker, st, pad, ceil) in POOLS:
            for include in ((1,) if kind == "maxpool" else (1, 0)):
                x32 = draw(n, c, h, w)
                x = x32.double().requires_grad_()
                if kind == "maxpool":
                    y = F.max_pool2d(x, ker, st, pad, ceil_mode=ceil)
                else:
                    y = F.avg_pool2d(x, ker, st, pad, ceil_mode=ceil, count_include_pad=bool(include))
                dy32 = draw(*y.shape)
                (y * dy32.double()).sum().backward()
                p = f"{kind}.{k}."
                out[p + "geom"] = np.array([n, c, h, w, *ker, *st, *pad, int(ceil), include, y.shape[2], y.shape[3]],
                                           dtype=np.int32)
                out[p + "x"], out[p + "dy"] = f32(x32), f32(dy32)
                out[p + "y"], out[p + "dx"] = f32(y), f32(x.grad)
                k += 1


def batchnorms(out):
    for k, (shape, eps, mom) in enumerate(BATCHNORMS):
        n, c = shape[0], shape[1]
        p_ = int(np.prod(shape[2:])) if len(shape) > 2 else 1
        x32, g32, b32, dy32 = draw(*shape), draw(c), draw(c), draw(*shape)
        rm32, rv32 = draw(c), torch.rand(c, dtype=torch.float32) + 0.5
        x, g, b = (t.double().requires_grad_() for t in (x32, g32, b32))
        rm, rv = rm32.double(), rv32.double()
        y = F.batch_norm(x, rm, rv, g, b, training=True, momentum=mom, eps=eps)
        (y * dy32.double()).sum().backward()
        dims = [0] + list(range(2, len(shape)))
        xd = x32.double()
        p = f"batchnorm.{k}."
        out[p + "geom"] = np.array([n, c, p_], dtype=np.int32)
        out[p + "eps"], out[p + "momentum"] = np.array([eps], np.float32), np.array([mom], np.float32)
        for name, t in (("x", x32), ("gamma", g32), ("beta", b32), ("rmean", rm32), ("rvar", rv32), ("dy", dy32),
                        ("y", y), ("mean", xd.mean(dims)), ("var", xd.var(dims, unbiased=False)),
                        ("dx", x.grad), ("dgamma", g.grad), ("dbeta", b.grad),
                        ("rmean_new", rm), ("rvar_new", rv)):
            out[p + name] = f32(t).reshape(-1)
        y_eval = F.batch_norm(xd, rm32.double(), rv32.double(), g32.double(), b32.double(), training=False, eps=eps)
        out[p + "y_eval"] = f32(y_eval).reshape(-1)


def layernorms(out):
    for k, (shape, trail, eps) in enumerate(LAYERNORMS):
        norm = shape[len(shape) - trail:]
        d = int(np.prod(norm))
        r = int(np.prod(shape)) // d
        x32, g32, b32, dy32 = draw(*shape), draw(*norm), draw(*norm), draw(*shape)
        x, g, b = (t.double().requires_grad_() for t in (x32, g32, b32))
        y = F.layer_norm(x, norm, g, b, eps)
        (y * dy32.double()).sum().backward()
        rows = x32.double().reshape(r, d)
        p = f"layernorm.{k}."
        out[p + "geom"] = np.array([r, d], dtype=np.int32)
        out[p + "eps"] = np.array([eps], np.float32)
        for name, t in (("x", x32), ("gamma", g32), ("beta", b32), ("dy", dy32), ("y", y),
                        ("mean", rows.mean(1)), ("invstd", 1 / torch.sqrt(rows.var(1, unbiased=False) + eps)),
                        ("dx", x.grad), ("dgamma", g.grad), ("dbeta", b.grad)):
            out[p + name] = f32(t).reshape(-1)


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(os.path.abspath(__file__)), "data",
                                                               "golden_vision.safetensors")
    torch.manual_seed(2024)
    out = {}
    pools(out)
    batchnorms(out)
    layernorms(out)
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    save_file(out, path, metadata={"generator": f"tests/gen_golden_vision.py, torch {torch.__version__}"})
    print(f"{path}: {os.path.getsize(path)} bytes, {len(out)} tensors")


if __name__ == "__main__":
    main()
