#!/usr/bin/env bash
# Streams a synthetic lavfi source (generated on the fly by FFmpeg inside sentio, never stored) through
# `sentio watch` and records the resident memory curve, for the "flat RSS over hours" check.
#
# usage: Benchmarks/watch-rss.sh MODEL.sentio SECONDS_OF_SOURCE [OUT_DIR] [extra watch args...]
#   env: SENTIO (binary, default .build/release/sentio), SIZE (default 640x360), FPS (default 25),
#        WINDOW / HOP (default 10 / 10), THREADS (default 2), MAXTOK (default 16), EVERY (sampling period s, default 5)
# Writes OUT_DIR/windows.jsonl (one JSON line per window), OUT_DIR/rss.tsv (elapsed_s, VmRSS_kB, RssAnon_kB,
# RssFile_kB, windows_so_far) and OUT_DIR/timeline.svg; prints a summary (RSS at the first and last window, max).
set -euo pipefail
MODEL=${1:?model}; SECS=${2:?seconds}; OUT=${3:-/tmp/sentio-watch-rss}; shift $(( $# >= 3 ? 3 : $# ))
SENTIO=${SENTIO:-.build/release/sentio}; SIZE=${SIZE:-640x360}; FPS=${FPS:-25}
WINDOW=${WINDOW:-10}; HOP=${HOP:-$WINDOW}; THREADS=${THREADS:-2}; MAXTOK=${MAXTOK:-16}; EVERY=${EVERY:-5}
mkdir -p "$OUT"
GRAPH="testsrc2=size=${SIZE}:rate=${FPS}:d=${SECS} [out0]; sine=f=440:beep_factor=4:sample_rate=44100:d=${SECS} [out1]"
"$SENTIO" watch -m "$MODEL" --format lavfi "$GRAPH" --window "$WINDOW" --hop "$HOP" -t "$THREADS" \
    --max-tokens "$MAXTOK" --json --plot "$OUT/timeline.svg" "$@" > "$OUT/windows.jsonl" 2> "$OUT/stderr.txt" &
PID=$!
START=$(date +%s.%N)
printf "elapsed_s\tvmrss_kb\trss_anon_kb\trss_file_kb\twindows\n" > "$OUT/rss.tsv"
while kill -0 $PID 2>/dev/null; do
    if [ -r /proc/$PID/status ]; then
        awk -v t="$(echo "$(date +%s.%N) - $START" | bc)" -v w="$(wc -l < "$OUT/windows.jsonl")" \
            '/^VmRSS/{r=$2} /^RssAnon/{a=$2} /^RssFile/{f=$2} END{if (r) printf "%.1f\t%d\t%d\t%d\t%d\n", t, r, a, f, w}' \
            /proc/$PID/status >> "$OUT/rss.tsv" || true
    fi
    sleep "$EVERY"
done
wait $PID; RC=$?
echo "exit code $RC"; cat "$OUT/stderr.txt"
python3 - "$OUT" <<'PY'
import json, sys
out = sys.argv[1]
rows = [l.split('\t') for l in open(out + '/rss.tsv').read().split('\n')[1:] if l]
wins = [json.loads(l) for l in open(out + '/windows.jsonl') if l.strip()]
done = [w for w in wins if not w.get('skipped')]
print(f"windows {len(done)}, skipped {len(wins) - len(done)}")
if rows:
    rss = [int(r[1]) for r in rows]
    first = next((int(r[1]) for r in rows if int(r[4]) >= 1), rss[0])
    print(f"RSS MB: after first window {first/1024:.0f}, last {rss[-1]/1024:.0f}, max {max(rss)/1024:.0f} over {rows[-1][0]} s")
if done:
    keys = ['siglip_s', 'projector_window_s', 'mel_s', 'whisper_s', 'prefill_s', 'decode_s', 'window_compute_s', 'total_s']
    for k in keys:
        v = sorted(w['latency'][k] for w in done)
        print(f"{k:>20}: median {v[len(v)//2]:.2f}  max {v[-1]:.2f}")
PY
