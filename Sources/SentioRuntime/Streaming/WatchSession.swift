// WatchSession: a media source in, one result per window out (R1-Omni emotion over time).
//
// Two threads. The reader decodes the source in one pass (MediaStreamReader), keeps the window bookkeeping
// (WindowPlan), converts to model pixels only the frames some window will sample, keeps the audio of the
// windows still open in a ring trimmed as windows close, and queues two kinds of work: a frame (analysed as
// soon as it is dequeued, so SigLIP runs while the window is still filling) and a closed window (its frame
// ids and audio). The worker (the caller's thread) runs the analyzer on both, caches per-frame features by
// frame id until no later window can use them, and emits a WatchEvent per window.
//
// Bounded memory: the queue holds at most `maxPendingWindows` closed windows and `maxQueuedFrames` frames.
// Without real-time mode the reader waits when it is full (backpressure: every window of a file is
// processed). In real-time mode (`realtime`, or a live source: device or network stream) the reader never
// waits: one closed window may wait in the queue; a newly closed window replaces it, or, when the worker has
// already begun analysing the waiting window's frames, is itself dropped (so that a worker slower than the
// stream still finishes windows instead of analysing frames of windows that keep being replaced). A dropped
// window is reported as skipped ("behind real time") and its frames leave the queue with it. With `realtime` a regular file or a
// lavfi graph (synthetic, made on demand) is also paced to the wall clock (like ffmpeg -re); pipes are
// assumed to arrive at their own pace.
//
// A source that ends or breaks mid-stream ends the session cleanly: the windows closed so far are processed,
// the last partial window follows WindowPlan's policy, and the summary says how the source ended.
import Foundation
import SentioCore
import SentioMedia

public struct WatchOptions: Sendable {
    public var plan: WindowPlan
    /// Skip windows instead of falling behind (forced on for live sources).
    public var realtime: Bool
    /// Closed windows allowed to wait in the queue (without real-time mode; real-time keeps one).
    public var maxPendingWindows: Int
    /// Frames allowed to wait in the queue before the reader waits (without real-time mode).
    public var maxQueuedFrames: Int
    /// Threads for FFmpeg's video decoder.
    public var decoderThreads: Int

    public init(plan: WindowPlan, realtime: Bool = false, maxPendingWindows: Int = 2, maxQueuedFrames: Int = 32,
                decoderThreads: Int = 1) {
        self.plan = plan; self.realtime = realtime; self.maxPendingWindows = max(1, maxPendingWindows)
        self.maxQueuedFrames = max(8, maxQueuedFrames); self.decoderThreads = decoderThreads
    }
}

/// Seconds per stage for one window. Frame stages are the cost of this window's frames when they were
/// analysed (a frame shared by overlapping windows was analysed once and is counted in each).
public struct WatchTimings: Sendable, Codable, Equatable {
    public var framePixels = 0.0      // RGB conversion + resize + normalise on the reader thread
    public var siglip = 0.0
    public var projectorFrame = 0.0
    public var projectorWindow = 0.0
    public var mel = 0.0
    public var whisper = 0.0
    public var audioProjector = 0.0
    public var assemble = 0.0
    public var prefill = 0.0
    public var decode = 0.0
    /// Wall seconds from the moment the window closed (its end reached the reader) to its result.
    public var latency = 0.0
    public init() {}
    /// Compute seconds of the window stages (what runs after the window closes).
    public var windowCompute: Double { projectorWindow + mel + whisper + audioProjector + assemble + prefill + decode }
}

public struct WatchWindowResult: Sendable {
    public var index: Int
    /// Seconds from the stream origin.
    public var start: Double, end: Double
    /// The final window, cut short by the end of the stream.
    public var partial: Bool
    /// Frames in the window, and the stream frame indices of the sampled ones.
    public var frameCount: Int
    public var frameIndices: [Int]
    /// False when the sampled positions had to fall back to the nearest kept frame (see WindowPlan).
    public var frameSamplingExact: Bool
    public var audioSeconds: Double
    public var analysis: WindowAnalysis
    public var label: String?
    public var timings: WatchTimings
    /// Windows skipped since the previous result.
    public var skippedBefore: Int
}

