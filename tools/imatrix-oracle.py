#!/usr/bin/env python3
"""Oracle for `sentio imatrix`: the importance matrix (per input column, the mean of x^2 at every matmul's
input) of a Qwen2 model over a text, from an independent PyTorch forward in float32. Windows of --ctx tokens
from an empty cache, as llama-perplexity and `sentio perplexity` cut them; it prints the perplexity of the
windows' second halves too, as a check of the forward.

The model is a GGUF (f32 / f16 tensors, llama.cpp names) or a Hugging Face folder (config.json +
model.safetensors). Output keys are the Hugging Face weight names (Sentio's schema names): a .safetensors
file in `sentio imatrix`'s layout, or an .npz (q4-format-study.py --imatrix reads either).
Text is tokenized with tokenizer.json (`tokenizers`); keep special-token strings out of it, since
`sentio imatrix` reads text as plain text.

usage: tools/.venv/bin/python tools/imatrix-oracle.py MODEL TOKENIZER.json OUT [--ctx 512] TEXT...
       (needs torch: WITH_TORCH=1 tools/setup-venv.sh)
The test oracle Tests/Data/imatrix/tiny-a-oracle.safetensors was made with
  tools/imatrix-oracle.py ../shared/fixtures/r1omni-tiny-a ../shared/fixtures/qwen2-tokenizer/tokenizer.json \
      Tests/Data/imatrix/tiny-a-oracle.safetensors --ctx 64 Tests/Data/imatrix/calib.txt
"""
import json
import os
import sys
import numpy as np
import torch
from tokenizers import Tokenizer

def load_gguf(path):
    import gguf
    from ggufcopy import hf_name
    r = gguf.GGUFReader(path)
    W = {}
    for t in r.tensors:
        shape = [int(d) for d in reversed(t.shape)]
        W[hf_name(t.name)] = torch.from_numpy(np.asarray(t.data, dtype=np.float32).reshape(shape).copy())
    kv = {f.name: f for f in r.fields.values()}

    def scalar(name):
        f = kv[name]
        return f.parts[f.data[0]][0].item()

    cfg = dict(layers=int(scalar("qwen2.block_count")), heads=int(scalar("qwen2.attention.head_count")),
               kv_heads=int(scalar("qwen2.attention.head_count_kv")),
               eps=float(scalar("qwen2.attention.layer_norm_rms_epsilon")), theta=float(scalar("qwen2.rope.freq_base")))
    return W, cfg


def load_hf(folder):
    from safetensors.torch import load_file
    c = json.load(open(os.path.join(folder, "config.json")))
    W = {k: v.float() for k, v in load_file(os.path.join(folder, "model.safetensors")).items()}
    cfg = dict(layers=c["num_hidden_layers"], heads=c["num_attention_heads"], kv_heads=c["num_key_value_heads"],
               eps=c["rms_norm_eps"], theta=c.get("rope_theta", 10000.0))
    return W, cfg


