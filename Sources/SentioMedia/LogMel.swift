// Whisper's log-mel front end (R1-OMNI-SPEC section 5; HF WhisperFeatureExtractor, fixture README section 7):
//   waveform (16 kHz) zero-padded / truncated to 480000 samples
//   -> reflect-pad 200 each side -> frames of 400 every 160 samples (3001), the last one dropped -> 3000
//   -> periodic Hann window -> |rfft|^2 (201 bins) -> Slaney mel filters (0-8 kHz) -> log10(max(x, 1e-10))
//   -> clamp below at (global max - 8) -> (x + 4) / 4.                     Output [mels, 3000] row-major.
// The reference computes in float32; this computes the spectrum, filter products and logs in Double (the
// filters rounded to float32 first, as the reference casts them), so its own rounding is far below the
// reference's. Frames are transformed two at a time (one real frame in the real part, one in the imaginary
// part of a single complex FFT) and split across threads.
import Dispatch
import Foundation

public struct LogMel: Sendable {
    public static let sampleRate = 16000
    public static let nFFT = 400
    public static let hop = 160
    public static let chunkSamples = 480_000
    public static let frames = 3000
    public static var bins: Int { nFFT / 2 + 1 }

    public let mels: Int
    /// Filter bank [bins, mels] (the fixture's `inputs.mel_filters` layout), float32 values held as Double.
    public let filters: [Double]
    /// Non-zero bin range of each filter (the filters are triangles a few bins wide).
    let ranges: [Range<Int>]
    let window: [Double]
    let fft: MixedRadixFFT

    public init(mels: Int = 128) {
        self.mels = mels
        let f = MelFilterBank.slaney(mels: mels, bins: LogMel.bins, sampleRate: Double(LogMel.sampleRate), fMin: 0, fMax: 8000)
        filters = f.map { Double(Float($0)) }
        ranges = (0..<mels).map { m in
            let nz = (0..<LogMel.bins).filter { f[$0 * mels + m] != 0 }
            return (nz.first ?? 0)..<((nz.last ?? -1) + 1)
        }
        window = (0..<LogMel.nFFT).map { 0.5 - 0.5 * cos(2 * Double.pi * Double($0) / Double(LogMel.nFFT)) }
        fft = MixedRadixFFT(n: LogMel.nFFT)
    }

    /// The waveform zero-padded / truncated to 30 s, then reflect-padded by nFFT/2 on both sides.
    static func paddedSignal(_ wave: [Float]) -> [Double] {
        let n = chunkSamples, pad = nFFT / 2
        var x = [Double](repeating: 0, count: n + 2 * pad)
        for i in 0..<min(n, wave.count) { x[pad + i] = Double(wave[i]) }
        for i in 1...pad {
            x[pad - i] = x[pad + i]                   // x[-i] = x[i]
            x[pad + n - 1 + i] = x[pad + n - 1 - i]   // x[n-1+i] = x[n-1-i]
        }
        return x
    }

