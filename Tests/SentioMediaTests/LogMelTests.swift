import XCTest
import SentioFormat
import SentioTestSupport
@testable import SentioMedia

final class LogMelTests: XCTestCase {
    /// Fast FFT vs the direct DFT twin on random input, at lengths with every radix and odd leftovers.
    func testFFTMatchesDirectDFT() {
        var rng = TestRNG(seed: 7)
        for n in [1, 2, 3, 4, 5, 8, 12, 20, 25, 49, 77, 100, 400] {
            let re = (0..<n).map { _ in Double(rng.uniform()) }, im = (0..<n).map { _ in Double(rng.uniform()) }
            let ref = MixedRadixFFT.dft(re: re, im: im)
            var r = re, i = im
            var sr = [Double](repeating: 0, count: n), si = sr
            MixedRadixFFT(n: n).forward(re: &r, im: &i, scratchRe: &sr, scratchIm: &si)
            // Both are Double sums of n terms of magnitude <= sqrt(2): rounding is ~n * 1e-16.
            for k in 0..<n {
                XCTAssertEqual(r[k], ref.re[k], accuracy: 1e-12, "n=\(n) k=\(k)")
                XCTAssertEqual(i[k], ref.im[k], accuracy: 1e-12, "n=\(n) k=\(k)")
            }
        }
    }

    /// The paired-frame spectrum split (two real frames in one complex FFT) against the direct DFT per frame,
    /// through the whole pipeline: a random waveform's features vs features from direct per-frame spectra.
    func testPairedFramesMatchDirect() {
        var rng = TestRNG(seed: 11)
        let wave = rng.floats(5000, scale: 0.5)
        let lm = LogMel(mels: 80)
        let x = LogMel.paddedSignal(wave)
        let fast = lm.compute(wave, threads: 2)
        var direct = [Double](repeating: 0, count: 80 * LogMel.frames)
        for t in 0..<LogMel.frames {
            // Frames past the waveform are all zero (the log is the 1e-10 floor): skip the DFT for them.
            let p = t * LogMel.hop < wave.count + 400 ? lm.powerSpectrumDirect(x, frame: t) : [Double](repeating: 0, count: LogMel.bins)
            for m in 0..<80 {
                var s = 0.0
                for b in 0..<LogMel.bins { s += lm.filters[b * 80 + m] * p[b] }
                direct[m * LogMel.frames + t] = log10(max(s, 1e-10))
            }
        }
        let top = direct.max()!
        let ref = direct.map { Float((max($0, top - 8) + 4) / 4) }
        let d = compare(fast, ref)
        // Both are Double computations rounded once to float32: at most an ulp or two apart.
        XCTAssertLessThan(d.maxAbs, 1e-6, "\(d)")
    }

    /// The generated filter bank against the fixture's (HF mel_filter_bank, float32).
    func testFiltersMatchFixture() throws {
        let inputs = try SafetensorsFile(TestPaths.tinyA.appendingPathComponent("inputs.safetensors"))
        let ref = try inputs.floats("inputs.mel_filters")
        let shape = try XCTUnwrap(inputs.tensors["inputs.mel_filters"]).shape
        let lm = LogMel(mels: shape[1])
        XCTAssertEqual(shape[0], LogMel.bins)
        let ours = lm.filters.map { Float($0) }
        let d = compare(ours, ref)
        print("mel filters vs fixture: \(d)")
        // Same float64 formula rounded to float32; log/exp of different libms may move a value by an ulp.
        XCTAssertLessThanOrEqual(d.maxRel, 2e-7, "\(d)")
    }

    /// Against openai-whisper's mel_filters.npz (librosa), exported by tools/make-mel-oracle.py. Stored as
    /// [mels, bins]; librosa applies the area normalisation in float32, so allow a few float32 ulps.
    func testFiltersMatchWhisperNpz() throws {
        let f = try SafetensorsFile(TestPaths.testData.appendingPathComponent("media/whisper-mel-filters.safetensors"))
        for mels in [80, 128] {
            let ref = try f.floats("mel_\(mels)")
            let lm = LogMel(mels: mels)
            var ours = [Float](repeating: 0, count: mels * LogMel.bins)
            for b in 0..<LogMel.bins { for m in 0..<mels { ours[m * LogMel.bins + b] = Float(lm.filters[b * mels + m]) } }
            let d = compare(ours, ref)
            print("mel_\(mels) vs whisper npz: \(d)")
            XCTAssertLessThanOrEqual(d.maxRel, 1e-6, "mel_\(mels): \(d)")
        }
    }

    /// The reference's log-mel of the fixture waveform. Tolerance 1e-4 absolute: the reference runs in float32
    /// (FFT rounding ~1e-7 relative to a frame's peak bin, which for weak bins becomes up to ~1e-4 relative
    /// power error, i.e. ~1e-5 in log10 / 4); this code runs in Double, so the difference is the reference's
    /// own float32 error (the fixture README measured 2.3e-5 for an independent float64 implementation).
    func testLogMelMatchesFixture() throws {
        let inputs = try SafetensorsFile(TestPaths.tinyA.appendingPathComponent("inputs.safetensors"))
        let wave = try inputs.floats("inputs.waveform_16k")
        let ref = try inputs.floats("inputs.log_mel")
        let shape = try XCTUnwrap(inputs.tensors["inputs.log_mel"]).shape
        let ours = LogMel(mels: shape[0]).compute(wave)
        XCTAssertEqual(ours.count, ref.count)
        let d = compare(ours, ref)
        print("log-mel vs fixture: \(d)")
        XCTAssertLessThanOrEqual(d.maxAbs, 1e-4, "\(d)")
    }

    func testLongWaveIsTruncatedAndEmptyIsFloor() {
        let lm = LogMel(mels: 80)
        let empty = lm.compute([])
        // All-zero input: every value is the floor log10(1e-10) = -10 -> (-10 + 4) / 4.
        XCTAssertTrue(empty.allSatisfy { $0 == Float((-10.0 + 4) / 4) })
        var rng = TestRNG(seed: 3)
        let long = rng.floats(LogMel.chunkSamples + 1000)
        XCTAssertEqual(lm.compute(long), lm.compute(Array(long.prefix(LogMel.chunkSamples))))
    }

    /// SENTIO_SLOW: time of one 30 s window (128 mels), best of 5 (run with a release build).
    func testTiming() throws {
        try XCTSkipUnless(slowTestsEnabled, "set SENTIO_SLOW=1")
        let lm = LogMel(mels: 128)
        var rng = TestRNG(seed: 5)
        let wave = rng.floats(LogMel.chunkSamples, scale: 0.3)
        for threads in [1, 2] {
            var best = Double.infinity
            for _ in 0..<5 {
                let t0 = Date()
                _ = lm.compute(wave, threads: threads)
                best = min(best, Date().timeIntervalSince(t0))
            }
            print(String(format: "log-mel 128x3000, %d thread(s): best of 5 %.1f ms", threads, best * 1000))
        }
    }
}
