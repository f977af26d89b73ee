#!/usr/bin/env python3
"""Outside reference for Sentio's Qwen2 on real weights: llama.cpp (llama-cpp-python) runs a GGUF and this
script records, per prompt, the prompt token ids, the logits of every prompt position and the greedy
continuation, into one safetensors file that Tests/SentioModelsTests/RealQwen2Tests.swift reads.

Use the F32 GGUF from tools/gguf-to-f32.py: llama.cpp then computes with plain f32 dot products, the same
arithmetic as Sentio's f32 path up to summation order.

usage: tools/.venv/bin/python tools/llamacpp-oracle.py models/cache/qwen2.5-coder-0.5b-f32.gguf \
           -o models/cache/oracle/qwen2.5-coder-f32-llamacpp.safetensors -n 64 -t 2
"""
import argparse, json
import numpy as np
import llama_cpp
from safetensors.numpy import save_file

PROMPTS = [
    "def fibonacci(n):\n    \"\"\"Return the n-th Fibonacci number.\"\"\"\n",
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nWhat is the capital of France?<|im_end|>\n<|im_start|>assistant\n",
    "The quick brown fox jumps over the lazy dog. In other news,",
    "// A C function that reverses a string in place\nvoid reverse(char *s) {\n",
    "<|im_start|>user\nWrite a haiku about the sea.<|im_end|>\n<|im_start|>assistant\n",
]

ap = argparse.ArgumentParser()
ap.add_argument("model")
ap.add_argument("-o", "--out", required=True)
ap.add_argument("-n", type=int, default=64)
ap.add_argument("-t", type=int, default=2)
a = ap.parse_args()

llm = llama_cpp.Llama(model_path=a.model, n_ctx=512, n_batch=512, n_ubatch=512, n_threads=a.t, n_threads_batch=a.t,
                      logits_all=True, verbose=False)
out = {}
for i, p in enumerate(PROMPTS):
    ids = llm.tokenize(p.encode(), add_bos=False, special=True)
    llm.reset()
    llm.eval(ids)
    prompt_logits = np.array(llm.scores[: len(ids)], dtype=np.float32)
    gen = []
    for _ in range(a.n):
        nxt = int(np.argmax(llm.scores[llm.n_tokens - 1]))
        gen.append(nxt)
        llm.eval([nxt])
    out[f"p{i}.prompt_ids"] = np.array(ids, dtype=np.int64)
    out[f"p{i}.prompt_logits"] = prompt_logits
    out[f"p{i}.greedy_ids"] = np.array(gen, dtype=np.int64)
    print(i, len(ids), repr(llm.detokenize(gen).decode(errors="replace")[:80]))
save_file(out, a.out, metadata={"prompts": json.dumps(PROMPTS), "model": a.model, "llama_cpp": llama_cpp.__version__})
print("wrote", a.out)