public struct SkippedWindow: Sendable {
    public var index: Int
    public var start: Double, end: Double
    public var reason: String
}

public enum WatchEvent: Sendable {
    case window(WatchWindowResult)
    case skipped(SkippedWindow)
}

public struct WatchSummary: Sendable {
    public var windows: Int
    public var skipped: Int
    public var end: StreamEnd
    /// Stream time reached, seconds.
    public var streamSeconds: Double
    public var videoFrames: Int
    public var audioSeconds: Double
    public var wallSeconds: Double
    public var warnings: [String]
}

public final class WatchSession<Analyzer: StreamAnalyzer>: @unchecked Sendable {
    public let analyzer: Analyzer
    public let source: MediaSourceSpec
    public let options: WatchOptions
    private let queue: WorkQueue
    private let stopFlag = LockedFlag()

    public init(analyzer: Analyzer, source: MediaSourceSpec, options: WatchOptions) {
        self.analyzer = analyzer
        self.source = source
        self.options = options
        queue = WorkQueue(maxWindows: options.maxPendingWindows, maxFrames: options.maxQueuedFrames)
    }

    /// Closed windows waiting in the queue now (at most one in real-time mode).
    public var queuedWindows: Int { queue.depth.windows }

    /// Asks a running session to stop at the next packet; the windows closed so far are still processed.
    public func stop() { stopFlag.set(); queue.wake() }

