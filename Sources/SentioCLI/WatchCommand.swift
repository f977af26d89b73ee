import ArgumentParser
import Foundation
import SentioCore
import SentioKernels
import SentioMedia
import SentioModels
import SentioRuntime

struct Watch: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Emotion over time in a long or live source with R1-Omni: one result per window.",
        discussion: """
        SOURCE is anything FFmpeg opens: a file, `-` for standard input (a pipe), a device or a URL \
        (rtsp://, http://...); `--format lavfi` opens a filter graph such as `testsrc2=d=60`. Window k covers \
        [k*hop, k*hop+window) seconds; the final partial window is processed when it holds at least \
        --min-partial seconds. With --realtime (and always for devices and network streams) windows are \
        skipped, and reported, when processing falls behind; otherwise every window is processed. \
        Exit code 0 when the source ended normally, 4 when it broke or ended before its declared duration \
        (the windows so far are written).
        """)

    @Option(name: .shortAndLong, help: "R1-Omni model (.sentio)") var model: String
    @Argument(help: "Media source: file, -, device, URL, or a lavfi graph with --format lavfi") var source: String
    @Option(help: "Window length in seconds") var window: Double = 10
    @Option(help: "Hop between window starts in seconds (default: the window length)") var hop: Double?
    @Option(help: "Shortest final partial window processed, seconds") var minPartial: Double = 1
    @Flag(help: "Keep up with real time: pace files to the clock and skip windows when behind") var realtime = false
    @Flag(help: "One JSON object per line per window") var json = false
    @Option(help: "Write the timeline as an SVG chart (rewritten after each window)") var plot: String?
    @Option(help: "Maximum new tokens per window") var maxTokens: Int = 256
    @Option(name: .shortAndLong, help: "Threads (default: all cores)") var threads: Int?
    @OptionGroup var load: RecognizerLoadOptions
    @Option(help: "FFmpeg input format (lavfi, v4l2, matroska, ...)") var format: String?
    @Option(help: "Prompt layout: inference or training") var promptMode: String = "inference"
    @Option(help: "Instruction (default: R1-Omni's)") var instruction: String?

    func run() throws {
        try runReportingErrors {
            guard let mode = PromptMode(rawValue: promptMode) else { throw SentioError(.argument, "--prompt-mode must be inference or training") }
            guard maxTokens > 0 else { throw SentioError(.argument, "--max-tokens must be positive") }
            let plan = try WindowPlan(window: window, hop: hop ?? window, minimumPartial: minPartial)
            let url = URL(fileURLWithPath: model)
            let rec = try openRecognizer(url, threads: threads, load: load)
            let analyzer = try OmniStreamAnalyzer(recognizer: rec, instruction: instruction ?? OmniModel.defaultInstruction,
                                                  mode: mode, maxTokens: maxTokens)
            let session = WatchSession(analyzer: analyzer, source: MediaSourceSpec(source, format: format),
                                       options: WatchOptions(plan: plan, realtime: realtime))
            var timeline = WatchTimeline(hop: hop ?? window)
            let summary: WatchSummary
            do {
                summary = try session.run { event in
                    timeline.add(event)
                    emit(event)
                    if let plot { try writePlot(timeline, to: plot) }
                }
            } catch let e as MediaError {
                stderr("sentio: error: \(e.description)\n")
                throw ExitCode(e.reason == .notFound ? ExitCodes.notFound : (e.reason == .noVideoStream ? ExitCodes.noVideo : ExitCodes.badInput))
            }
            if let plot { try writePlot(timeline, to: plot) }
            let how: String
            switch summary.end {
            case .endOfStream: how = "end of stream"
            case .stopped: how = "stopped"
            case .broken(let why): how = "source broke: \(why)"
            }
            stderr(String(format: "sentio: watch: %d windows, %d skipped, %.1f s of stream (%d frames) in %.1f s; %@\n",
                          summary.windows, summary.skipped, summary.streamSeconds, summary.videoFrames, summary.wallSeconds, how))
            for w in summary.warnings { stderr("sentio: warning: \(w)\n") }
            if case .broken = summary.end { throw ExitCode(ExitCodes.badInput) }
        }
    }

    func writePlot(_ t: WatchTimeline, to path: String) throws {
        var name = format == nil ? URL(fileURLWithPath: source).lastPathComponent : source
        if name.count > 60 { name = String(name.prefix(57)) + "..." }
        do { try Data(t.svg(title: "Emotion over time: \(name)").utf8)
                .write(to: URL(fileURLWithPath: path), options: .atomic) }
        catch { throw SentioError(.io, file: path, "cannot write the plot: \(error.localizedDescription)") }
    }

    func emit(_ e: WatchEvent) {
        switch e {
        case .window(let r):
            if json {
                let t = r.timings, a = r.analysis
                printJSONLine(["window": r.index, "start": r.start, "end": r.end, "partial": r.partial,
                               "label": r.label as Any, "answer": a.answer as Any, "think": a.think as Any, "output": a.text,
                               "gate": ["video": a.gate[0], "body": a.gate[1], "face": a.gate[2]],
                               "frames": r.frameCount, "frame_indices": r.frameIndices, "frame_sampling_exact": r.frameSamplingExact,
                               "audio_s": r.audioSeconds, "generated_tokens": a.generatedTokens.count,
                               "generated_token_ids": a.generatedTokens.map(Int.init), "stopped_at_eos": a.stoppedAtEOS,
                               "skipped_before": r.skippedBefore,
                               "latency": ["frame_pixels_s": t.framePixels, "siglip_s": t.siglip, "projector_frame_s": t.projectorFrame,
                                           "projector_window_s": t.projectorWindow, "mel_s": t.mel, "whisper_s": t.whisper,
                                           "audio_projector_s": t.audioProjector, "assemble_s": t.assemble, "prefill_s": t.prefill,
                                           "decode_s": t.decode, "window_compute_s": t.windowCompute, "total_s": t.latency]])
            } else {
                line(String(format: "[%8.1f - %8.1f s]%@ %@  gate video/body/face %@  (%.1f s%@)",
                             r.start, r.end, r.partial ? " (partial)" : "", r.label ?? "(\(r.analysis.answer ?? "no answer"))",
                             r.analysis.gate.map { String(format: "%.2f", $0) }.joined(separator: "/"), r.timings.latency,
                             r.skippedBefore > 0 ? ", \(r.skippedBefore) skipped before" : ""))
            }
        case .skipped(let s):
            if json {
                printJSONLine(["window": s.index, "start": s.start, "end": s.end, "skipped": true, "reason": s.reason])
            } else {
                line(String(format: "[%8.1f - %8.1f s] skipped: %@", s.start, s.end, s.reason))
            }
        }
    }
}

/// A line on standard output, written at once (no buffering: a long run shows each window as it comes).
func line(_ s: String) { FileHandle.standardOutput.write(Data((s + "\n").utf8)) }

/// One compact JSON object on one line, flushed.
func printJSONLine(_ obj: Any) {
    if let d = try? JSONSerialization.data(withJSONObject: obj, options: [.sortedKeys, .withoutEscapingSlashes]) {
        FileHandle.standardOutput.write(d + Data("\n".utf8))
    }
}
