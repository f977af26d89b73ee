#!/usr/bin/env python3
"""Weight-only study of 4-bit block formats: fake-quantizes the tensors of an f32 GGUF (quantize, then
dequantize back to f32) and writes a new f32 GGUF, so `sentio perplexity --gguf-quant f32 --kl-base` measures
the weights' error alone (f32 activations, f32 matmuls). Prints the relative RMSE of every tensor.

usage: /work/venv/bin/python tools/q4-format-study.py IN-f32.gguf OUT.gguf RULE [RULE ...]
  RULE = GLOB=FORMAT, the last matching rule wins; tensors no rule matches (and 1-D tensors) stay f32.
  FORMAT: f32 | q8_0 | q4_0 (max-based, as BlockQ4_0.quantizeRef) | q4_0s (scale searched for least squares)
          | q4_1 (min/max) | q4_1s (least-squares search over d and m, as BlockQ4_1.quantizeRef)
          | q4_1w (q4_1s weighted by an importance matrix) | iq4nl / iq4nlw (IQ4_NL's 16-value codebook with
          one f16 scale per 32, least squares / weighted)
  --rmse-only: print the per-tensor RMSE table, write nothing.
  --imatrix=FILE: importance matrix for the weighted formats (`sentio imatrix` / tools/imatrix-oracle.py output,
          .safetensors with Hugging Face names, or an .npz with either naming).
e.g. tools/q4-format-study.py coder-f32.gguf /tmp/x.gguf '*=q4_1s' 'output.weight=q8_0'
"""
import fnmatch
import sys
import numpy as np
import gguf
from ggufcopy import f32_writer_like, finish, hf_name


def f16(a):
    return a.astype(np.float16).astype(np.float32)


def q8_0(x):
    amax = np.abs(x).max(1, keepdims=True)
    d = amax / 127
    idv = np.where(d != 0, 1 / np.where(d != 0, d, 1), 0)
    q = np.clip(np.round(x * idv), -127, 127)
    return q * f16(d)


def q4_0(x):
    i = np.abs(x).argmax(1)
    m = x[np.arange(len(x)), i][:, None]
    d = m / -8
    idv = np.where(d != 0, 1 / np.where(d != 0, d, 1), 0)
    q = np.clip(np.floor(x * idv + 8.5), 0, 15)
    return (q - 8) * f16(d)


def q4_0s(x):
    """Symmetric grid d*(q-8); candidate scales m/(-8+k/4) and a least-squares refit of each, best kept."""
    i = np.abs(x).argmax(1)
    m = x[np.arange(len(x)), i][:, None]
    best = q4_0(x)
    berr = ((x - best) ** 2).sum(1)
    for k in range(-4, 9):
        d = m / (-8 + 0.25 * k)
        for _ in range(2):
            idv = np.where(d != 0, 1 / np.where(d != 0, d, 1), 0)
            q = np.clip(np.round(x * idv), -8, 7)
            qq = (q * q).sum(1, keepdims=True)
            d = np.where(qq > 0, (q * x).sum(1, keepdims=True) / np.where(qq > 0, qq, 1), 0)
        dh = f16(d)
        idv = np.where(dh != 0, 1 / np.where(dh != 0, dh, 1), 0)
        y = np.clip(np.round(x * idv), -8, 7) * dh
        err = ((x - y) ** 2).sum(1)
        better = err < berr
        best[better] = y[better]
        berr = np.minimum(err, berr)
    return best


def q41_eval(x, d, m, w=None):
    dh, mh = f16(d), f16(m)
    idv = np.where(dh != 0, 1 / np.where(dh != 0, dh, 1), 0)
    q = np.clip(np.round((x - mh) * idv), 0, 15)
    y = q * dh + mh
    e = (x - y) ** 2
    return y, (e if w is None else e * w).sum(1), q


def q4_1(x):
    lo, hi = x.min(1, keepdims=True), x.max(1, keepdims=True)
    return q41_eval(x, (hi - lo) / 15, lo)[0]


def q4_1s_params(x, w=None):
    """The (d, m) per row (before f16 rounding, which q41_eval applies) of q4_1s's search: start ranges [lo, hi]
    shrunk from either end, then alternate assignment and the (weighted) least-squares (d, m) for that
    assignment; the best after f16 rounding is kept. w: per-element weights (importance), None = all 1."""
    lo, hi = x.min(1, keepdims=True), x.max(1, keepdims=True)
    bd, bm = (hi - lo) / 15, lo
    _, berr, _ = q41_eval(x, bd, bm, w)
    ww = np.ones_like(x) if w is None else w
    n = ww.sum(1, keepdims=True)
    for a in (0.0, 0.5, 1.0):
        for b in (0.0, 0.5, 1.0):
            d = (hi - lo) / (15 + a + b)
            m = lo + a * d
            for _ in range(3):
                _, _, q = q41_eval(x, d, m)
                sq, sqq = (ww * q).sum(1, keepdims=True), (ww * q * q).sum(1, keepdims=True)
                sx, sqx = (ww * x).sum(1, keepdims=True), (ww * q * x).sum(1, keepdims=True)
                det = n * sqq - sq * sq
                ok = det > 1e-30 * np.maximum(n * sqq, 1e-30)
                dn = np.where(ok, (n * sqx - sq * sx) / np.where(ok, det, 1), 0)
                mn = np.where(ok, (sx - dn * sq) / np.where(n > 0, n, 1), sx / np.where(n > 0, n, 1))
                d, m = dn, mn
            _, err, _ = q41_eval(x, d, m, w)
            better = (err < berr)[:, None]
            bd, bm = np.where(better, d, bd), np.where(better, m, bm)
            berr = np.minimum(err, berr)
    return bd, bm


