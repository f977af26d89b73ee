// EmotionRecognizer: the library API for R1-Omni. A .sentio file converted from an R1-Omni / HumanOmni
// checkpoint in, decoded RGB frames (or pixels) + a 16 kHz waveform (or log-mel) + an instruction in,
// generated text with its <think> / <answer> parts, the gate weights and per-stage timings out.
// Follows humanomni/__init__.py mm_infer of github.com/HumanMLLM/R1-Omni: greedy decoding (with the
// checkpoint's generation_config.json repetition_penalty when it sets one), stop at <|im_end|>, output
// decoded skipping special tokens and stripped; answer = first `<answer>(.*?)</answer>` (no DOTALL), stripped.
import Foundation
import SentioCore
import SentioFormat
import SentioKernels
import SentioMedia
import SentioModels
import SentioTokenizers

/// Seconds per stage of one recognize call.
public struct OmniTimings: Sendable, Codable, Equatable {
    public var preprocess = 0.0        // frames -> pixels (resize, normalize); instruction -> BERT ids
    public var siglip = 0.0
    public var projectorBertGate = 0.0 // projector branches + BERT + gate + fusion
    public var mel = 0.0
    public var whisper = 0.0
    public var audioProjector = 0.0    // avg-pool + audio projector
    public var assemble = 0.0          // tokenization + embedding splice
    public var prefill = 0.0
    public var decode = 0.0
    public init() {}
    public var total: Double { preprocess + siglip + projectorBertGate + mel + whisper + audioProjector + assemble + prefill + decode }
    public var timeToFirstToken: Double { total - decode }
}

public struct OmniResult: Sendable {
    /// Prompt ids with the sentinels (-201 video, -202 audio) in place.
    public var promptIDs: [Int32]
    /// Rows the LLM saw (text + video + audio tokens).
    public var sequenceLength: Int
    /// Generated ids (the stop token included when one was hit).
    public var generatedTokens: [Int32]
    /// Decoded output, special tokens skipped, stripped.
    public var text: String
    public var think: String?
    public var answer: String?
    /// Gate probabilities (video, body, face).
    public var gate: [Float]
    public var stoppedAtEOS: Bool
    public var timings: OmniTimings
    /// Rows of the shared prompt prefix taken from the recognizer's prefix cache (not prefilled).
    public var prefixRowsReused: Int = 0
}

/// Everything the LLM needs for one clip, before generation.
public struct OmniPrepared: Sendable {
    public var promptIDs: [Int32]
    public var bertIDs: [Int32]
    /// Spliced input embeddings [sequenceLength, H].
    public var embeddings: [Float]
    public var gate: [Float]
    public var timings: OmniTimings
}

public final class EmotionRecognizer: @unchecked Sendable {
    public let model: OmniModel
    public let tokenizer: BPETokenizer
    public let bertTokenizer: WordPieceTokenizer
    public let file: SentioFile
    /// Decoding settings: greedy, repetition penalty from the embedded generation_config.json (1 when absent).
    public var sampling: SamplingOptions
    public var kvDType: KVCacheLayout.KVDType = .f16
    /// Compute the fixed prompt prefix once and fork it for every clip (results equal to recomputing it,
    /// within the floating-point differences of a different prefill chunking).
    public var reusePrefix = true
    /// Ids that end generation: <|im_end|> and the configs' eos ids.
    public let stopTokens: Set<Int32>
    public let pool: ThreadPool
    public let loadSeconds: Double

