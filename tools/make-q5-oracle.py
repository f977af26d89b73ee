#!/usr/bin/env python3
"""Q5_0 quantizer oracle for Sentio's BlockQ5_0.quantizeRef (ggml's quantize_row_q5_0_ref rule).

Run:  tools/.venv/bin/python tools/make-q5-oracle.py
Needs: the `gguf`, `numpy` and `safetensors` packages (tools/setup-venv.sh).

Writes Tests/Data/format/q5-quantize-oracle.safetensors:
  x   f32 [4, 256]  random normal rows (scale 0.05), with an all-zero block, a block whose extreme is
                    positive, one whose extreme is negative, a lone outlier, and values on ties (x / d + 16.5
                    landing on integers)
  q5  u8  [4, 176]  gguf.quants.quantize(x, Q5_0): the bytes Sentio's reference quantizer must reproduce.
"""
import os
import numpy as np
import gguf
from gguf import GGMLQuantizationType as T
from safetensors.numpy import save_file

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
out = os.path.join(root, "Tests", "Data", "format", "q5-quantize-oracle.safetensors")
rng = np.random.default_rng(20261207)
x = (rng.standard_normal((4, 256)) * 0.05).astype(np.float32)
x[0, :32] = 0.0                                  # d = 0
x[1, 32:64] = np.abs(x[1, 32:64]); x[1, 40] = 0.3    # positive extreme: d = m / -16 < 0
x[2, 64:96] = -np.abs(x[2, 64:96]); x[2, 70] = -0.3  # negative extreme
x[3, 100] = 2.5                                  # outlier
x[3, 128:160] = np.arange(-16, 16, dtype=np.float32) * 0.125   # exact levels (d = 2 / -16 = -0.125)
q = gguf.quants.quantize(x, T.Q5_0)
assert q.shape == (4, 176), q.shape
save_file({"x": x, "q5": q}, out)
print("wrote", out)
