// R1-Omni at real shape with random weights (SENTIO_SLOW=1): the checkpoint written by
// tools/make-random-r1omni.py (models/cache/random-r1omni/) converted to q8 / q4, then one recognize call from
// the fixture's clip.mp4 through the library API, printing per-stage time and peak RSS.
//
// Run in release, one process per step so the RSS of a run does not include the conversion's mappings:
//   /work/venv/bin/python tools/make-random-r1omni.py
//   SENTIO_SLOW=1 swift test -c release -Xswiftc -enable-testing --filter OmniRealShapeTests/testConvert
//   SENTIO_SLOW=1 SENTIO_OMNI_QUANT=q8 swift test -c release -Xswiftc -enable-testing --filter OmniRealShapeTests/testRecognize
//   SENTIO_SLOW=1 SENTIO_OMNI_QUANT=q4 swift test -c release -Xswiftc -enable-testing --filter OmniRealShapeTests/testRecognize
// SENTIO_THREADS sets the thread count (default: all cores).
import XCTest
import SentioCore
import SentioKernels
import SentioFormat
import SentioModels
import SentioConvert
import SentioRuntime
import SentioTestSupport

final class OmniRealShapeTests: XCTestCase {
    static var cache: URL { TestPaths.repoRoot.appendingPathComponent("models/cache") }
    static var checkpoint: URL { cache.appendingPathComponent("random-r1omni") }
    static func converted(_ q: DType) -> URL { cache.appendingPathComponent("random-r1omni-\(q.name).sentio") }

    func testConvert() throws {
        try XCTSkipUnless(slowTestsEnabled, "SENTIO_SLOW=1 runs the real-shape conversion")
        try XCTSkipUnless(FileManager.default.fileExists(atPath: Self.checkpoint.appendingPathComponent("model.safetensors").path),
                          "run tools/make-random-r1omni.py first")
        for q in [DType.q8, .q4] {
            let t0 = Date()
            let src = try HFCheckpoint(dir: Self.checkpoint)
            let (report, summary) = try Converter.convert(source: src, output: Self.converted(q), policy: QuantPolicy(target: q), codec: .raw)
            let size = (try FileManager.default.attributesOfItem(atPath: Self.converted(q).path)[.size] as? Int) ?? 0
            print("random-r1omni \(q.name): \(report.tensors.count) tensors, \(report.parameters) parameters, dropped \(report.dropped.count) "
                  + "(unexpected \(report.unexpected.count)), file \(size / 1_000_000) MB, \(String(format: "%.1f", Date().timeIntervalSince(t0))) s, notes \(report.notes)")
            _ = summary
            XCTAssertEqual(report.unexpected, [])
            XCTAssertEqual(report.notes, [])
        }
        print("peak RSS during conversion: \(MachineInfo.peakRSS / 1_000_000) MB")
    }

    func testRecognize() throws {
        try XCTSkipUnless(slowTestsEnabled, "SENTIO_SLOW=1 runs the real-shape model")
        let q = DType(name: ProcessInfo.processInfo.environment["SENTIO_OMNI_QUANT"] ?? "q8") ?? .q8
        let url = Self.converted(q)
        try XCTSkipUnless(FileManager.default.fileExists(atPath: url.path), "run testConvert first")
        let threads = Int(ProcessInfo.processInfo.environment["SENTIO_THREADS"] ?? "") ?? ProcessInfo.processInfo.activeProcessorCount
        let pool = ThreadPool(threads: threads)
        let r = try EmotionRecognizer(url: url, pool: pool)
        let rssLoad = MachineInfo.peakRSS
        let clip = TestPaths.tinyA.appendingPathComponent("clip.mp4")
        let maxTokens = 16
        let (res, warnings) = try r.recognize(clip: clip, maxTokens: maxTokens)
        let t = res.timings
        func f(_ x: Double) -> String { String(format: "%.2f", x) }
        print("""
            random-r1omni \(q.name), \(threads) threads, \(MachineInfo.summary)
              load \(f(r.loadSeconds)) s (peak RSS after load \(rssLoad / 1_000_000) MB)
              preprocess (decode + resize + BERT ids) \(f(t.preprocess)) s, log-mel \(f(t.mel)) s
              SigLIP \(f(t.siglip)) s, projector + BERT + gate \(f(t.projectorBertGate)) s
              Whisper encoder \(f(t.whisper)) s, audio projector \(f(t.audioProjector)) s
              assemble \(f(t.assemble)) s, prefill \(res.sequenceLength) rows \(f(t.prefill)) s
              decode \(res.generatedTokens.count) tokens \(f(t.decode)) s (\(f(Double(max(res.generatedTokens.count - 1, 0)) / max(t.decode, 1e-9))) t/s)
              time to first token \(f(t.timeToFirstToken)) s, total \(f(t.total)) s
              peak RSS \(MachineInfo.peakRSS / 1_000_000) MB; gate \(res.gate); warnings \(warnings)
            """)
        XCTAssertEqual(res.sequenceLength, res.promptIDs.count - 2 + r.config.videoTokens + r.config.audioTokens)
        XCTAssertEqual(r.config.videoTokens, 392)
        XCTAssertEqual(r.config.audioTokens, 500)
        XCTAssertEqual(res.gate.count, 3)
        XCTAssertEqual(res.gate.reduce(0, +), 1, accuracy: 1e-4)
        XCTAssertTrue(res.generatedTokens.count == maxTokens || res.stoppedAtEOS)
    }
}
