#!/usr/bin/env python3
"""Rewrites a GGUF with every tensor dequantized to F32 (same names, metadata and tokenizer), using the
`gguf` package's dequantizers. The result is the "f32 (dequantized)" reference model: llama.cpp runs it
with plain f32 dot products, and `sentio convert --quant f32` of the original GGUF holds the same values.

usage: tools/.venv/bin/python tools/gguf-to-f32.py IN.gguf OUT.gguf
"""
import sys
import numpy as np
import gguf
from gguf import quants
from ggufcopy import copy_field

src, dst = sys.argv[1], sys.argv[2]
r = gguf.GGUFReader(src)
arch = bytes(r.fields["general.architecture"].parts[-1]).decode()
w = gguf.GGUFWriter(dst, arch)
for field in r.fields.values():
    if field.name.startswith("GGUF.") or field.name in ("general.architecture", "general.file_type"):
        continue
    copy_field(field, w)
w.add_file_type(0)
for t in r.tensors:
    x = quants.dequantize(t.data, t.tensor_type).astype(np.float32)
    shape = [int(d) for d in reversed(t.shape)]   # GGUF dims are ne0-first
    w.add_tensor(t.name, x.reshape(shape))
w.write_header_to_file()
w.write_kv_data_to_file()
w.write_tensors_to_file()
w.close()
print("wrote", dst)
