#!/usr/bin/env python3
"""Writes a Qwen2.5-0.5B-shaped GGUF with random weights, for benchmarking Sentio and llama.cpp on the
same file (the anchor in docs/BENCHMARKS.md).

Shape: 24 layers, hidden 896, 14/2 heads, intermediate 4864, vocab 151936, rope 1e6, q/k/v bias,
tied embeddings (as Qwen2.5-0.5B). The tokenizer metadata is copied from the real Qwen2.5-Coder GGUF
(tools/fetch-test-models.sh) so llama.cpp accepts the file.

Weights ~ N(0, 0.02) (norm scales 1, biases 0.01 N(0,1)). Matrices are stored as --type (F16, Q8_0, Q4_0, Q5_0);
norms and biases as F32, like llama.cpp's own converter; token_embd follows --type.

usage: tools/.venv/bin/python tools/make-random-qwen2-gguf.py --type Q8_0 -o models/cache/random-qwen2-0.5b-q8_0.gguf
"""
import argparse
import numpy as np
import gguf
from gguf import quants
from ggufcopy import copy_field

p = argparse.ArgumentParser()
p.add_argument("--type", default="Q8_0", choices=["F16", "Q8_0", "Q4_0", "Q5_0", "F32"])
p.add_argument("--tokenizer-from", default="models/cache/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf")
p.add_argument("--layers", type=int, default=24)
p.add_argument("--seed", type=int, default=0)
p.add_argument("-o", "--out", required=True)
a = p.parse_args()

H, F, NH, NKV, V = 896, 4864, 14, 2, 151936
HD = H // NH
rng = np.random.default_rng(a.seed)
qtype = getattr(gguf.GGMLQuantizationType, a.type)

src = gguf.GGUFReader(a.tokenizer_from)
w = gguf.GGUFWriter(a.out, "qwen2")
w.add_name("random-qwen2-0.5b-shape")
w.add_context_length(32768)
w.add_embedding_length(H)
w.add_feed_forward_length(F)
w.add_block_count(a.layers)
w.add_head_count(NH)
w.add_head_count_kv(NKV)
w.add_rope_freq_base(1e6)
w.add_layer_norm_rms_eps(1e-6)
w.add_file_type({"F32": 0, "F16": 1, "Q4_0": 2, "Q8_0": 7, "Q5_0": 8}[a.type])

# Copy the tokenizer keys verbatim.
for field in src.fields.values():
    if field.name.startswith("tokenizer."):
        copy_field(field, w)


def mat(name, rows, cols):
    x = (rng.standard_normal((rows, cols), dtype=np.float32) * 0.02).astype(np.float32)
    if qtype == gguf.GGMLQuantizationType.F32:
        w.add_tensor(name, x)
    elif qtype == gguf.GGMLQuantizationType.F16:
        w.add_tensor(name, x.astype(np.float16))
    else:
        w.add_tensor(name, quants.quantize(x, qtype), raw_dtype=qtype)


def vec(name, n, scale=0.0, base=0.0):
    w.add_tensor(name, (base + scale * rng.standard_normal(n)).astype(np.float32))


mat("token_embd.weight", V, H)
for i in range(a.layers):
    vec(f"blk.{i}.attn_norm.weight", H, 0.0, 1.0)
    mat(f"blk.{i}.attn_q.weight", H, H)
    mat(f"blk.{i}.attn_k.weight", NKV * HD, H)
    mat(f"blk.{i}.attn_v.weight", NKV * HD, H)
    vec(f"blk.{i}.attn_q.bias", H, 0.01)
    vec(f"blk.{i}.attn_k.bias", NKV * HD, 0.01)
    vec(f"blk.{i}.attn_v.bias", NKV * HD, 0.01)
    mat(f"blk.{i}.attn_output.weight", H, H)
    vec(f"blk.{i}.ffn_norm.weight", H, 0.0, 1.0)
    mat(f"blk.{i}.ffn_gate.weight", F, H)
    mat(f"blk.{i}.ffn_up.weight", F, H)
    mat(f"blk.{i}.ffn_down.weight", H, F)
vec("output_norm.weight", H, 0.0, 1.0)

w.write_header_to_file()
w.write_kv_data_to_file()
w.write_tensors_to_file()
w.close()
print("wrote", a.out)
