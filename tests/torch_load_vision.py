#!/usr/bin/python3
"""PyTorch runs nncl's vision checkpoints: the helper (torch_ckpt_helper) trains a model
briefly on random data and saves it; this script builds the equivalent torch network from
the "model" description in the checkpoint's metadata (conv2d/conv1d, pooling, batch and
layer norm, dropout, add and concat joins by name=/from=), loads the weights with
safetensors.torch.load_file and load_state_dict (strict=False only for batch norm's
num_batches_tracked, which nncl does not keep), and compares its eval-mode outputs with
nncl's (relative 1e-4).

usage: torch_load_vision.py HELPER MODEL...
Fails (never skips) when torch or safetensors is missing: CI installs both.
"""
import copy
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_ckpt_common as common  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch_ckpt_common import ACTS, np, nn, parse, torch  # noqa: E402


def ints(kv, key, n, default):
    """key=a or key=a,b as a list of n ints (one value repeated)."""
    if key not in kv:
        return [default] * n
    v = [int(s) for s in kv[key].split(",")]
    return v * n if len(v) == 1 else v


def act(kind, kv):
    """The activation module of act=/alpha= (or of an activation line), None for none."""
    return ACTS[kind](kv) if kind in ACTS else None


class Flat(nn.Module):
    """Applies m to the sample flattened to (N, F): nncl's dense layers and softmax see rows."""

    def __init__(self, m):
        super().__init__()
        self.m = m

    def forward(self, x):
        return self.m(x.flatten(1))


