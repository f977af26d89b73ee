#!/usr/bin/env python3
"""Writes a small, label-balanced text-only GRPO/SFT dataset in R1-Omni's JSON layout: "is N even or odd?".

Each entry is {"video": "parity/<i>", "conversations": [{"from": "human", "value": question},
{"from": "gpt", "value": "<think>..</think><answer>even|odd</answer>"}]}. The "video" field is only an
id here: with a plain Qwen2 model `sentio train grpo|sft` runs text-only and reads the human turn as the
prompt; the gpt turn's <answer> is the label the accuracy reward compares with (and SFT's target).

Usage (standard library only):
    python3 tools/make-parity-dataset.py --count 64 --seed 7 --out docs/training/parity.json
"""
import argparse
import json
import random


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--count", type=int, default=64)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--low", type=int, default=10)
    ap.add_argument("--high", type=int, default=999)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    rng = random.Random(a.seed)
    rows = []
    for i in range(a.count):
        # Labels alternate (balanced: answering one word always scores accuracy 0.5, not more).
        n = rng.randint(a.low // 2, a.high // 2) * 2 + (i % 2)
        label = "even" if n % 2 == 0 else "odd"
        q = (f"Is {n} even or odd? Reply in exactly this form: "
             f"<think>one short reason</think><answer>even</answer> or "
             f"<think>one short reason</think><answer>odd</answer>")
        a_text = f"<think>{n} ends in {n % 10}, so it is {label}.</think><answer>{label}</answer>"
        rows.append({"video": f"parity/{i:04d}",
                     "conversations": [{"from": "human", "value": q}, {"from": "gpt", "value": a_text}]})
    with open(a.out, "w") as f:
        json.dump(rows, f, indent=1)
        f.write("\n")
    print(f"{a.out}: {len(rows)} samples, {sum(1 for r in rows if r['conversations'][1]['value'].endswith('<answer>even</answer>'))} even")


if __name__ == "__main__":
    main()
