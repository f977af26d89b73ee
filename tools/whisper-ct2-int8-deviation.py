#!/usr/bin/env python3
"""How far CTranslate2's own int8 Whisper encoder lands from its float32 one, on the committed real-weights
oracle clip: the yardstick for Sentio's q8 Whisper (q8r matrices on the AMX-INT8 tiles: int8 weights with one
scale per row and int8 activations with one scale per row, the layout CTranslate2's int8 uses).

Usage (after tools/fetch-test-models.sh whisper; tools/.venv has ctranslate2):
    tools/.venv/bin/python tools/whisper-ct2-int8-deviation.py models/cache/whisper-base-ct2 \
        Tests/Data/whisper/espeak-base-oracle.safetensors

Prints, per compute type, the RMS of (output - float32 oracle) relative to the oracle's RMS and the largest
difference relative to the oracle's largest value, over the oracle's 150 stored rows: the two figures
Tests/SentioModelsTests/WhisperRealWeightsTests.swift prints for Sentio's f32 / q8 / q4 encoders.
"""
import sys

import ctranslate2
import numpy as np
from safetensors.numpy import load_file


def main() -> None:
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    model_dir, oracle_path = sys.argv[1], sys.argv[2]
    o = load_file(oracle_path)
    head, pad = o["mel_head"], o["mel_pad"][0]
    frames = head.size // 80
    mel = np.full((80, 3000), pad, np.float32)
    mel[:, :frames] = head.reshape(80, frames)
    rows, ref = o["enc_rows"].astype(int), o["enc_out"]
    for compute_type in ["float32", "int8"]:
        m = ctranslate2.models.Whisper(model_dir, device="cpu", compute_type=compute_type, intra_threads=2)
        out = np.array(m.encode(ctranslate2.StorageView.from_array(mel[None]), to_cpu=True))[0][rows]
        rms = np.sqrt(((out - ref) ** 2).sum() / (ref ** 2).sum())
        mx = np.abs(out - ref).max() / np.abs(ref).max()
        print(f"CTranslate2 {ctranslate2.__version__} {compute_type:8s} vs float32 oracle: rmsRel={rms:.4f} maxRel={mx:.4f}")


if __name__ == "__main__":
    main()
