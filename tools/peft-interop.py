#!/usr/bin/env python3
"""PEFT interoperability oracle for Sentio's LoRA adapters (issue 7).

Two directions, both on a tiny random Qwen2 (hidden 32, 2 layers, 4 heads / 2 KV heads, vocab 128):

  make OUT      Writes OUT/tiny-qwen2/ (config.json + model.safetensors, f32), a LoRA adapter made and
                saved by peft (OUT/peft-adapter/: r=4, alpha=8, rsLoRA on, all seven projections, B non-zero)
                and OUT/peft-logits.safetensors: the ids and the logits of the adapted model (peft forward).
                Sentio's test loads the adapter with PEFTFormat.load and must give the same logits.

  check DIR     DIR holds an adapter written by Sentio (adapter_config.json + adapter_model.safetensors) and
                sentio-logits.safetensors (ids, logits: Sentio's forward with the adapter). Loads the adapter
                with peft onto the tiny model of `make` (from --model, default Tests/Data/lora/tiny-qwen2) and
                compares the logits; exits 1 when max|diff| / max|ref| > 1e-4.

Run (venv with torch, transformers, peft):
  /work/venv/bin/python tools/peft-interop.py make Tests/Data/lora
  /work/venv/bin/python tools/peft-interop.py check /tmp/sentio-adapter --model Tests/Data/lora/tiny-qwen2
The Swift side: Tests/SentioTrainerTests/PEFTInteropTests.swift (runs `check` itself when SENTIO_PEFT_PYTHON
names this Python).
"""
import argparse
import os
import sys

import torch
from safetensors.torch import save_file, load_file
from transformers import Qwen2Config, Qwen2ForCausalLM
from peft import LoraConfig, PeftModel, get_peft_model

IDS = [3, 17, 92, 5, 64, 127, 0, 45, 45, 8, 110, 33]


def tiny_model(seed=4321):
    cfg = Qwen2Config(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                      num_key_value_heads=2, vocab_size=128, max_position_embeddings=128, rope_theta=10000.0,
                      rms_norm_eps=1e-6, tie_word_embeddings=True, bos_token_id=1, eos_token_id=2)
    torch.manual_seed(seed)
    m = Qwen2ForCausalLM(cfg).float().eval()
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in m.named_parameters():
            if "norm" in name:
                p.copy_(1 + 0.1 * torch.randn(p.shape, generator=g))
            else:
                p.copy_(0.2 * torch.randn(p.shape, generator=g))
    return m


def logits_of(model):
    with torch.no_grad():
        return model(input_ids=torch.tensor([IDS])).logits[0].float()


def make(out):
    os.makedirs(out, exist_ok=True)
    base = tiny_model()
    mdir = os.path.join(out, "tiny-qwen2")
    base.save_pretrained(mdir, safe_serialization=True)
    cfg = LoraConfig(r=4, lora_alpha=8, lora_dropout=0.0, use_rslora=True, bias="none", task_type="CAUSAL_LM",
                     target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"])
    pm = get_peft_model(base, cfg)
    g = torch.Generator().manual_seed(99)
    with torch.no_grad():
        for name, p in pm.named_parameters():
            if "lora_B" in name:
                p.copy_(0.1 * torch.randn(p.shape, generator=g))
    pm.eval()
    pm.save_pretrained(os.path.join(out, "peft-adapter"))
    lg = logits_of(pm)
    save_file({"ids": torch.tensor(IDS, dtype=torch.int64), "logits": lg.contiguous()},
              os.path.join(out, "peft-logits.safetensors"))
    with pm.disable_adapter():
        base_lg = logits_of(pm)
    print(f"wrote {out}: adapter changes logits by {float((lg - base_lg).abs().max()):.4f}")


def check(d, model_dir):
    base = Qwen2ForCausalLM.from_pretrained(model_dir, torch_dtype=torch.float32).eval()
    pm = PeftModel.from_pretrained(base, d).eval()
    ref = load_file(os.path.join(d, "sentio-logits.safetensors"))
    global IDS
    IDS = [int(x) for x in ref["ids"].tolist()]
    lg = logits_of(pm)
    diff = float((lg - ref["logits"]).abs().max())
    scale = float(ref["logits"].abs().max())
    with pm.disable_adapter():
        base_diff = float((logits_of(pm) - ref["logits"]).abs().max())
    print(f"peft vs Sentio logits: max|diff| {diff:.3e}, max|ref| {scale:.3e}, rel {diff / scale:.3e}; "
          f"(adapter off differs by {base_diff:.3e})")
    return 0 if diff / scale <= 1e-4 and base_diff > 10 * diff else 1


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("mode", choices=["make", "check"])
    ap.add_argument("dir")
    ap.add_argument("--model", default=os.path.join(os.path.dirname(__file__), "..", "Tests/Data/lora/tiny-qwen2"))
    a = ap.parse_args()
    if a.mode == "make":
        make(a.dir)
        return 0
    return check(a.dir, a.model)


if __name__ == "__main__":
    sys.exit(main())
