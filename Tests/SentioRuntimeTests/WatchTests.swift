// `watch` as a library: window geometry, which frames and audio each window gets, real-time skipping, a
// broken source, bounded memory, and, on the tiny R1-Omni fixture, equality with `recognize` on each
// window cut out as a file (the oracle: the whole-clip path, itself tested against the reference).
// All media is made here with ffmpeg (lossless ffv1 + pcm, so cutting a segment changes no pixel or sample).
import XCTest
import SentioCore
import SentioKernels
import SentioMedia
import SentioModels
import SentioRuntime
import SentioTestSupport

/// Runs ffmpeg quietly; fails the test on a non-zero exit.
func runFFmpeg(_ args: [String], file: StaticString = #filePath, line: UInt = #line) throws {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    p.arguments = ["ffmpeg", "-v", "error", "-nostdin", "-y"] + args
    let err = Pipe()
    p.standardError = err
    p.standardOutput = FileHandle.nullDevice
    try p.run()
    let e = err.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    if p.terminationStatus != 0 {
        XCTFail("ffmpeg \(args.joined(separator: " ")) failed: \(String(decoding: e, as: UTF8.self))", file: file, line: line)
        throw CocoaError(.fileWriteUnknown)
    }
}

/// A lossless test source: testsrc2 video and a sine at 16 kHz mono.
func makeSource(seconds: Double, fps: Int = 10, size: String = "96x64", name: String = "src.mkv") throws -> URL {
    let f = TestPaths.tempDir("sentio-watch").appendingPathComponent(name)
    try runFFmpeg(["-f", "lavfi", "-i", "testsrc2=size=\(size):rate=\(fps):duration=\(seconds)",
                   "-f", "lavfi", "-i", "sine=frequency=300:beep_factor=3:sample_rate=16000:duration=\(seconds)",
                   "-c:v", "ffv1", "-c:a", "pcm_s16le", "-ac", "1", f.path])
    return f
}

/// Records what each window receives; optionally slow. Features are the frames' pixel sums.
final class RecordingAnalyzer: StreamAnalyzer, @unchecked Sendable {
    let delay: Double, frameDelay: Double
    let lock = NSLock()
    var windows: [(frames: [Float], audio: Int)] = []
    var framesAnalysed = 0
    init(delay: Double = 0, frameDelay: Double = 0) { self.delay = delay; self.frameDelay = frameDelay }
    var framesPerWindow: Int { 8 }
    func pixels(_ frame: RGBFrame) throws -> [Float] { [Float(frame.pixels.reduce(0) { $0 &+ Int($1) })] }
    func frameFeatures(pixels: [Float]) throws -> (Float, [String: Double]) {
        if frameDelay > 0 { Thread.sleep(forTimeInterval: frameDelay) }
        lock.withLock { framesAnalysed += 1 }
        return (pixels[0], ["siglip": frameDelay])
    }
    func analyze(frames: [Float], audio16k: [Float]) throws -> WindowAnalysis {
        if delay > 0 { Thread.sleep(forTimeInterval: delay) }
        lock.withLock { windows.append((frames, audio16k.count)) }
        return WindowAnalysis(text: "<answer>happy</answer>", think: nil, answer: "happy", gate: [1, 0, 0], generatedTokens: [],
                              stoppedAtEOS: true, seconds: [:])
    }
}

func vmRSSKB() -> Int {
    guard let s = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
          let l = s.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }) else { return 0 }
    return Int(l.split(separator: " ").dropFirst().first ?? "0") ?? 0
}

final class WatchTests: XCTestCase {
    func testWindowGeometry() throws {
        let p = try WindowPlan(window: 4, hop: 3)
        XCTAssertEqual(p.start(2), 6_000_000)
        XCTAssertEqual(p.end(2), 10_000_000)
        XCTAssertEqual(p.windows(containing: 0), 0...0)
        XCTAssertEqual(p.windows(containing: 3_000_000), 0...1)    // [0,4) and [3,7)
        XCTAssertEqual(p.windows(containing: 3_999_999), 0...1)
        XCTAssertEqual(p.windows(containing: 4_000_000), 1...1)    // the end is exclusive
        XCTAssertNil(p.windows(containing: -1))
        let gaps = try WindowPlan(window: 2, hop: 5)
        XCTAssertNil(gaps.windows(containing: 3_000_000))           // between [0,2) and [5,7)
        XCTAssertEqual(gaps.windows(containing: 6_000_000), 1...1)
        // Brute force against the definition on a grid of times.
        let q = try WindowPlan(window: 2.5, hop: 1)
        for t in stride(from: Int64(0), to: 20_000_000, by: 250_000) {
            let want = (0..<30).filter { q.start($0) <= t && t < q.end($0) }
            XCTAssertEqual(q.windows(containing: t).map(Array.init) ?? [], want, "t=\(t)")
        }
        XCTAssertThrowsError(try WindowPlan(window: 0, hop: 1))
        XCTAssertThrowsError(try WindowPlan(window: 1, hop: -1))
        XCTAssertThrowsError(try WindowPlan(window: .nan, hop: 1))
        XCTAssertEqual(WindowPlan.predictedFrameCount(first: 0, end: 4_000_000, fps: 10), 40)
        XCTAssertEqual(WindowPlan.predictedFrameCount(first: 3_000_000, end: 7_000_000, fps: 25), 100)
        XCTAssertEqual(WindowPlan.predictedFrameCount(first: 33_367, end: 1_000_000, fps: 29.97), 29)
        XCTAssertEqual(WindowPlan.nearest(5, in: [0, 4, 6, 9]), 4)
        XCTAssertEqual(WindowPlan.nearest(9, in: [0, 4, 6, 9]), 9)
    }

