#!/usr/bin/python3
"""Golden vectors for the sequence layers from torch.nn (float64), read by tests/test_golden_rnn.c.

usage: /usr/bin/python3 tests/gen_golden_rnn.py [OUT]   (default tests/data/golden_rnn.safetensors)

Each net is an nncl model description (stored in the metadata as "net.<name>") and the same
network of torch.nn modules (nn.LSTM, nn.GRU, nn.RNN with batch_first=True, nn.Embedding,
nn.Linear) whose parameters, named "<layer>.<state_dict key>", are the nncl parameters. Values are random (numpy, fixed seed).
Per net, float32 tensors "<name>.<what>" as tests/gen_golden_layers.py writes them:
x, dy, p.<param>, y, y_eval (= y: no layer here behaves differently in evaluation), dx
(zeros through an embedding: a lookup is flat in the ids), grad.<param>.
"""

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from golden_nets import out_path, record_params, save_golden

RNG = np.random.default_rng(20240602)
NETS = []  # (name, nncl text, input shape with batch, int vocab for ids or 0, [(layer, module, kind, extra)])


def net(name, text, xshape, layers, vocab=0):
    NETS.append((name, text, xshape, vocab, layers))


def rec(kind, d_in, h, layers=1, bidir=False, seq=False, act="tanh", learned=False):
    cls = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}[kind]
    kw = {"nonlinearity": act} if kind == "rnn" else {}
    return cls(d_in, h, num_layers=layers, bidirectional=bidir, batch_first=True, **kw).double(), dict(kind=kind, seq=seq,
                                                                                                       learned=learned)


net("lstm_last", "input shape=5,3\nlstm units=4 name=lstm\n", (3, 5, 3), [("lstm",) + rec("lstm", 3, 4)])
net("lstm_bi_2l_seq", "input shape=6,3\nlstm units=4 layers=2 bidirectional=1 return=sequence name=lstm\n", (2, 6, 3),
    [("lstm",) + rec("lstm", 3, 4, 2, True, True)])
net("lstm_bi_last", "input shape=4,2\nlstm units=3 bidirectional=1 name=l\ndense units=2 name=d\n", (3, 4, 2),
    [("l",) + rec("lstm", 2, 3, 1, True), ("d", nn.Linear(6, 2).double(), {})])
net("lstm_learned", "input shape=5,3\nlstm units=4 layers=2 initial=learned name=lstm\n", (2, 5, 3),
    [("lstm",) + rec("lstm", 3, 4, 2, learned=True)])
net("gru_last", "input shape=5,4\ngru units=3 name=gru\n", (3, 5, 4), [("gru",) + rec("gru", 4, 3)])
net("gru_bi_last", "input shape=5,4\ngru units=3 bidirectional=1 name=gru\n", (2, 5, 4), [("gru",) + rec("gru", 4, 3, 1, True)])
net("gru_2l_seq", "input shape=4,3\ngru units=5 layers=2 return=sequence name=gru\n", (2, 4, 3),
    [("gru",) + rec("gru", 3, 5, 2, False, True)])
net("gru_learned_bi", "input shape=4,3\ngru units=3 layers=2 bidirectional=1 initial=learned return=sequence name=g\n", (2, 4, 3),
    [("g",) + rec("gru", 3, 3, 2, True, True, learned=True)])
net("rnn_tanh_2l", "input shape=5,3\nrnn units=4 layers=2 name=rnn\n", (3, 5, 3), [("rnn",) + rec("rnn", 3, 4, 2)])
net("rnn_relu_bi_seq", "input shape=4,3\nrnn units=3 act=relu bidirectional=1 return=sequence name=rnn\n", (2, 4, 3),
    [("rnn",) + rec("rnn", 3, 3, 1, True, True, "relu")])
net("rnn_tanh_learned", "input shape=3,2\nrnn units=3 initial=learned bidirectional=1 name=rnn\n", (2, 3, 2),
    [("rnn",) + rec("rnn", 2, 3, 1, True, learned=True)])
net("emb_pad", "input shape=6\nembedding vocab=9 dim=5 padding_idx=3 name=emb\n", (3, 6),
    [("emb", nn.Embedding(9, 5, padding_idx=3).double(), {})], vocab=9)
