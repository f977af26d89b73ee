#!/usr/bin/env bash
# Alternating A/B runs of `sentio recognize` (two model files, or two binaries on one file), for a host whose
# speed drifts by up to 2x within minutes: each pair runs A then B seconds apart, and the table compares them
# pair by pair, with medians. Peak RSS from /usr/bin/time -v.
#
# usage: Benchmarks/compare-recognize.sh A.sentio B.sentio [PAIRS] [OUT_DIR]
#   env: SENTIO_A / SENTIO_B (binaries, default .build/release/sentio for both), CLIP (default models/demo/clip.mp4),
#        THREADS (default 2), MAXTOK (default 32)
# Writes OUT_DIR/{a,b}-N.json (recognize --json) and OUT_DIR/{a,b}-N.time; prints a Markdown table of time to
# first token, Whisper, prefill, SigLIP and peak RSS per pair.
set -euo pipefail
A=${1:?model A}; B=${2:?model B}; PAIRS=${3:-3}; OUT=${4:-/tmp/sentio-compare-recognize}
SENTIO_A=${SENTIO_A:-.build/release/sentio}; SENTIO_B=${SENTIO_B:-.build/release/sentio}
CLIP=${CLIP:-models/demo/clip.mp4}; THREADS=${THREADS:-2}; MAXTOK=${MAXTOK:-32}
[ -x /usr/bin/time ] || { echo "needs /usr/bin/time (apt-get install time)" >&2; exit 2; }
mkdir -p "$OUT"
for i in $(seq 1 "$PAIRS"); do
    for side in a b; do
        if [ $side = a ]; then bin=$SENTIO_A; model=$A; else bin=$SENTIO_B; model=$B; fi
        /usr/bin/time -v "$bin" recognize -m "$model" "$CLIP" --json --max-tokens "$MAXTOK" -t "$THREADS" \
            > "$OUT/$side-$i.json" 2> "$OUT/$side-$i.time"
    done
done
python3 - "$OUT" "$PAIRS" "$A" "$B" <<'EOF'
import json, re, statistics, sys
out, pairs, a, b = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
keys = [("time_to_first_token_s", "first token (s)"), ("whisper_s", "Whisper (s)"), ("prefill_s", "prefill (s)"),
        ("siglip_s", "SigLIP (s)")]
def run(side, i):
    t = json.load(open(f"{out}/{side}-{i}.json"))["timings"]
    m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", open(f"{out}/{side}-{i}.time").read())
    return [t[k] for k, _ in keys] + [int(m.group(1)) / 1e6 if m else float("nan")]
rows = [(run("a", i), run("b", i)) for i in range(1, pairs + 1)]
print(f"A = {a}\nB = {b}\n")
print("| pair | " + " | ".join(f"{name} A / B" for _, name in keys) + " | peak RSS (GB) A / B |")
print("| --- |" + " --- |" * (len(keys) + 1))
for i, (ra, rb) in enumerate(rows, 1):
    print(f"| {i} | " + " | ".join(f"{x:.2f} / {y:.2f}" for x, y in zip(ra, rb)) + " |")
med = [(statistics.median(r[0][j] for r in rows), statistics.median(r[1][j] for r in rows)) for j in range(len(keys) + 1)]
print("| median | " + " | ".join(f"{x:.2f} / {y:.2f}" for x, y in med) + " |")
EOF
