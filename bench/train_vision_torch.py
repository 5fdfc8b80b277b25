#!/usr/bin/python3
"""PyTorch side of bench/train_vision.c: examples/models/lenet5.txt (as
/work/shared/reference/torch_fmnist.py's cnn) or resnet_small.txt, cross entropy on the
logits, Adam lr 1e-3, batch 64, shuffled, on Fashion-MNIST scaled to [0, 1]. Each repeat is
one timed epoch (or --batches batches) including the per-batch index gather.

usage: train_vision_torch.py [--model lenet|resnet] [--data DIR] [--threads N] [--batches N] [--repeats N]
Prints "torch VERSION threads N", one "repeat ..." line per repeat and
"median_samples_per_s X" last (read by train_vision.c).
"""
import argparse
import gzip
import os
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


def load_idx(path):
    if not os.path.exists(path) and os.path.exists(path + ".gz"):
        path += ".gz"
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        buf = f.read()
    ndim = buf[3]
    dims = [int.from_bytes(buf[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(buf, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


class LeNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(1, 6, 5, padding=2)
        self.c2 = nn.Conv2d(6, 16, 5)
        self.f1, self.f2, self.f3 = nn.Linear(400, 120), nn.Linear(120, 84), nn.Linear(84, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.c1(x.reshape(x.shape[0], 1, 28, 28))), 2)
        x = F.max_pool2d(F.relu(self.c2(x)), 2)
        return self.f3(F.relu(self.f2(F.relu(self.f1(x.flatten(1))))))


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1, self.b1 = nn.Conv2d(16, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16)
        self.c2, self.b2 = nn.Conv2d(16, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16)

    def forward(self, x):
        return F.relu(x + self.b2(self.c2(F.relu(self.b1(self.c1(x))))))


class ResNetSmall(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(1, 16, 3, stride=2, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(16)
        self.blocks = nn.Sequential(Block(), Block(), Block())
        self.fc = nn.Linear(16, 10)

    def forward(self, x):
        x = F.relu(self.bn(self.stem(x.reshape(x.shape[0], 1, 28, 28))))
        x = self.blocks(x)
        return self.fc(x.mean((2, 3)))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", choices=["lenet", "resnet"], default="lenet")
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
    if a.batches and a.batches * a.bs < n:  # the first samples, as train_vision.c takes them
        n = a.batches * a.bs
        X, Y = X[:n], Y[:n]
    model = LeNet() if a.model == "lenet" else ResNetSmall()
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
