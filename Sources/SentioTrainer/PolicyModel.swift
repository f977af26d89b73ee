// PolicyModel: what the GRPO and SFT steppers train. The frozen base (an R1-Omni .sentio, or a plain
// Qwen2 .sentio/.gguf for the text-only mode), its tokenizer and stop tokens, the LoRA adapter on the
// language model's projections, and the prompt rows of a training sample:
//
//   omni: the clip's 8 frames + 16 kHz audio through SigLIP/Whisper/BERT gate and the embedding splice
//         in R1-Omni's training prompt layout, cached on disk by (clip hash, model checksum, prompt mode)
//   text: the sample's instruction (the dataset's human turn) in the ChatML template, embedded
//
// Prompt rows never depend on the adapter (LoRA sits on the decoder's projections only), so they are
// computed once per clip and reused across steps, iterations and epochs.
import Foundation
import SentioCore
import SentioFormat
import SentioKernels
import SentioMedia
import SentioModels
import SentioRuntime
import SentioTokenizers

public final class PolicyModel: @unchecked Sendable {
    public enum Kind: String, Sendable { case omni, text }
    public let kind: Kind
    public let llm: Qwen2Model
    public let tokenizer: BPETokenizer
    public let recognizer: EmotionRecognizer?
    public let stopTokens: Set<Int32>
    /// The token GRPO's completion mask ends at (<|im_end|>, else the config's eos).
    public let eosTokenId: Int32
    public let modelChecksum: String
    public let path: String
    public var encoderCache: EncoderCache?
    public let pool: ThreadPool
    /// Prompt rows already computed in this process (by sample id).
    private var promptRows: [String: [Float]] = [:]
    private let lock = NSLock()

    /// Whether the file at `url` is an R1-Omni / HumanOmni model (else it is loaded as a plain Qwen2 LLM).
    public static func isOmni(_ url: URL) throws -> Bool {
        guard url.pathExtension == "sentio" else { return false }
        let f = try SentioFile.open(url)
        if f.metadata["sentio.model"] == "HumanOmni_qwen2" { return true }
        let obj = (try? JSONSerialization.jsonObject(with: Data(f.config.utf8))) as? [String: Any]
        return obj?["model_type"] as? String == "HumanOmni_qwen2"
    }

    /// `mapWeights`: the language model's weights stay in the file mapping (see EmotionRecognizer / LanguageModel).
    public init(url: URL, maxRows: Int = 512, pool: ThreadPool = .shared, mapWeights: Bool = false) throws {
        path = url.path
        self.pool = pool
        modelChecksum = try ModelIdentity.checksum(of: url)
        if try Self.isOmni(url) {
            let r = try EmotionRecognizer(url: url, maxRows: maxRows, pool: pool, mapWeights: mapWeights)
            kind = .omni
            recognizer = r
            llm = r.model.llm
            tokenizer = r.tokenizer
            stopTokens = r.stopTokens
        } else {
            let lm = try LanguageModel(url: url, maxRows: maxRows, mapWeights: mapWeights)
            kind = .text
            recognizer = nil
            llm = lm.model
            tokenizer = lm.tokenizer
            var stops = Set<Int32>()
            if let e = lm.config.eosTokenId { stops.insert(Int32(e)) }
            for s in ["<|im_end|>", "<|endoftext|>"] { if let i = lm.tokenizer.id(for: s) { stops.insert(i) } }
            stopTokens = stops
        }
        guard let eos = tokenizer.id(for: "<|im_end|>") ?? llm.config.eosTokenId.map(Int32.init) ?? stopTokens.min() else {
            throw SentioError(.model, file: url.path, "the model has no <|im_end|> and no eos token id")
        }
        eosTokenId = eos
    }

    /// The instruction text of a sample: the dataset's human turn without its <video>/<audio> tags.
    /// Omni (training layout): without the format sentence, which the prompt layout appends itself.
    public func instruction(for s: TrainingSample) -> String {
        var t = s.instruction ?? OmniModel.defaultQuestion
        for tag in ["<video>", "<audio>"] { t = t.replacingOccurrences(of: tag, with: "") }
        t = t.trimmingCharacters(in: .whitespacesAndNewlines)
        if kind == .omni {
            if t.hasSuffix(OmniModel.formatSentence) { t = String(t.dropLast(OmniModel.formatSentence.count)) }
            t = t.trimmingCharacters(in: .whitespacesAndNewlines)
            if t.isEmpty { t = OmniModel.defaultQuestion }
        }
        return t
    }

    /// Prompt token ids of the text mode: ChatML, default system prompt, the instruction as the user turn.
    public func textPromptIDs(_ s: TrainingSample) -> [Int32] {
        tokenizer.encode(ChatMLTemplate.render([.user(instruction(for: s))], addGenerationPrompt: true), allowSpecial: true)
    }

