#!/usr/bin/python3
"""Golden vectors for the seed network (784-128-64-10, ReLU, ReLU, softmax) from PyTorch.

usage: /usr/bin/python3 tests/gen_golden.py [OUT]   (default tests/data/golden_seed.safetensors)

Weights and inputs come from a formula that tests/test_golden.c reproduces bit for bit:
  value(salt, i) = float32(((((i + 1 + salt * 1000003) * 2654435761) mod 2^32) / 2^32 - 0.5) * scale)
computed in double (every step is exact except the final multiply, rounded once, and the
conversion to float32). Tensors, in model order, with (salt, scale):
  dense1.weight (128, 784) (0, 0.1)    dense1.bias (128) (1, 0.1)
  dense2.weight (64, 128)  (2, 0.2)    dense2.bias (64)  (3, 0.1)
  dense3.weight (10, 64)   (4, 0.3)    dense3.bias (10)  (5, 0.1)
  input (8, 784): float32(double(value(6, i) at scale 1.0) + 0.5), i.e. in [0, 1]
  labels: (3 * n + 1) mod 10 for sample n

Everything is computed in float64 from the float32 values and stored as F32:
  input (8, 784)         the formula's inputs (a check of the C side's formula)
  labels (8)             as I32
  output (8, 10)         softmax probabilities
  loss (1)               mean cross-entropy over the batch
  grad.<param>           d loss / d param, for the six parameters
  sgd_losses (5)         the loss before each of 5 plain SGD steps (lr 0.1) on the batch
  sgd5.<param>           the parameters after those 5 steps
"""
import os
import sys

import numpy as np
import torch
from safetensors.numpy import save_file

N = 8
LAYERS = [("dense1", 784, 128), ("dense2", 128, 64), ("dense3", 64, 10)]
SCALES = {"dense1.weight": 0.1, "dense1.bias": 0.1, "dense2.weight": 0.2, "dense2.bias": 0.1,
          "dense3.weight": 0.3, "dense3.bias": 0.1}
INPUT_SALT = 6
LR = 0.1
STEPS = 5


def formula(salt, count, scale):
    """float32 values of the documented formula, exactly as the C test computes them."""
    i = np.arange(count, dtype=np.uint64)
    h = ((i + np.uint64(1) + np.uint64(salt * 1000003)) * np.uint64(2654435761)) & np.uint64(0xFFFFFFFF)
    return ((h.astype(np.float64) / 4294967296.0 - 0.5) * scale).astype(np.float32)


def params():
    out, salt = {}, 0
    for name, fin, fout in LAYERS:
        for kind, shape in (("weight", (fout, fin)), ("bias", (fout,))):
            key = f"{name}.{kind}"
            out[key] = formula(salt, int(np.prod(shape)), SCALES[key]).reshape(shape)
            salt += 1
    return out


def forward(p, x):
    h = x
    for k, (name, _, _) in enumerate(LAYERS):
        h = h @ p[f"{name}.weight"].T + p[f"{name}.bias"]
        if k < len(LAYERS) - 1:
            h = torch.relu(h)
    return h


def main():
    out_path = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(os.path.abspath(__file__)), "data",
                                                                   "golden_seed.safetensors")
    x32 = (formula(INPUT_SALT, N * 784, 1.0).astype(np.float64) + 0.5).astype(np.float32).reshape(N, 784)
    labels = np.array([(3 * n + 1) % 10 for n in range(N)], dtype=np.int32)
    p = {k: torch.tensor(v.astype(np.float64), requires_grad=True) for k, v in params().items()}
    x = torch.tensor(x32.astype(np.float64))
    y = torch.tensor(labels.astype(np.int64))

    logits = forward(p, x)
    loss = torch.nn.functional.cross_entropy(logits, y)
    loss.backward()
    res = {"input": x32, "labels": labels,
           "output": torch.softmax(logits, dim=1).detach().numpy().astype(np.float32),
           "loss": np.array([loss.item()], dtype=np.float32)}
    for k, v in p.items():
        res[f"grad.{k}"] = v.grad.numpy().astype(np.float32)

    losses = []
    for _ in range(STEPS):
        for v in p.values():
            v.grad = None
        loss = torch.nn.functional.cross_entropy(forward(p, x), y)
        loss.backward()
        losses.append(loss.item())
        with torch.no_grad():
            for v in p.values():
                v -= LR * v.grad
    res["sgd_losses"] = np.array(losses, dtype=np.float32)
    for k, v in p.items():
        res[f"sgd5.{k}"] = v.detach().numpy().astype(np.float32)

    os.makedirs(os.path.dirname(out_path) or ".", exist_ok=True)
    save_file({k: np.ascontiguousarray(v) for k, v in res.items()}, out_path,
              metadata={"generator": f"tests/gen_golden.py, torch {torch.__version__}"})
    print(f"{out_path}: {os.path.getsize(out_path)} bytes, loss {res['loss'][0]:.6f}, sgd losses {losses}")


if __name__ == "__main__":
    main()
