#!/usr/bin/env python3
"""Oracle for Sentio's AdamW, LR schedules and gradient clipping (Sources/SentioTrainer/Infra).

Runs torch.optim.AdamW + transformers.get_scheduler + torch.nn.utils.clip_grad_norm_ on three small
float32 tensors for 8 steps with seeded gradients (some steps clipped, some not) and records every
step's learning rate, total gradient norm and parameters; also the schedule multipliers of
constant / constant_with_warmup / linear / cosine at every step of a 10-step run with 3 warmup steps.
Writes Tests/Data/Infra/optim-oracle.json.

Run: /work/venv/bin/python tools/optim-oracle.py   (needs torch and transformers in /work/venv)
"""
import json, os
import torch
from transformers import get_scheduler

torch.manual_seed(0)
shapes = {"a.lora_A.weight": [3, 5], "a.lora_B.weight": [7], "b.lora_A.weight": [2, 2]}
params = {n: torch.nn.Parameter(torch.randn(*s)) for n, s in shapes.items()}
init = {n: p.detach().flatten().tolist() for n, p in params.items()}
steps, warmup, lr, wd, max_norm = 8, 2, 1e-2, 0.1, 1.0
opt = torch.optim.AdamW(list(params.values()), lr=lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=wd, foreach=False)
sched = get_scheduler("cosine", opt, num_warmup_steps=warmup, num_training_steps=steps)
records = []
for step in range(steps):
    grads = {n: (torch.randn(*s) * (0.05 if step % 3 == 0 else 1.0)) for n, s in shapes.items()}
    for n, p in params.items():
        p.grad = grads[n].clone()
    total = clip_grad_norm = torch.nn.utils.clip_grad_norm_(list(params.values()), max_norm)
    cur_lr = opt.param_groups[0]["lr"]
    opt.step()
    sched.step()
    records.append({"grads": {n: g.flatten().tolist() for n, g in grads.items()}, "lr": cur_lr,
                    "norm": float(total), "params": {n: p.detach().flatten().tolist() for n, p in params.items()}})

schedules = {}
for name in ["constant", "constant_with_warmup", "linear", "cosine"]:
    p = torch.nn.Parameter(torch.zeros(1))
    o = torch.optim.SGD([p], lr=1.0)
    s = get_scheduler(name, o, num_warmup_steps=3, num_training_steps=10)
    values = []
    for _ in range(12):
        values.append(o.param_groups[0]["lr"])
        o.step(); s.step()
    schedules[name] = values

out = {"shapes": shapes, "init": init, "lr": lr, "weight_decay": wd, "max_norm": max_norm, "warmup": warmup,
       "steps": steps, "records": records, "schedules": schedules, "torch": torch.__version__}
path = os.path.join(os.path.dirname(__file__), "..", "Tests", "Data", "Infra", "optim-oracle.json")
with open(path, "w") as f:
    json.dump(out, f)
print("wrote", path)