    /// Log-mel features [mels, 3000] of a 16 kHz waveform.
    public func compute(_ wave: [Float], threads: Int = ProcessInfo.processInfo.activeProcessorCount) -> [Float] {
        let x = LogMel.paddedSignal(wave)
        let T = LogMel.frames, M = mels, B = LogMel.bins, N = LogMel.nFFT
        var logMel = [Double](repeating: 0, count: M * T)
        let pairs = (T + 1) / 2
        let chunks = max(1, min(threads, pairs))
        x.withUnsafeBufferPointer { xs in
            logMel.withUnsafeMutableBufferPointer { outBuf in
                nonisolated(unsafe) let xp = xs.baseAddress!
                nonisolated(unsafe) let out = outBuf.baseAddress!
                DispatchQueue.concurrentPerform(iterations: chunks) { c in
                    let re = UnsafeMutablePointer<Double>.allocate(capacity: 4 * N + 2 * B)
                    defer { re.deallocate() }
                    let im = re + N, sr = re + 2 * N, si = re + 3 * N, pa = re + 4 * N, pb = pa + B
                    let lo = c * pairs / chunks, hi = (c + 1) * pairs / chunks
                    for pair in lo..<hi {
                        let ta = 2 * pair, tb = ta + 1
                        for i in 0..<N {
                            re[i] = window[i] * xp[ta * LogMel.hop + i]
                            im[i] = tb < T ? window[i] * xp[tb * LogMel.hop + i] : 0
                        }
                        fft.forward(re: re, im: im, scratchRe: sr, scratchIm: si)
                        // Split the two real spectra: A = (Z[k] + conj Z[n-k]) / 2, B = (Z[k] - conj Z[n-k]) / 2i.
                        for k in 0..<B {
                            let nk = (N - k) % N
                            let ar = 0.5 * (re[k] + re[nk]), ai = 0.5 * (im[k] - im[nk])
                            let br = 0.5 * (im[k] + im[nk]), bi = 0.5 * (re[nk] - re[k])
                            pa[k] = ar * ar + ai * ai
                            pb[k] = br * br + bi * bi
                        }
                        for half in 0..<2 {
                            let t = ta + half, p = half == 0 ? pa : pb
                            if t >= T { break }
                            for m in 0..<M {
                                var s = 0.0
                                for b in ranges[m] { s += filters[b * M + m] * p[b] }
                                out[m * T + t] = log10(max(s, 1e-10))
                            }
                        }
                    }
                }
            }
        }
        let top = logMel.max() ?? 0
        return logMel.map { Float((max($0, top - 8) + 4) / 4) }
    }

    /// Reference twin: one frame's power spectrum by direct DFT (for tests).
    func powerSpectrumDirect(_ x: [Double], frame t: Int) -> [Double] {
        let N = LogMel.nFFT
        let seg = (0..<N).map { window[$0] * x[t * LogMel.hop + $0] }
        let (r, i) = MixedRadixFFT.dft(re: seg, im: [Double](repeating: 0, count: N))
        return (0..<LogMel.bins).map { r[$0] * r[$0] + i[$0] * i[$0] }
    }
}

/// Slaney-style mel filter bank (librosa / HF `mel_filter_bank(norm="slaney", mel_scale="slaney")`):
/// mel = 3f/200 below 1 kHz, 15 + 27 ln(f/1000)/ln 6.4 above; mels+2 points evenly spaced in mel between
/// fMin and fMax; triangular filters over the bin frequencies linspace(0, sr/2, bins), each scaled by
/// 2 / (f[i+2] - f[i]) so that its area is constant.
public enum MelFilterBank {
    static let minLogHz = 1000.0, minLogMel = 15.0
    static let logStep = 27.0 / log(6.4)

    public static func hzToMel(_ f: Double) -> Double {
        f >= minLogHz ? minLogMel + log(f / minLogHz) * logStep : 3.0 * f / 200.0
    }

    public static func melToHz(_ m: Double) -> Double {
        m >= minLogMel ? minLogHz * exp(log(6.4) / 27.0 * (m - minLogMel)) : 200.0 * m / 3.0
    }

    /// Filters as [bins, mels] row-major, in Double.
    public static func slaney(mels: Int, bins: Int, sampleRate: Double, fMin: Double, fMax: Double) -> [Double] {
        let mMin = hzToMel(fMin), mMax = hzToMel(fMax)
        let points = mels + 2
        let melStep = (mMax - mMin) / Double(points - 1)
        var edges = (0..<points).map { melToHz(Double($0) * melStep + mMin) }
        edges[points - 1] = melToHz(mMax)   // linspace ends exactly at its stop value
        let binStep = (sampleRate / 2) / Double(bins - 1)
        var out = [Double](repeating: 0, count: bins * mels)
        for b in 0..<bins {
            let f = b == bins - 1 ? sampleRate / 2 : Double(b) * binStep
            for m in 0..<mels {
                let down = -(edges[m] - f) / (edges[m + 1] - edges[m])
                let up = (edges[m + 2] - f) / (edges[m + 2] - edges[m + 1])
                let w = max(0, min(down, up))
                out[b * mels + m] = w * (2.0 / (edges[m + 2] - edges[m]))
            }
        }
        return out
    }
}