    /// Every window of a file gets the frames `recognize` would sample from it and exactly its audio; the
    /// final partial window follows the documented policy.
    func testWindowsGetTheirFramesAndAudio() throws {
        let src = try makeSource(seconds: 12.5)
        let a = RecordingAnalyzer()
        let s = WatchSession(analyzer: a, source: MediaSourceSpec(src.path), options: WatchOptions(plan: try WindowPlan(window: 4, hop: 3)))
        var results: [WatchWindowResult] = []
        let sum = try s.run { if case .window(let r) = $0 { results.append(r) } else { XCTFail("unexpected skip") } }
        XCTAssertEqual(sum.end, .endOfStream)
        XCTAssertEqual(sum.videoFrames, 125)
        // [0,4) [3,7) [6,10) complete; [9,12.5) partial (stream goes past 10); [12,16) lies inside it.
        XCTAssertEqual(results.map(\.start), [0, 3, 6, 9])
        XCTAssertEqual(results.map(\.end), [4, 7, 10, 12.5])
        XCTAssertEqual(results.map(\.partial), [false, false, false, true])
        XCTAssertEqual(results.map(\.frameCount), [40, 40, 40, 35])
        for r in results {
            let first = Int((r.start * 10).rounded())
            XCTAssertEqual(r.frameIndices, FrameSampler.uniformIndices(frameCount: r.frameCount, count: 8).map { $0 + first })
            XCTAssertTrue(r.frameSamplingExact)
            XCTAssertEqual(r.audioSeconds, r.end - r.start, accuracy: 1e-9)
            XCTAssertEqual(r.label, "happy")
        }
        XCTAssertEqual(a.windows.map(\.audio), [64000, 64000, 64000, 56000])
        // Overlapping windows share frames: fewer frames analysed than 8 per window would need, when shared.
        XCTAssertLessThanOrEqual(a.framesAnalysed, 32)

        // window == hop: the 0.5 s tail is shorter than the minimum partial window (1 s) and is dropped.
        let b = WatchSession(analyzer: RecordingAnalyzer(), source: MediaSourceSpec(src.path),
                             options: WatchOptions(plan: try WindowPlan(window: 4, hop: 4)))
        var ends: [Double] = []
        _ = try b.run { if case .window(let r) = $0 { ends.append(r.end) } }
        XCTAssertEqual(ends, [4, 8, 12])
    }

    /// The same session consumed as an AsyncSequence.
    func testEventsAsAsyncSequence() async throws {
        let src = try makeSource(seconds: 5, size: "32x24")
        let s = WatchSession(analyzer: RecordingAnalyzer(), source: MediaSourceSpec(src.path),
                             options: WatchOptions(plan: try WindowPlan(window: 2, hop: 1)))
        var starts: [Double] = []
        for try await e in s.events() { if case .window(let r) = e { starts.append(r.start) } }
        XCTAssertEqual(starts, [0, 1, 2, 3])   // [3,5) is the last complete window; no tail is left
        let bad = WatchSession(analyzer: RecordingAnalyzer(), source: MediaSourceSpec("/no/such.mkv"),
                               options: WatchOptions(plan: try WindowPlan(window: 2, hop: 1)))
        do { for try await _ in bad.events() {}; XCTFail("expected an error") } catch let e as MediaError { XCTAssertEqual(e.reason, .notFound) }
    }

