#!/usr/bin/env python3
"""Write a real-shape R1-Omni (HumanOmni-0.5B) checkpoint with random weights, in Hugging Face layout.

Why: the real StarJiaxing/R1-Omni-0.5B weights are not needed to convert, run and benchmark the full-size
model; only names, shapes and dtypes matter for that. Tensor names are taken from the tiny golden fixture's
model.safetensors (the reference module tree, Tests/Fixtures/r1omni-tiny-a), with the per-component tiny sizes
mapped onto the real config (Qwen2.5-0.5B, SigLIP-base-patch16-224, Whisper-large-v3 encoder, BERT-base-uncased,
all_in_one_small projector) and layer 0 repeated for every real layer. Weights are bf16, ~2.75 GB.

Writes into models/cache/random-r1omni/ (or --out): model.safetensors (streamed tensor by tensor), config.json,
generation_config.json, the Qwen2 tokenizer files (from Tests/Fixtures/qwen2-tokenizer), and the tower folders
siglip-base-patch16-224/, whisper-large-v3/, bert-base-uncased/ with their config.json.

Needs numpy only (the safetensors file is written directly: 8-byte header length, JSON header, data).
Run: /work/venv/bin/python tools/make-random-r1omni.py [--out DIR] [--seed N]
"""
import argparse
import json
import os
import re
import shutil
import struct
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIX = os.path.join(ROOT, "Tests", "Fixtures")

# Real sizes.
LLM = dict(hidden=896, inter=4864, layers=24, heads=14, kv_heads=2, vocab=151936)
SIGLIP = dict(hidden=768, inter=3072, layers=12, heads=12)
WHISPER = dict(d=1280, ffn=5120, layers=32, heads=20, mels=128, positions=1500)
BERT = dict(hidden=768, inter=3072, layers=12, heads=12)


