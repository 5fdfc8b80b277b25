#!/usr/bin/python3
"""Golden vectors for the FOCAL / FOCAL_GRAD ops (softmax focal loss with class weights) from
PyTorch in float64.

usage: /usr/bin/python3 tests/gen_golden_focal.py [OUT]   (default tests/data/golden_focal.safetensors)

For each case k (rows, cols, gamma): logits (float32 normal * 3), labels, class weights in
[0.2, 2) and, from float64 torch:
  k.loss   per-row -w[y] (1 - p_y)^gamma log p_y  as  F.nll_loss((1-p)^gamma log p, y,
           weight=w, reduction='none')  (gamma 0: F.cross_entropy(weight=w, reduction='none'))
  k.mean   the mean-over-weights reduction (reduction='mean'), shape (1)
  k.grad   d mean / d logits
  k.gamma  gamma, shape (1)
"""
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.numpy import save_file

CASES = [(7, 5, 0.0), (13, 3, 2.0), (1, 1, 1.0), (6, 11, 0.5), (9, 4, 3.0)]


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "data", "golden_focal.safetensors")
    rng = np.random.default_rng(7)
    t = {}
    for k, (rows, cols, gamma) in enumerate(CASES):
        x = (rng.standard_normal((rows, cols)) * 3).astype(np.float32)
        if cols > 1:
            x[0, 0] = 30.0  # a near-certain row: q ~ 0
        y = rng.integers(0, cols, rows).astype(np.int32)
        w = rng.uniform(0.2, 2.0, cols).astype(np.float32)
        xt = torch.tensor(x, dtype=torch.float64, requires_grad=True)
        yt = torch.tensor(y, dtype=torch.int64)
        wt = torch.tensor(w, dtype=torch.float64)
        logp = F.log_softmax(xt, dim=1)
        mod = (1 - logp.exp()) ** gamma * logp
        rows_loss = F.nll_loss(mod, yt, weight=wt, reduction="none")
        mean = F.nll_loss(mod, yt, weight=wt, reduction="mean")
        if gamma == 0:
            ce = F.cross_entropy(xt, yt, weight=wt, reduction="mean")
            assert abs(ce.item() - mean.item()) < 1e-12
        mean.backward()
        t[f"{k}.x"] = x
        t[f"{k}.y"] = y
        t[f"{k}.w"] = w
        t[f"{k}.gamma"] = np.array([gamma], dtype=np.float32)
        t[f"{k}.loss"] = rows_loss.detach().numpy().astype(np.float32)
        t[f"{k}.mean"] = np.array([mean.item()], dtype=np.float32)
        t[f"{k}.grad"] = xt.grad.numpy().astype(np.float32)
    save_file(t, out)


if __name__ == "__main__":
    main()