    /// Loads an R1-Omni `.sentio` file. The language model's weights (read whole every decoded token) are
    /// copied into huge-page memory unless `mapWeights`; the encoders' are read from the file mapping.
    public init(url: URL, maxRows: Int = 512, pool: ThreadPool = .shared, mapWeights: Bool = false) throws {
        let t0 = Date()
        let f = try SentioFile.open(url, resident: mapWeights ? nil : { Qwen2Schema.isModelTensor($0) })
        guard f.metadata["sentio.model"] == "HumanOmni_qwen2" || (try? JSONSerialization.jsonObject(with: Data(f.config.utf8)) as? [String: Any])?["model_type"] as? String == "HumanOmni_qwen2" else {
            throw SentioError(.model, file: url.path, "not an R1-Omni / HumanOmni model file (model_type is not HumanOmni_qwen2)")
        }
        guard let tj = f.files["tokenizer.json"] else {
            throw SentioError(.model, file: url.path, "the .sentio file embeds no tokenizer.json")
        }
        guard let vocab = f.files[HumanOmniConfig.bertVocabFile] else {
            throw SentioError(.model, file: url.path, "the .sentio file embeds no \(HumanOmniConfig.bertVocabFile)")
        }
        let cfg = try HumanOmniConfig.parse(configJSON: f.config, files: f.files, source: url.path)
        file = f
        self.pool = pool
        model = try OmniModel(config: cfg, source: SchemaShapedWeights(SentioFileWeights(f), specs: HumanOmniSchema.tensors(cfg)),
                              maxRows: maxRows)
        tokenizer = try BPETokenizer(tokenizerJSONData: tj, tokenizerConfigData: f.files["tokenizer_config.json"], name: url.path)
        bertTokenizer = try Self.wordPiece(vocab, name: url.path)
        var s = SamplingOptions.greedy
        var stops: Set<Int32> = []
        if let e = cfg.llm.eosTokenId { stops.insert(Int32(e)) }
        if let im = tokenizer.id(for: "<|im_end|>") { stops.insert(im) }
        if let g = f.files["generation_config.json"],
           let obj = (try? JSONSerialization.jsonObject(with: g)) as? [String: Any] {
            if let r = (obj["repetition_penalty"] as? NSNumber)?.floatValue, r > 0 { s.repetitionPenalty = r }
            if let e = obj["eos_token_id"] as? Int { stops.insert(Int32(e)) }
            if let es = obj["eos_token_id"] as? [Int] { for e in es { stops.insert(Int32(e)) } }
        }
        sampling = s
        stopTokens = stops
        loadSeconds = Date().timeIntervalSince(t0)
    }

    /// WordPieceTokenizer reads a vocab file: write the embedded one to a private temporary file.
    static func wordPiece(_ data: Data, name: String) throws -> WordPieceTokenizer {
        let u = FileManager.default.temporaryDirectory.appendingPathComponent("sentio-bert-vocab-\(UUID().uuidString).txt")
        defer { try? FileManager.default.removeItem(at: u) }
        do { try data.write(to: u) } catch {
            throw SentioError(.io, file: name, "cannot stage the embedded BERT vocabulary: \(error.localizedDescription)")
        }
        return try WordPieceTokenizer(vocab: u)
    }

    public var config: HumanOmniConfig { model.config }

    // MARK: - Preparation

    /// Pixels [frames, 3, 224, 224] of decoded RGB frames (resize + normalize as the mode says).
    public func pixels(frames: [RGBFrame], mode: PromptMode) throws -> [Float] {
        guard frames.count == config.numFrames else {
            throw SentioError(.argument, "R1-Omni takes \(config.numFrames) frames, got \(frames.count)")
        }
        return ImagePreprocessor.pixelValues(frames, mode: mode == .training ? .training : .inference)
    }

    /// Encodes both towers and splices the LLM input.
    public func prepare(pixels: [Float], mel: [Float], instruction: String, mode: PromptMode,
                        timings: OmniTimings = OmniTimings()) throws -> OmniPrepared {
        var tm = timings
        var t = Date()
        func lap() -> Double { let n = Date(); defer { t = n }; return n.timeIntervalSince(t) }
        let bertIDs = bertTokenizer.encode(OmniModel.userText(instruction, mode: mode), maxLength: config.bert.maxPositionEmbeddings)
        tm.preprocess += lap()
        let vis = try model.encodeVideo(pixels: pixels, bertIDs: bertIDs, pool: pool)
        tm.siglip += vis.siglipSeconds; tm.projectorBertGate += vis.projectorSeconds
        _ = lap()
        let aud = try model.encodeAudio(mel: mel, pool: pool)
        tm.whisper += aud.whisperSeconds; tm.audioProjector += aud.projectorSeconds
        _ = lap()
        let ids = model.promptIDs(tokenizer: tokenizer, instruction: instruction, mode: mode)
        let emb = try model.assemble(ids: ids, video: vis.tokens, audio: aud.tokens)
        tm.assemble += lap()
        return OmniPrepared(promptIDs: ids, bertIDs: bertIDs, embeddings: emb, gate: vis.gate, timings: tm)
    }

