#!/usr/bin/env bash
# Regenerates models/demo/r1omni-tiny-random-q4.sentio, the random-weight model `sentio demo` runs.
#
# It is the tiny R1-Omni test checkpoint (Tests/Fixtures/r1omni-tiny-a: random weights, real R1-Omni
# architecture at toy width, Qwen2's real 151,936-token vocabulary) converted at q4. To keep the file small
# the Qwen2 tokenizer.json is embedded minified (same JSON, no indentation: 11 MB -> 5.4 MB) and
# vocab.json / merges.txt (not needed when tokenizer.json is there) are left out.
# The conversion is deterministic: Tests/SentioCLITests/DemoCLITests.swift rebuilds the file the same way
# (with the tokenizer.json embedded in the shipped file) and checks the bytes are identical.
#
# Usage: swift build && tools/make-demo-model.sh [path/to/sentio]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
sentio="${1:-$root/.build/debug/sentio}"
fx="${SENTIO_FIXTURES:-$root/Tests/Fixtures}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
ck="$tmp/ckpt"
mkdir -p "$ck"
for n in config.json model.safetensors generation_config.json siglip-tiny-patch16-224 whisper-tiny-large-v3-shape bert-tiny-uncased; do
  ln -s "$fx/r1omni-tiny-a/$n" "$ck/$n"
done
for n in tokenizer_config.json added_tokens.json special_tokens_map.json; do
  cp "$fx/qwen2-tokenizer/$n" "$ck/$n"
done
python3 -c 'import json,sys; d=json.load(open(sys.argv[1],encoding="utf-8")); open(sys.argv[2],"w",encoding="utf-8").write(json.dumps(d,ensure_ascii=False,separators=(",",":")))' \
  "$fx/qwen2-tokenizer/tokenizer.json" "$ck/tokenizer.json"
"$sentio" convert "$ck" -o "$root/models/demo/r1omni-tiny-random-q4.sentio" --quant q4
ls -l "$root/models/demo/r1omni-tiny-random-q4.sentio"