class Conv(nn.Module):
    """nncl conv2d/conv1d: explicit (possibly asymmetric or TensorFlow-`same`) padding,
    then the convolution of an nn.Conv2d/Conv1d without padding, whose weight and bias are
    this module's own (named "<layer>.weight" / "<layer>.bias" as in the checkpoint)."""

    def __init__(self, dims, cin, size, kv):
        super().__init__()
        k, s, d = ints(kv, "kernel", 2, 1), ints(kv, "stride", 2, 1), ints(kv, "dilation", 2, 1)
        if dims == 1:
            k, s, d = k[-1:], s[-1:], d[-1:]
        pad = kv.get("padding", "0")
        if pad == "same":
            self.pad = []
            for i in reversed(range(dims)):  # F.pad lists the last dim first
                out = -(-size[i] // s[i])
                total = max((out - 1) * s[i] + d[i] * (k[i] - 1) + 1 - size[i], 0)
                self.pad += [total // 2, total - total // 2]
        else:
            p = [0] if pad == "valid" else [int(v) for v in pad.split(",")]
            if dims == 1:
                self.pad = p * 2 if len(p) == 1 else p
            elif len(p) == 1:
                self.pad = p * 4
            elif len(p) == 2:
                self.pad = [p[1], p[1], p[0], p[0]]
            else:
                self.pad = [p[2], p[3], p[0], p[1]]  # t,b,l,r -> (l, r, t, b)
        groups = int(kv.get("groups", 1))
        conv = (nn.Conv1d if dims == 1 else nn.Conv2d)(cin, int(kv["filters"]), k, groups=groups,
                                                       bias=kv.get("bias", "1") == "1").double()
        self.weight, self.bias = conv.weight, conv.bias
        self.fn, self.args = F.conv1d if dims == 1 else F.conv2d, dict(stride=s, dilation=d, groups=groups)
        self.act = act(kv.get("act", "none"), kv)

    def forward(self, x):
        y = self.fn(F.pad(x, self.pad), self.weight, self.bias, **self.args)
        return self.act(y) if self.act else y


class Pool(nn.Module):
    def __init__(self, kind, ndim, kv):
        super().__init__()
        self.kind, self.one_d = kind, ndim == 2
        if kind.startswith("global"):
            return
        k, p = ints(kv, "kernel", 2, 1), ints(kv, "padding", 2, 0)
        s = ints(kv, "stride", 2, 0) if "stride" in kv else k
        if self.one_d:
            k, s, p = k[-1], s[-1], p[-1]
        self.args = dict(kernel_size=k, stride=s, padding=p, ceil_mode=kv.get("ceil", "0") == "1")
        if kind == "avgpool":
            self.args["count_include_pad"] = kv.get("count_include_pad", "1") == "1"

    def forward(self, x):
        dims = tuple(range(2, x.dim()))
        if self.kind == "globalavgpool":
            return x.mean(dims, keepdim=True)
        if self.kind == "globalmaxpool":
            return x.amax(dims, keepdim=True)
        fn = {("maxpool", True): F.max_pool1d, ("maxpool", False): F.max_pool2d, ("avgpool", True): F.avg_pool1d,
              ("avgpool", False): F.avg_pool2d}[(self.kind, self.one_d)]
        return fn(x, **self.args)


class Join(nn.Module):
    def __init__(self, kind):
        super().__init__()
        self.kind = kind

    def forward(self, *xs):
        if self.kind == "add":
            return sum(xs[1:], xs[0])
        if self.kind == "concat":
            return torch.cat(xs, 1)
        return xs[0].flatten(1)


class Dense(nn.Module):
    """nn.Linear on the flattened sample, then the fused activation; the Linear's
    parameters appear as "<layer>.weight" / "<layer>.bias"."""

    def __init__(self, lin, a):
        super().__init__()
        self.weight, self.bias, self.a = lin.weight, lin.bias, a

    def forward(self, x):
        y = F.linear(x.flatten(1), self.weight, self.bias)
        return self.a(y) if self.a else y


class Net(nn.Module):
    """The model description as torch modules named like nncl's layers, so that the
    checkpoint's "<layer>.weight" names are this module's state_dict names."""

    def __init__(self, text):
        super().__init__()
        self.graph, self.input_shape = [], None  # (name, [input names])
        prev, probe = None, {}
        for kind, kv in parse(text):
            name = kv["name"]
            if kind == "input":
                self.input_shape = [int(d) for d in kv["shape"].split(",")]
                probe[name], prev = torch.zeros([2] + self.input_shape, dtype=torch.float64), name
                self.input_name = name
                continue
            ins = kv["from"].split(",") if "from" in kv else [prev]
            x = probe[ins[0]]
            if kind == "dense":
                m = Dense(nn.Linear(x[0].numel(), int(kv["units"])).double(), act(kv.get("act", "none"), kv))
            elif kind in ("conv2d", "conv1d"):
                m = Conv(int(kind[4]), x.shape[1], list(x.shape[2:]), kv)
            elif kind in ("maxpool", "avgpool", "globalavgpool", "globalmaxpool"):
                m = Pool(kind, x.dim() - 1, kv)
            elif kind == "batchnorm":
                cls = nn.BatchNorm2d if x.dim() == 4 else nn.BatchNorm1d
                m = cls(x.shape[1], eps=float(kv.get("eps", 1e-5)), momentum=float(kv.get("momentum", 0.1))).double()
            elif kind == "layernorm":
                dims = int(kv.get("dims", 1))
                m = nn.LayerNorm(list(x.shape[x.dim() - dims:]), eps=float(kv.get("eps", 1e-5))).double()
            elif kind == "dropout":
                m = nn.Dropout(float(kv.get("p", 0.5)))
            elif kind in ("add", "concat", "flatten"):
                m = Join(kind)
            elif kind == "softmax":
                m = Flat(nn.Softmax(dim=1))
            else:
                m = act(kind, kv)
            self.add_module(name, m)
            self.graph.append((name, ins))
            m.eval()
            with torch.no_grad():
                probe[name] = m(*[probe[i] for i in ins])
            prev = name

    def forward(self, x):
        vals = {self.input_name: x.reshape([x.shape[0]] + self.input_shape)}
        for name, ins in self.graph:
            vals[name] = getattr(self, name)(*[vals[i] for i in ins])
        return vals[self.graph[-1][0]].flatten(1)


def check(helper, model_path, tmp):
    out = common.run_helper(helper, model_path, tmp)
    if out is None:
        return False
    tensors, meta = common.load_checkpoint(out)
    text = meta["model"]
    weights = {k: v.double() for k, v in tensors.items() if not k.startswith("optimizer.")}
    net = Net(text).double()
    missing, unexpected = net.load_state_dict(weights, strict=False)
    missing = [k for k in missing if not k.endswith(".num_batches_tracked")]
    if missing or unexpected:
        print(f"FAIL {model_path}: state_dict keys missing from the checkpoint {missing}, checkpoint tensors the torch "
              f"model does not have {unexpected}")
        return False
    stats = [k for k in weights if k.endswith(".running_var")]
    moved = [k for k in stats if not torch.equal(weights[k], torch.ones_like(weights[k]))]
    if len(moved) != len(stats):
        print(f"FAIL {model_path}: running variances still at their initial ones after training: "
              f"{sorted(set(stats) - set(moved))}")
        return False
    net.eval()
    x, y_nncl, y_torch = common.outputs(net, out, int(np.prod(net.input_shape)))
    err = common.compare(model_path, y_nncl, y_torch, 1e-4, 1e-7, "eval outputs beyond 1e-4 relative")
    if err is None:
        return False
    nparams = sum(weights[k].numel() for k in weights if not k.endswith(("running_mean", "running_var")))
    if stats:  # with batch statistics the outputs differ: the comparison tells the modes apart
        with torch.no_grad():
            y_train = copy.deepcopy(net).train()(torch.from_numpy(x.astype(np.float64))).numpy()
        if np.max(np.abs(y_train - y_torch)) < 1e-3 * np.max(np.abs(y_torch)):
            print(f"FAIL {model_path}: torch's train-mode outputs equal its eval-mode ones: the running statistics "
                  "do not matter, the check is void")
            return False
    print(f"ok   {os.path.basename(model_path)}: {nparams} parameters, {len(stats)} batch norms with running statistics; torch "
          f"{torch.__version__} eval outputs {y_nncl.shape} match nncl's (max rel err {float(np.max(err / np.abs(y_torch))):.2e})")
    return True


if __name__ == "__main__":
    sys.exit(common.main(__doc__, check, "nncl-torch-vision-"))
