#!/usr/bin/env python3
"""Oracle data for SentioTokenizers tests, from the Hugging Face `tokenizers` library.

Run from the repository root:
    tools/.venv/bin/python tools/make-tokenizer-oracle.py
Writes Tests/Data/tokenizers/qwen2-corpus.json and Tests/Data/tokenizers/bert-corpus.json:
  qwen2: for each corpus string, ids from Tokenizer.from_file(Tests/Fixtures/qwen2-tokenizer/tokenizer.json)
         with add_special_tokens=False (special tokens inside the text are recognised, as HF always does),
         and the HF decode of those ids.
  bert:  for each corpus string, ids and tokens from BertWordPieceTokenizer(Tests/Fixtures/bert-uncased-vocab/vocab.txt,
         lowercase=True) with [CLS]/[SEP] added.
"""
import json
import os

from tokenizers import Tokenizer
from tokenizers.implementations import BertWordPieceTokenizer

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIX = os.path.join(ROOT, "Tests", "Fixtures")
OUT = os.path.join(ROOT, "Tests", "Data", "tokenizers")

CORPUS = [
    "",
    " ",
    "  ",
    "\t",
    "\n",
    "\r\n",
    "\n\n\n",
    " \n \n ",
    "trailing spaces   ",
    "trailing newline\n",
    "trailing tab\t",
    "  leading spaces",
    "\tleading tab",
    "\nleading newline",
    "a  b   c    d",
    "tabs\t\tand\t spaces \t mixed",
    "line1\nline2\r\nline3\rline4",
    "para\n\n\nnext  \n  indented",
    "Hello world",
    "Hello, World! How are you?",
    "I'm sure it's fine, we'll see what they've done, you'd know, they're here.",
    "I'M SURE IT'S FINE, WE'LL SEE, THEY'VE GONE, YOU'D KNOW, THEY'RE HERE, 'T",
    "Mixed 'Ll 'lL 'Re 'vE 'D 'M 'S",
    "don't stop 'n' roll 's 'x",
    "long s: 'ſ and kelvin: 'K",
    "1234567890",
    "3.14159 and 2,718,281 and 1e-10",
    "phone: +1 (555) 123-4567",
    "٣٤٥ Arabic-Indic digits ¼ ½ Ⅻ ⅷ",
    "①②③ circled",
    "ied 4 ½ months",
    "Äpfel über Straße",
    "naïve café résumé",
    "e\u0301 combining acute (not NFC)",
    "A\u030a ring and \u212b angstrom sign",
    "\u1100\u1161\u11a8 conjoining jamo",
    "Ελληνικά κείμενο ΟΔΟΣ",
    "Русский текст, ПРИВЕТ!",
    "עברית ועוד",
    "العربية نص",
    "हिन्दी पाठ",
    "ไทย ภาษา",
    "中文文本测试，句号。",
    "日本語のテキスト、カタカナ",
    "한국어 텍스트",
    "混合 mixed 文字 text123",
    "emoji 😀😃😄 family 👨‍👩‍👧‍👦 flags 🇩🇪🇯🇵",
    "skin tone 👍🏽 and keycap 1️⃣",
    "math ∑∫∂ √2 ≈ 1.414 ≠ π",
    "arrows → ← ↑ ↓ ⇒",
    "currency $100 €50 £20 ¥1000",
    "quotes “smart” ‘single’ «guillemets»",
    "dashes – — ‐ ‒",
    "ellipsis… and … more",
    "zero\u200bwidth\u200dspace\ufeffbom",
    "nbsp\u00a0here and\u2003em space and\u3000ideographic",
    "nel\u0085line and\u2028sep and\u2029para",
    "file sep\x1cgroup\x1drecord\x1eunit\x1f",
    "control\x00null\x07bell\x1bescape",
    "private use \ue000\uf8ff",
    "def foo(x):\n    return x * 2  # comment\n",
    "for (int i = 0; i < n; ++i) { a[i] += b[i]; }",
    "if x == 1 && y != 2 || !z {\n\tprint(\"ok\")\n}",
    "<html><body class=\"x\">&nbsp;&amp;</body></html>",
    "SELECT * FROM t WHERE a >= 10 AND b <> 'x';",
    "path/to/file.txt C:\\Windows\\System32",
    "https://example.com/a?b=c&d=e#frag",
    "user@example.com",
    "snake_case camelCase PascalCase kebab-case SCREAMING_CASE",
    "    indented code\n        more indented\n",
    "!!!???...,,,;;;",
    "...\n\n",
    " !@#$%^&*()",
    "a!b@c#d",
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
    "          " * 10,
    "\n" * 40,
    "ab" * 200,
    "=" * 100,
    "😀" * 30,
    "supercalifragilisticexpialidocious antidisestablishmentarianism",
    "pneumonoultramicroscopicsilicovolcanoconiosis" * 3,
    "<|im_start|>user\nhi<|im_end|>\n",
    "text<|endoftext|>more text",
    "<|im_start|><|im_end|><|endoftext|>",
    "<|im_start |> not special <| im_end|>",
    "<|vision_start|><|video_pad|><|vision_end|>describe",
    "<vi_start><video><vi_end>\n<au_start><audio><au_end>\n",
    "As an emotional recognition expert; throughout the video, which emotion conveyed by the characters is the most obvious to you?  Output the thinking process in <think> </think> and final emotion in <answer> </answer> tags.",
    "<think>I see a smile.</think><answer>happy</answer>",
    "Ünïcödé ÜPPER lower Title",
    "İstanbul ıı I",
    "ǅ titlecase ǈ",
    "x\u0301\u0302\u0303 stacked marks",
    " 's leading space contraction",
    "1 2  3   4",
    "a1b2c3",
    "٠١٢",
    "\u00ad soft hyphen",
    "tab\t\n\tnewline",
    "end with space and newline \n",
    "end with newline and space\n ",
    "multiple\n\n\n\n\n\n\nnewlines",
]


def main():
    os.makedirs(OUT, exist_ok=True)
    qwen = Tokenizer.from_file(os.path.join(FIX, "qwen2-tokenizer", "tokenizer.json"))
    rows = []
    for s in CORPUS:
        enc = qwen.encode(s, add_special_tokens=False)
        rows.append({"text": s, "ids": enc.ids, "decoded": qwen.decode(enc.ids, skip_special_tokens=False)})
    with open(os.path.join(OUT, "qwen2-corpus.json"), "w", encoding="utf-8") as f:
        json.dump({"source": "tokenizers.Tokenizer.from_file(qwen2-tokenizer/tokenizer.json), add_special_tokens=False",
                   "cases": rows}, f, ensure_ascii=True, indent=0)

    bert = BertWordPieceTokenizer(os.path.join(FIX, "bert-uncased-vocab", "vocab.txt"), lowercase=True)
    brows = []
    for s in CORPUS:
        enc = bert.encode(s)
        brows.append({"text": s, "ids": enc.ids, "tokens": enc.tokens})
    with open(os.path.join(OUT, "bert-corpus.json"), "w", encoding="utf-8") as f:
        json.dump({"source": "tokenizers BertWordPieceTokenizer(bert-uncased-vocab/vocab.txt, lowercase=True)",
                   "cases": brows}, f, ensure_ascii=True, indent=0)
    print(f"{len(rows)} qwen2 cases, {len(brows)} bert cases -> {OUT}")


if __name__ == "__main__":
    main()
