#!/usr/bin/env python3
"""GPTQ study (Frantar et al. 2022, error-compensating quantization with the inputs' second moments H = X^T X):
does it take Qwen2.5-0.5B's 4-bit body to the Qwen2 issue's 95 % top-1 goal? Weight-only, like
tools/q4-format-study.py: an f32 PyTorch forward over a calibration text collects H for every linear's input
(q/k/v share one, gate/up one), then each layer matrix is quantized column by column on a group-32 grid (q4_1:
the least-squares (d, m) of q4-format-study's q4_1s, chosen from the group's current, already compensated
weights; q4_0: the best of q4_0s's candidate scales, without its refit), the rounding error of a column pushed
onto the columns not yet quantized through the Cholesky factor of H^-1 (damping 1 % of the mean diagonal,
blocks of 128 columns). Token embedding and output head: q8_0. Writes a fake-quantized f32 GGUF for
`sentio perplexity --gguf-quant f32 --kl-base`.

usage: /work/venv/bin/python tools/gptq-study.py IN-f32.gguf TOKENIZER.json CALIB.txt OUT.gguf q4_1|q4_0 [--q8=attn_k,attn_v,ffn_down]
  --q8: llama.cpp tensor kinds kept at q8_0 instead
Needs torch (WITH_TORCH=1 tools/setup-venv.sh). Measured: docs/BENCHMARKS.md, "Importance matrix ...".
"""
import os, sys, numpy as np, torch
TOOLS = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, TOOLS)
import importlib.util
spec = importlib.util.spec_from_file_location('io', os.path.join(TOOLS, 'imatrix-oracle.py')); io = importlib.util.module_from_spec(spec); spec.loader.exec_module(io)
qs = importlib.util.spec_from_file_location('qs', os.path.join(TOOLS, 'q4-format-study.py')); qsm = importlib.util.module_from_spec(qs); qs.loader.exec_module(qsm)
import gguf
from ggufcopy import f32_writer_like, finish, hf_name
from tokenizers import Tokenizer
torch.set_num_threads(2)
if len(sys.argv) < 6 or sys.argv[5] not in ('q4_1', 'q4_0'):
    sys.exit(__doc__)
src, tokp, calib, dst, fmt = sys.argv[1:6]
flags = sys.argv[6:]
W, cfg = io.load_gguf(src)
ids = Tokenizer.from_file(tokp).encode(open(calib).read(), add_special_tokens=False).ids
print(len(ids), 'calibration tokens', flush=True)
H, group = {}, {}      # H per input (keyed by its first reader), group: weight name -> that key


def note(names, x):
    x = x.float()
    H[names[0]] = H.get(names[0], 0) + x.T @ x
    for n in names:
        group[n] = names[0]


io.forward_windows(W, cfg, ids, 512, note, score=False)   # imatrix-oracle's f32 forward, windows of 512
print('hessians done', flush=True)

def q41_params(x):
    """(d, m) per row as q4-format-study's q4_1s chooses them (f16-rounded), for the GPTQ column loop."""
    d, m = qsm.q4_1s_params(x.astype(np.float64))
    return torch.from_numpy(qsm.f16(d)), torch.from_numpy(qsm.f16(m))

def q40_params(x):
    """The scale per row among max/(-8 + k/4), k = -4..8, with the least squared error after f16 rounding
    (q4_0s's candidates without its least-squares refit)."""
    x = x.astype(np.float64)
    i = np.abs(x).argmax(1); mx = x[np.arange(len(x)), i][:, None]
    best_d = mx / -8
    def err_of(d):
        dh = qsm.f16(d); idv = np.where(dh != 0, 1 / np.where(dh != 0, dh, 1), 0)
        return ((x - np.clip(np.round(x * idv), -8, 7) * dh) ** 2).sum(1, keepdims=True)
    berr = err_of(best_d)
    for k in range(-4, 9):
        d = mx / (-8 + 0.25 * k)
        e = err_of(d); better = e < berr
        best_d = np.where(better, d, best_d); berr = np.minimum(e, berr)
    return torch.from_numpy(qsm.f16(best_d)), None

def gptq(Wm, Hm, fmtq, damp=0.01, block=128):
    Wm = Wm.clone().double(); Hm = Hm.double().clone()
    rows, cols = Wm.shape
    dead = torch.diag(Hm) == 0
    Hm[dead, dead] = 1; Wm[:, dead] = 0
    Hm += damp * torch.mean(torch.diag(Hm)) * torch.eye(cols, dtype=torch.float64)
    Hinv = torch.linalg.cholesky(torch.cholesky_inverse(torch.linalg.cholesky(Hm)), upper=True)
    Q = torch.zeros_like(Wm)
    params = None
    for i1 in range(0, cols, block):
        i2 = min(i1 + block, cols)
        W1 = Wm[:, i1:i2].clone(); Q1 = torch.zeros_like(W1); Err1 = torch.zeros_like(W1); Hi = Hinv[i1:i2, i1:i2]
        for i in range(i2 - i1):
            c = i1 + i
            if c % 32 == 0:
                grp = torch.cat([W1[:, i:], Wm[:, i2:]], 1)[:, :32] if i + 32 > i2 - i1 else W1[:, i:i + 32]
                g = grp.numpy()
                params = q41_params(g) if fmtq == 'q4_1' else q40_params(g)
            w = W1[:, i:i + 1]
            d, m = params
            if fmtq == 'q4_1':
                dz = torch.where(d != 0, d, torch.ones_like(d))
                q = torch.clamp(torch.round((w - m) / dz), 0, 15) * d + m
            else:
                dz = torch.where(d != 0, d, torch.ones_like(d))
                q = torch.clamp(torch.round(w / dz), -8, 7) * d
            Q1[:, i:i + 1] = q
            err = (w - q) / Hi[i, i]
            W1[:, i:] -= err @ Hi[i:i + 1, i:]
            Err1[:, i:i + 1] = err
        Q[:, i1:i2] = Q1
        Wm[:, i2:] -= Err1 @ Hinv[i1:i2, i2:]
    return Q.float()

r = gguf.GGUFReader(src)
w = f32_writer_like(r, dst)
q8kinds = [f.split('=')[1] for f in flags if f.startswith('--q8=')]
q8kinds = q8kinds[0].split(',') if q8kinds else []
for t in r.tensors:
    shape = [int(d) for d in reversed(t.shape)]
    x = np.asarray(t.data, dtype=np.float32).reshape(shape)
    y = x
    if t.name in ('token_embd.weight', 'output.weight'):
        y = qsm.fake(x, 'q8_0')
    elif t.name.startswith('blk.') and len(shape) == 2:
        kind = t.name.split('.')[2]
        if kind in q8kinds:
            y = qsm.fake(x, 'q8_0')
        else:
            y = gptq(torch.from_numpy(x), H[group[hf_name(t.name)]], fmt).numpy()
        rel = float(np.sqrt(((y - x).astype(np.float64) ** 2).mean() / (x.astype(np.float64) ** 2).mean()))
        print(t.name, rel, flush=True)
    w.add_tensor(t.name, y.astype(np.float32))
finish(w, dst)
