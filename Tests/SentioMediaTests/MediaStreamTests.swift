// MediaStreamReader against the whole-clip decoders (the oracle: VideoDecoder.forEachFrame and
// AudioDecoder.decodeMono16k on the same file, themselves tested against the ffmpeg CLI): one interleaved
// pass must give the same frames (count, timestamps, pixels) and the same 16 kHz mono samples, bit for bit.
import XCTest
import SentioMedia
import SentioTestSupport

final class MediaStreamTests: XCTestCase {
    func testOnePassEqualsWholeClipDecoders() throws {
        let f = TestPaths.tempDir().appendingPathComponent("av.mkv")
        try TestMedia.ffmpeg(["-f", "lavfi", "-i", "testsrc2=size=96x64:rate=12:duration=3", "-f", "lavfi",
                              "-i", "sine=frequency=330:sample_rate=44100:duration=3", "-c:v", "libx264", "-pix_fmt", "yuv420p",
                              "-c:a", "aac", "-ac", "2", f.path])
        var refFrames: [(Double, RGBFrame)] = []
        try VideoDecoder.forEachFrame(f) { _, t, rgb in refFrames.append((t, rgb)); return true }
        let (refAudio, warning) = try AudioDecoder.decodeMono16k(f)
        XCTAssertNil(warning)

        let r = try MediaStreamReader(MediaSourceSpec(f.path))
        XCTAssertTrue(r.hasVideo && r.hasAudio && r.isRegularFile && !r.isLive)
        XCTAssertEqual(try XCTUnwrap(r.frameRate), 12, accuracy: 1e-9)
        var frames: [(Int64, RGBFrame)] = []
        var audio: [Float] = []
        while try r.step(onVideo: { frames.append(($0.micros, try $0.rgb())) },
                         onAudio: { s, first in XCTAssertEqual(first, audio.count); audio += s }) {}
        XCTAssertEqual(r.end, .endOfStream)
        XCTAssertEqual(frames.count, refFrames.count)
        for (a, b) in zip(frames, refFrames) {
            XCTAssertEqual(Double(a.0) / 1e6, b.0, accuracy: 1e-6)
            XCTAssertEqual(a.1, b.1)
        }
        XCTAssertEqual(audio, refAudio)
        XCTAssertEqual(r.audioSamples, refAudio.count)
    }

    func testLavfiSourceAndBadSources() throws {
        let r = try MediaStreamReader(MediaSourceSpec("testsrc2=size=32x24:rate=5:d=1 [out0]; sine=f=200:sample_rate=16000:d=1 [out1]",
                                                      format: "lavfi"))
        XCTAssertTrue(r.hasVideo && r.hasAudio && !r.isRegularFile)
        var n = 0, samples = 0
        while try r.step(onVideo: { _ in n += 1 }, onAudio: { s, _ in samples += s.count }) {}
        XCTAssertEqual(n, 5)
        XCTAssertEqual(samples, 16000)
        XCTAssertThrowsError(try MediaStreamReader(MediaSourceSpec("/nonexistent/x.mkv"))) {
            XCTAssertEqual(($0 as? MediaError)?.reason, .notFound)
        }
        XCTAssertThrowsError(try MediaStreamReader(MediaSourceSpec("x", format: "no-such-format"))) {
            XCTAssertEqual(($0 as? MediaError)?.reason, .unreadable)
        }
        let junk = TestPaths.tempDir().appendingPathComponent("junk.mkv")
        try Data("not media at all".utf8).write(to: junk)
        XCTAssertThrowsError(try MediaStreamReader(MediaSourceSpec(junk.path))) {
            XCTAssertEqual(($0 as? MediaError)?.reason, .unreadable)
        }
    }
}
