#!/usr/bin/python3
"""Golden values for the training toolbox from PyTorch (torch.optim, torch.nn.utils,
torch.optim.lr_scheduler); tests/test_toolbox.c checks nncl against them.

usage: /usr/bin/python3 tests/gen_golden_optim.py [OUT]   (default tests/data/golden_optim.safetensors)

Model: input 6 -> Linear(6, 5) -> tanh -> Linear(5, 3), mean cross-entropy on a batch of
8 (nncl: "dense units=5 act=tanh", "dense units=3", "softmax"). Computed in float64 from
the float32 initial values, stored as F32:
  x (8, 6), labels (8, I32), init.<param>      the batch and the initial parameters
  traj.<config>.<param>                        parameters after 5 steps on that batch
  traj.<config>.loss (5)                       the loss before each step
Configs (see CONFIGS): RMSprop plain and centered + momentum + L2, Adagrad with lr_decay,
initial accumulator and L2, decoupled weight decay on SGD and RMSprop (w *= 1 - lr wd
before the step with weight_decay 0: the definition nncl implements), SGD after
clip_grad_norm_, Adam after clip_grad_value_.

Schedules: the rate of each of 36 steps (12 epochs of 3 steps, base lr 0.1), read before
every optimizer.step(): sched.<name>.lr (36); per-epoch schedulers step after every 3
steps, per-step ones after every step; CosineAnnealingWarmRestarts steps with the
fractional epoch of the steps taken (t / 3). sched.onecycle*.mom (36) is Adam's beta1.
sched.plateau.metric (12) is the loss fed to ReduceLROnPlateau after each epoch.
"""
import math
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.numpy import save_file

N, IN, HID, OUT, STEPS = 8, 6, 5, 3, 5
SPE, EPOCHS, BASE = 3, 12, 0.1

CONFIGS = {
    "rmsprop": ("rmsprop", dict(lr=0.01), {}),
    "rmsprop_cm_l2": ("rmsprop", dict(lr=0.01, alpha=0.9, momentum=0.9, centered=True, weight_decay=0.1), {}),
    "adagrad": ("adagrad", dict(lr=0.1, lr_decay=0.01, initial_accumulator_value=0.1, eps=1e-10, weight_decay=0.05), {}),
    "sgd_decoupled": ("sgd", dict(lr=0.1, momentum=0.9), {"decoupled": 0.1}),
    "rmsprop_decoupled": ("rmsprop", dict(lr=0.01, momentum=0.5), {"decoupled": 0.1}),
    "sgd_clipnorm": ("sgd", dict(lr=0.5), {"clip_norm": 0.1}),
    "adam_clipvalue": ("adam", dict(lr=0.01), {"clip_value": 0.05}),
}


def initial():
    g = np.random.default_rng(20251127)
    p = {
        "dense1.weight": g.uniform(-0.6, 0.6, (HID, IN)), "dense1.bias": g.uniform(-0.2, 0.2, HID),
        "dense2.weight": g.uniform(-0.6, 0.6, (OUT, HID)), "dense2.bias": g.uniform(-0.2, 0.2, OUT),
    }
    x = g.uniform(-1, 1, (N, IN))
    y = g.integers(0, OUT, N)
    return {k: v.astype(np.float32) for k, v in p.items()}, x.astype(np.float32), y.astype(np.int32)


def trajectory(init, x, y, kind, kw, extra):
    p = {k: torch.tensor(v, dtype=torch.float64, requires_grad=True) for k, v in init.items()}
    opt = {"rmsprop": torch.optim.RMSprop, "adagrad": torch.optim.Adagrad, "sgd": torch.optim.SGD,
           "adam": torch.optim.Adam}[kind](list(p.values()), **kw)
    xt, yt = torch.tensor(x, dtype=torch.float64), torch.tensor(y, dtype=torch.long)
    losses = []
    for _ in range(STEPS):
        opt.zero_grad()
        h = torch.tanh(xt @ p["dense1.weight"].T + p["dense1.bias"])
        loss = F.cross_entropy(h @ p["dense2.weight"].T + p["dense2.bias"], yt)
        loss.backward()
        losses.append(loss.item())
        if "clip_value" in extra:
            torch.nn.utils.clip_grad_value_(p.values(), extra["clip_value"])
        if "clip_norm" in extra:
            torch.nn.utils.clip_grad_norm_(p.values(), extra["clip_norm"])
        if "decoupled" in extra:
            with torch.no_grad():
                for v in p.values():
                    v.mul_(1 - kw["lr"] * extra["decoupled"])
        opt.step()
    return {k: v.detach().numpy() for k, v in p.items()}, np.array(losses)


