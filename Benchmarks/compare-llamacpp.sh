#!/usr/bin/env bash
# Side-by-side pp/tg benchmark of Sentio and llama.cpp on the same GGUF files (Q8_0, Q4_0, Q5_0, F16; Qwen2.5-0.5B shape, random
# weights: tools/make-random-qwen2-gguf.py), in one run, so the ratio is measured under the same conditions.
#
# This host's speed drifts by 10-25 % over minutes (shared machine), so the two sides are interleaved: ROUNDS
# rounds per format, each running both tools (-r 2 after a warm-up, in alternating order), and each row's
# t/s is the mean ± sd over all 2 x ROUNDS samples of that side.
#
# llama.cpp: llama-cpp-python 0.3.36 built from source (see Benchmarks/README.md); its Python overhead per
# eval call is included in tg (one call per token), as with any embedding of llama.cpp.
#
# usage: Benchmarks/compare-llamacpp.sh [threads=1,2] [rounds=3] > Benchmarks/results/compare-$(date +%F).md
#        FORMATS="f16" Benchmarks/compare-llamacpp.sh 2 4    (a subset of q8_0 q4_0 q5_0 f16, e.g. more rounds for one row)
set -euo pipefail
cd "$(dirname "$0")/.."
T=${1:-1,2}
R=${2:-3}
FORMATS=${FORMATS:-q8_0 q4_0 q5_0 f16}
PY=${PYTHON:-tools/.venv/bin/python}
S=.build/release/sentio
[ -x "$S" ] || swift build -c release >&2
for t in $FORMATS; do
    f=models/cache/random-qwen2-0.5b-$t.gguf
    [ -f "$f" ] || "$PY" tools/make-random-qwen2-gguf.py --type "$(echo $t | tr a-z A-Z)" -o "$f" >&2
done
echo "# Sentio vs llama.cpp, $(date -u +%F), threads $T, $R interleaved rounds of 2 samples per side"
echo
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), $(nproc) cores"
echo
for t in $FORMATS; do
    f=models/cache/random-qwen2-0.5b-$t.gguf
    : > "/tmp/sentio-$t.jsonl"; : > "/tmp/llama-$t.jsonl"
    for ((i = 1; i <= R; i++)); do
        sides=(sentio llama); ((i % 2 == 0)) && sides=(llama sentio)
        for side in "${sides[@]}"; do
            if [ "$side" = sentio ]; then
                "$S" bench -m "$f" -p 512 -n 128 -t "$T" -r 2 --json | tr -d '\n' >> "/tmp/sentio-$t.jsonl"
            else
                "$PY" tools/bench-llamacpp.py "$f" -p 512 -n 128 -t "$T" -r 2 2>/dev/null | tr -d '\n' >> "/tmp/llama-$t.jsonl"
            fi
            echo >> "/tmp/$side-$t.jsonl"
        done
    done
done
"$PY" - "$T" $FORMATS <<'PY'
import json, statistics, sys
def samples(path):
    out = {}
    for line in open(path):
        if line.strip():
            for row in json.loads(line):
                out.setdefault((row["n_threads"], row["test"]), []).extend(row["samples_ts"])
    return out
def fmt(v):
    return f"{statistics.mean(v):.1f} ± {statistics.stdev(v) if len(v) > 1 else 0:.1f}"
print("| format | threads | test | llama.cpp t/s | sentio t/s | sentio / llama.cpp |")
print("| --- | ---: | --- | ---: | ---: | ---: |")
for t in sys.argv[2:]:
    s, l = samples(f"/tmp/sentio-{t}.jsonl"), samples(f"/tmp/llama-{t}.jsonl")
    for key in sorted(s, key=lambda k: (k[0], k[1])):
        a, b = s[key], l[key]
        print(f"| {t.upper()} | {key[0]} | {key[1]} | {fmt(b)} | {fmt(a)} | {statistics.mean(a) / statistics.mean(b):.2f} |")
PY