    // MARK: - Recognition

    /// From decoded frames (exactly num_frames, sampled as VideoDecoder.sampleFrames does) and a 16 kHz mono waveform.
    public func recognize(frames: [RGBFrame], waveform16k: [Float], instruction: String = OmniModel.defaultInstruction,
                          mode: PromptMode = .inference, maxTokens: Int = 2048, onText: ((String) -> Void)? = nil) throws -> OmniResult {
        let (px, mel, tm) = try inputs(frames: frames, waveform16k: waveform16k, mode: mode)
        return try recognize(pixels: px, mel: mel, instruction: instruction, mode: mode, maxTokens: maxTokens, timings: tm, onText: onText)
    }

    /// From a media file: 8 frames sampled over the clip, its audio track at 16 kHz (silence when absent).
    public func recognize(clip url: URL, instruction: String = OmniModel.defaultInstruction, mode: PromptMode = .inference,
                          maxTokens: Int = 2048, onText: ((String) -> Void)? = nil) throws -> (result: OmniResult, warnings: [String]) {
        let (p, warnings) = try prepare(clip: url, instruction: instruction, mode: mode)
        let gen = try generate(embeddings: p.embeddings, promptIDs: p.promptIDs, maxTokens: maxTokens, onText: onText)
        return (result(p, gen), warnings)
    }

    /// From model inputs: pixels [frames, 3, 224, 224] and log-mel [mels, 3000].
    public func recognize(pixels: [Float], mel: [Float], instruction: String = OmniModel.defaultInstruction,
                          mode: PromptMode = .inference, maxTokens: Int = 2048, timings: OmniTimings = OmniTimings(),
                          onText: ((String) -> Void)? = nil) throws -> OmniResult {
        let p = try prepare(pixels: pixels, mel: mel, instruction: instruction, mode: mode, timings: timings)
        return result(p, try generate(embeddings: p.embeddings, promptIDs: p.promptIDs, maxTokens: maxTokens, onText: onText))
    }

    /// Pixels and log-mel of decoded frames and a 16 kHz waveform, with their preprocess / mel timings.
    func inputs(frames: [RGBFrame], waveform16k: [Float], mode: PromptMode) throws -> (pixels: [Float], mel: [Float], timings: OmniTimings) {
        var tm = OmniTimings()
        var t = Date()
        let px = try pixels(frames: frames, mode: mode)
        tm.preprocess = Date().timeIntervalSince(t)
        t = Date()
        let mel = LogMel(mels: config.audio.numMelBins).compute(waveform16k, threads: max(1, pool.threadCount))
        tm.mel = Date().timeIntervalSince(t)
        return (px, mel, tm)
    }

    /// A media file decoded (8 sampled frames, 16 kHz audio; decoding counted in `preprocess`), encoded and spliced.
    func prepare(clip url: URL, instruction: String, mode: PromptMode) throws -> (prepared: OmniPrepared, warnings: [String]) {
        let t = Date()
        let sampled = try VideoDecoder.sampleFrames(url, count: config.numFrames)
        let (wave, warning) = try AudioDecoder.decodeMono16k(url)
        let decodeSeconds = Date().timeIntervalSince(t)
        var (px, mel, tm) = try inputs(frames: sampled.frames, waveform16k: wave, mode: mode)
        tm.preprocess += decodeSeconds
        let p = try prepare(pixels: px, mel: mel, instruction: instruction, mode: mode, timings: tm)
        return (p, sampled.warnings + (warning.map { [$0] } ?? []))
    }

    /// The result of a prepared prompt and its generation (prefill and decode timings from the generation).
    func result(_ p: OmniPrepared, _ gen: Generated) -> OmniResult {
        var tm = p.timings
        tm.prefill = gen.prefillSeconds
        tm.decode = gen.decodeSeconds
        let (think, answer) = Self.parse(gen.text)
        return OmniResult(promptIDs: p.promptIDs, sequenceLength: p.embeddings.count / config.llm.hiddenSize,
                          generatedTokens: gen.tokens, text: gen.text, think: think, answer: answer, gate: p.gate,
                          stoppedAtEOS: gen.stopped, timings: tm, prefixRowsReused: gen.prefixRowsReused)
    }

