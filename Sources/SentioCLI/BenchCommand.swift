import ArgumentParser
import Foundation
import SentioCore
import SentioKernels
import SentioModels
import SentioRuntime

/// llama-bench's measurements: pp<N> (one prompt of N tokens prefilled into an empty cache) and
/// tg<N> (N tokens decoded one at a time from an empty cache), repeated, mean ± sd of tokens/s.
/// With --batch B1,B2,..: tg<N>xB rows, B sequences (forks of one 32-token prompt) decoded together by
/// BatchGenerator, aggregate tokens/s (B * N / wall time), as llama-batched-bench's S_TG.
struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Measure prompt processing and generation speed (llama-bench's tests).")

    @Option(name: .shortAndLong, help: "Model files (.sentio or .gguf), comma separated") var model: String
    @Option(name: .customShort("p"), help: "Prompt lengths, comma separated (0 to skip)") var prompt: String = "512"
    @Option(name: .customShort("n"), help: "Generation lengths, comma separated (0 to skip)") var gen: String = "128"
    @Option(name: .customShort("t"), help: "Thread counts, comma separated") var threads: String = "\(ProcessInfo.processInfo.activeProcessorCount)"
    @Option(name: .customShort("r"), help: "Repetitions") var reps: Int = 3
    @Option(help: "For a .gguf: convert matrices in memory to this type") var ggufQuant: String?
    @Option(help: "Batch sizes for batched decode (tg<N>xB rows, aggregate t/s), comma separated") var batch: String?
    @Option(help: "KV cache type: f16, f32, q8 (int8 keys and values) or q8v (f16 keys, int8 values)") var kv: String = "f16"
    @Flag(help: "Read .sentio weights from the file mapping in place (no copy into huge-page memory)") var mmap = false
    @Flag(help: "Quantized matmuls with (nearly) unrounded activations (see generate --precise)") var precise = false
    @Flag(help: "JSON rows (llama-bench field names)") var json = false
    @Flag(help: "Markdown table (default)") var md = false

    func run() throws {
        try runReportingErrors {
            let ps = prompt.split(separator: ",").compactMap { Int($0) }.filter { $0 > 0 }
            let ns = gen.split(separator: ",").compactMap { Int($0) }.filter { $0 > 0 }
            let ts = threads.split(separator: ",").compactMap { Int($0) }.filter { $0 > 0 }
            guard !ts.isEmpty, reps > 0 else { throw SentioError(.argument, "need at least one thread count and -r > 0") }
            let bs = try batch.map { s -> [Int] in
                let v = s.split(separator: ",").compactMap { Int($0) }
                guard !v.isEmpty, v.allSatisfy({ $0 > 0 && $0 <= 512 }) else { throw SentioError(.argument, "--batch takes sizes 1...512") }
                return v
            } ?? []
            guard let kvType = KVCacheLayout.KVDType(rawValue: kv) else { throw SentioError(.argument, "--kv must be one of \(KVCacheLayout.KVDType.names)") }
            var rows: [[String: Any]] = []
            let machine = MachineInfo.summary
            if !json {
                print("machine: \(machine)")
                print("| model | size | params | backend | threads | test | t/s | t/CPU-s |")
                print("| --- | ---: | ---: | --- | ---: | --- | ---: | ---: |")
            }
            for path in model.split(separator: ",").map(String.init) {
                var q: DType? = nil
                if let s = ggufQuant { q = DType(name: s) }
                let lm = try LanguageModel(url: URL(fileURLWithPath: path), ggufQuant: q, maxRows: max(512, ps.max() ?? 0), mapWeights: mmap)
                lm.model.preciseActivations = precise
                let label = lm.dtypeSummary + (precise ? " precise" : "")
                for t in ts {
                    let pool = ThreadPool(threads: t)
                    let g = Generator(lm, pool: pool)
                    var tests: [(String, () throws -> Timing)] = []
                    for p in ps { tests.append(("pp\(p)", { try Self.timePrefill(g, tokens: p, kv: kvType) })) }
                    for n in ns where bs.isEmpty { tests.append(("tg\(n)", { try Self.timeDecode(g, tokens: n, kv: kvType) })) }
                    for n in ns { for b in bs { tests.append(("tg\(n)x\(b)", { try Self.timeBatchedDecode(g, tokens: n, batch: b, kv: kvType) })) } }
                    for (name, fn) in tests {
                        _ = try fn()   // warm-up
                        var samples: [Double] = [], cpuSamples: [Double] = []
                        for _ in 0..<reps { let r = try fn(); samples.append(r.wallRate); cpuSamples.append(r.cpuRate) }
                        let cpuMean = cpuSamples.reduce(0, +) / Double(cpuSamples.count)
                        let mean = samples.reduce(0, +) / Double(samples.count)
                        let sd = samples.count > 1 ? (samples.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(samples.count - 1)).squareRoot() : 0
                        let row: [String: Any] = ["model_filename": path, "model_type": "qwen2 \(label)",
                                                  "model_size": lm.weightBytes, "model_n_params": lm.parameterCount,
                                                  "backend": "sentio", "n_threads": t, "test": name,
                                                  "avg_ts": mean, "stddev_ts": sd, "samples_ts": samples, "cpu_info": machine,
                                                  "avg_ts_per_cpu_second": cpuMean]
                        rows.append(row)
                        if !json {
                            print("| \(URL(fileURLWithPath: path).lastPathComponent) \(label) | \(formatBytes(lm.weightBytes)) | \(formatCount(lm.parameterCount)) | sentio | \(t) | \(name) | \(String(format: "%.2f ± %.2f", mean, sd)) | \(String(format: "%.2f", cpuMean)) |")
                        }
                    }
                }
            }
            if json { printJSON(rows) }
        }
    }

    /// Deterministic pseudo-random token ids (as llama-bench, the content does not matter for speed).
    static func tokens(_ n: Int, vocab: Int) -> [Int32] { (0..<n).map { Int32((($0 * 7919) % (vocab - 1000)) + 100) } }

    /// Tokens of one timed run over its wall time and over the process's CPU time (user + system, all
    /// threads): the second is less sensitive to other processes sharing the cores (at 1 thread it is the
    /// work itself; at 2 it includes the pool's brief spinning).
    struct Timing { var wallRate: Double; var cpuRate: Double }

    static func cpuSeconds() -> Double {
        var u = rusage()
        getrusage(Int32(RUSAGE_SELF.rawValue), &u)
        return Double(u.ru_utime.tv_sec + u.ru_stime.tv_sec) + Double(u.ru_utime.tv_usec + u.ru_stime.tv_usec) * 1e-6
    }

    static func timed(tokens n: Int, _ body: () throws -> Void) rethrows -> Timing {
        let c0 = cpuSeconds(), t0 = Date()
        try body()
        let wall = Date().timeIntervalSince(t0), cpu = cpuSeconds() - c0
        return Timing(wallRate: Double(n) / wall, cpuRate: cpu > 0 ? Double(n) / cpu : 0)
    }

    static func timePrefill(_ g: Generator, tokens n: Int, kv: KVCacheLayout.KVDType = .f16) throws -> Timing {
        let cache = g.lm.newCache(dtype: kv)
        var logits = [Float](repeating: 0, count: g.lm.config.vocabSize)
        let ids = tokens(n, vocab: g.lm.config.vocabSize)
        return try timed(tokens: n) {
            try logits.withUnsafeMutableBufferPointer { try g.prefill(tokens: ids, cache: cache, logits: $0.baseAddress!) }
        }
    }

    static func timeDecode(_ g: Generator, tokens n: Int, kv: KVCacheLayout.KVDType = .f16) throws -> Timing {
        let lm = g.lm
        let cache = lm.newCache(dtype: kv)
        var logits = [Float](repeating: 0, count: lm.config.vocabSize)
        var x = [Float](repeating: 0, count: lm.config.hiddenSize)
        var tok: Int32 = 100
        return try timed(tokens: n) { for _ in 0..<n {
            try x.withUnsafeMutableBufferPointer { try lm.model.embed([tok], into: $0.baseAddress!) }
            try x.withUnsafeBufferPointer { xb in
                try logits.withUnsafeMutableBufferPointer { lg in
                    try lm.model.forward(input: xb.baseAddress!, segments: [SequenceSegment(cache: cache, count: 1)],
                                         logitRows: .lastOfEachSegment, logits: lg.baseAddress!, pool: g.pool)
                }
            }
            tok = Int32(Ops.argmax(logits, count: logits.count))
        } }
    }

    /// B forks of a 32-token prompt decode n tokens each, together (greedy, no stops): aggregate tokens/s.
    static func timeBatchedDecode(_ g: Generator, tokens n: Int, batch b: Int, kv: KVCacheLayout.KVDType) throws -> Timing {
        let prompt = try g.prefill(prompt: tokens(32, vocab: g.lm.config.vocabSize), kv: kv)
        let bg = BatchGenerator(g.lm, pool: g.pool)
        var r: [GenerationResult] = []
        let timing = try timed(tokens: b * n) {
            r = try bg.generate(from: prompt, count: b, options: GenerationOptions(maxTokens: n + 1))   // the first token comes from the prompt's logits
        }
        guard r.allSatisfy({ $0.generatedTokens.count == n + 1 }) else { throw SentioError(.argument, "batched bench: a sequence stopped early") }
        return timing
    }
}
