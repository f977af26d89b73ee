#!/usr/bin/env bash
# Creates tools/.venv with the Python packages the tools/ scripts use (oracles and benchmarks; the Swift
# build and the default test suite need none of them). llama-cpp-python builds llama.cpp from source
# (several minutes on 2 cores); AMX is switched off because this workplace's VMs advertise AMX but fault
# on it, and GGML_NATIVE is off for the same reason, with the AVX-512 family named explicitly.
# WITH_TORCH=1 also installs torch, transformers and peft for the PyTorch oracles (imatrix-oracle.py,
# bench-pytorch-omni.py, peft-interop.py, ...): large downloads, so off by default.
set -euo pipefail
cd "$(dirname "$0")"
python3 -m venv .venv
.venv/bin/pip install -q gguf numpy safetensors tokenizers ctranslate2 xxhash
CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_AVX512=ON \
  -DGGML_AVX512_VBMI=ON -DGGML_AVX512_VNNI=ON -DGGML_AVX512_BF16=ON -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF" \
  .venv/bin/pip install -q --no-cache-dir llama-cpp-python==0.3.36
if [[ "${WITH_TORCH:-0}" == 1 ]]; then .venv/bin/pip install -q torch transformers peft; fi
echo "tools/.venv ready"