net("emb_lstm_dense", "input shape=7\nembedding vocab=11 dim=4 padding_idx=0 name=emb\nlstm units=3 name=lstm\ndense units=2 name=d\n",
    (3, 7), [("emb", nn.Embedding(11, 4, padding_idx=0).double(), {}), ("lstm",) + rec("lstm", 4, 3), ("d", nn.Linear(3, 2).double(), {})],
    vocab=11)
net("emb_gru_seq", "input shape=5\nembedding vocab=6 dim=3 name=emb\ngru units=2 return=sequence name=gru\n", (2, 5),
    [("emb", nn.Embedding(6, 3).double(), {}), ("gru",) + rec("gru", 3, 2, 1, False, True)], vocab=6)


def run(layers, p, x):
    """The torch forward; the modules hold the parameters, p the initial states."""
    h = x
    for name, mod, info in layers:
        if isinstance(mod, nn.Embedding):
            h = mod(h.long())
        elif isinstance(mod, nn.Linear):
            h = mod(h.reshape(h.shape[0], -1))
        else:
            args = (h,)
            if info["learned"]:
                n = h.shape[0]
                h0 = p[name + ".h0"].unsqueeze(1).expand(-1, n, -1).contiguous()
                args = (h, (h0, p[name + ".c0"].unsqueeze(1).expand(-1, n, -1).contiguous()) if info["kind"] == "lstm" else h0)
            out, hn = mod(*args)
            if info["kind"] == "lstm":
                hn = hn[0]
            dirs = 2 if mod.bidirectional else 1
            h = out if info["seq"] else torch.cat([hn[-dirs + k] for k in range(dirs)], 1)
    return h


def tensors(layers, init):
    """nncl name -> the module parameter (or initial-state tensor) holding init's values."""
    out = {}
    for name, mod, info in layers:
        for k, v in mod.named_parameters():
            with torch.no_grad():
                v.copy_(torch.from_numpy(init[f"{name}.{k}"].astype(np.float64)))
            out[f"{name}.{k}"] = v
        for k in ("h0", "c0"):
            if f"{name}.{k}" in init:
                out[f"{name}.{k}"] = torch.tensor(init[f"{name}.{k}"].astype(np.float64), requires_grad=True)
    return out


def params(layers):
    out = {}
    for name, mod, info in layers:
        for k, v in mod.state_dict().items():
            out[f"{name}.{k}"] = tuple(v.shape)
        if info.get("learned"):
            shape = (mod.num_layers * (2 if mod.bidirectional else 1), mod.hidden_size)
            out[f"{name}.h0"] = shape
            if info["kind"] == "lstm":
                out[f"{name}.c0"] = shape
    return out


def main():
    res, meta = {}, {"generator": f"tests/gen_golden_rnn.py, torch {torch.__version__}"}
    for name, text, xshape, vocab, layers in NETS:
        meta[f"net.{name}"] = text
        init = {k: RNG.uniform(-1, 1, s).astype(np.float32) for k, s in params(layers).items()}
        x32 = (RNG.integers(0, vocab, xshape) if vocab else RNG.uniform(-1, 1, xshape)).astype(np.float32)
        p = tensors(layers, init)
        x = torch.tensor(x32.astype(np.float64), requires_grad=not vocab)
        y = run(layers, p, x)
        dy32 = RNG.uniform(-1, 1, tuple(y.shape)).astype(np.float32)
        (y * torch.tensor(dy32.astype(np.float64))).sum().backward()
        y = y.detach().numpy().reshape(y.shape[0], -1)
        res[f"{name}.x"], res[f"{name}.dy"] = x32.reshape(xshape[0], -1), dy32.reshape(y.shape[0], -1)
        res[f"{name}.y"] = res[f"{name}.y_eval"] = y
        res[f"{name}.dx"] = np.zeros(x32.shape) if vocab else x.grad.numpy()
        missing = [k for k, v in p.items() if v.grad is None]
        assert not missing, (name, missing)
        record_params(res, name, init, p)
        print(f"{name}: x {tuple(xshape)} -> y {y.shape}, {len(init)} parameters")
    save_golden(out_path("golden_rnn.safetensors"), res, meta, len(NETS))


if __name__ == "__main__":
    main()
