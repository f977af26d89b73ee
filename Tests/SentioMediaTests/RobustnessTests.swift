import XCTest
import Foundation
import SentioTestSupport
@testable import SentioMedia

/// Bad and unusual inputs, made with the ffmpeg CLI in a temporary folder. Small sizes keep this fast.
final class RobustnessTests: XCTestCase {
    var dir: URL!

    override func setUpWithError() throws {
        dir = TestPaths.tempDir("sentio-media")
    }

    override func tearDown() {
        try? FileManager.default.removeItem(at: dir)
    }

    func expectMediaError(_ reason: MediaError.Reason, _ body: () throws -> Void, line: UInt = #line) {
        do {
            try body()
            XCTFail("expected \(reason) error", line: line)
        } catch let e as MediaError {
            XCTAssertEqual(e.reason, reason, "\(e)", line: line)
            XCTAssertFalse(e.message.isEmpty, line: line)
            XCTAssertEqual(e.sentioError.kind, .media, line: line)
        } catch {
            XCTFail("unexpected error \(error)", line: line)
        }
    }

    func testMissingPath() {
        let f = dir.appendingPathComponent("nope.mp4")
        expectMediaError(.notFound) { _ = try VideoDecoder.sampleFrames(f) }
        expectMediaError(.notFound) { _ = try AudioDecoder.decodeMono16k(f) }
    }

    func testDirectory() {
        expectMediaError(.notAFile) { _ = try VideoDecoder.sampleFrames(self.dir) }
    }

    func testZeroByteFile() throws {
        let f = dir.appendingPathComponent("empty.mp4")
        XCTAssertTrue(FileManager.default.createFile(atPath: f.path, contents: Data()))
        expectMediaError(.unreadable) { _ = try VideoDecoder.sampleFrames(f) }
    }

    func testTextFileNamedMp4() throws {
        let f = dir.appendingPathComponent("notes.mp4")
        try Data(String(repeating: "this is not a video, just some text.\n", count: 50).utf8).write(to: f)
        expectMediaError(.unreadable) { _ = try VideoDecoder.sampleFrames(f) }
        expectMediaError(.unreadable) { _ = try AudioDecoder.decodeMono16k(f) }
    }

    func testAudioOnlyFile() throws {
        let f = dir.appendingPathComponent("audio-only.mp4")
        try TestMedia.ffmpeg(["-f", "lavfi", "-i", "sine=frequency=300:sample_rate=22050:duration=0.5", "-c:a", "aac", f.path])
        expectMediaError(.noVideoStream) { _ = try VideoDecoder.sampleFrames(f) }
        let (s, w) = try AudioDecoder.decodeMono16k(f)
        XCTAssertNil(w)
        XCTAssertGreaterThan(s.count, 7000)
    }

    /// ffmpeg writes the index (moov) at the end: cutting the file loses it and the file cannot be opened.
    /// With the index in front (+faststart), a cut file opens, and the frames that survive are sampled.
    func testTruncatedMp4() throws {
        let full = dir.appendingPathComponent("full.mp4"), fast = dir.appendingPathComponent("fast.mp4")
        let src = ["-f", "lavfi", "-i", "testsrc2=size=96x64:rate=25:duration=4", "-c:v", "libx264", "-g", "25", "-pix_fmt", "yuv420p"]
        try TestMedia.ffmpeg(src + [full.path])
        try TestMedia.ffmpeg(src + ["-movflags", "+faststart", fast.path])
        let cut1 = dir.appendingPathComponent("cut1.mp4"), cut2 = dir.appendingPathComponent("cut2.mp4")
        let d1 = try Data(contentsOf: full), d2 = try Data(contentsOf: fast)
        try d1.prefix(d1.count / 2).write(to: cut1)
        try d2.prefix(d2.count / 2).write(to: cut2)
        expectMediaError(.unreadable) { _ = try VideoDecoder.sampleFrames(cut1) }
        let s = try VideoDecoder.sampleFrames(cut2)
        XCTAssertEqual(s.frames.count, 8)
        XCTAssertLessThan(s.frameCount, 100, "fewer frames than the container promised")
        XCTAssertFalse(s.warnings.isEmpty)
        XCTAssertEqual(s.indices, FrameSampler.uniformIndices(frameCount: s.frameCount))
    }