def read_header(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        h = json.loads(f.read(n))
    h.pop("__metadata__", None)
    return h


def tiny_sizes():
    cfg = json.load(open(os.path.join(FIX, "r1omni-tiny-a", "config.json")))
    sig = json.load(open(os.path.join(FIX, "r1omni-tiny-a", "siglip-tiny-patch16-224", "config.json")))
    wh = json.load(open(os.path.join(FIX, "r1omni-tiny-a", "whisper-tiny-large-v3-shape", "config.json")))
    be = json.load(open(os.path.join(FIX, "r1omni-tiny-a", "bert-tiny-uncased", "config.json")))
    return cfg, sig, wh, be


def se_width(c):
    return int(round(0.25 * c))  # Python round: half to even, as timm


def dim_maps(cfg, sig, wh, be):
    """Per component: tiny dimension value -> real value (values are distinct within each component)."""
    th, tkv = cfg["hidden_size"], cfg["num_key_value_heads"] * (cfg["hidden_size"] // cfg["num_attention_heads"])
    llm = {th: LLM["hidden"], cfg["intermediate_size"]: LLM["inter"], tkv: LLM["kv_heads"] * LLM["hidden"] // LLM["heads"]}
    vis = {sig["hidden_size"]: SIGLIP["hidden"], sig["intermediate_size"]: SIGLIP["inter"], 3 * sig["hidden_size"]: 3 * SIGLIP["hidden"]}
    aud = {wh["d_model"]: WHISPER["d"], wh["encoder_ffn_dim"]: WHISPER["ffn"]}
    bert = {be["hidden_size"]: BERT["hidden"], be["intermediate_size"]: BERT["inter"]}
    gate = {be["hidden_size"]: BERT["hidden"]}
    proj = {cfg["mm_hidden_size"]: SIGLIP["hidden"], th: LLM["hidden"],
            se_width(cfg["mm_hidden_size"]): se_width(SIGLIP["hidden"]), se_width(th): se_width(LLM["hidden"])}
    aproj = {cfg["audio_hidden_size"]: WHISPER["d"], th: LLM["hidden"]}
    for name, m in [("llm", llm), ("vision", vis), ("audio", aud), ("bert", bert), ("projector", proj), ("audio projector", aproj)]:
        if len(set(m.keys())) != len(m):
            sys.exit(f"ambiguous tiny sizes in {name}: {m}")
    return dict(llm=llm, vision=vis, audio=aud, bert=bert, gate=gate, projector=proj, audio_projector=aproj)


def component(name):
    if name.startswith("model.vision_tower."):
        return "vision"
    if name.startswith("model.audio_tower."):
        return "audio"
    if name.startswith("model.bert_model."):
        return "bert"
    if name.startswith("model.bert_gate."):
        return "gate"
    if name.startswith("model.mm_projector."):
        return "projector"
    if name.startswith("model.audio_projector."):
        return "audio_projector"
    return "llm"


LAYER_RE = re.compile(r"^(.*\.(?:layers|layer))\.(\d+)\.(.*)$")
REAL_LAYERS = dict(llm=LLM["layers"], vision=SIGLIP["layers"], audio=WHISPER["layers"], bert=BERT["layers"])


def real_tensors():
    cfg, sig, wh, be = tiny_sizes()
    maps = dim_maps(cfg, sig, wh, be)
    hdr = read_header(os.path.join(FIX, "r1omni-tiny-a", "model.safetensors"))
    out = {}
    for name, info in hdr.items():
        comp = component(name)
        m = maps[comp]
        shape = [m.get(d, d) for d in info["shape"]]
        # Whisper's positions [1500, d] and mels keep their values; the LLM vocab too (not in the maps).
        lm = LAYER_RE.match(name)
        if lm:
            if int(lm.group(2)) != 0:
                continue
            for i in range(REAL_LAYERS[comp]):
                out[f"{lm.group(1)}.{i}.{lm.group(3)}"] = shape
        else:
            out[name] = shape
    return cfg, sig, wh, be, out


def kind(name):
    if name.endswith(".bias") or name.endswith("_bias"):
        return "bias"
    if re.search(r"(layer_?norm|LayerNorm|\.bn\.|norm)\.weight$", name) or name.endswith("norm.weight"):
        return "norm"
    return "weight"


def bf16_bits(x):
    u = x.astype(np.float32).view(np.uint32)
    return ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16)


def write_safetensors(path, tensors, seed):
    names = sorted(tensors)
    header, off = {}, 0
    for n in names:
        size = int(np.prod(tensors[n])) * 2
        header[n] = {"dtype": "BF16", "shape": tensors[n], "data_offsets": [off, off + size]}
        off += size
    header["__metadata__"] = {"format": "pt", "note": "random weights, made by tools/make-random-r1omni.py"}
    hb = json.dumps(header, separators=(",", ":")).encode()
    hb += b" " * ((8 - len(hb) % 8) % 8)
    rng = np.random.default_rng(seed)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(hb)))
        f.write(hb)
        for n in names:
            shape = tensors[n]
            count = int(np.prod(shape))
            k = kind(n)
            fan_in = int(np.prod(shape[1:])) if len(shape) > 1 else shape[0]
            chunk = 1 << 24
            for s in range(0, count, chunk):
                c = min(chunk, count - s)
                if k == "norm":
                    x = 1.0 + 0.02 * rng.standard_normal(c, dtype=np.float32)
                elif k == "bias":
                    x = 0.02 * rng.standard_normal(c, dtype=np.float32)
                else:
                    x = rng.standard_normal(c, dtype=np.float32) * np.float32(1.0 / np.sqrt(max(fan_in, 1)))
                f.write(bf16_bits(x).tobytes())
    os.replace(tmp, path)
    return off


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=os.path.join(ROOT, "models", "cache", "random-r1omni"))
    ap.add_argument("--seed", type=int, default=20250301)
    a = ap.parse_args()
    cfg, sig, wh, be, tensors = real_tensors()
    os.makedirs(a.out, exist_ok=True)

    params = {}
    for n, s in tensors.items():
        params[component(n)] = params.get(component(n), 0) + int(np.prod(s))
    total = sum(params.values())
    print("parameters per component (M):", {k: round(v / 1e6, 2) for k, v in sorted(params.items())}, "total", round(total / 1e6, 1))

    c = dict(cfg)
    c.update(hidden_size=LLM["hidden"], intermediate_size=LLM["inter"], num_hidden_layers=LLM["layers"],
             num_attention_heads=LLM["heads"], num_key_value_heads=LLM["kv_heads"], max_window_layers=21,
             mm_hidden_size=SIGLIP["hidden"], audio_hidden_size=WHISPER["d"],
             mm_vision_tower="google/siglip-base-patch16-224", mm_audio_tower="openai/whisper-large-v3")
    json.dump(c, open(os.path.join(a.out, "config.json"), "w"), indent=2)
    s = dict(sig)
    s.update(hidden_size=SIGLIP["hidden"], intermediate_size=SIGLIP["inter"], num_hidden_layers=SIGLIP["layers"],
             num_attention_heads=SIGLIP["heads"])
    w = dict(wh)
    w.update(d_model=WHISPER["d"], encoder_ffn_dim=WHISPER["ffn"], encoder_layers=WHISPER["layers"],
             encoder_attention_heads=WHISPER["heads"], decoder_ffn_dim=WHISPER["ffn"], decoder_layers=WHISPER["layers"],
             decoder_attention_heads=WHISPER["heads"], num_mel_bins=WHISPER["mels"], max_source_positions=WHISPER["positions"],
             # transformers maps num_hidden_layers onto encoder_layers: keep them equal (the tiny fixture's 2 would win).
             num_hidden_layers=WHISPER["layers"])
    b = dict(be)
    b.update(hidden_size=BERT["hidden"], intermediate_size=BERT["inter"], num_hidden_layers=BERT["layers"],
             num_attention_heads=BERT["heads"])
    for folder, conf in [("siglip-base-patch16-224", s), ("whisper-large-v3", w), ("bert-base-uncased", b)]:
        os.makedirs(os.path.join(a.out, folder), exist_ok=True)
        json.dump(conf, open(os.path.join(a.out, folder, "config.json"), "w"), indent=2)
    shutil.copy(os.path.join(FIX, "r1omni-tiny-a", "generation_config.json"), a.out)
    tok = os.path.join(FIX, "qwen2-tokenizer")
    for f in ["tokenizer.json", "tokenizer_config.json", "vocab.json", "merges.txt", "added_tokens.json", "special_tokens_map.json"]:
        shutil.copy(os.path.join(tok, f), a.out)

    nbytes = write_safetensors(os.path.join(a.out, "model.safetensors"), tensors, a.seed)
    print(f"wrote {len(tensors)} tensors, {nbytes / 1e9:.2f} GB of bf16 to {a.out}")


if __name__ == "__main__":
    main()
