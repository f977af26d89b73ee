// The issue's robustness list, item "video-only file" (the others are in RobustnessTests): a clip with no audio
// track samples its frames as usual, and its audio is the reference's substitute, 10 s of silence at 16 kHz,
// with a warning that says so.
import XCTest
import SentioTestSupport
@testable import SentioMedia

final class VideoOnlyTests: XCTestCase {
    func testVideoOnlyFileGivesFramesAndTenSecondsOfSilence() throws {
        let dir = TestPaths.tempDir("sentio-media-vonly")
        defer { try? FileManager.default.removeItem(at: dir) }
        let f = dir.appendingPathComponent("video-only.mp4")
        try TestMedia.ffmpeg(["-f", "lavfi", "-i", "testsrc2=size=64x48:rate=10:duration=1.2", "-an", "-c:v", "libx264",
                              "-pix_fmt", "yuv420p", f.path])
        // ffprobe confirms there is no audio stream at all.
        let streams = String(decoding: try TestMedia.ffprobe(["-show_entries", "stream=codec_type", "-of", "csv=p=0", f.path]), as: UTF8.self)
        XCTAssertEqual(streams.split(whereSeparator: \.isNewline).map(String.init), ["video"])
        let s = try VideoDecoder.sampleFrames(f)
        XCTAssertEqual(s.frames.count, 8)
        XCTAssertEqual(s.frameCount, 12)
        XCTAssertEqual(s.indices, FrameSampler.uniformIndices(frameCount: 12))
        let (wave, warning) = try AudioDecoder.decodeMono16k(f)
        XCTAssertEqual(wave.count, 160_000, "10 s at 16 kHz")
        XCTAssertTrue(wave.allSatisfy { $0 == 0 })
        XCTAssertTrue(warning?.contains("no audio stream") == true, "\(warning ?? "nil")")
    }
}
