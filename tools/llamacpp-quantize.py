#!/usr/bin/env python3
"""Quantizes a GGUF with llama.cpp's own quantizer (llama_model_quantize, via llama-cpp-python), so its
4-bit formats can be compared with Sentio's on the same f32 weights (the result is run by
`sentio perplexity --gguf-quant f32`, which dequantizes every GGUF block type, or by llama.cpp itself).

usage: tools/.venv/bin/python tools/llamacpp-quantize.py IN.gguf OUT.gguf TYPE [--pure]
  TYPE: a llama_ftype name without the prefix, e.g. MOSTLY_Q4_0, MOSTLY_Q4_1, MOSTLY_IQ4_NL, MOSTLY_Q4_K_M
  --pure: every tensor in TYPE's base type (no llama.cpp mixture rules for output/attn_v/ffn_down)
"""
import sys
import llama_cpp


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    src, dst, ftype = args
    p = llama_cpp.llama_model_quantize_default_params()
    p.ftype = getattr(llama_cpp, "LLAMA_FTYPE_" + ftype)
    p.nthread = 2
    p.pure = "--pure" in sys.argv
    rc = llama_cpp.llama_model_quantize(src.encode(), dst.encode(), p)
    if rc != 0:
        raise SystemExit(f"llama_model_quantize failed ({rc})")
    print(f"wrote {dst} ({ftype}{', pure' if p.pure else ''})")


if __name__ == "__main__":
    main()
