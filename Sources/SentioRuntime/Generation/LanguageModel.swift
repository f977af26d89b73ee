// LanguageModel: a loaded Qwen2 model with its tokenizer, from a .sentio file or a GGUF converted in
// memory (so the same GGUF can be run side by side with llama.cpp).
import Foundation
import SentioCore
import SentioFormat
import SentioKernels
import SentioModels
import SentioTokenizers
import SentioConvert

public final class LanguageModel: @unchecked Sendable {
    public let model: Qwen2Model
    public let tokenizer: BPETokenizer
    public let path: String
    /// Bytes of weights as stored (what decode streams through per token, roughly).
    public let weightBytes: Int
    public let parameterCount: Int
    /// Per-dtype share of parameters, for reports ("q8", "q4+f32", ...).
    public let dtypeSummary: String
    public let loadSeconds: Double
    /// Of which: building the tokenizer's tables (the rest is mapping and checking weights).
    public let tokenizerSeconds: Double
    /// Keeps the weight source (mmap or memory) alive.
    let source: WeightSource

    /// Loads `url`: a `.sentio` file, or a `.gguf` converted in memory to `ggufQuant` (nil: keep the GGUF's
    /// Q8_0/Q4_0/Q4_1/Q5_0/F16/BF16/F32 tensors as they are and dequantize other types to f16). A `.sentio` file's
    /// weights are copied into huge-page memory at load (faster decode, SentioCore/HugePages.swift) unless
    /// `mapWeights`, which reads them from the file mapping in place (quicker start, page cache shared
    /// between processes).
    public init(url: URL, ggufQuant: DType? = nil, maxRows: Int = 512, mapWeights: Bool = false) throws {
        let t0 = Date()
        path = url.path
        let configJSON: String
        let tokenizerData: Data
        var tokenizerConfig: Data? = nil
        if url.pathExtension.lowercased() == "gguf" {
            let ck = try GGUFCheckpoint(url: url)
            let mem = InMemoryWeights(name: url.path)
            let policy = QuantPolicy(target: ggufQuant ?? .f16)
            if ggufQuant == nil {
                // Keep each tensor's own type where Sentio has it; the policy only decides the rest.
                _ = try Converter.run(source: ck, sink: KeepTypeSink(mem, ck), policy: policy)
            } else {
                _ = try Converter.run(source: ck, sink: mem, policy: policy)
            }
            configJSON = ck.configJSON
            guard let tj = try ck.embeddedFiles()["tokenizer.json"] else {
                throw SentioError(.model, file: url.path, "GGUF carries no tokenizer")
            }
            tokenizerData = tj
            source = mem
        } else {
            let f = try SentioFile.open(url, resident: mapWeights ? nil : { _ in true })
            guard let tj = f.files["tokenizer.json"] else {
                throw SentioError(.model, file: url.path, "the .sentio file embeds no tokenizer.json")
            }
            configJSON = f.config
            tokenizerData = tj
            tokenizerConfig = f.files["tokenizer_config.json"]
            source = SentioFileWeights(f)
        }
        let cfg = try Qwen2Config.parse(configJSON, source: url.path)
        model = try Qwen2Model(config: cfg, source: source, maxRows: maxRows)
        let tt = Date()
        tokenizer = try BPETokenizer(tokenizerJSONData: tokenizerData, tokenizerConfigData: tokenizerConfig, name: url.path)
        tokenizerSeconds = Date().timeIntervalSince(tt)
        var bytes = 0, params = 0
        var per: [DType: Int] = [:]
        for spec in Qwen2Schema.tensors(cfg) {
            if let t = try? source.tensor(spec.name) {
                bytes += t.bytes.count; params += t.elementCount; per[t.dtype, default: 0] += t.elementCount
            }
        }
        weightBytes = bytes
        parameterCount = params
        dtypeSummary = per.sorted { $0.value > $1.value }.map { $0.key.name }.joined(separator: "+")
        loadSeconds = Date().timeIntervalSince(t0)
    }

    public var config: Qwen2Config { model.config }

    /// A fresh KV cache for one sequence.
    public func newCache(dtype: KVCacheLayout.KVDType = .f16, blockTokens: Int = 64) -> any KVCache {
        KVCacheLayout(config: config, blockTokens: blockTokens, dtype: dtype).makeCache()
    }
}

/// A sink that stores GGUF tensors in their own type when it is a Sentio dtype (no requantization),
/// else converts them with the policy.
final class KeepTypeSink: TensorSink {
    let mem: InMemoryWeights
    let ck: GGUFCheckpoint
    init(_ mem: InMemoryWeights, _ ck: GGUFCheckpoint) { self.mem = mem; self.ck = ck }
    func add(name: String, dtype: DType, shape: [Int], bytes: UnsafeRawBufferPointer) throws {
        for own in [DType.q8, .q4, .q4_1, .q5, .f16, .bf16, .f32] where dtype != own {
            if (shape.last ?? 0) % own.blockSize == 0, let raw = try ck.exactBytes(name, as: own) {
                mem.add(name, dtype: own, shape: shape, bytes: raw)
                return
            }
        }
        mem.add(name, dtype: dtype, shape: shape, bytes: bytes)
    }
}
