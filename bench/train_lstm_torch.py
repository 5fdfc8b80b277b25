#!/usr/bin/python3
"""PyTorch side of bench/train_lstm.c: LSTMNet of /work/shared/reference/torch_fmnist.py
(image rows as 28 steps of 28 pixels, nn.LSTM(28, 128, batch_first), the last hidden state,
nn.Linear(128, 10); cross entropy on the logits), Adam lr 1e-3, batch 64, shuffled, on Fashion-MNIST scaled to [0, 1]
as /work/shared/reference/torch_fmnist.py does. Each repeat is one timed epoch (or
--batches batches) including the per-batch index gather.

usage: train_lstm_torch.py [--data DIR] [--threads N] [--batches N] [--repeats N]
Prints "torch VERSION threads N", one "repeat ..." line per repeat and
"median_samples_per_s X" and "median_samples_per_cpu_s Y" (process CPU time, all threads)
last (read by train_lstm.c).
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


class LSTMNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(28, 128, num_layers=1, batch_first=True)
        self.fc = nn.Linear(128, 10)

    def forward(self, x):
        _, (h, _) = self.lstm(x.reshape(x.shape[0], 28, 28))
        return self.fc(h[-1])


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
    if a.batches and a.batches * a.bs < n:  # the first samples, as train_lstm.c takes them
        n = a.batches * a.bs
        X, Y = X[:n], Y[:n]
    model = LSTMNet()
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
