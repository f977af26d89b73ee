// Shared helpers for the trainer tests: the tiny-a LLM, small random Qwen2 models, `mpirun -n 2 sentio`.
import Foundation
import XCTest
import SentioCore
import SentioFormat
import SentioModels
import SentioTestSupport
import SentioTrainer

enum TrainerFixtures {
    /// The r1omni-tiny-a language model (bf16 weights upcast to f32, or re-encoded as `dtype`).
    static func tinyA(dtype: DType = .f32, maxRows: Int = 128) throws -> Qwen2Model {
        let dir = TestPaths.tinyA
        let cfg = try Qwen2Config.parse(try String(contentsOf: dir.appendingPathComponent("config.json"), encoding: .utf8),
                                        source: "config.json")
        let st = try SafetensorsFile(dir.appendingPathComponent("model.safetensors"))
        let w = InMemoryWeights(name: "tiny-a")
        for spec in Qwen2Schema.tensors(cfg) {
            let dt: DType = spec.role == .linear ? dtype : .f32
            w.add(spec.name, floats: try st.floats(spec.name), shape: spec.shape, as: dt)
        }
        return try Qwen2Model(config: cfg, source: w, maxRows: maxRows)
    }

    /// A random Qwen2 with tiny shapes (hidden 32 or `hidden`, 2 layers, GQA 4:2, vocab `vocab`).
    static func random(seed: UInt64, hidden: Int = 32, layers: Int = 2, heads: Int = 4, kvHeads: Int = 2,
                       inter: Int = 64, vocab: Int = 96, dtype: DType = .f32, scale: Float = 0.2) throws -> Qwen2Model {
        let cfg = Qwen2Config(hiddenSize: hidden, intermediateSize: inter, numHiddenLayers: layers, numAttentionHeads: heads,
                              numKeyValueHeads: kvHeads, vocabSize: vocab, ropeTheta: 10000, tieWordEmbeddings: true)
        var rng = TestRNG(seed: seed)
        let w = InMemoryWeights(name: "random-qwen2")
        for spec in Qwen2Schema.tensors(cfg) {
            let n = spec.shape.reduce(1, *)
            let v: [Float]
            switch spec.role {
            case .norm: v = (0..<n).map { _ in 1 + 0.1 * rng.uniform() }
            case .embedding: v = rng.floats(n, scale: 1)
            default: v = rng.floats(n, scale: scale)
            }
            w.add(spec.name, floats: v, shape: spec.shape, as: spec.role == .linear ? dtype : .f32)
        }
        return try Qwen2Model(config: cfg, source: w, maxRows: 64)
    }

    static func randomAdapter(_ model: Qwen2Model, r: Int = 4, alpha: Float = 8, dropout: Float = 0, rs: Bool = false,
                              targets: LoRATargets = .allLinear, seed: UInt64) throws -> LoRAAdapter {
        let a = try LoRAAdapter(config: LoRAConfig(r: r, alpha: alpha, dropout: dropout, useRSLoRA: rs, targets: targets),
                                model: model.config, seed: seed)
        var rng = TestRNG(seed: seed &+ 1)
        for m in a.modules { for j in a.tensors.values[m.b].indices { a.tensors.values[m.b][j] = 0.05 * rng.normal() } }
        return a
    }
}

func XCTAssertClose(_ a: [Float], _ ref: [Float], rel: Float, _ what: String, file: StaticString = #filePath, line: UInt = #line) {
    let d = compare(a, ref)
    if ProcessInfo.processInfo.environment["SENTIO_VERBOSE"] == "1" { print("\(what): \(d)") }
    XCTAssertLessThanOrEqual(d.maxRel, rel, "\(what): \(d)", file: file, line: line)
}

/// `mpirun -n 2 --allow-run-as-root --oversubscribe sentio args...` (root in CI containers; 2 ranks on 2 cores).
enum MPIRun {
    struct Result { let status: Int32; let stdout: String; let stderr: String }

    static var mpirun: String? {
        for dir in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin").split(separator: ":") {
            let p = "\(dir)/mpirun"
            if FileManager.default.isExecutableFile(atPath: p) { return p }
        }
        return nil
    }

    /// Throws XCTSkip (skipping the calling test) where Open MPI is not installed.
    @discardableResult
    static func required() throws -> String {
        guard let mpirun else { throw XCTSkip("mpirun not found on PATH: install Open MPI (apt-get install openmpi-bin libopenmpi-dev) to run the data-parallel tests") }
        return mpirun
    }

    /// Runs the job; skips the calling test where Open MPI is not installed.
    static func twoRanks(_ args: [String], timeout: TimeInterval = 120) throws -> Result {
        let mpirun = try required()
        let p = Process()
        p.executableURL = URL(fileURLWithPath: mpirun)
        p.arguments = ["-n", "2", "--allow-run-as-root", "--oversubscribe", CLI.binary.path] + args
        let o = Pipe(), e = Pipe()
        p.standardOutput = o; p.standardError = e
        try p.run()
        // A hung job (ranks waiting in a collective) fails the test instead of hanging it.
        let watchdog = DispatchWorkItem { if p.isRunning { p.terminate() } }
        DispatchQueue.global().asyncAfter(deadline: .now() + timeout, execute: watchdog)
        defer { watchdog.cancel() }
        let out = o.fileHandleForReading.readDataToEndOfFile(), err = e.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return Result(status: p.terminationStatus, stdout: String(decoding: out, as: UTF8.self), stderr: String(decoding: err, as: UTF8.self))
    }
}