def q4_1s(x, w=None):
    """Affine grid d*q + m, q in 0..15, with q4_1s_params's (d, m)."""
    return q41_eval(x, *q4_1s_params(x, w))[0]


IQ4NL = np.array([-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113], dtype=np.float64)


def nl_eval(x, d, w=None):
    dh = f16(d)
    idv = np.where(dh != 0, 1 / np.where(dh != 0, dh, 1), 0)
    t = x * idv
    # nearest codebook entry
    mids = (IQ4NL[1:] + IQ4NL[:-1]) / 2
    q = np.searchsorted(mids, t)
    k = IQ4NL[q]
    y = k * dh
    e = (x - y) ** 2
    return y, (e if w is None else e * w).sum(1), k


def iq4nl(x, w=None):
    """Non-uniform 4-bit codebook (IQ4_NL's 16 values) times one f16 scale per 32: scales tried around
    max/-127 and max/113, each refitted by (weighted) least squares for its assignment."""
    i = np.abs(x).argmax(1)
    m = x[np.arange(len(x)), i][:, None]
    ww = np.ones_like(x) if w is None else w
    best, berr, _ = nl_eval(x, m / -127, w)
    for k in range(-9, 10):
        for base in (-127.0, 113.0):
            d = m / (base + k)
            for _ in range(2):
                _, _, kv = nl_eval(x, d)
                kk = (ww * kv * kv).sum(1, keepdims=True)
                d = np.where(kk > 0, (ww * kv * x).sum(1, keepdims=True) / np.where(kk > 0, kk, 1), 0)
            y, err, _ = nl_eval(x, d, w)
            better = err < berr
            best[better] = y[better]
            berr = np.minimum(err, berr)
    return best


FORMATS = {"f32": None, "q8_0": q8_0, "q4_0": q4_0, "q4_0s": q4_0s, "q4_1": q4_1, "q4_1s": q4_1s,
           "q4_1w": q4_1s, "iq4nl": iq4nl, "iq4nlw": iq4nl}
WEIGHTED = {"q4_1w", "iq4nlw"}


def fake(x, fmt, imx=None):
    f = FORMATS[fmt]
    if f is None:
        return x
    flat = x.reshape(-1, 32).astype(np.float64)
    wflat = None
    if fmt in WEIGHTED:
        if imx is None:
            raise SystemExit(f"{fmt} needs --imatrix")
        rows = x.reshape(-1, x.shape[-1]).astype(np.float64)
        sigma2 = (rows ** 2).mean(1, keepdims=True)
        # importance of each element: its column's mean x^2 times sqrt(sigma2 + w^2) (larger weights matter more)
        wflat = (np.broadcast_to(imx.astype(np.float64), rows.shape) * np.sqrt(sigma2 + rows ** 2)).reshape(-1, 32)
    out = np.empty_like(flat)
    step = 1 << 18
    for s in range(0, len(flat), step):
        if wflat is None:
            out[s:s + step] = f(flat[s:s + step].copy())
        else:
            out[s:s + step] = f(flat[s:s + step].copy(), wflat[s:s + step])
    return out.reshape(x.shape).astype(np.float32)


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    rmse_only = "--rmse-only" in sys.argv
    imatrix = None
    for a in sys.argv[1:]:
        if a.startswith("--imatrix="):
            path = a.split("=", 1)[1]
            if path.endswith(".safetensors"):
                from safetensors.numpy import load_file
                imatrix = load_file(path)
            else:
                imatrix = dict(np.load(path))
    src, dst, rules = args[0], args[1], [r.split("=", 1) for r in args[2:]]
    r = gguf.GGUFReader(src)
    w = None if rmse_only else f32_writer_like(r, dst)
    tot = {}
    for t in r.tensors:
        shape = [int(d) for d in reversed(t.shape)]
        x = np.asarray(t.data, dtype=np.float32).reshape(shape)
        fmt = "f32"
        if len(shape) >= 2 and shape[-1] % 32 == 0:
            for pat, f in rules:
                if fnmatch.fnmatch(t.name, pat):
                    fmt = f
        imx = None
        if imatrix is not None:
            imx = imatrix.get(t.name, imatrix.get(hf_name(t.name)))
        y = fake(x, fmt, imx)
        if fmt != "f32":
            rel = float(np.sqrt(((y - x).astype(np.float64) ** 2).mean() / (x.astype(np.float64) ** 2).mean()))
            cls = t.name.split(".")[-2] if t.name.startswith("blk.") else t.name
            tot.setdefault(cls, []).append(rel)
            print(f"{t.name:32s} {fmt:6s} rel-rmse {rel:.5f}", flush=True)
        if w is not None:
            w.add_tensor(t.name, y)
    for cls, v in tot.items():
        print(f"class {cls:20s} mean rel-rmse {np.mean(v):.5f}")
    if w is not None:
        finish(w, dst)


if __name__ == "__main__":
    main()
