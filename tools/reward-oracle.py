#!/usr/bin/env python3
"""Oracle for Sentio's R1-Omni rewards (Sources/SentioTrainer/Infra/Rewards.swift).

Computes the accuracy and format rewards with Python's `re` exactly as R1-Omni's grpo.py writes them
(string-comparison branch of accuracy_reward; format_reward's fullmatch with DOTALL) for hand-written
tricky completions plus seeded random ones built from tags, whitespace (incl. "\\r\\n", U+001C, U+00A0,
U+2028) and words, and writes Tests/Data/Infra/reward-cases.json.

Run: /work/venv/bin/python tools/reward-oracle.py   (standard library only)
"""
import json, random, re, os

def accuracy(content, sol):
    sol_match = re.search(r'<answer>(.*?)</answer>', sol)
    ground_truth = sol_match.group(1).strip() if sol_match else sol.strip()
    content_match = re.search(r'<answer>(.*?)</answer>', content)
    student_answer = content_match.group(1).strip() if content_match else content.strip()
    return 1.0 if student_answer == ground_truth else 0.0

def fmt(content):
    pattern = r"<think>.*?</think>\s*<answer>.*?</answer>"
    return 1.0 if re.fullmatch(pattern, content, re.DOTALL) else 0.0

hand = [
    ("<think>she frowns</think><answer>sad</answer>", "sad"),
    ("<think>she frowns</think>\n<answer> sad </answer>", "sad"),
    ("<think>a\nb</think> \t\n <answer>sad</answer>", "sad"),
    ("<think>x</think><answer>Sad</answer>", "sad"),
    ("<think>x</think><answer>\nsad</answer>", "sad"),
    ("<think>x</think><answer>sad\n</answer>", "sad"),
    ("<answer>a\nb</answer><answer>sad</answer>", "sad"),
    ("<answer>sad</answer><answer>happy</answer>", "happy"),
    ("  sad  ", "sad"),
    ("sad", " sad\n"),
    ("<think>x</think><answer>sad</answer>", "<answer> sad </answer>"),
    ("<think>x</think><answer>sad</answer> ", "sad"),
    (" <think>x</think><answer>sad</answer>", "sad"),
    ("<think></think><answer></answer>", ""),
    ("<think>x</think>text<answer>sad</answer>", "sad"),
    ("<think>x</think></think>\n<answer>sad</answer>", "sad"),
    ("<think>x</think>y</think> <answer>sad</answer>", "sad"),
    ("<think><answer>x</answer></think><answer>sad</answer>", "sad"),
    ("<think>x</think><answer>sad</answer></answer>", "sad"),
    ("<think>x</think><answer></answer", "sad"),
    ("<think>x</answer>", "sad"),
    ("<think></answer>", ""),
    ("<think>x</think>\r\n<answer>sad</answer>", "sad"),
    ("<think>x</think>\u00a0\u2028<answer>sad</answer>", "sad"),
    ("<think>x</think>\u001c<answer>sad</answer>", "sad"),
    ("<think>x</think>\u200b<answer>sad</answer>", "sad"),
    ("<think>x</think><answer>\u00a0sad\u3000</answer>", "sad"),
    ("<answer>sad\r</answer>", "sad"),
    ("<answer>sa\rd</answer>", "sa\rd"),
    ("<answer>sad</answer>", "<answer>\nsad</answer>"),
    ("<answer>caf\u00e9</answer>", "cafe\u0301"),
    ("<THINK>x</THINK><ANSWER>sad</ANSWER>", "sad"),
    ("", ""),
    ("\u001f", ""),
]

random.seed(7)
pieces = ["<think>", "</think>", "<answer>", "</answer>", "<answer", "</think", "sad", "happy", "Sad", " ",
          "\n", "\t", "\r\n", "\r", "\u00a0", "\u2028", "\u001c", "\u200b", "x", "<", ">", "/"]
fuzz = []
for _ in range(400):
    n = random.randint(0, 9)
    body = "".join(random.choice(pieces) for _ in range(n))
    if random.random() < 0.5:
        body = "<think>" + body
    if random.random() < 0.5:
        body = body + "</answer>"
    label = random.choice(["sad", " sad ", "happy", "<answer>sad</answer>", "<answer>\nsad</answer>"])
    fuzz.append((body, label))

# Near-miss structured completions: the right shape with random pieces spliced in or cut out.
ws = ["", " ", "\n", "\r\n", "\t ", "\u00a0", "\u001e", "\u200b", "x"]
for _ in range(300):
    parts = ["<think>", random.choice(pieces) * random.randint(0, 2), "</think>", random.choice(ws),
             "<answer>", random.choice(["sad", " sad ", "\nsad", "sad\n", "happy", "</answer>x", ""]), "</answer>"]
    if random.random() < 0.3:
        del parts[random.randrange(len(parts))]
    if random.random() < 0.3:
        parts.insert(random.randrange(len(parts) + 1), random.choice(pieces))
    fuzz.append(("".join(parts), random.choice(["sad", " sad ", "happy"])))

cases = [{"completion": c, "label": l, "accuracy": accuracy(c, l), "format": fmt(c)} for c, l in hand + fuzz]
out = os.path.join(os.path.dirname(__file__), "..", "Tests", "Data", "Infra", "reward-cases.json")
with open(out, "w", encoding="utf-8") as f:
    json.dump(cases, f, ensure_ascii=True, indent=0)
print(f"wrote {len(cases)} cases to {out}: accuracy=1 in {sum(c['accuracy'] for c in cases):.0f}, format=1 in {sum(c['format'] for c in cases):.0f}")