    public struct Generated: Sendable {
        public var tokens: [Int32]
        public var text: String
        public var stopped: Bool
        public var prefillSeconds: Double, decodeSeconds: Double
        /// Rows taken from the cached prompt prefix instead of being prefilled (0 without reuse).
        public var prefixRowsReused: Int = 0
        /// Rows prefilled for this call.
        public var rowsPrefilled: Int = 0
    }

    /// The fixed text before the first media placeholder (system turn, user turn start): its ids and its
    /// KV cache, computed once and forked (copy-on-write) by every clip.
    private struct PrefixEntry { let ids: [Int32]; let dtype: KVCacheLayout.KVDType; let cache: any KVCache }
    private var prefixEntry: PrefixEntry?
    private let prefixLock = NSLock()

    /// Ids of the prompt before its first media sentinel (the part every clip shares).
    public static func sharedPrefix(_ promptIDs: [Int32]) -> [Int32] {
        Array(promptIDs.prefix { $0 >= 0 })
    }

    /// A fork of the cached prefix for these ids, computing it on first use (or when ids / dtype change).
    /// Returns the fork and the rows it already holds.
    func prefixFork(ids: [Int32], embeddings: UnsafePointer<Float>) throws -> (cache: any KVCache, rows: Int) {
        prefixLock.lock(); defer { prefixLock.unlock() }
        if let e = prefixEntry, e.ids == ids, e.dtype == kvDType { return (e.cache.fork(), ids.count) }
        let lm = model.llm
        let c = KVCacheLayout(config: lm.config, dtype: kvDType).makeCache()
        try Generator.prefill(lm, embeddings: embeddings, rows: ids.count, cache: c, logits: nil, pool: pool)
        prefixEntry = PrefixEntry(ids: ids, dtype: kvDType, cache: c)
        return (c.fork(), ids.count)
    }

    /// Drops the cached prefix (its memory is freed once no clip's fork still shares it).
    public func clearPrefixCache() {
        prefixLock.lock(); defer { prefixLock.unlock() }
        prefixEntry = nil
    }

    /// A prompt prefilled into its own KV cache, ready to decode.
    struct Prefilled { let cache: any KVCache; let logits: [Float]; let reused: Int; let rows: Int; let seconds: Double }

    /// Prefills the spliced embeddings [n, H] into a fresh KV cache (chunks of maxRows); with `promptIDs` and
    /// `reusePrefix`, the rows of the shared prefix (ids before the first sentinel) come from the cached prefix.
    func prefill(embeddings: [Float], promptIDs: [Int32]?) throws -> Prefilled {
        let lm = model.llm, h = lm.config.hiddenSize, V = lm.config.vocabSize
        guard embeddings.count % h == 0, embeddings.count > 0 else { throw SentioError(.argument, "R1-Omni: empty or ragged input embeddings") }
        let n = embeddings.count / h
        var logits = [Float](repeating: 0, count: V)
        let t0 = Date()
        let (cache, reused): (any KVCache, Int) = try embeddings.withUnsafeBufferPointer { e in
            var cache: any KVCache = KVCacheLayout(config: lm.config, dtype: kvDType).makeCache()
            var reused = 0
            if reusePrefix, let ids = promptIDs {
                let prefix = Self.sharedPrefix(ids)
                if !prefix.isEmpty, prefix.count < n { (cache, reused) = try prefixFork(ids: prefix, embeddings: e.baseAddress!) }
            }
            try logits.withUnsafeMutableBufferPointer { lg in
                try Generator.prefill(lm, embeddings: e.baseAddress! + reused * h, rows: n - reused, cache: cache,
                                      logits: lg.baseAddress!, pool: pool)
            }
            return (cache, reused)
        }
        return Prefilled(cache: cache, logits: logits, reused: reused, rows: n - reused, seconds: Date().timeIntervalSince(t0))
    }

