#!/usr/bin/env python3
"""Re-measures the PyTorch side of the R1-Omni anchor table (docs/BENCHMARKS.md, section "R1-Omni end
to end"): per-stage latency at fp32 and bf16 on N threads, with the real-shape random R1-Omni weights.

Run (torch + transformers in /work/venv):
    /work/venv/bin/python tools/bench-pytorch-omni.py [--model /work/main/models/cache/random-r1omni]
        [--threads 2] [--reps 2] [--dtypes fp32,bf16] [--stages siglip,gate,whisper,prefill,decode]

The HumanOmni reference code is not installed here, so each stage is built from the stock transformers
modules with the same configuration and weights as R1-Omni (the ops and shapes are those of the
reference; only the Python glue around them differs):
  siglip   SiglipVisionModel (siglip-base-patch16-224 config) on 8 frames of 224x224, features of
           the second-to-last layer (what HumanOmni selects); post-layernorm and head are not run.
  gate     BertModel (bert-base-uncased) on a 24-token instruction, [CLS] -> bert_gate (768->3584, GELU,
           3584->3), and the audio projector (avg-pool 1500->500, Linear 1280->896, GELU, Linear 896->896).
           The vision projector "all_in_one_small" (its conv/pool branches) is NOT timed here: this
           stage therefore covers less work than Sentio's "projector branches + BERT + gate" row.
  whisper  WhisperEncoder (whisper-large-v3 config, 32 layers) on a 30 s log-mel (128 x 3000).
  prefill  Qwen2ForCausalLM (the LLM of config.json) on 974 prompt tokens into an empty cache.
  decode   16 tokens, one at a time, after the prefill (tokens/s).
The weights are the random bf16 tensors of model.safetensors (loaded per stage, freed after it); fp32
runs upcast them. Each stage is timed --reps times after one warm-up; the best is printed (the
machine is shared: the minimum is the figure least disturbed by other processes), with the process
CPU seconds of the same call (cpu_seconds: divided by --threads, the latency on otherwise idle cores). Peak RSS of the
process is printed at the end (it holds one stage's model at a time, so it is not the anchor's 9 GB).
"""
import argparse
import json
import os
import resource
import time

import torch
from safetensors import safe_open


def load_prefixed(path, prefix, dtype):
    out = {}
    with safe_open(path, "pt") as f:
        for k in f.keys():
            if k.startswith(prefix):
                out[k[len(prefix):]] = f.get_tensor(k).to(dtype)
    return out


CPU = {}


