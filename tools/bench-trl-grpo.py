#!/usr/bin/env python3
"""Re-measures issue 7's TRL anchor: step time and peak RSS of TRL's GRPOTrainer on CPU.

Settings (the issue's): PyTorch CPU with 2 threads; peft LoRA r=8 (alpha 16) on all decoder linears
(q/k/v/o/gate/up/down_proj); random weights in the Qwen2.5-0.5B shape (24 layers, hidden 896, 14 heads,
2 KV heads, MLP 4864, vocab 151936, tied embeddings); one ~1000-token prompt; G=8 completions of 128 new
tokens (temperature 1.0, top-k 50); beta 0.04; gradient checkpointing; R1-Omni's accuracy + format rewards.
Reports each step's wall time, the median of steps 2-4 (the first step pays warm-up) and the peak RSS.

Run (the full measurement takes ~30 min and ~15 GB):
    /work/venv/bin/python tools/bench-trl-grpo.py --steps 4 --json bench-trl.json
A quick check that the pipeline runs (2 layers, 64-token prompt, 8 new tokens; ~1 min):
    /work/venv/bin/python tools/bench-trl-grpo.py --layers 2 --prompt-tokens 64 --new-tokens 8 --steps 2
Needs torch, transformers, peft, trl and datasets in /work/venv, and a Qwen2 tokenizer.json
(default: /work/main/models/cache/random-r1omni/tokenizer.json).
"""
import argparse, json, os, re, resource, statistics, sys, time

p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
p.add_argument("--steps", type=int, default=4)
p.add_argument("--threads", type=int, default=2)
p.add_argument("--layers", type=int, default=24, help="decoder layers (24 = Qwen2.5-0.5B; fewer for a quick check)")
p.add_argument("--prompt-tokens", type=int, default=1000)
p.add_argument("--new-tokens", type=int, default=128)
p.add_argument("--generations", type=int, default=8)
p.add_argument("--lora-r", type=int, default=8)
p.add_argument("--beta", type=float, default=0.04)
p.add_argument("--loss-type", default=None, help="TRL loss_type (default: TRL's default)")
p.add_argument("--tokenizer", default="/work/main/models/cache/random-r1omni/tokenizer.json")
p.add_argument("--seed", type=int, default=0)
p.add_argument("--json", help="write the result here as JSON")
p.add_argument("--out", default="/tmp/bench-trl-grpo-out")
args = p.parse_args()

import torch
torch.set_num_threads(args.threads)
os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
import transformers, peft, trl, datasets
from transformers import Qwen2Config, Qwen2ForCausalLM, PreTrainedTokenizerFast, TrainerCallback
from peft import LoraConfig
from trl import GRPOConfig, GRPOTrainer

torch.manual_seed(args.seed)
tok = PreTrainedTokenizerFast(tokenizer_file=args.tokenizer, eos_token="<|im_end|>", pad_token="<|endoftext|>")
tok.padding_side = "left"

config = Qwen2Config(vocab_size=151936, hidden_size=896, intermediate_size=4864, num_hidden_layers=args.layers,
                     num_attention_heads=14, num_key_value_heads=2, max_position_embeddings=32768, rope_theta=1e6,
                     rms_norm_eps=1e-6, tie_word_embeddings=True, torch_dtype="float32",
                     eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)
model = Qwen2ForCausalLM(config)  # random initialization (initializer_range 0.02)
model.generation_config.eos_token_id = tok.eos_token_id
model.generation_config.pad_token_id = tok.pad_token_id

# One prompt of about --prompt-tokens tokens (R1-Omni's question repeated), in the chat template's shape.
question = ("As an emotional recognition expert; throughout the video, which emotion conveyed by the characters "
            "is the most obvious to you? ")
body = ""
while len(tok(body + question)["input_ids"]) < args.prompt_tokens - 40:
    body += question
prompt = ("<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n" + body +
          "\nOutput the thinking process in <think> </think> and final emotion in <answer> </answer> tags.<|im_end|>\n"
          "<|im_start|>assistant\n")
n_prompt = len(tok(prompt)["input_ids"])
data = datasets.Dataset.from_list([{"prompt": prompt, "solution": "sad"}] * (args.steps + 2))

def accuracy_reward(completions, solution, **kw):
    out = []
    for c, s in zip(completions, solution):
        m = re.search(r"<answer>(.*?)</answer>", c)
        out.append(1.0 if (m.group(1).strip() if m else c.strip()) == s.strip() else 0.0)
    return out

def format_reward(completions, **kw):
    return [1.0 if re.fullmatch(r"<think>.*?</think>\s*<answer>.*?</answer>", c, re.DOTALL) else 0.0 for c in completions]

class Timer(TrainerCallback):
    def __init__(self):
        self.times, self.t0 = [], None
    def on_step_begin(self, a, s, c, **kw):
        self.t0 = time.perf_counter()
    def on_step_end(self, a, s, c, **kw):
        self.times.append(time.perf_counter() - self.t0)
        print(f"step {len(self.times)}: {self.times[-1]:.1f} s, peak RSS {peak_gib():.2f} GiB", file=sys.stderr, flush=True)

def peak_gib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 / 1024  # ru_maxrss is KiB on Linux

extra = {"loss_type": args.loss_type} if args.loss_type else {}
cfg = GRPOConfig(output_dir=args.out, use_cpu=True, max_steps=args.steps, per_device_train_batch_size=args.generations,
                 gradient_accumulation_steps=1, num_generations=args.generations, max_completion_length=args.new_tokens,
                 temperature=1.0, top_k=50, top_p=1.0, beta=args.beta, learning_rate=1e-5, gradient_checkpointing=True,
                 logging_steps=1, save_strategy="no", report_to="none", seed=args.seed, bf16=False,
                 dataloader_num_workers=0, **extra)
timer = Timer()
trainer = GRPOTrainer(model=model, reward_funcs=[accuracy_reward, format_reward], args=cfg, train_dataset=data,
                      processing_class=tok, callbacks=[timer],
                      peft_config=LoraConfig(r=args.lora_r, lora_alpha=2 * args.lora_r, lora_dropout=0.0,
                                             target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
                                             task_type="CAUSAL_LM"))
t0 = time.perf_counter()
trainer.train()
total = time.perf_counter() - t0
steady = timer.times[1:4]
result = {
    "prompt_tokens": n_prompt, "new_tokens": args.new_tokens, "generations": args.generations, "layers": args.layers,
    "threads": args.threads, "beta": args.beta, "lora_r": args.lora_r, "loss_type": cfg.loss_type,
    "step_times_s": [round(t, 3) for t in timer.times], "first_step_s": round(timer.times[0], 3) if timer.times else None,
    "median_steps_2_4_s": round(statistics.median(steady), 3) if steady else None,
    "peak_rss_gib": round(peak_gib(), 3), "total_s": round(total, 1),
    "versions": {"torch": torch.__version__, "transformers": transformers.__version__, "peft": peft.__version__, "trl": trl.__version__},
}
print(json.dumps(result))
if args.json:
    with open(args.json, "w") as f:
        json.dump(result, f, indent=1)