    /// Real-time mode: a file paced to the clock, an analyzer slower than the windows: windows are skipped and
    /// reported, never queued without bound, and results stay close to the live edge.
    func testRealtimeSkipsWindowsWhenBehind() throws {
        let src = try makeSource(seconds: 6, fps: 10, size: "32x24")
        let a = RecordingAnalyzer(delay: 0.9)
        let s = WatchSession(analyzer: a, source: MediaSourceSpec(src.path),
                             options: WatchOptions(plan: try WindowPlan(window: 0.5, hop: 0.5), realtime: true))
        var done: [Int] = [], skipped: [Int] = [], maxLatency = 0.0, maxQueued = 0
        let t0 = Date()
        let sum = try s.run { e in
            maxQueued = max(maxQueued, s.queuedWindows)
            switch e {
            case .window(let r): done.append(r.index); maxLatency = max(maxLatency, r.timings.latency)
            case .skipped(let k): skipped.append(k.index); XCTAssertEqual(k.reason, "processing fell behind real time")
            }
        }
        let wall = Date().timeIntervalSince(t0)
        XCTAssertGreaterThanOrEqual(wall, 5.0, "the file is paced to the clock")
        XCTAssertEqual(Set(done).union(skipped), Set(0..<12), "every window is either processed or reported skipped")
        XCTAssertTrue(Set(done).isDisjoint(with: skipped))
        XCTAssertGreaterThan(skipped.count, 3)
        XCTAssertEqual(sum.skipped, skipped.count)
        XCTAssertLessThanOrEqual(maxQueued, 1)
        // At most one window waits while one runs: latency <= two analyses plus scheduling slack.
        XCTAssertLessThan(maxLatency, 2 * 0.9 + 0.6)
        XCTAssertEqual(done, done.sorted())
    }

    /// Real-time mode when even the per-frame work of a window takes longer than a hop (8 x 0.1 s against
    /// 0.5 s windows): a window whose frames are being analysed is not replaced, so windows still finish
    /// (replacing it would analyse frames forever and finish nothing), and the queue stays bounded.
    func testRealtimeFinishesWindowsWhenFrameWorkIsSlowerThanTheHop() throws {
        let src = try makeSource(seconds: 6, fps: 10, size: "32x24")
        let a = RecordingAnalyzer(delay: 0.2, frameDelay: 0.1)
        let s = WatchSession(analyzer: a, source: MediaSourceSpec(src.path),
                             options: WatchOptions(plan: try WindowPlan(window: 0.5, hop: 0.5), realtime: true))
        var done: [Int] = [], skipped: [Int] = [], maxQueued = 0
        _ = try s.run { e in
            maxQueued = max(maxQueued, s.queuedWindows)
            switch e {
            case .window(let r): done.append(r.index)
            case .skipped(let k): skipped.append(k.index)
            }
        }
        XCTAssertGreaterThanOrEqual(done.count, 3, "done \(done), skipped \(skipped)")
        XCTAssertGreaterThan(skipped.count, 0)
        XCTAssertEqual(Set(done).union(skipped), Set(0..<12))
        XCTAssertLessThanOrEqual(maxQueued, 1)
        // Frames of dropped windows leave the queue unanalysed: fewer than 8 per window are analysed.
        XCTAssertLessThan(a.framesAnalysed, 8 * 12 * 2 / 3)
    }

    /// A file cut short (its header still declares the full length) ends cleanly with the windows so far.
    func testTruncatedSourceEndsCleanly() throws {
        let src = try makeSource(seconds: 12, size: "64x48")
        let data = try Data(contentsOf: src)
        let cut = src.deletingLastPathComponent().appendingPathComponent("cut.mkv")
        try data.prefix(data.count / 2).write(to: cut)
        let s = WatchSession(analyzer: RecordingAnalyzer(), source: MediaSourceSpec(cut.path),
                             options: WatchOptions(plan: try WindowPlan(window: 2, hop: 2)))
        var windows = 0
        let sum = try s.run { if case .window = $0 { windows += 1 } }
        guard case .broken(let why) = sum.end else { return XCTFail("expected a broken end, got \(sum.end)") }
        XCTAssertTrue(why.contains("declares"), why)
        XCTAssertGreaterThan(windows, 0)
        XCTAssertLessThan(sum.streamSeconds, 11)
        XCTAssertEqual(sum.windows, windows)
    }

    func testSourcesWithoutVideoOrMissing() throws {
        let a = TestPaths.tempDir().appendingPathComponent("a.wav")
        try runFFmpeg(["-f", "lavfi", "-i", "sine=d=1", a.path])
        let plan = try WindowPlan(window: 1, hop: 1)
        XCTAssertThrowsError(try WatchSession(analyzer: RecordingAnalyzer(), source: MediaSourceSpec(a.path), options: WatchOptions(plan: plan)).run { _ in }) {
            XCTAssertEqual(($0 as? MediaError)?.reason, .noVideoStream)
        }
        XCTAssertThrowsError(try WatchSession(analyzer: RecordingAnalyzer(), source: MediaSourceSpec("/no/such.mkv"), options: WatchOptions(plan: plan)).run { _ in }) {
            XCTAssertEqual(($0 as? MediaError)?.reason, .notFound)
        }
    }

