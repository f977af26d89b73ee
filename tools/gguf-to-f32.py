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
from ggufcopy import f32_writer_like, finish

src, dst = sys.argv[1], sys.argv[2]
r = gguf.GGUFReader(src)
w = f32_writer_like(r, dst)
for t in r.tensors:
    x = quants.dequantize(t.data, t.tensor_type).astype(np.float32)
    shape = [int(d) for d in reversed(t.shape)]   # GGUF dims are ne0-first
    w.add_tensor(t.name, x.reshape(shape))
finish(w, dst)