    /// Opens the source and runs the session on this thread, calling `onEvent` for each window in order.
    /// Throws only when the source cannot be opened or an analyzer call fails.
    public func run(onEvent: (WatchEvent) throws -> Void) throws -> WatchSummary {
        let reader = try MediaStreamReader(source, videoThreads: options.decoderThreads)
        guard reader.hasVideo else {
            throw MediaError(.noVideoStream, file: source.location, "the source has no video stream (R1-Omni needs frames)")
        }
        let realtime = options.realtime || reader.isLive
        queue.realtime = realtime
        let t0 = Date()
        let feeder = Feeder(reader: reader, analyzer: analyzer, plan: options.plan, queue: queue, stop: stopFlag,
                            pace: options.realtime && (reader.isRegularFile || source.format == "lavfi"), framesPerWindow: analyzer.framesPerWindow)
        let thread = Thread { feeder.run() }
        thread.stackSize = 8 << 20
        thread.start()
        // Per-frame features by frame id, with the windows still waiting for them; an entry leaves when the
        // last of its windows is processed or skipped.
        var cache: [Int: (waiting: Set<Int>, features: Analyzer.Features, seconds: [String: Double], pixelSeconds: Double)] = [:]
        func done(_ k: Int) {
            for (id, var e) in cache where e.waiting.contains(k) {
                e.waiting.remove(k)
                cache[id] = e.waiting.isEmpty ? nil : e
            }
        }
        var windows = 0, skippedSince = 0
        var failure: Error? = nil
        while let work = queue.pop() {
            if failure != nil { continue }   // drain so that the reader can finish
            do {
                switch work {
                case .skipped(let sk):
                    skippedSince += 1
                    done(sk.index)
                    try onEvent(.skipped(sk))
                case .frame(let f):
                    if cache[f.id] == nil {
                        let (features, sec) = try analyzer.frameFeatures(pixels: f.pixels)
                        cache[f.id] = (Set(f.windows), features, sec, f.pixelSeconds)
                    }
                case .window(let w):
                    var tm = WatchTimings()
                    var feats: [Analyzer.Features] = []
                    for id in w.frameIDs {
                        guard let c = cache[id] else {
                            throw SentioError(.argument, "watch: internal error: frame \(id) of window \(w.index) was not analysed")
                        }
                        feats.append(c.features)
                    }
                    for id in Set(w.frameIDs) {
                        let c = cache[id]!
                        tm.siglip += c.seconds["siglip"] ?? 0
                        tm.projectorFrame += c.seconds["projector_frame"] ?? 0
                        tm.framePixels += c.pixelSeconds
                    }
                    let a = try analyzer.analyze(frames: feats, audio16k: w.audio)
                    tm.projectorWindow = a.seconds["projector"] ?? 0
                    tm.mel = a.seconds["mel"] ?? 0
                    tm.whisper = a.seconds["whisper"] ?? 0
                    tm.audioProjector = a.seconds["audio_projector"] ?? 0
                    tm.assemble = a.seconds["assemble"] ?? 0
                    tm.prefill = a.seconds["prefill"] ?? 0
                    tm.decode = a.seconds["decode"] ?? 0
                    tm.latency = Date().timeIntervalSince(w.closedAt)
                    done(w.index)
                    let r = WatchWindowResult(index: w.index, start: Double(w.start) / 1e6, end: Double(w.end) / 1e6,
                                              partial: w.partial, frameCount: w.frameCount, frameIndices: w.frameIndices,
                                              frameSamplingExact: w.exact,
                                              audioSeconds: Double(w.audio.count) / Double(AudioDecoder.sampleRate),
                                              analysis: a, label: EmotionLabels.label(for: a.answer), timings: tm,
                                              skippedBefore: skippedSince)
                    skippedSince = 0
                    windows += 1
                    try onEvent(.window(r))
                }
            } catch {
                failure = error
                queue.abort()
                stopFlag.set()
            }
        }
        feeder.done.wait()
        if let failure { throw failure }
        var end: StreamEnd = reader.end ?? .endOfStream
        if let e = feeder.readError { end = .broken(e) }
        return WatchSummary(windows: windows, skipped: queue.skippedTotal, end: end,
                            streamSeconds: Double(max(0, feeder.streamEnd)) / 1e6, videoFrames: reader.videoFrames,
                            audioSeconds: Double(reader.audioSamples) / Double(AudioDecoder.sampleRate),
                            wallSeconds: Date().timeIntervalSince(t0), warnings: feeder.warnings)
    }

    /// The session's events as an async sequence (the session runs on its own thread). The stream finishes
    /// with the summary's error when the source could not be opened or analysis failed.
    public func events(summary: (@Sendable (WatchSummary) -> Void)? = nil) -> AsyncThrowingStream<WatchEvent, Error> {
        AsyncThrowingStream { cont in
            let t = Thread { [self] in
                do {
                    let s = try self.run { cont.yield($0) }
                    summary?(s)
                    cont.finish()
                } catch { cont.finish(throwing: error) }
            }
            cont.onTermination = { [self] _ in self.stop() }
            t.start()
        }
    }
}

// MARK: - reader side

struct FrameWork: Sendable {
    var id: Int
    var micros: Int64
    var pixels: [Float]
    var pixelSeconds: Double
    /// Windows that sample this frame.
    var windows: [Int]
}

struct WindowJob: Sendable {
    var index: Int
    var start: Int64, end: Int64
    var partial: Bool
    var frameCount: Int
    var frameIDs: [Int]        // frame ids, in sampled order (ids repeat when the window has fewer frames than 8)
    var frameIndices: [Int]    // the same as stream frame indices
    var exact: Bool
    var audio: [Float]
    var closedAt: Date
}

enum Work: Sendable {
    case frame(FrameWork)
    case window(WindowJob)
    case skipped(SkippedWindow)
}

final class LockedFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false
    func set() { lock.withLock { value = true } }
    var isSet: Bool { lock.withLock { value } }
}