    // MARK: - tiny R1-Omni

    static let recognizer: EmotionRecognizer = {
        do { return try EmotionRecognizer(url: try OmniFixture.sentio(.f32).url, pool: ThreadPool(threads: 2)) }
        catch { fatalError("tiny model: \(error)") }
    }()

    /// The per-frame / per-window split of the vision projector equals the batched projector (same kernels on
    /// the same rows; 1e-5 relative allows a different blocking of the same sums).
    func testFramePartsEqualBatchedProjector() throws {
        let m = Self.recognizer.model
        let g = m.config.vision.imageSize / m.config.vision.patchSize
        var rng = TestRNG(seed: 11)
        let frames = m.config.numFrames
        let features = rng.floats(frames * g * g * m.config.projector.inputSize)
        let whole = try m.projector.branches(features: features, frames: frames)
        let per = m.config.projector.inputSize * g * g
        let parts = try (0..<frames).map { try m.projector.frameParts(features: Array(features[($0 * per)..<(($0 + 1) * per)])) }
        let split = try m.projector.branches(frameParts: parts)
        for (a, b) in [(split.video, whole.video), (split.body, whole.body), (split.face, whole.face)] {
            XCTAssertLessThanOrEqual(compare(a, b).maxRel, 1e-5, "\(compare(a, b))")
        }
    }

    /// Each window's answer equals `recognize` on the same segment cut out as a file: same greedy tokens, same
    /// gate, same frame count. (The prefix is prefilled once and forked; SigLIP ran frame by frame.)
    func testWindowsEqualRecognizeOnCutSegments() throws {
        let src = try makeSource(seconds: 8.5, size: "96x64")
        let rec = Self.recognizer
        let analyzer = try OmniStreamAnalyzer(recognizer: rec, maxTokens: 8)
        let s = WatchSession(analyzer: analyzer, source: MediaSourceSpec(src.path), options: WatchOptions(plan: try WindowPlan(window: 4, hop: 3)))
        var results: [WatchWindowResult] = []
        _ = try s.run { if case .window(let r) = $0 { results.append(r) } }
        XCTAssertEqual(results.map(\.start), [0, 3, 6])
        XCTAssertEqual(results.map(\.end), [4, 7, 8.5])
        for r in results {
            let seg = src.deletingLastPathComponent().appendingPathComponent("seg-\(r.index).mkv")
            try runFFmpeg(["-i", src.path, "-ss", "\(r.start)", "-t", "\(r.end - r.start)", "-c:v", "ffv1", "-c:a", "pcm_s16le", seg.path])
            XCTAssertEqual(try VideoDecoder.frameCount(seg), r.frameCount)
            let (ref, _) = try rec.recognize(clip: seg, maxTokens: 8)
            XCTAssertEqual(r.analysis.generatedTokens, ref.generatedTokens, "window \(r.index)")
            XCTAssertEqual(r.analysis.text, ref.text)
            for i in 0..<3 { XCTAssertEqual(r.analysis.gate[i], ref.gate[i], accuracy: 1e-6) }
            XCTAssertGreaterThan(r.timings.whisper, 0)
            XCTAssertGreaterThan(r.timings.prefill, 0)
        }
    }

    /// Bounded memory on the tiny model: four minutes of low-resolution lavfi input (generated on the fly,
    /// in-process) with one result per 20 s; resident memory must not grow between early and late windows.
    func testResidentMemoryStaysFlat() throws {
        let analyzer = try OmniStreamAnalyzer(recognizer: Self.recognizer, maxTokens: 1)
        let graph = "testsrc2=size=64x48:rate=5:d=240 [out0]; sine=f=300:beep_factor=2:sample_rate=16000:d=240 [out1]"
        let s = WatchSession(analyzer: analyzer, source: MediaSourceSpec(graph, format: "lavfi"),
                             options: WatchOptions(plan: try WindowPlan(window: 20, hop: 20)))
        var rss: [Int] = []
        let sum = try s.run { if case .window = $0 { rss.append(vmRSSKB()) } }
        XCTAssertEqual(sum.windows, 12)
        XCTAssertEqual(sum.end, .endOfStream)
        print("watch tiny-model RSS per window (KB): \(rss)")
        // The first windows grow the heap while glibc raises its dynamic mmap threshold, moving big buffers from
        // mmap to the heap, which keeps freed memory for reuse (measured: flat from the 7th window on, here
        // and over 20 windows with Benchmarks/watch-rss.sh). From then on nothing may grow: a leak of one
        // window's frames (8 x 600 KB of pixels) would add ~19 MB over the last 4 windows.
        XCTAssertLessThan(rss.last! - rss[7], 6 * 1024, "\(rss)")
    }
}