    /// Variable frame rate in Matroska (no exact frame count in the container: packets are counted). Oracle:
    /// the ffmpeg CLI's frames with no frame-rate conversion, at the sampled indices.
    func testVariableFrameRate() throws {
        let f = dir.appendingPathComponent("vfr.mkv")
        try TestMedia.ffmpeg(["-f", "lavfi", "-i", "testsrc2=size=64x48:rate=20:duration=3",
                              "-vf", "setpts='if(lt(N,20),N*3,N+40)/20/TB'", "-fps_mode", "vfr",
                              "-c:v", "libx264", "-pix_fmt", "yuv420p", f.path])
        let raw = try TestMedia.ffmpeg(["-i", f.path, "-fps_mode", "passthrough", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"])
        let per = 64 * 48 * 3
        let cliFrames = raw.count / per
        var pts: [Double] = []
        try VideoDecoder.forEachFrame(f) { _, t, _ in pts.append(t); return true }
        XCTAssertEqual(pts.count, cliFrames)
        XCTAssertEqual(try VideoDecoder.frameCount(f), cliFrames)
        // Timestamps as ffprobe reports them, and the gaps really vary.
        let probe = String(decoding: try TestMedia.ffprobe(["-select_streams", "v", "-show_entries", "frame=pts_time",
                                                            "-of", "csv=p=0", f.path]), as: UTF8.self)
        let probePts = probe.split(whereSeparator: \.isNewline).compactMap { Double($0.split(separator: ",")[0]) }
        XCTAssertEqual(probePts.count, pts.count)
        for (a, b) in zip(pts, probePts) { XCTAssertEqual(a, b, accuracy: 1e-6) }
        let gaps = zip(pts.dropFirst(), pts).map { $0 - $1 }
        XCTAssertGreaterThan(gaps.max()! - gaps.min()!, 0.05, "frame gaps should vary: \(gaps)")
        let s = try VideoDecoder.sampleFrames(f)
        XCTAssertEqual(s.frameCount, cliFrames)
        for (k, i) in s.indices.enumerated() {
            XCTAssertEqual(s.frames[k].pixels, [UInt8](raw[(i * per)..<((i + 1) * per)]), "frame \(i)")
        }
    }

    /// Rotation metadata: frames come out turned like the ffmpeg CLI's autorotate shows them. Quadrants of four
    /// colours make the orientation checkable (the CLI turns before colour conversion, so compare colours, not bytes).
    func testRotatedVideo() throws {
        let plain = dir.appendingPathComponent("plain.mp4")
        try TestMedia.ffmpeg(["-f", "lavfi", "-i", "color=c=red:s=32x24:d=0.4", "-f", "lavfi", "-i", "color=c=lime:s=32x24:d=0.4",
                              "-f", "lavfi", "-i", "color=c=blue:s=32x24:d=0.4", "-f", "lavfi", "-i", "color=c=white:s=32x24:d=0.4",
                              "-filter_complex", "[0][1]hstack[t];[2][3]hstack[b];[t][b]vstack", "-c:v", "libx264", "-pix_fmt", "yuv420p", plain.path])
        for angle in ["90", "180", "270"] {
            let rot = dir.appendingPathComponent("rot\(angle).mp4")
            try TestMedia.ffmpeg(["-i", plain.path, "-c", "copy", "-metadata:s:v:0", "rotate=\(angle)", rot.path])
            let s = try VideoDecoder.sampleFrames(rot)
            let f = s.frames[0]
            let swapped = angle != "180"
            XCTAssertEqual(f.width, swapped ? 48 : 64, "rotate=\(angle)")
            XCTAssertEqual(f.height, swapped ? 64 : 48, "rotate=\(angle)")
            let raw = try TestMedia.ffmpeg(["-i", rot.path, "-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"])
            XCTAssertEqual(raw.count, f.pixels.count)
            let cli = RGBFrame(width: f.width, height: f.height, pixels: [UInt8](raw))
            for (qx, qy) in [(1, 1), (3, 1), (1, 3), (3, 3)] {
                let x = qx * f.width / 4, y = qy * f.height / 4
                let a = f.pixel(x: x, y: y), b = cli.pixel(x: x, y: y)
                for (u, v) in [(a.0, b.0), (a.1, b.1), (a.2, b.2)] {
                    XCTAssertLessThan(abs(Int(u) - Int(v)), 16, "rotate=\(angle) quadrant (\(qx),\(qy)): ours \(a) cli \(b)")
                }
            }
        }
        // And the unrotated file keeps red top-left.
        let p = try VideoDecoder.sampleFrames(plain).frames[0].pixel(x: 8, y: 6)
        XCTAssertGreaterThan(p.0, 200); XCTAssertLessThan(p.1, 40)
    }

    /// An 8K (7680x4320) clip of two frames: decodes and samples (frame 0 four times, frame 1 four times), and
    /// matches the ffmpeg CLI's RGB. Preprocessing the 8K frame runs too under SENTIO_SLOW (slow in debug builds).
    func testEightKFrames() throws {
        let f = dir.appendingPathComponent("8k.mp4")
        try TestMedia.ffmpeg(["-f", "lavfi", "-i", "testsrc2=size=7680x4320:rate=10:duration=0.2", "-c:v", "libx264",
                              "-preset", "ultrafast", "-pix_fmt", "yuv420p", f.path])
        let s = try VideoDecoder.sampleFrames(f)
        XCTAssertEqual(s.frameCount, 2)
        XCTAssertEqual(s.indices, [0, 0, 0, 0, 1, 1, 1, 1])
        XCTAssertEqual(s.frames[0].width, 7680); XCTAssertEqual(s.frames[0].height, 4320)
        let raw = try TestMedia.ffmpeg(["-i", f.path, "-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"])
        XCTAssertEqual(raw.count, s.frames[0].pixels.count)
        let same = raw.withUnsafeBytes { r in s.frames[0].pixels.withUnsafeBytes { memcmp(r.baseAddress!, $0.baseAddress!, min(r.count, $0.count)) } }
        XCTAssertEqual(same, 0, "8K frame 0 differs from the ffmpeg CLI's")
        if slowTestsEnabled {
            let px = ImagePreprocessor.pixelValues(s.frames[0], mode: .inference)
            XCTAssertEqual(px.count, 3 * 224 * 224)
            XCTAssertTrue(px.allSatisfy { $0 >= -1 && $0 <= 1 })
        }
    }

    /// SENTIO_SLOW: a 10-minute clip. Sampling keeps 8 frames whatever the length, so peak RSS after the long
    /// clip must stay close to the peak after a 30 s one.
    func testLongClipMemoryBounded() throws {
        try XCTSkipUnless(slowTestsEnabled, "set SENTIO_SLOW=1")
        func make(_ seconds: Int) throws -> URL {
            let f = dir.appendingPathComponent("long\(seconds).mp4")
            try TestMedia.ffmpeg(["-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25:duration=\(seconds)", "-f", "lavfi",
                                  "-i", "sine=frequency=440:sample_rate=44100:duration=\(seconds)", "-c:v", "libx264", "-preset", "ultrafast",
                                  "-pix_fmt", "yuv420p", "-c:a", "aac", f.path])
            return f
        }
        let short = try make(30), long = try make(600)
        func run(_ f: URL) throws -> (Int, Double) {
            let t0 = Date()
            let s = try VideoDecoder.sampleFrames(f)
            _ = ImagePreprocessor.pixelValues(s.frames, mode: .inference)
            XCTAssertEqual(s.frames.count, 8)
            return (maxRSSKiB(), Date().timeIntervalSince(t0))
        }
        let (a, ta) = try run(short)
        let (b, tb) = try run(long)
        print("peak RSS after 30 s clip: \(a / 1024) MiB (\(ta) s); after 10 min clip: \(b / 1024) MiB (\(tb) s)")
        XCTAssertLessThan(b - a, 32 * 1024, "peak RSS grew by \((b - a) / 1024) MiB")
        // Audio of 10 minutes is 9.6M floats (38 MB) by nature; it is decoded in full, as the reference does.
    }

    /// SENTIO_SLOW: decode + preprocess timing of a 10 s 1080p clip (printed; release build recommended).
    func testTiming1080p() throws {
        try XCTSkipUnless(slowTestsEnabled, "set SENTIO_SLOW=1")
        let f = dir.appendingPathComponent("hd.mp4")
        try TestMedia.ffmpeg(["-f", "lavfi", "-i", "testsrc2=size=1920x1080:rate=30:duration=10", "-f", "lavfi",
                              "-i", "sine=frequency=440:sample_rate=48000:duration=10", "-c:v", "libx264", "-preset", "veryfast",
                              "-pix_fmt", "yuv420p", "-c:a", "aac", "-ac", "2", f.path])
        for run in 0..<3 {
            let t0 = Date()
            let s = try VideoDecoder.sampleFrames(f)
            let t1 = Date()
            _ = ImagePreprocessor.pixelValues(s.frames, mode: .inference)
            let t2 = Date()
            let (wave, _) = try AudioDecoder.decodeMono16k(f)
            let t3 = Date()
            _ = LogMel(mels: 128).compute(wave)
            let t4 = Date()
            print(String(format: "1080p 10 s run %d: video decode+sample %.3f s, preprocess 8 frames %.3f s, audio %.3f s, log-mel %.3f s",
                         run, t1.timeIntervalSince(t0), t2.timeIntervalSince(t1), t3.timeIntervalSince(t2), t4.timeIntervalSince(t3)))
        }
    }
}

/// Peak resident set size of this process in KiB (Linux ru_maxrss).
func maxRSSKiB() -> Int {
    var u = rusage()
    getrusage(RUSAGE_SELF.rawValue, &u)
    return Int(u.ru_maxrss)
}