/// The bounded queue between reader and worker, with real-time replacement of waiting windows. Items keep
/// stream order; a replaced window stays in place as a `.skipped` item.
final class WorkQueue: @unchecked Sendable {
    private let cond = NSCondition()
    private var items: [Work] = []
    private var head = 0
    private var finished = false
    private var aborted = false
    private var windowsQueued = 0, framesQueued = 0
    /// Windows whose frames the worker has begun to analyse: never replaced, so work once begun is finished
    /// (otherwise a worker slower than the windows could analyse frames forever and finish no window).
    private var started: Set<Int> = []
    private(set) var skippedTotal = 0
    let maxWindows: Int, maxFrames: Int
    var realtime = false

    init(maxWindows: Int, maxFrames: Int) { self.maxWindows = maxWindows; self.maxFrames = maxFrames }

    private func count(_ w: Work, _ d: Int) {
        switch w {
        case .frame: framesQueued += d
        case .window: windowsQueued += d
        case .skipped: break
        }
    }

    static func behind(_ j: WindowJob) -> SkippedWindow {
        SkippedWindow(index: j.index, start: Double(j.start) / 1e6, end: Double(j.end) / 1e6, reason: "processing fell behind real time")
    }

    /// Queues work. Without real-time mode, waits while the queue is full (returns false when aborted).
    @discardableResult
    func push(_ w: Work) -> Bool {
        cond.lock(); defer { cond.unlock() }
        if aborted { return false }
        if case .skipped = w { skippedTotal += 1 }
        if realtime {
            if case .window(let job) = w, windowsQueued > 0 {
                // One window may wait. A waiting window whose frames the worker has begun stays and the new one is
                // skipped; otherwise the new one replaces it. Frames only skipped windows wanted leave the queue.
                var dropped: Set<Int> = []
                var keepsWaiting = false
                for i in head..<items.count {
                    guard case .window(let old) = items[i] else { continue }
                    if started.contains(old.index) { keepsWaiting = true; continue }
                    dropped.insert(old.index)
                    items[i] = .skipped(Self.behind(old))
                    windowsQueued -= 1
                    skippedTotal += 1
                }
                if keepsWaiting {
                    dropped.insert(job.index)
                    skippedTotal += 1
                }
                let rest = items[head...].filter { x in
                    if case .frame(let f) = x, !f.windows.contains(where: { !dropped.contains($0) }) { return false }
                    return true
                }
                framesQueued = rest.reduce(0) { if case .frame = $1 { return $0 + 1 }; return $0 }
                items = Array(rest); head = 0
                if keepsWaiting {
                    items.append(.skipped(Self.behind(job)))
                    cond.broadcast()
                    return true
                }
            }
        } else {
            func full() -> Bool {
                switch w {
                case .window: return windowsQueued >= maxWindows
                case .frame: return framesQueued >= maxFrames
                case .skipped: return false
                }
            }
            while !aborted && full() { cond.wait() }
            if aborted { return false }
        }
        items.append(w)
        count(w, 1)
        cond.broadcast()
        return true
    }

    /// The next work item, nil once the reader has finished and the queue is empty.
    func pop() -> Work? {
        cond.lock(); defer { cond.unlock() }
        while head == items.count && !finished { cond.wait() }
        guard head < items.count else { return nil }
        let w = items[head]
        head += 1
        count(w, -1)
        switch w {
        case .frame(let f): started.formUnion(f.windows)
        case .window(let j): started = started.filter { $0 > j.index }
        case .skipped(let k): started.remove(k.index)
        }
        if head > 64 && head * 2 > items.count { items.removeFirst(head); head = 0 }
        cond.broadcast()
        return w
    }

    func finish() { cond.lock(); finished = true; cond.broadcast(); cond.unlock() }
    func abort() { cond.lock(); aborted = true; items = []; head = 0; windowsQueued = 0; framesQueued = 0; cond.broadcast(); cond.unlock() }
    func wake() { cond.lock(); cond.broadcast(); cond.unlock() }
    var isAborted: Bool { cond.lock(); defer { cond.unlock() }; return aborted }
    /// Items waiting (for tests and memory checks).
    var depth: (windows: Int, frames: Int) { cond.lock(); defer { cond.unlock() }; return (windowsQueued, framesQueued) }
}

