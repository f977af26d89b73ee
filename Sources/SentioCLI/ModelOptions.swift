import ArgumentParser
import Foundation
import SentioCore
import SentioKernels
import SentioRuntime

/// Options every model-running command shares.
struct ModelOptions: ParsableArguments {
    @Option(name: .shortAndLong, help: "Model: a .sentio file, or a .gguf (converted in memory)")
    var model: String
    @Option(name: .shortAndLong, help: "Threads (default: all cores)")
    var threads: Int?
    @Option(help: "For a .gguf: convert matrices to this type in memory (f32, f16, bf16, q8, q4, q4_1, q5); default keeps Q8_0/Q4_0/Q4_1/Q5_0/F16 as they are")
    var ggufQuant: String?
    @Option(help: "KV cache type: f16, f32, q8 (int8 keys and values) or q8v (f16 keys, int8 values)")
    var kv: String = "f16"
    @Flag(help: "Read a .sentio file's weights from the file mapping in place instead of copying them into huge-page memory (quicker start, page cache shared between processes, slower decode)")
    var mmap = false
    @Flag(help: "Quantized matmuls with (nearly) unrounded activations: closer to f32 results (q8: KL to f32 ~20x lower), slower (q8, 2 threads: prefill ~0.5x, decode ~0.8x)")
    var precise = false

    func load() throws -> LanguageModel {
        let url = URL(fileURLWithPath: model)
        guard FileManager.default.fileExists(atPath: url.path) else { throw SentioError(.io, file: url.path, "model file not found") }
        var q: DType? = nil
        if let s = ggufQuant {
            guard let t = DType(name: s), t.isFloat else { throw SentioError(.argument, "--gguf-quant must be f32, f16, bf16, q8, q4, q4_1 or q5") }
            q = t
        }
        let lm = try LanguageModel(url: url, ggufQuant: q, mapWeights: mmap)
        lm.model.preciseActivations = precise
        return lm
    }

    func pool() -> ThreadPool {
        if let t = threads, t > 0 { return ThreadPool(threads: t) }
        return ThreadPool.shared
    }

    func kvType() throws -> KVCacheLayout.KVDType {
        guard let k = KVCacheLayout.KVDType(rawValue: kv) else { throw SentioError(.argument, "--kv must be one of \(KVCacheLayout.KVDType.names)") }
        return k
    }
}

/// A text file cut into windows, as perplexity and imatrix read it (llama-perplexity's --ctx / --chunks).
struct TextWindowOptions: ParsableArguments {
    @Option(name: .shortAndLong, help: "Text file (UTF-8, read as plain text: special-token strings are not special)") var file: String
    @Option(help: "Window length in tokens; perplexity scores the second half of each window") var ctx: Int = 512
    @Option(help: "Use at most this many windows (llama-perplexity's --chunks)") var chunks: Int?

    /// The file's text, or an error naming it (read before the model loads, so a bad path fails at once).
    func readText() throws -> String {
        guard let text = try? String(contentsOfFile: file, encoding: .utf8) else { throw SentioError(.io, file: file, "cannot read text file") }
        return text
    }

    /// The tokens of `text`, cut to at most `chunks` windows of `ctx`.
    func tokens(_ text: String, _ lm: LanguageModel) -> [Int32] {
        let ids = lm.tokenizer.encode(text, allowSpecial: false)
        if let c = chunks, c > 0, ids.count > c * ctx { return Array(ids.prefix(c * ctx)) }
        return ids
    }
}

/// How recognize / watch / eval / demo load the R1-Omni model's language model.
struct RecognizerLoadOptions: ParsableArguments {
    @Flag(help: "Keep the language model's weights in the file mapping instead of copying them into huge-page memory (~0.1 GB lower peak memory, slower decode)")
    var mmap = false
    @Flag(help: "The language model's quantized matmuls with (nearly) unrounded activations (closer to its f32 results; q8 prefill ~0.5x, decode ~0.8x the speed)")
    var precise = false
}

/// Opens an R1-Omni model file for recognize / watch / eval / demo: a missing file is a not-found error,
/// any load failure a model error naming the file. `threads` nil uses the shared pool; values below 1 mean 1.
func openRecognizer(_ url: URL, threads: Int?, load: RecognizerLoadOptions) throws -> EmotionRecognizer {
    guard FileManager.default.fileExists(atPath: url.path) else { throw SentioError(.io, file: url.path, "model file not found") }
    let pool = threads.map { ThreadPool(threads: max(1, $0)) } ?? .shared
    do {
        let r = try EmotionRecognizer(url: url, pool: pool, mapWeights: load.mmap)
        r.model.llm.preciseActivations = load.precise
        return r
    } catch let e as SentioError {
        throw SentioError(.model, file: e.file ?? url.path, e.message)
    }
}
