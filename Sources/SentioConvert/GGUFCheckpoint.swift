// GGUFCheckpoint: a llama.cpp GGUF file (architectures qwen2 and llama) seen as a Hugging Face
// checkpoint: tensor names mapped by Qwen2Schema, config.json and tokenizer.json synthesized from the
// metadata. Q8_0 / Q4_0 / F16 / BF16 / F32 tensors whose layout equals a Sentio dtype are copied as
// they are; other types (K-quants, Q5_0, ...) are dequantized to f32 first.
//
// GGUF stores dims contiguous-first (ne0 = columns); HF shapes are the reverse.
// llama.cpp's converter permutes the Q/K rows of `llama` models for interleaved RoPE (not for qwen2),
// so such files are run with rope style "interleaved" (recorded as `sentio_rope_style`).
import Foundation
import SentioCore
import SentioFormat
import SentioModels

public final class GGUFCheckpoint: SourceCheckpoint {
    public let file: GGUFFile
    public let path: String
    public let configJSON: String
    public let metadata: [String: String]
    public let architecture: String
    private var hfToGGUF: [String: String] = [:]

    public init(url: URL) throws {
        let file = try GGUFFile(url: url)
        self.file = file
        let path = url.path
        self.path = path
        let md = file.metadata
        guard let arch = md["general.architecture"]?.string else {
            throw SentioError(.format, file: path, "GGUF has no general.architecture")
        }
        guard arch == "qwen2" || arch == "llama" else {
            throw SentioError(.unsupported, file: path, "GGUF architecture '\(arch)' is not supported (qwen2, llama)")
        }
        architecture = arch
        var map: [String: String] = [:]
        for t in file.tensors {
            if let hf = Qwen2Schema.hfName(fromGGUF: t.name) { map[hf] = t.name }
        }
        func int(_ k: String) throws -> Int {
            guard let v = md["\(arch).\(k)"]?.int else { throw SentioError(.format, file: path, "GGUF metadata lacks \(arch).\(k)") }
            return v
        }
        let hidden = try int("embedding_length")
        let heads = try int("attention.head_count")
        let vocab: Int
        if let toks = md["tokenizer.ggml.tokens"]?.stringArray { vocab = toks.count }
        else if let e = file.tensors.first(where: { $0.name == "token_embd.weight" }) { vocab = e.dims.count == 2 ? e.dims[1] : 0 }
        else { throw SentioError(.format, file: path, "GGUF has neither a vocabulary nor token_embd.weight") }
        var cfg: [String: Any] = [
            "architectures": [arch == "qwen2" ? "Qwen2ForCausalLM" : "LlamaForCausalLM"],
            "model_type": arch,
            "hidden_size": hidden,
            "intermediate_size": try int("feed_forward_length"),
            "num_hidden_layers": try int("block_count"),
            "num_attention_heads": heads,
            "num_key_value_heads": md["\(arch).attention.head_count_kv"]?.int ?? heads,
            "vocab_size": vocab,
            "rms_norm_eps": md["\(arch).attention.layer_norm_rms_epsilon"]?.float ?? 1e-6,
            "rope_theta": md["\(arch).rope.freq_base"]?.float ?? 10000,
            "max_position_embeddings": md["\(arch).context_length"]?.int ?? 4096,
            "tie_word_embeddings": !file.has("output.weight"),
            "attention_bias": file.has("blk.0.attn_q.bias"),
            "sentio_rope_style": arch == "llama" ? "interleaved" : "neox",
        ]
        if let b = md["tokenizer.ggml.bos_token_id"]?.int { cfg["bos_token_id"] = b }
        if let e = md["tokenizer.ggml.eos_token_id"]?.int { cfg["eos_token_id"] = e }
        let data = try JSONSerialization.data(withJSONObject: cfg, options: [.prettyPrinted, .sortedKeys])
        configJSON = String(decoding: data, as: UTF8.self)
        var meta = ["sentio.source.format": "gguf", "sentio.source.architecture": arch]
        if let n = md["general.name"]?.string { meta["sentio.source.name"] = n }
        if let t = md["tokenizer.chat_template"]?.string { meta["tokenizer.chat_template"] = t }
        metadata = meta
        hfToGGUF = map
    }

    public var tensorNames: [String] { file.tensors.map { Qwen2Schema.hfName(fromGGUF: $0.name) ?? $0.name } }

    public func has(_ name: String) -> Bool { hfToGGUF[name] != nil }

    private func ggufName(_ name: String) throws -> String {
        guard let g = hfToGGUF[name] else { throw SentioError(.model, file: path, "GGUF has no tensor for '\(name)'") }
        return g
    }

    public func shape(_ name: String) throws -> [Int] { try file.info(try ggufName(name)).shape }