/// The reader thread's state: window bookkeeping, kept frames, the audio ring.
final class Feeder<Analyzer: StreamAnalyzer>: @unchecked Sendable {
    struct Open {
        var start: Int64, end: Int64
        var framesSeen = 0
        var firstFrameIndex = 0
        var predicted: Set<Int> = []
        var kept: [Int: Int] = [:]     // window-local index -> frame id
    }

    let reader: MediaStreamReader
    let analyzer: Analyzer
    let plan: WindowPlan
    let queue: WorkQueue
    let stop: LockedFlag
    let pace: Bool
    let framesPerWindow: Int
    let done = DispatchSemaphore(value: 0)
    var warnings: [String] = []
    var readError: String? = nil
    var streamEnd: Int64 = 0

    private var open: [Int: Open] = [:]
    private var nextToClose = 0
    private var ring: [Float] = []
    private var ringFirst = 0          // sample index of ring[0]
    private var wallStart: Date? = nil
    private var lastFrameMicros: Int64 = .min
    private var frameStep: Int64 { Int64(1e6 / (reader.frameRate ?? 25)) }
    /// How far behind the leading stream the other may lag before windows close without it.
    let slack: Int64 = 5_000_000

    init(reader: MediaStreamReader, analyzer: Analyzer, plan: WindowPlan, queue: WorkQueue, stop: LockedFlag, pace: Bool,
         framesPerWindow: Int) {
        self.reader = reader; self.analyzer = analyzer; self.plan = plan; self.queue = queue; self.stop = stop
        self.pace = pace; self.framesPerWindow = framesPerWindow
    }

    func run() {
        defer { queue.finish(); done.signal() }
        do {
            while true {
                if stop.isSet || queue.isAborted { reader.stop(); break }
                let more = try reader.step(onVideo: { try self.video($0) }, onAudio: { self.audio($0, $1) })
                try closeReady(progress())
                if !more { break }
            }
            if reader.end != .stopped { try finishStream() }
        } catch {
            readError = "\(error)"
            if reader.end == nil { reader.stop() }
        }
    }

    /// Stream time up to which every stream has delivered (a stream lagging more than `slack` is not waited for).
    private func progress() -> Int64 {
        let v = reader.hasVideo ? (lastFrameMicros == .min ? nil : lastFrameMicros) : nil
        let a = reader.hasAudio ? reader.audioEndMicros : nil
        switch (v, a) {
        case let (v?, a?): return max(min(v, a), max(v, a) - slack)
        case let (v?, nil): return reader.hasAudio ? v - slack : v
        case let (nil, a?): return reader.hasVideo ? a - slack : a
        default: return .min
        }
    }

    private func paceTo(_ t: Int64) {
        guard pace else { return }
        if wallStart == nil { wallStart = Date().addingTimeInterval(-Double(t) / 1e6) }
        let due = wallStart!.addingTimeInterval(Double(t) / 1e6)
        let wait = due.timeIntervalSinceNow
        if wait > 0 { Thread.sleep(forTimeInterval: min(wait, 5)) }
    }