def forward_windows(W, cfg, ids, ctx, note, score=True):
    """The model over ids cut into windows of ctx tokens from an empty cache; note(names, x) is called with the
    input x [T, cols] of every matmul (names: the weights reading it). Returns (nll, scored) over each window's
    second half, perplexity's positions (score=False skips the head's logits: (0.0, 0))."""
    n_layer, n_head, n_kv, eps, theta = cfg["layers"], cfg["heads"], cfg["kv_heads"], cfg["eps"], cfg["theta"]
    emb = W["model.embed_tokens.weight"]
    head = W.get("lm_head.weight", emb)   # tied head: the embedding
    dim = emb.shape[1]
    hd = dim // n_head

    def rms(x, w):
        return x * torch.rsqrt((x * x).mean(-1, keepdim=True) + eps) * w

    inv = 1.0 / theta ** (torch.arange(0, hd, 2, dtype=torch.float64) / hd)
    pos = torch.arange(ctx, dtype=torch.float64)
    ang = torch.outer(pos, inv)
    cos = torch.cat([ang.cos(), ang.cos()], -1).float()
    sin = torch.cat([ang.sin(), ang.sin()], -1).float()

    def rope(x):  # x: [heads, T, hd], rotate-half (NEOX)
        T = x.shape[1]
        a, b = x[..., : hd // 2], x[..., hd // 2:]
        return x * cos[:T] + torch.cat([-b, a], -1) * sin[:T]

    def lin(x, name, bias=None):
        y = x @ W[name].T
        return y if bias is None or bias not in W else y + W[bias]

    nll, scored = 0.0, 0
    with torch.no_grad():
        for w0 in range(0, len(ids) - ctx + 1, ctx):
            t = torch.tensor(ids[w0:w0 + ctx])
            h = emb[t]
            T = h.shape[0]
            mask = torch.full((T, T), float("-inf")).triu(1)
            for L in range(n_layer):
                p = f"model.layers.{L}."
                q_, k_, v_ = (p + f"self_attn.{n}_proj." for n in "qkv")
                x = rms(h, W[p + "input_layernorm.weight"])
                note([q_ + "weight", k_ + "weight", v_ + "weight"], x)
                q = rope(lin(x, q_ + "weight", q_ + "bias").view(T, n_head, hd).transpose(0, 1))
                k = rope(lin(x, k_ + "weight", k_ + "bias").view(T, n_kv, hd).transpose(0, 1))
                v = lin(x, v_ + "weight", v_ + "bias").view(T, n_kv, hd).transpose(0, 1)
                k = k.repeat_interleave(n_head // n_kv, 0)
                v = v.repeat_interleave(n_head // n_kv, 0)
                s = (q @ k.transpose(1, 2)) / hd ** 0.5 + mask
                a = (s.softmax(-1) @ v).transpose(0, 1).reshape(T, dim)
                note([p + "self_attn.o_proj.weight"], a)
                h = h + lin(a, p + "self_attn.o_proj.weight")
                x = rms(h, W[p + "post_attention_layernorm.weight"])
                note([p + "mlp.gate_proj.weight", p + "mlp.up_proj.weight"], x)
                g = torch.nn.functional.silu(lin(x, p + "mlp.gate_proj.weight")) * lin(x, p + "mlp.up_proj.weight")
                note([p + "mlp.down_proj.weight"], g)
                h = h + lin(g, p + "mlp.down_proj.weight")
            x = rms(h, W["model.norm.weight"])
            if "lm_head.weight" in W:
                note(["lm_head.weight"], x)
            if not score:
                continue
            lp = (x[ctx // 2:-1] @ head.T).double().log_softmax(-1)
            nll += -lp[torch.arange(lp.shape[0]), t[ctx // 2 + 1:]].sum().item()
            scored += lp.shape[0]
    return nll, scored


def main():
    args = sys.argv[1:]
    ctx = 512
    if "--ctx" in args:
        i = args.index("--ctx")
        ctx = int(args[i + 1])
        del args[i:i + 2]
    src, tok_path, out, texts = args[0], args[1], args[2], args[3:]
    W, cfg = load_gguf(src) if src.endswith(".gguf") else load_hf(src)
    tok = Tokenizer.from_file(tok_path)
    ids = []
    for p in texts:
        ids += tok.encode(open(p, encoding="utf-8").read(), add_special_tokens=False).ids
    print(f"{len(ids)} calibration tokens, {len(ids) // ctx} windows of {ctx}", flush=True)

    acc, cnt = {}, {}

    def note(names, x):
        s = (x.double() ** 2).sum(0)
        for n in names:
            acc[n] = acc.get(n, 0) + s
            cnt[n] = cnt.get(n, 0) + x.shape[0]

    nll, scored = forward_windows(W, cfg, ids, ctx, note)
    ppl = float(np.exp(nll / max(scored, 1)))
    print(f"perplexity {ppl:.4f} over {scored} positions", flush=True)
    res = {n: (acc[n] / cnt[n]).numpy().astype(np.float32) for n in acc}
    if out.endswith(".safetensors"):
        from safetensors.numpy import save_file
        save_file(res, out, metadata={"sentio.imatrix": "1", "sentio.imatrix.tokens": str(cnt[next(iter(cnt))]),
                                      "sentio.imatrix.ctx": str(ctx), "sentio.imatrix.model": os.path.basename(src),
                                      "sentio.imatrix.source": "tools/imatrix-oracle.py",
                                      "sentio.imatrix.perplexity": repr(ppl)})
    else:
        np.savez(out, **res)
    print(f"wrote {out}: {len(res)} tensors")


if __name__ == "__main__":
    main()