def best_time(fn, reps, key=None):
    """Best wall time of reps calls after a warm-up; also records the process CPU seconds of that call
    in CPU[key] (all threads: on a loaded machine, CPU / threads is the latency the stage would have
    with its cores to itself, assuming perfect scaling)."""
    fn()  # warm-up
    best, best_cpu = float("inf"), float("inf")
    for _ in range(reps):
        t, c = time.perf_counter(), time.process_time()
        fn()
        best = min(best, time.perf_counter() - t)
        best_cpu = min(best_cpu, time.process_time() - c)
    if key:
        CPU[key] = best_cpu
    return best


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="/work/main/models/cache/random-r1omni")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--reps", type=int, default=2)
    ap.add_argument("--dtypes", default="fp32,bf16")
    ap.add_argument("--stages", default="siglip,gate,whisper,prefill,decode")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    from transformers import (BertConfig, BertModel, Qwen2Config, Qwen2ForCausalLM, SiglipVisionConfig,
                              SiglipVisionModel, WhisperConfig)
    from transformers.models.whisper.modeling_whisper import WhisperEncoder

    st = os.path.join(args.model, "model.safetensors")
    cfg = json.load(open(os.path.join(args.model, "config.json")))
    stages = args.stages.split(",")
    results = {}
    for dname in args.dtypes.split(","):
        dtype = {"fp32": torch.float32, "bf16": torch.bfloat16}[dname]
        r = {}
        with torch.inference_mode():
            if "siglip" in stages:
                vc = SiglipVisionConfig.from_pretrained(os.path.join(args.model, "siglip-base-patch16-224"))
                m = SiglipVisionModel(vc).eval()
                sd = load_prefixed(st, "model.vision_tower.vision_tower.", dtype)
                if not any(k.startswith("vision_model.") for k in m.state_dict()):
                    sd = {k[len("vision_model."):]: v for k, v in sd.items()}
                missing, _ = m.load_state_dict(sd, strict=False)
                bad = [k for k in missing if "head" not in k]
                assert not bad, bad[:5]
                m = m.to(dtype)
                px = torch.randn(8, 3, 224, 224, dtype=dtype)
                r["siglip_8_frames_s"] = best_time(lambda: m(pixel_values=px, output_hidden_states=True).hidden_states[-2], args.reps, "siglip_8_frames_s")
                del m, sd
            if "gate" in stages:
                bc = BertConfig.from_pretrained(os.path.join(args.model, "bert-base-uncased"))
                bert = BertModel(bc, add_pooling_layer=False).eval()
                sd = load_prefixed(st, "model.bert_model.", dtype)
                missing, _ = bert.load_state_dict({k: v for k, v in sd.items() if not k.startswith("pooler")}, strict=False)
                assert not missing, missing[:5]
                bert = bert.to(dtype)
                g = load_prefixed(st, "model.bert_gate.", dtype)
                a = load_prefixed(st, "model.audio_projector.", dtype)
                ids = torch.randint(1000, 30000, (1, 24))
                feats = torch.randn(1, 1500, 1280, dtype=dtype)

                def gate():
                    cls = bert(input_ids=ids).last_hidden_state[:, 0]
                    h = torch.nn.functional.gelu(torch.nn.functional.linear(cls, g["0.weight"], g["0.bias"]))
                    torch.nn.functional.linear(h, g["2.weight"], g["2.bias"]).softmax(-1)
                    p = torch.nn.functional.avg_pool1d(feats.transpose(1, 2), 3, 3).transpose(1, 2)
                    h = torch.nn.functional.gelu(torch.nn.functional.linear(p, a["0.weight"], a["0.bias"]))
                    torch.nn.functional.linear(h, a["2.weight"], a["2.bias"])
                r["bert_gate_audioproj_s"] = best_time(gate, args.reps, "bert_gate_audioproj_s")
                del bert, sd, g, a
            if "whisper" in stages:
                wc = WhisperConfig.from_pretrained(os.path.join(args.model, "whisper-large-v3"))
                enc = WhisperEncoder(wc).eval()
                sd = load_prefixed(st, "model.audio_tower.audio_tower.encoder.", dtype)
                missing, _ = enc.load_state_dict(sd, strict=False)
                assert not missing, missing[:5]
                enc = enc.to(dtype)
                mel = torch.randn(1, wc.num_mel_bins, 3000, dtype=dtype)
                r["whisper_encoder_30s_s"] = best_time(lambda: enc(mel), args.reps, "whisper_encoder_30s_s")
                del enc, sd
            if "prefill" in stages or "decode" in stages:
                qc = Qwen2Config(**{k: v for k, v in cfg.items() if k in (
                    "hidden_size", "intermediate_size", "num_attention_heads", "num_hidden_layers", "num_key_value_heads",
                    "rms_norm_eps", "rope_theta", "vocab_size", "max_position_embeddings", "tie_word_embeddings")})
                lm = Qwen2ForCausalLM(qc).eval()
                sd = load_prefixed(st, "model.", dtype)
                sd = {("model." + k): v for k, v in sd.items() if k.startswith(("layers.", "embed_tokens.", "norm."))}
                missing, _ = lm.load_state_dict(sd, strict=False)
                bad = [k for k in missing if k != "lm_head.weight"]
                assert not bad, bad[:5]
                lm.tie_weights()
                lm = lm.to(dtype)
                ids = torch.randint(0, 150000, (1, 974))
                if "prefill" in stages:
                    r["llm_prefill_974_s"] = best_time(lambda: lm(input_ids=ids, use_cache=True), args.reps, "llm_prefill_974_s")
                if "decode" in stages:
                    def decode():
                        out = lm(input_ids=ids, use_cache=True)
                        past, tok = out.past_key_values, out.logits[:, -1:].argmax(-1)
                        t = time.perf_counter()
                        for _ in range(16):
                            out = lm(input_ids=tok, past_key_values=past, use_cache=True)
                            past, tok = out.past_key_values, out.logits[:, -1:].argmax(-1)
                        return time.perf_counter() - t
                    decode()
                    r["decode_tokens_per_s"] = max(16 / decode() for _ in range(args.reps))
                del lm, sd
        r["cpu_seconds"] = dict(CPU)
        CPU.clear()
        results[dname] = r
        print(dname, json.dumps(r), flush=True)
    print("peak RSS %.2f GB" % (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6))
    print(json.dumps({"torch": torch.__version__, "threads": args.threads, "results": results}))


if __name__ == "__main__":
    main()