    private func video(_ f: StreamVideoFrame) throws {
        paceTo(f.micros)
        lastFrameMicros = max(lastFrameMicros, f.micros)
        guard let ks = plan.windows(containing: f.micros) else { return }
        var wanting: [Int] = []
        for k in ks where k >= nextToClose {
            var w = open[k] ?? Open(start: plan.start(k), end: plan.end(k))
            let local = w.framesSeen
            if local == 0 {
                w.firstFrameIndex = f.index
                var end = w.end
                if let d = reader.declaredDurationMicros, reader.isRegularFile { end = min(end, d) }
                let n = WindowPlan.predictedFrameCount(first: f.micros, end: end, fps: reader.frameRate ?? 25)
                w.predicted = Set(FrameSampler.uniformIndices(frameCount: n, count: framesPerWindow))
            }
            if w.predicted.contains(local) { wanting.append(k); w.kept[local] = f.index }
            w.framesSeen += 1
            open[k] = w
        }
        guard !wanting.isEmpty else { return }
        let t0 = Date()
        let px = try analyzer.pixels(try f.rgb())
        queue.push(.frame(FrameWork(id: f.index, micros: f.micros, pixels: px, pixelSeconds: Date().timeIntervalSince(t0),
                                    windows: wanting)))
    }

    private func audio(_ samples: [Float], _ first: Int) {
        if let s = reader.audioStartMicros { paceTo(s + Int64(first) * 1_000_000 / Int64(AudioDecoder.sampleRate)) }
        if ring.isEmpty { ringFirst = first }
        ring.append(contentsOf: samples)
        trimRing()
    }

    private func sampleIndex(_ t: Int64) -> Int {
        let s0 = reader.audioStartMicros ?? 0
        let d = t - s0
        // round(d * 16000 / 1e6) in integers
        return Int((d * Int64(AudioDecoder.sampleRate) + (d >= 0 ? 500_000 : -500_000)) / 1_000_000)
    }

    private func trimRing() {
        let keepFrom = max(0, sampleIndex(plan.start(nextToClose)))
        let drop = min(ring.count, keepFrom - ringFirst)
        if drop > 0 {
            ring.removeFirst(drop)
            ringFirst += drop
        }
    }

    private func audioSlice(_ start: Int64, _ end: Int64) -> [Float] {
        let a = max(sampleIndex(start), ringFirst), b = min(sampleIndex(end), ringFirst + ring.count)
        return b > a ? Array(ring[(a - ringFirst)..<(b - ringFirst)]) : []
    }

    private func closeReady(_ p: Int64) throws {
        guard p != .min else { return }
        while plan.end(nextToClose) <= p {
            try close(nextToClose, end: plan.end(nextToClose), partial: false)
            nextToClose += 1
            trimRing()
        }
    }

    private func finishStream() throws {
        let vEnd = lastFrameMicros == .min ? Int64.min : lastFrameMicros + frameStep
        let end = max(vEnd, reader.audioEndMicros ?? .min)
        streamEnd = max(0, end)
        try closeReady(end)
        // The earliest incomplete window, when the stream goes on past the last complete window's end.
        let k = nextToClose
        let covered = k > 0 ? plan.end(k - 1) : Int64.min
        if plan.start(k) < end, end > covered, end - plan.start(k) >= plan.minimumPartialMicros, open[k] != nil {
            try close(k, end: end, partial: true)
        }
        open = [:]
    }

    private func close(_ k: Int, end: Int64, partial: Bool) throws {
        let w = open.removeValue(forKey: k)
        let start = plan.start(k)
        guard let w, w.framesSeen > 0, !w.kept.isEmpty else {
            queue.push(.skipped(SkippedWindow(index: k, start: Double(start) / 1e6, end: Double(end) / 1e6,
                                            reason: "no video frames in the window")))
            return
        }
        let wanted = FrameSampler.uniformIndices(frameCount: w.framesSeen, count: framesPerWindow)
        let keys = w.kept.keys.sorted()
        var exact = true
        var ids: [Int] = []
        for i in wanted {
            if let id = w.kept[i] { ids.append(id); continue }
            exact = false
            ids.append(w.kept[WindowPlan.nearest(i, in: keys)!]!)
        }
        let job = WindowJob(index: k, start: start, end: end, partial: partial, frameCount: w.framesSeen, frameIDs: ids,
                            frameIndices: ids, exact: exact, audio: audioSlice(start, end), closedAt: Date())
        queue.push(.window(job))
    }
}

