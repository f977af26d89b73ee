#!/usr/bin/env python3
"""Extract small GGUF dequantization oracles for SentioFormat's tests.

Run:  tools/.venv/bin/python tools/extract-gguf-oracle.py [path/to/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf]
      (default path: models/cache/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf)
Needs: the `gguf` and `numpy` packages (pip install gguf numpy).

Writes under Tests/Data/format/:
  oracle.gguf            a tiny GGUF (v3, general.alignment = 64) holding
                         - the first 2 rows of one real tensor of every type in the Qwen2.5-Coder file
                           (Q5_0, Q8_0, Q6_K, Q4_K, F32), named real.<TYPE>, raw bytes copied unchanged,
                           and real.Q4_1 from the SmolLM2-135M Q4_1 GGUF when models/cache has it;
                         - synthetic tensors syn.<TYPE> for F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0
                           (random normal data quantized by gguf.quants.quantize / numpy casts) and
                           Q5_K, Q6_K, Q4_K, IQ4_NL (random raw blocks with sane f16 scales);
                         - metadata of every GGUF value type, including a nested array.
  oracle-expected.safetensors   f32 expected values for each tensor, from gguf.quants.dequantize
                                (shape [rows, ne0]).
  oracle-metadata.json   the metadata written, for the Swift test to compare.
  real-tensor-sums.json  for every tensor of the real file: type, dims, the float64 sum and sum of
                         squares of its dequantized values, and the f32 bit patterns of its first 4
                         values (the SENTIO_SLOW test checks all 291).
"""
import json, os, sys
import numpy as np
import gguf
from gguf import GGMLQuantizationType as T
from safetensors.numpy import save_file

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
out = os.path.join(root, "Tests", "Data", "format")
os.makedirs(out, exist_ok=True)
src = sys.argv[1] if len(sys.argv) > 1 else None
if src is None:
    for c in (os.path.join(root, "models/cache/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"),):
        if os.path.exists(c):
            src = c
            break
if src is None:
    sys.exit("real GGUF not found: run tools/fetch-test-models.sh or pass its path")

reader = gguf.GGUFReader(src)
rng = np.random.default_rng(20240601)
tensors = {}    # name -> (raw np array, ggml type)
expected = {}

# 1. Real slices: first 2 rows of the first tensor of each type (2-D tensors only, for F32 a 1-D norm).
want = {T.Q5_0: "blk.0.ffn_gate.weight", T.Q8_0: "blk.0.attn_v.weight", T.Q6_K: "blk.0.ffn_down.weight",
        T.Q4_K: "blk.11.ffn_down.weight", T.F32: "blk.0.attn_norm.weight"}
byname = {t.name: t for t in reader.tensors}
for qt, name in want.items():
    t = byname[name]
    assert t.tensor_type == qt, (name, t.tensor_type)
    data = np.asarray(t.data)
    raw = data[:2].copy() if data.ndim == 2 else data.copy().reshape(1, -1)
    tensors[f"real.{qt.name}"] = (raw, qt)

# 1b. A real Q4_1 slice from SmolLM2-135M (tools/fetch-test-models.sh smollm2), when present.
smol = os.path.join(root, "models/cache/smollm2-135m-instruct-q4_1.gguf")
if os.path.exists(smol):
    st = {t.name: t for t in gguf.GGUFReader(smol).tensors}["blk.0.ffn_gate.weight"]
    assert st.tensor_type == T.Q4_1
    tensors["real.Q4_1"] = (np.asarray(st.data)[:2].copy(), T.Q4_1)
else:
    print("note: SmolLM2 GGUF absent, no real Q4_1 slice")

# 2. Synthetic tensors for the other types (3 rows x 512).
rows, ne0 = 3, 512
x = (rng.standard_normal((rows, ne0)) * 0.05).astype(np.float32)
x[0, :32] = 0.0                       # an all-zero block (d = 0 path)
x[1, 40] = 0.9                        # an outlier block
tensors["syn.F16"] = (x.astype(np.float16), T.F16)
tensors["syn.BF16"] = (gguf.quants.quantize(x, T.BF16), T.BF16)
for qt in (T.Q4_0, T.Q4_1, T.Q5_0, T.Q5_1, T.Q8_0):
    tensors[f"syn.{qt.name}"] = (gguf.quants.quantize(x, qt), qt)
