#!/usr/bin/env bash
# Side-by-side pp/tg benchmark of Sentio and llama.cpp on the same GGUF files (Qwen2.5-0.5B shape, random
# weights: tools/make-random-qwen2-gguf.py), in one run, so the ratio is measured under the same conditions.
#
# llama.cpp: llama-cpp-python 0.3.36 built from source (see Benchmarks/README.md); its Python overhead per
# eval call is included in tg (one call per token), as with any embedding of llama.cpp.
#
# usage: Benchmarks/compare-llamacpp.sh [threads=1,2] [reps=3] > Benchmarks/results/compare-$(date +%F).md
set -euo pipefail
cd "$(dirname "$0")/.."
T=${1:-1,2}
R=${2:-3}
PY=${PYTHON:-tools/.venv/bin/python}
S=.build/release/sentio
[ -x "$S" ] || swift build -c release >&2
for t in q8_0 q4_0 f16; do
    f=models/cache/random-qwen2-0.5b-$t.gguf
    [ -f "$f" ] || "$PY" tools/make-random-qwen2-gguf.py --type "$(echo $t | tr a-z A-Z)" -o "$f" >&2
done
echo "# Sentio vs llama.cpp, $(date -u +%F), threads $T, $R repetitions"
echo
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), $(nproc) cores"
echo
for t in q8_0 q4_0 f16; do
    f=models/cache/random-qwen2-0.5b-$t.gguf
    "$S" bench -m "$f" -p 512 -n 128 -t "$T" -r "$R" --json > "/tmp/sentio-$t.json"
    "$PY" tools/bench-llamacpp.py "$f" -p 512 -n 128 -t "$T" -r "$R" > "/tmp/llama-$t.json" 2>/dev/null
done
"$PY" - "$T" <<'PY'
import json, sys
print("| format | threads | test | llama.cpp t/s | sentio t/s | sentio / llama.cpp |")
print("| --- | ---: | --- | ---: | ---: | ---: |")
for t in ["q8_0", "q4_0", "f16"]:
    s = json.load(open(f"/tmp/sentio-{t}.json")); l = json.load(open(f"/tmp/llama-{t}.json"))
    for a in s:
        b = next(x for x in l if x["n_threads"] == a["n_threads"] and x["test"] == a["test"])
        print(f"| {t.upper()} | {a['n_threads']} | {a['test']} | {b['avg_ts']:.1f} ± {b['stddev_ts']:.1f} | "
              f"{a['avg_ts']:.1f} ± {a['stddev_ts']:.1f} | {a['avg_ts'] / b['avg_ts']:.2f} |")
PY
