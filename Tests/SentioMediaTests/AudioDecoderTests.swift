import XCTest
import SentioFormat
import SentioTestSupport
@testable import SentioMedia

final class AudioDecoderTests: XCTestCase {
    var clip: URL { TestPaths.tinyA.appendingPathComponent("clip.mp4") }

    /// Oracle: the ffmpeg CLI's own decode + downmix + resample. Same libraries, same swresample defaults:
    /// the samples must be identical.
    func testMatchesFFmpegCLIBitExact() throws {
        let cli = TestMedia.floats(try TestMedia.ffmpeg(["-i", clip.path, "-vn", "-ac", "1", "-ar", "16000", "-f", "f32le", "-"]))
        let (ours, warning) = try AudioDecoder.decodeMono16k(clip)
        XCTAssertNil(warning)
        XCTAssertEqual(ours.count, cli.count)
        XCTAssertTrue(ours.elementsEqual(cli) { $0.bitPattern == $1.bitPattern }, "\(compare(ours, cli))")
    }

    /// Against the reference's decord waveform. decord resamples with its own settings, so samples are not
    /// equal; the length (AAC priming kept) is, and the signals agree once aligned. What is measured is printed.
    func testAgainstDecordWaveform() throws {
        let inputs = try SafetensorsFile(TestPaths.tinyA.appendingPathComponent("inputs.safetensors"))
        let ref = try inputs.floats("inputs.waveform_16k")
        let (ours, _) = try AudioDecoder.decodeMono16k(clip)
        XCTAssertEqual(ours.count, ref.count, "sample count (priming samples kept)")
        let n = min(ours.count, ref.count)
        let raw = compare(ours[0..<n], ref[0..<n])
        // Best alignment within +-64 samples, by RMS of the difference.
        func rms(_ lag: Int) -> Double {
            var s = 0.0, c = 0
            for i in 0..<n { let j = i - lag; if j >= 0 && j < n { let d = Double(ours[j] - ref[i]); s += d * d; c += 1 } }
            return (s / Double(max(c, 1))).squareRoot()
        }
        let refRMS = (ref.reduce(0.0) { $0 + Double($1) * Double($1) } / Double(n)).squareRoot()
        let best = (-64...64).min { rms($0) < rms($1) }!
        print("waveform vs decord: \(ours.count) vs \(ref.count) samples; unaligned \(raw); best lag \(best) samples, rms diff \(rms(best)) vs signal rms \(refRMS)")
        // Aligned, the difference is a resampler-filter difference: well under the signal (measured ~15%).
        XCTAssertLessThan(rms(best), 0.3 * refRMS)
    }

    func testVideoOnlyGivesSilenceAndWarning() throws {
        let dir = TestPaths.tempDir("sentio-media")
        defer { try? FileManager.default.removeItem(at: dir) }
        let f = dir.appendingPathComponent("video-only.mp4")
        try TestMedia.ffmpeg(["-f", "lavfi", "-i", "testsrc2=size=64x48:rate=10:duration=1", "-c:v", "libx264", "-pix_fmt", "yuv420p", f.path])
        let (s, w) = try AudioDecoder.decodeMono16k(f)
        XCTAssertEqual(s.count, AudioDecoder.fallbackSamples)
        XCTAssertTrue(s.allSatisfy { $0 == 0 })
        XCTAssertNotNil(w)
        // The video still decodes.
        XCTAssertEqual(try VideoDecoder.sampleFrames(f).frames.count, 8)
    }

    func testStereo44kDownmix() throws {
        let dir = TestPaths.tempDir("sentio-media")
        defer { try? FileManager.default.removeItem(at: dir) }
        let f = dir.appendingPathComponent("stereo.mkv")
        try TestMedia.ffmpeg(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100:duration=0.5", "-f", "lavfi",
                              "-i", "sine=frequency=1000:sample_rate=44100:duration=0.5", "-filter_complex", "[0:a][1:a]amerge=inputs=2[a]",
                              "-map", "[a]", "-c:a", "flac", f.path])
        let cli = TestMedia.floats(try TestMedia.ffmpeg(["-i", f.path, "-ac", "1", "-ar", "16000", "-f", "f32le", "-"]))
        let (ours, w) = try AudioDecoder.decodeMono16k(f)
        XCTAssertNil(w)
        XCTAssertEqual(ours.count, cli.count)
        XCTAssertTrue(ours.elementsEqual(cli) { $0.bitPattern == $1.bitPattern }, "\(compare(ours, cli))")
    }
}