def schedule(make, per_step=False, restarts=False, metrics=None, adam=False, warm=None):
    w = torch.zeros(1, requires_grad=True)
    opt = torch.optim.Adam([w], lr=BASE) if adam else torch.optim.SGD([w], lr=BASE)
    sched = make(opt)
    wsched = warm(opt) if warm else None
    lrs, moms = [], []
    for t in range(SPE * EPOCHS):
        lrs.append(opt.param_groups[0]["lr"])
        if adam:
            moms.append(opt.param_groups[0]["betas"][0])
        opt.step()
        if wsched:
            wsched.step()
        if restarts:
            sched.step((t + 1) / SPE)
        elif per_step:
            sched.step()
        elif (t + 1) % SPE == 0:
            sched.step(metrics[t // SPE]) if metrics is not None else sched.step()
    return np.array(lrs), np.array(moms)


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "data", "golden_optim.safetensors")
    init, x, y = initial()
    res = {"x": x, "labels": y}
    for k, v in init.items():
        res[f"init.{k}"] = v
    for name, (kind, kw, extra) in CONFIGS.items():
        p, losses = trajectory(init, x, y, kind, kw, extra)
        for k, v in p.items():
            res[f"traj.{name}.{k}"] = v
        res[f"traj.{name}.loss"] = losses
    S = torch.optim.lr_scheduler
    metric = np.array([1.0, 0.9, 0.95, 0.95, 0.95, 0.94, 0.96, 0.8, 0.85, 0.85, 0.85, 0.85])
    sch = {
        "step": schedule(lambda o: S.StepLR(o, step_size=3, gamma=0.5)),
        "multistep": schedule(lambda o: S.MultiStepLR(o, milestones=[2, 5, 9], gamma=0.3)),
        "exponential": schedule(lambda o: S.ExponentialLR(o, gamma=0.8)),
        "cosine": schedule(lambda o: S.CosineAnnealingLR(o, T_max=12, eta_min=0.001)),
        "cosine5": schedule(lambda o: S.CosineAnnealingLR(o, T_max=5, eta_min=0.001)),
        "restarts": schedule(lambda o: S.CosineAnnealingWarmRestarts(o, T_0=2, T_mult=2, eta_min=0.01), restarts=True),
        "restarts1": schedule(lambda o: S.CosineAnnealingWarmRestarts(o, T_0=3, eta_min=0.0), restarts=True),
        "plateau": schedule(lambda o: S.ReduceLROnPlateau(o, factor=0.5, patience=1, threshold=0.01, cooldown=1,
                                                          min_lr=0.02), metrics=metric),
        "onecycle": schedule(lambda o: S.OneCycleLR(o, max_lr=BASE, total_steps=SPE * EPOCHS), per_step=True, adam=True),
        "onecycle3": schedule(lambda o: S.OneCycleLR(o, max_lr=BASE, total_steps=SPE * EPOCHS, three_phase=True),
                              per_step=True, adam=True),
        "warmup_step": schedule(lambda o: S.StepLR(o, step_size=4, gamma=0.5),
                                warm=lambda o: S.LinearLR(o, start_factor=0.1, total_iters=7)),
    }
    for name, (lrs, moms) in sch.items():
        res[f"sched.{name}.lr"] = lrs
        if len(moms):
            res[f"sched.{name}.mom"] = moms
    res["sched.plateau.metric"] = metric
    res = {k: np.ascontiguousarray(v.astype(np.int32 if k == "labels" else np.float32)) for k, v in res.items()}
    save_file(res, out)
    print(f"{out}: {os.path.getsize(out)} bytes, {len(res)} tensors")


if __name__ == "__main__":
    main()
