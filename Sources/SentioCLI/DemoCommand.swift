// `sentio demo`: the whole R1-Omni pipeline on a fresh clone, no downloads. It runs the random-weight demo
// model shipped in models/demo/ (the tiny test checkpoint converted at q4, tools/make-demo-model.sh) on a short
// clip: one made on the spot with ffmpeg (test pattern) and espeak-ng (a spoken sentence) when both are on PATH,
// else the committed models/demo/clip.mp4. It prints the streamed output and the time of every stage, and says
// plainly that the weights are random, so the text means nothing: the demo proves the install works.
import ArgumentParser
import Foundation
import SentioCore
import SentioKernels
import SentioMedia
import SentioModels
import SentioRuntime

struct Demo: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the whole pipeline on the shipped random-weight demo model and a short clip (proves the install).")

    static let modelName = "r1omni-tiny-random-q4.sentio"
    static let sentence = "I cannot believe it. We actually won the match! This is the best day of my life."

    @Option(name: .shortAndLong, help: "Model (default: models/demo/\(Demo.modelName))") var model: String?
    @Option(help: "Clip to run instead of the generated / shipped one") var clip: String?
    @Flag(help: "Use the committed models/demo/clip.mp4 even when ffmpeg and espeak-ng are available") var noSynth = false
    @Option(name: .shortAndLong, help: "Threads (default: all cores)") var threads: Int?
    @OptionGroup var load: RecognizerLoadOptions
    @Option(help: "Maximum new tokens") var maxTokens: Int = 32
    @Flag(help: "One JSON object instead of text") var json = false

    /// models/demo/ of this checkout: next to the working directory, above the executable (.build/<config>/sentio),
    /// or where the sources were compiled from.
    static func demoDir() -> URL? {
        let fm = FileManager.default
        var candidates = [URL(fileURLWithPath: fm.currentDirectoryPath).appendingPathComponent("models/demo")]
        let exe = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        var d = exe.deletingLastPathComponent()
        for _ in 0..<4 {
            candidates.append(d.appendingPathComponent("models/demo"))
            d = d.deletingLastPathComponent()
        }
        candidates.append(URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
                            .deletingLastPathComponent().appendingPathComponent("models/demo"))
        return candidates.first { fm.fileExists(atPath: $0.appendingPathComponent(modelName).path) }
    }

    static func which(_ tool: String) -> String? {
        for dir in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":") {
            let p = "\(dir)/\(tool)"
            if FileManager.default.isExecutableFile(atPath: p) { return p }
        }
        return nil
    }

    static func runTool(_ path: String, _ args: [String]) throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: path)
        p.arguments = args
        p.standardOutput = FileHandle.nullDevice
        let err = Pipe()
        p.standardError = err
        try p.run()
        let e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else {
            throw SentioError(.media, file: path, "failed: \(String(decoding: e, as: UTF8.self).prefix(300))")
        }
    }

    /// A 4-second 320x240 test-pattern video with `sentence` spoken by espeak-ng.
    static func synthesizeClip(in dir: URL, ffmpeg: String, espeak: String) throws -> URL {
        let wav = dir.appendingPathComponent("speech.wav"), mp4 = dir.appendingPathComponent("demo.mp4")
        try runTool(espeak, ["-v", "en", "-s", "150", "-w", wav.path, sentence])
        try runTool(ffmpeg, ["-v", "error", "-nostdin", "-y", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25:duration=4",
                             "-i", wav.path, "-af", "apad", "-t", "4", "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p",
                             "-c:a", "aac", mp4.path])
        return mp4
    }

    func run() throws {
        try runReportingErrors {
            let t0 = Date()
            let dir = Self.demoDir()
            let murl: URL
            if let model { murl = URL(fileURLWithPath: model) } else {
                guard let d = dir else {
                    throw SentioError(.io, file: "models/demo/\(Self.modelName)",
                                      "demo model not found: run from the repository root (or pass --model)")
                }
                murl = d.appendingPathComponent(Self.modelName)
            }
            guard FileManager.default.fileExists(atPath: murl.path) else { throw SentioError(.io, file: murl.path, "model file not found") }

            // The clip.
            var clipSource: String
            let clipURL: URL
            var tmp: URL?
            defer { if let tmp { try? FileManager.default.removeItem(at: tmp) } }
            let tClip = Date()
            if let clip {
                clipURL = URL(fileURLWithPath: clip); clipSource = "given"
            } else if !noSynth, let ff = Self.which("ffmpeg"), let es = Self.which("espeak-ng") {
                let d = FileManager.default.temporaryDirectory.appendingPathComponent("sentio-demo-\(UUID().uuidString)")
                try FileManager.default.createDirectory(at: d, withIntermediateDirectories: true)
                tmp = d
                clipURL = try Self.synthesizeClip(in: d, ffmpeg: ff, espeak: es)
                clipSource = "synthesized (ffmpeg testsrc2 + espeak-ng: \"\(Self.sentence)\")"
            } else {
                guard let d = dir else { throw SentioError(.io, file: "models/demo/clip.mp4", "demo clip not found (pass --clip)") }
                clipURL = d.appendingPathComponent("clip.mp4"); clipSource = "shipped models/demo/clip.mp4"
            }
            let clipSeconds = Date().timeIntervalSince(tClip)

            let notice = "NOTE: the demo model has RANDOM weights (the tiny R1-Omni test checkpoint, Tests/Fixtures/r1omni-tiny-a, "
                + "converted at q4). Its output is meaningless text; the demo only shows that decoding, preprocessing, every "
                + "tower and generation run on this machine. For real answers convert StarJiaxing/R1-Omni-0.5B (README) and "
                + "use `sentio recognize`."
            if !json {
                print(notice)
                print("model: \(murl.path)")
                print("clip:  \(clipURL.path) [\(clipSource)]")
                print("")
                fflush(nil)   // print() is buffered; the streamed text below is written directly
            }
            let rec = try openRecognizer(murl, threads: threads, load: load)
            let (r, warnings) = try rec.recognize(clip: clipURL, maxTokens: maxTokens,
                                                  onText: json ? nil : { FileHandle.standardOutput.write(Data($0.utf8)) })
            for w in warnings { stderr("sentio: warning: \(w)\n") }
            let t = r.timings
            let stages: [(String, String, Double)] = [
                ("make_clip_s", "make clip", clipSeconds), ("load_model_s", "load model", rec.loadSeconds),
                ("decode_preprocess_s", "decode + preprocess", t.preprocess), ("siglip_s", "SigLIP", t.siglip),
                ("projector_bert_gate_s", "projector + BERT + gate", t.projectorBertGate), ("mel_s", "log-mel", t.mel),
                ("whisper_s", "Whisper encoder", t.whisper), ("audio_projector_s", "audio projector", t.audioProjector),
                ("assemble_s", "prompt assembly", t.assemble), ("prefill_s", "prefill", t.prefill), ("decode_s", "decode", t.decode)]
            if json {
                var timings: [String: Double] = [:]
                for s in stages { timings[s.0] = s.2 }
                timings["total_s"] = Date().timeIntervalSince(t0)
                printJSON(["notice": notice, "random_weights": true, "model": murl.path, "clip": clipURL.path, "clip_source": clipSource,
                           "output": r.text, "answer": r.answer as Any, "generated_token_ids": r.generatedTokens.map(Int.init),
                           "sequence_length": r.sequenceLength, "gate": ["video": r.gate[0], "body": r.gate[1], "face": r.gate[2]],
                           "timings": timings, "warnings": warnings])
            } else {
                print("\n")
                print("answer: \(r.answer ?? "(none: random weights write no <answer> tag)")")
                print(String(format: "gate video/body/face: %.3f/%.3f/%.3f; %d prompt rows, %d tokens generated",
                             r.gate[0], r.gate[1], r.gate[2], r.sequenceLength, r.generatedTokens.count))
                print("\nstage timings:")
                for s in stages { print("  \(pad(s.1, 26)) \(String(format: "%8.3f s", s.2))") }
                print("  \(pad("total", 26)) \(String(format: "%8.3f s", Date().timeIntervalSince(t0)))")
                print("\nThe pipeline works. The weights are random: the text above is noise, not an emotion reading.")
            }
        }
    }
}