    public func floats(_ name: String) throws -> [Float] { try file.dequantize(try ggufName(name)) }

    public func exactBytes(_ name: String, as dtype: DType) throws -> UnsafeRawBufferPointer? {
        let info = try file.info(try ggufName(name))
        let same: Bool
        switch (info.ggmlType, dtype) {
        case (.f32, .f32), (.f16, .f16), (.bf16, .bf16), (.q8_0, .q8), (.q4_0, .q4), (.q4_1, .q4_1), (.q5_0, .q5): same = true
        default: same = false
        }
        return same ? try file.rawBytes(info.name) : nil
    }

    private var filesMemo: [String: Data]?

    /// tokenizer.json synthesized from the GGUF vocabulary (byte-level BPE), so every .sentio file
    /// carries its tokenizer in one format. Built once per checkpoint.
    public func embeddedFiles() throws -> [String: Data] {
        if let f = filesMemo { return f }
        let f = try synthesizeFiles()
        filesMemo = f
        return f
    }

    private func synthesizeFiles() throws -> [String: Data] {
        let md = file.metadata
        guard let tokens = md["tokenizer.ggml.tokens"]?.stringArray else { return [:] }
        guard md["tokenizer.ggml.model"]?.string == "gpt2" else {
            throw SentioError(.unsupported, file: path, "tokenizer model '\(md["tokenizer.ggml.model"]?.string ?? "?")' is not byte-level BPE (gpt2)")
        }
        let merges = md["tokenizer.ggml.merges"]?.stringArray ?? []
        let types = md["tokenizer.ggml.token_type"]?.intArray ?? []
        var vocab: [(String, Int)] = []
        vocab.reserveCapacity(tokens.count)
        var lastId: [String: Int] = [:]   // a token listed twice keeps its last id (as a JSON object would)
        var added: [[String: Any]] = []
        for (i, t) in tokens.enumerated() {
            let ty = i < types.count ? types[i] : 1
            if ty == 3 || ty == 4 {   // control / user-defined: added tokens
                added.append(["id": i, "content": t, "single_word": false, "lstrip": false, "rstrip": false,
                              "normalized": false, "special": ty == 3])
            } else {
                vocab.append((t, i))
                lastId[t] = i
            }
        }
        let json: [String: Any] = [
            "version": "1.0",
            "added_tokens": added,
            "normalizer": ["type": "NFC"],
            "pre_tokenizer": ["type": "Sequence", "pretokenizers": [
                ["type": "Split", "pattern": ["Regex": Self.qwen2Pattern], "behavior": "Isolated", "invert": false],
                ["type": "ByteLevel", "add_prefix_space": false, "trim_offsets": false, "use_regex": false]]],
            "decoder": ["type": "ByteLevel", "add_prefix_space": false, "trim_offsets": false, "use_regex": false],
            "model": ["type": "BPE", "vocab": [String: Int](), "merges": merges, "byte_fallback": false,
                      "ignore_merges": false, "fuse_unk": false],
        ]
        // Sorted keys make the bytes (and so the .sentio file) reproducible, but Foundation sorts keys
        // with locale-aware comparison: for a 151,643-entry vocab that took ~7 s. So the object is written
        // with the vocab empty and the vocab, in id order as Hugging Face writes it, spliced in.
        let skeleton = try JSONSerialization.data(withJSONObject: json, options: [.sortedKeys])
        let slot = Data(#""vocab":{}"#.utf8)
        guard let r = skeleton.range(of: slot) else {
            throw SentioError(.format, file: path, "internal: tokenizer.json skeleton has no vocab slot")
        }
        var text = Data(#""vocab":{"#.utf8)
        var first = true
        for (t, i) in vocab where lastId[t] == i {
            if !first { text.append(UInt8(ascii: ",")) }
            first = false
            text.append(contentsOf: Self.jsonQuoted(t).utf8)
            text.append(contentsOf: ":\(i)".utf8)
        }
        text.append(UInt8(ascii: "}"))
        var tokenizerJSON = skeleton
        tokenizerJSON.replaceSubrange(r, with: text)
        var files = ["tokenizer.json": tokenizerJSON]
        if let t = md["tokenizer.chat_template"]?.string {
            files["chat_template.jinja"] = Data(t.utf8)
        }
        return files
    }

    /// `s` as a JSON string literal (RFC 8259 escapes: quote, backslash, control characters).
    static func jsonQuoted(_ s: String) -> String {
        var o = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": o += "\\\""
            case "\\": o += "\\\\"
            case "\n": o += "\\n"
            case "\r": o += "\\r"
            case "\t": o += "\\t"
            case _ where u.value < 0x20: o += String(format: "\\u%04x", u.value)
            default: o.unicodeScalars.append(u)
            }
        }
        return o + "\""
    }

    static let qwen2Pattern = #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#
}
