#!/usr/bin/env python3
"""Convert the ENCODER of a CTranslate2 Whisper model (model.bin, binary format v6) to a Hugging Face
style safetensors file + config.json, so Sentio's Whisper encoder can load real weights.

Usage:
    tools/.venv/bin/python tools/whisper-ct2-to-safetensors.py models/cache/whisper-base-ct2 \
        models/cache/whisper-base-hf [--prefix model.encoder.] [--list]

Input : DIR/model.bin (+ DIR/config.json for nothing but a sanity print). Fetch and assemble it with
        tools/fetch-test-models.sh whisper (Whisper base, CTranslate2, fp16; see ../shared/MODELS.md).
Output: OUT/model.safetensors (float32, names `<prefix>conv1.weight`, ..., `<prefix>layers.N.self_attn.q_proj.weight`,
        k_proj without bias, ...), OUT/config.json (HF WhisperConfig keys for the encoder).

The binary layout (written by ctranslate2/specs/model_spec.py `_serialize`, read by models/model.cc), all
little-endian:
    u32 binary_version (this script accepts 5 and 6)
    string spec_name            (string = u16 length incl. the trailing NUL, then the bytes, then NUL)
    u32 spec_revision
    u32 n_variables, then per variable:
        string name; u8 rank; u32 dims[rank]; u8 dtype (0 f32, 1 i8, 2 i16, 3 i32, 4 f16, 5 bf16);
        u32 n_bytes; n_bytes of data (row-major)
    u32 n_aliases, then per alias: string alias; string target_variable_name
Whisper's encoder spec names (CTranslate2 WhisperEncoderSpec): encoder/conv1/{weight,bias},
encoder/conv2/..., encoder/position_encodings/encodings, encoder/layer_norm/{gamma,beta},
encoder/layer_N/self_attention/{layer_norm/{gamma,beta}, linear_0 (fused q|k|v rows, [3d, d], bias [3d] with
zeros for k), linear_1 (out_proj)}, encoder/layer_N/ffn/{layer_norm, linear_0 (fc1), linear_1 (fc2)}.
Scalars such as encoder/num_heads are stored as rank-0 variables.
"""
import json
import os
import struct
import sys

import numpy as np
from safetensors.numpy import save_file

DTYPES = {0: np.float32, 1: np.int8, 2: np.int16, 3: np.int32, 4: np.float16}  # 5 = bfloat16, handled below


class Reader:
    def __init__(self, data: bytes, path: str):
        self.data, self.pos, self.path = data, 0, path

    def take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise ValueError(f"{self.path}: truncated at byte {self.pos} (wanted {n} more of {len(self.data)})")
        b = self.data[self.pos:self.pos + n]
        self.pos += n
        return b

    def u8(self): return struct.unpack("<B", self.take(1))[0]
    def u16(self): return struct.unpack("<H", self.take(2))[0]
    def u32(self): return struct.unpack("<I", self.take(4))[0]

    def string(self) -> str:
        n = self.u16()
        raw = self.take(n)
        if n == 0 or raw[-1] != 0:
            raise ValueError(f"{self.path}: bad string at byte {self.pos - n}")
        return raw[:-1].decode("utf-8")


def read_ct2(path: str):
    with open(path, "rb") as f:
        data = f.read()
    r = Reader(data, path)
    version = r.u32()
    if version not in (5, 6):
        raise ValueError(f"{path}: binary version {version} is not supported (expected 5 or 6)")
    spec = r.string()
    revision = r.u32()
    n = r.u32()
    variables = {}
    for _ in range(n):
        name = r.string()
        rank = r.u8()
        shape = [r.u32() for _ in range(rank)]
        dtype_id = r.u8()
        nbytes = r.u32()
        raw = r.take(nbytes)
        count = int(np.prod(shape)) if shape else 1
        if dtype_id == 5:
            u16 = np.frombuffer(raw, dtype=np.uint16)
            arr = (u16.astype(np.uint32) << 16).view(np.float32)
        elif dtype_id in DTYPES:
            arr = np.frombuffer(raw, dtype=DTYPES[dtype_id])
        else:
            raise ValueError(f"{path}: variable {name}: unknown dtype id {dtype_id}")
        if arr.size != count:
            raise ValueError(f"{path}: variable {name}: {nbytes} bytes do not hold shape {shape}")
        variables[name] = arr.reshape(shape) if shape else arr.reshape(())
    aliases = {}
    for _ in range(r.u32()):
        alias = r.string()
        aliases[alias] = r.string()
    if r.pos != len(data):
        raise ValueError(f"{path}: {len(data) - r.pos} trailing bytes")
    return version, spec, revision, variables, aliases


