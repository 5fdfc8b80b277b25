#!/usr/bin/python3
"""PyTorch side of bench/train_transformer.c: TransformerNet of
/work/shared/reference/torch_fmnist.py (rows as 28 steps, Linear(28, 64), two
nn.TransformerEncoderLayer(64, 4, 128, batch_first=True) blocks, mean over the steps,
Linear(64, 10); cross entropy), Adam lr 1e-3, batch 64, shuffled. Each repeat is one timed
epoch (or --batches batches) including the per-batch index gather.

usage: train_transformer_torch.py [--data DIR] [--threads N] [--batches N] [--repeats N]
Prints "torch VERSION threads N", one "repeat ..." line per repeat and
"median_samples_per_s X" last (read by train_transformer.c).
"""
import argparse
import os
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from train_mlp_torch import load_idx  # noqa: E402


class TransformerNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Linear(28, 64)
        layer = nn.TransformerEncoderLayer(d_model=64, nhead=4, dim_feedforward=128, batch_first=True)
        self.enc = nn.TransformerEncoder(layer, num_layers=2)
        self.fc = nn.Linear(64, 10)

    def forward(self, x):
        x = x.reshape(x.shape[0], 28, 28)
        return self.fc(self.enc(self.embed(x)).mean(dim=1))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batches", type=int, default=0)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--bs", type=int, default=64)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    X = torch.from_numpy(load_idx(os.path.join(a.data, "train-images-idx3-ubyte")).astype(np.float32) / 255.0)
    Y = torch.from_numpy(load_idx(os.path.join(a.data, "train-labels-idx1-ubyte")).astype(np.int64))
    n = X.shape[0]
    if a.batches and a.batches * a.bs < n:  # the first samples, as train_transformer.c takes them
        n = a.batches * a.bs
        X, Y = X[:n], Y[:n]
    model = TransformerNet()
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    g = torch.Generator().manual_seed(0)
    print(f"torch {torch.__version__} threads {torch.get_num_threads()}", flush=True)
    rates = []
    for rep in range(a.repeats):
        perm = torch.randperm(n, generator=g)
        tot = 0.0
        t = time.perf_counter()
        for b in range(0, n, a.bs):
            idx = perm[b:b + a.bs]
            x, y = X[idx], Y[idx]
            opt.zero_grad(set_to_none=True)
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
            tot += loss.item() * x.shape[0]
        rates.append(n / (time.perf_counter() - t))
        print(f"repeat {rep + 1}: {rates[-1]:.0f} samples/s (loss {tot / n:.3f})", flush=True)
    print(f"median_samples_per_s {sorted(rates)[len(rates) // 2]:.1f}", flush=True)


if __name__ == "__main__":
    main()