    /// The prompt rows [P, hidden] for a sample (cached in memory, and for clips on disk).
    public func prompt(for s: TrainingSample) throws -> [Float] {
        if let p = lock.withLock({ promptRows[s.id] }) { return p }
        let rows: [Float]
        switch kind {
        case .text:
            let ids = textPromptIDs(s)
            guard !ids.isEmpty else { throw SentioError(.data, "sample \(s.id): empty prompt") }
            var e = [Float](repeating: 0, count: ids.count * llm.config.hiddenSize)
            try e.withUnsafeMutableBufferPointer { try llm.embed(ids, into: $0.baseAddress!) }
            rows = e
        case .omni:
            guard let r = recognizer else { throw SentioError(.model, "no omni model") }
            let instr = instruction(for: s)
            let compute = { () throws -> NamedTensors in
                let sampled = try VideoDecoder.sampleFrames(s.clip, count: r.config.numFrames)
                let (wave, _) = try AudioDecoder.decodeMono16k(s.clip)
                let px = try r.pixels(frames: sampled.frames, mode: .training)
                let mel = LogMel(mels: r.config.audio.numMelBins).compute(wave, threads: max(1, self.pool.threadCount))
                let p = try r.prepare(pixels: px, mel: mel, instruction: instr, mode: .training)
                let h = r.config.llm.hiddenSize
                return try NamedTensors([("prompt", [p.embeddings.count / h, h], p.embeddings)])
            }
            let t: NamedTensors
            if let cache = encoderCache {
                // The instruction is part of the key: the spliced rows hold its tokens and the gate reads it.
                let key = try EncoderCacheKey(clip: s.clip, modelChecksum: modelChecksum,
                                              promptMode: "training:" + String(format: "%016llx", XXHash64.hash(Array(instr.utf8))))
                t = try cache.fetch(key, compute: compute)
            } else {
                t = try compute()
            }
            guard let v = t["prompt"], v.count % llm.config.hiddenSize == 0, !v.isEmpty else {
                throw SentioError(.corrupt, "encoder cache entry for \(s.clip.path) holds no prompt rows of width \(llm.config.hiddenSize)")
            }
            rows = v
        }
        lock.withLock { promptRows[s.id] = rows }
        return rows
    }

    /// Prefills `prompt` rows once (with the adapter applied when `adapter` is given) and samples one
    /// continuation per seed from copy-on-write forks of the prompt's cache, decoded together.
    public func rollout(prompt: [Float], adapter: LoRAAdapter?, seeds: [UInt64], maxNewTokens: Int,
                        sampling: SamplingOptions, kv: KVCacheLayout.KVDType = .f16) throws -> [GenerationResult] {
        let h = llm.config.hiddenSize, V = llm.config.vocabSize
        guard prompt.count % h == 0, !prompt.isEmpty else { throw SentioError(.argument, "rollout: empty or ragged prompt rows") }
        let was = llm.linearHook
        llm.linearHook = adapter
        defer { llm.linearHook = was }
        let n = prompt.count / h
        let cache = KVCacheLayout(config: llm.config, dtype: kv).makeCache()
        var logits = [Float](repeating: 0, count: V)
        try prompt.withUnsafeBufferPointer { e in
            try logits.withUnsafeMutableBufferPointer { lg in
                try Generator.prefill(llm, embeddings: e.baseAddress!, rows: n, cache: cache, logits: lg.baseAddress!, pool: pool)
            }
        }
        var o = GenerationOptions(maxTokens: maxNewTokens, sampling: sampling, stopTokens: stopTokens)
        o.penalizePrompt = false
        o.kvDType = kv
        let pc = PromptCache(tokens: [], cache: cache, logits: logits, modelChecksum: modelChecksum)
        return try BatchGenerator(model: llm, tokenizer: tokenizer, pool: pool).generate(from: pc, count: seeds.count, options: o, seeds: seeds)
    }

    /// A completion's text as the rewards read it: special tokens skipped (TRL's batch_decode).
    public func completionText(_ ids: [Int32]) -> String {
        tokenizer.decode(ids.filter { !stopTokens.contains($0) }, skipSpecial: true)
    }
}

extension LoRAAdapter {
    /// The adapter's tensors as the trainer's flat NamedTensors, and back.
    public var namedTensors: NamedTensors {
        get { (try? NamedTensors(names: tensors.names, shapes: tensors.shapes, values: tensors.values))! }
        set { tensors.values = newValue.perTensor }
    }
}

extension LoRATensors {
    public func named() throws -> NamedTensors { try NamedTensors(names: names, shapes: shapes, values: values) }
}

extension TrainRunOptions {
    /// The LoRA configuration of these options.
    public var loraConfig: LoRAConfig {
        LoRAConfig(r: loraR, alpha: Float(loraAlpha), dropout: Float(loraDropout), useRSLoRA: rslora,
                   targets: .names(loraTargets), baseModel: URL(fileURLWithPath: model).lastPathComponent)
    }
}