def main() -> None:
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    prefix = "model.encoder."
    if "--prefix" in sys.argv:
        prefix = sys.argv[sys.argv.index("--prefix") + 1]
        args.remove(prefix)
    if len(args) != 2:
        sys.exit(__doc__)
    src, out = args
    version, spec, revision, var, aliases = read_ct2(os.path.join(src, "model.bin"))
    print(f"CTranslate2 binary v{version}, spec {spec} rev {revision}, {len(var)} variables, {len(aliases)} aliases")

    def get(name):
        name = aliases.get(name, name)
        if name not in var:
            raise KeyError(f"variable {name} missing")
        return np.asarray(var[name], dtype=np.float32)

    if "--list" in sys.argv:
        for k, v in var.items():
            if k.startswith("encoder"):
                print(k, v.shape, v.dtype)
    layers = 0
    while f"encoder/layer_{layers}/ffn/linear_0/weight" in var or f"encoder/layer_{layers}/ffn/linear_0/weight" in aliases:
        layers += 1
    conv1 = get("encoder/conv1/weight")           # [d, mels, 3]
    d, mels = conv1.shape[0], conv1.shape[1]
    heads = int(var["encoder/num_heads"]) if "encoder/num_heads" in var else None
    pos = get("encoder/position_encodings/encodings")
    ffn = get("encoder/layer_0/ffn/linear_0/weight").shape[0]
    t = {
        prefix + "conv1.weight": conv1, prefix + "conv1.bias": get("encoder/conv1/bias"),
        prefix + "conv2.weight": get("encoder/conv2/weight"), prefix + "conv2.bias": get("encoder/conv2/bias"),
        prefix + "embed_positions.weight": pos,
        prefix + "layer_norm.weight": get("encoder/layer_norm/gamma"),
        prefix + "layer_norm.bias": get("encoder/layer_norm/beta"),
    }
    for i in range(layers):
        s, h = f"encoder/layer_{i}/", f"{prefix}layers.{i}."
        w = get(s + "self_attention/linear_0/weight")   # [3d, d]: q | k | v
        b = get(s + "self_attention/linear_0/bias")
        if w.shape != (3 * d, d):
            raise ValueError(f"layer {i}: fused qkv has shape {w.shape}, expected {(3 * d, d)}")
        if np.any(b[d:2 * d] != 0):
            raise ValueError(f"layer {i}: the k part of the fused bias is not zero (Whisper's k_proj has no bias)")
        t[h + "self_attn.q_proj.weight"], t[h + "self_attn.q_proj.bias"] = w[:d], b[:d]
        t[h + "self_attn.k_proj.weight"] = w[d:2 * d]
        t[h + "self_attn.v_proj.weight"], t[h + "self_attn.v_proj.bias"] = w[2 * d:], b[2 * d:]
        t[h + "self_attn.out_proj.weight"] = get(s + "self_attention/linear_1/weight")
        t[h + "self_attn.out_proj.bias"] = get(s + "self_attention/linear_1/bias")
        t[h + "self_attn_layer_norm.weight"] = get(s + "self_attention/layer_norm/gamma")
        t[h + "self_attn_layer_norm.bias"] = get(s + "self_attention/layer_norm/beta")
        t[h + "fc1.weight"], t[h + "fc1.bias"] = get(s + "ffn/linear_0/weight"), get(s + "ffn/linear_0/bias")
        t[h + "fc2.weight"], t[h + "fc2.bias"] = get(s + "ffn/linear_1/weight"), get(s + "ffn/linear_1/bias")
        t[h + "final_layer_norm.weight"] = get(s + "ffn/layer_norm/gamma")
        t[h + "final_layer_norm.bias"] = get(s + "ffn/layer_norm/beta")
    if heads is None:
        heads = d // 64   # Whisper uses head_dim 64 in every size
    cfg = {"model_type": "whisper", "d_model": int(d), "encoder_layers": layers, "encoder_attention_heads": heads,
           "encoder_ffn_dim": int(ffn), "num_mel_bins": int(mels), "max_source_positions": int(pos.shape[0]),
           "activation_function": "gelu", "sentio_source": f"CTranslate2 {spec} (binary v{version}) encoder"}
    os.makedirs(out, exist_ok=True)
    save_file({k: np.ascontiguousarray(v) for k, v in t.items()}, os.path.join(out, "model.safetensors"),
              metadata={"source": os.path.abspath(os.path.join(src, "model.bin"))})
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
    print(json.dumps(cfg))
    print(f"wrote {len(t)} tensors to {out}/model.safetensors")


if __name__ == "__main__":
    main()