    /// Decodes prefilled prompts together (one batched decode: each weight read serves every sequence) with
    /// `sampling` until a stop token or maxTokens each. Results in input order; decodeSeconds is the batch's.
    func decode(_ items: [Prefilled], maxTokens: Int, onText: ((Int, String) -> Void)? = nil) throws -> [Generated] {
        var o = GenerationOptions(maxTokens: maxTokens, sampling: sampling, stopTokens: stopTokens)
        // The penalty looks at generated ids only: with inputs_embeds HF's generate starts from an empty input_ids.
        o.penalizePrompt = false
        let t1 = Date()
        let rs = try BatchGenerator(model: model.llm, tokenizer: tokenizer, pool: pool)
            .run(items.map { BatchGenerator.Sequence(cache: $0.cache, logits: $0.logits, prompt: [], options: o) }, onText: onText)
        let decodeSeconds = Date().timeIntervalSince(t1)
        return zip(items, rs).map { p, r in
            let body = r.generatedTokens.filter { !stopTokens.contains($0) }
            let text = tokenizer.decode(body, skipSpecial: true).trimmingCharacters(in: .whitespacesAndNewlines)
            return Generated(tokens: r.generatedTokens, text: text, stopped: r.stopReason == .stopToken,
                             prefillSeconds: p.seconds, decodeSeconds: decodeSeconds,
                             prefixRowsReused: p.reused, rowsPrefilled: p.rows)
        }
    }

    /// Prefills the spliced embeddings [n, H] into a KV cache (chunks of maxRows), then decodes with
    /// `sampling` until a stop token or maxTokens. With `promptIDs` and `reusePrefix`, the rows of the
    /// shared prefix (ids before the first sentinel) come from the cached prefix instead of being prefilled.
    public func generate(embeddings: [Float], promptIDs: [Int32]? = nil, maxTokens: Int,
                         onText: ((String) -> Void)? = nil) throws -> Generated {
        let p = try prefill(embeddings: embeddings, promptIDs: promptIDs)
        return try decode([p], maxTokens: maxTokens, onText: onText.map { f in { _, s in f(s) } })[0]
    }

    /// Several clips at once (multi-clip serving, `sentio eval --batch`): each clip is decoded, encoded and
    /// prefilled on its own, then all are decoded together in one batched decode. A clip that fails before
    /// decoding gets its error in its slot; the others go on. Under greedy decoding every clip's tokens are
    /// those of `recognize(clip:)` (batched decode equals independent decodes), its timings: its own
    /// encoders and prefill, the batch's decode.
    public func recognizeBatch(clips: [URL], instruction: String = OmniModel.defaultInstruction, mode: PromptMode = .inference,
                               maxTokens: Int = 2048) -> [Result<(result: OmniResult, warnings: [String]), Error>] {
        var slots: [Result<(result: OmniResult, warnings: [String]), Error>] = []
        var ready: [(slot: Int, prepared: OmniPrepared, prefilled: Prefilled, warnings: [String])] = []
        for url in clips {
            do {
                let (p, warnings) = try prepare(clip: url, instruction: instruction, mode: mode)
                let f = try prefill(embeddings: p.embeddings, promptIDs: p.promptIDs)
                ready.append((slots.count, p, f, warnings))
                slots.append(.failure(SentioError(.argument, "not decoded")))   // replaced below
            } catch {
                slots.append(.failure(error))
            }
        }
        if ready.isEmpty { return slots }
        do {
            let gens = try decode(ready.map(\.prefilled), maxTokens: maxTokens)
            for (item, gen) in zip(ready, gens) { slots[item.slot] = .success((result(item.prepared, gen), item.warnings)) }
        } catch {
            for item in ready { slots[item.slot] = .failure(error) }
        }
        return slots
    }

    /// <think> text (DOTALL, stripped) and the first `<answer>(.*?)</answer>` (no DOTALL, stripped), as the
    /// reference's reward functions read them.
    public static func parse(_ text: String) -> (think: String?, answer: String?) {
        func first(_ pattern: String, _ opts: NSRegularExpression.Options) -> String? {
            guard let re = try? NSRegularExpression(pattern: pattern, options: opts),
                  let m = re.firstMatch(in: text, range: NSRange(text.startIndex..., in: text)),
                  let r = Range(m.range(at: 1), in: text) else { return nil }
            return String(text[r]).trimmingCharacters(in: .whitespacesAndNewlines)
        }
        return (first("<think>(.*?)</think>", [.dotMatchesLineSeparators]), first("<answer>(.*?)</answer>", []))
    }
}
