#!/usr/bin/python3
"""PyTorch side of bench/train_model.c: the models of /work/shared/reference/torch_fmnist.py
(the script behind the figures in the issues): mlp (the seed network 784-128-64-10), cnn
(LeNet-5 with ReLU and max pooling), resnet (examples/models/resnet_small.txt), lstm (image rows as 28 steps, nn.LSTM(28, 128), the last
hidden state, a linear layer), transformer (rows embedded to 64, two
nn.TransformerEncoderLayer(64, 4, 128) blocks, mean over the steps, a linear layer); cross
entropy on the logits, Adam lr 1e-3, batch 64, shuffled, Fashion-MNIST scaled to [0, 1].
Each repeat is one timed epoch (or --batches batches) including the per-batch index gather.

usage: train_torch.py --model mlp|cnn|resnet|lstm|transformer [--data DIR] [--threads N] [--batches N] [--repeats N]
Prints "torch VERSION threads N", one "repeat ..." line per repeat, then
"median_samples_per_s X" and "median_samples_per_cpu_s Y" (process CPU time, all threads;
read by train_model.c).
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


class MLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.f1, self.f2, self.f3 = nn.Linear(784, 128), nn.Linear(128, 64), nn.Linear(64, 10)

    def forward(self, x):
        return self.f3(F.relu(self.f2(F.relu(self.f1(x.reshape(x.shape[0], 784))))))


class LeNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1, self.c2 = nn.Conv2d(1, 6, 5, padding=2), nn.Conv2d(6, 16, 5)
        self.f1, self.f2, self.f3 = nn.Linear(400, 120), nn.Linear(120, 84), nn.Linear(84, 10)

    def forward(self, x):
        x = x.reshape(x.shape[0], 1, 28, 28)
        x = F.max_pool2d(F.relu(self.c1(x)), 2)
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


class LSTMNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(28, 128, num_layers=1, batch_first=True)
        self.fc = nn.Linear(128, 10)

    def forward(self, x):
        _, (h, _) = self.lstm(x.reshape(x.shape[0], 28, 28))
        return self.fc(h[-1])


class TransformerNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Linear(28, 64)
        layer = nn.TransformerEncoderLayer(d_model=64, nhead=4, dim_feedforward=128, batch_first=True)
        self.enc = nn.TransformerEncoder(layer, num_layers=2)
        self.fc = nn.Linear(64, 10)

    def forward(self, x):
        return self.fc(self.enc(self.embed(x.reshape(x.shape[0], 28, 28))).mean(dim=1))


MODELS = {"mlp": MLP, "cnn": LeNet, "resnet": ResNetSmall, "lstm": LSTMNet, "transformer": TransformerNet}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", choices=sorted(MODELS), required=True)
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
    if a.batches and a.batches * a.bs < n:  # the first samples, as train_model.c takes them
        n = a.batches * a.bs
        X, Y = X[:n], Y[:n]
    model = MODELS[a.model]()
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    g = torch.Generator().manual_seed(0)
    print(f"torch {torch.__version__} threads {torch.get_num_threads()}", flush=True)
    rates, cpu_rates = [], []
    for rep in range(a.repeats):
        perm = torch.randperm(n, generator=g)
        tot = 0.0
        t, c = time.perf_counter(), time.process_time()
        for b in range(0, n, a.bs):
            idx = perm[b:b + a.bs]
            x, y = X[idx], Y[idx]
            opt.zero_grad(set_to_none=True)
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
            tot += loss.item() * x.shape[0]
        rates.append(n / (time.perf_counter() - t))
        cpu_rates.append(n / (time.process_time() - c))
        print(f"repeat {rep + 1}: {rates[-1]:.0f} samples/s (loss {tot / n:.3f}, {cpu_rates[-1]:.0f} per CPU s)", flush=True)
    print(f"median_samples_per_s {sorted(rates)[len(rates) // 2]:.1f}", flush=True)
    print(f"median_samples_per_cpu_s {sorted(cpu_rates)[len(cpu_rates) // 2]:.1f}", flush=True)


if __name__ == "__main__":
    main()