# Q5_K: random raw blocks; d and dmin are small positive f16 values, the rest random bits.
nb = rows * ne0 // 256
blk = rng.integers(0, 256, size=(nb, 176), dtype=np.uint8)
blk[:, 0:2] = np.frombuffer(rng.uniform(1e-4, 1e-2, nb).astype(np.float16).tobytes(), np.uint8).reshape(nb, 2)
blk[:, 2:4] = np.frombuffer(rng.uniform(1e-4, 1e-2, nb).astype(np.float16).tobytes(), np.uint8).reshape(nb, 2)
tensors["syn.Q5_K"] = (blk.reshape(rows, -1), T.Q5_K)
# Q6_K and Q4_K synthetic too (random raw blocks), beside the real ones.
for qt, size, doff in ((T.Q6_K, 210, 208), (T.Q4_K, 144, 0)):
    b = rng.integers(0, 256, size=(nb, size), dtype=np.uint8)
    b[:, doff:doff + 2] = np.frombuffer(rng.uniform(1e-4, 1e-2, nb).astype(np.float16).tobytes(), np.uint8).reshape(nb, 2)
    if qt == T.Q4_K:
        b[:, 2:4] = np.frombuffer(rng.uniform(1e-4, 1e-2, nb).astype(np.float16).tobytes(), np.uint8).reshape(nb, 2)
    tensors[f"syn.{qt.name}"] = (b.reshape(rows, -1), qt)
# IQ4_NL (32 weights: f16 d, 16 bytes of codebook indices): random raw blocks with small positive d.
nb32 = rows * ne0 // 32
b = rng.integers(0, 256, size=(nb32, 18), dtype=np.uint8)
b[:, 0:2] = np.frombuffer(rng.uniform(1e-4, 1e-2, nb32).astype(np.float16).tobytes(), np.uint8).reshape(nb32, 2)
tensors["syn.IQ4_NL"] = (b.reshape(rows, -1), T.IQ4_NL)

w = gguf.GGUFWriter(os.path.join(out, "oracle.gguf"), "oracle")
w.add_custom_alignment(64)
meta = {
    "oracle.u8": (7, gguf.GGUFValueType.UINT8), "oracle.i8": (-7, gguf.GGUFValueType.INT8),
    "oracle.u16": (65535, gguf.GGUFValueType.UINT16), "oracle.i16": (-300, gguf.GGUFValueType.INT16),
    "oracle.u32": (4000000000, gguf.GGUFValueType.UINT32), "oracle.i32": (-2000000000, gguf.GGUFValueType.INT32),
    "oracle.u64": (2**63 + 5, gguf.GGUFValueType.UINT64), "oracle.i64": (-(2**40), gguf.GGUFValueType.INT64),
    "oracle.f32": (0.25, gguf.GGUFValueType.FLOAT32), "oracle.f64": (1e-300, gguf.GGUFValueType.FLOAT64),
    "oracle.bool": (True, gguf.GGUFValueType.BOOL), "oracle.str": ("héllo ✓", gguf.GGUFValueType.STRING),
}
for k, (v, vt) in meta.items():
    w.add_key_value(k, v, vt)
w.add_array("oracle.strings", ["a", "", "Ġthe", "日本"])
w.add_array("oracle.ints", [1, -2, 3])
w.add_array("oracle.floats", [0.5, -1.5])
w.add_key_value("oracle.nested", [[1, 2], [3]], gguf.GGUFValueType.ARRAY, sub_type=gguf.GGUFValueType.ARRAY)
for name, (raw, qt) in tensors.items():
    if qt in (T.F32, T.F16):
        w.add_tensor(name, raw)
    else:
        w.add_tensor(name, raw, raw_shape=raw.shape, raw_dtype=qt)
    expected[name] = np.ascontiguousarray(gguf.quants.dequantize(raw, qt).astype(np.float32))
w.write_header_to_file()
w.write_kv_data_to_file()
w.write_tensors_to_file()
w.close()
save_file(expected, os.path.join(out, "oracle-expected.safetensors"))
with open(os.path.join(out, "oracle-metadata.json"), "w") as f:
    json.dump({"scalars": {k: v for k, (v, _) in meta.items()}, "strings": ["a", "", "Ġthe", "日本"],
               "ints": [1, -2, 3], "floats": [0.5, -1.5], "nested": [[1, 2], [3]], "alignment": 64},
              f, ensure_ascii=False, indent=1)

# 3. Per-tensor sums of the whole real file (for the slow test).
sums = {}
for t in reader.tensors:
    v32 = np.ascontiguousarray(gguf.quants.dequantize(np.asarray(t.data), t.tensor_type), dtype=np.float32)
    v = v32.astype(np.float64)
    # first values as f32 bit patterns: JSON decimal parsers need not round-trip the last bit
    sums[t.name] = {"type": t.tensor_type.name, "dims": [int(d) for d in t.shape],
                    "sum": float(v.sum()), "sumsq": float((v * v).sum()),
                    "first_bits": [int(a) for a in v32.reshape(-1)[:4].view(np.uint32)]}
with open(os.path.join(out, "real-tensor-sums.json"), "w") as f:
    json.dump(sums, f, indent=0)
print("wrote", sorted(os.listdir(out)))
