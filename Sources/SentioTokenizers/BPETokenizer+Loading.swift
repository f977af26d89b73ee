// Loading a BPETokenizer from a Hugging Face tokenizer.json, or from the token arrays of a GGUF file.
//
// Supported tokenizer.json configuration (what Qwen2 / Qwen2.5 ship; anything else throws .unsupported):
//   model: {"type": "BPE", "vocab": {token: id}, "merges": ["a b", ...] or [["a", "b"], ...]},
//          no dropout, no continuing_subword_prefix / end_of_word_suffix, byte_fallback false
//   normalizer: null or {"type": "NFC"}
//   pre_tokenizer: Sequence[Split(the Qwen2 regex, Isolated), ByteLevel(use_regex: false)] or
//                  ByteLevel alone with use_regex false is not accepted (it would not split words)
//   added_tokens: [{"id", "content", "special"}] matched verbatim in text (lstrip/rstrip/single_word unsupported)
// bos/eos come from a tokenizer_config.json next to tokenizer.json when present ("bos_token"/"eos_token").
import Foundation
import SentioCore

extension BPETokenizer {
    static let qwen2Pattern = #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#

    /// Loads a Hugging Face tokenizer.json (see the header of this file for what is supported).
    public convenience init(tokenizerJSON url: URL) throws {
        let configURL = url.deletingLastPathComponent().appendingPathComponent("tokenizer_config.json")
        let config = FileManager.default.fileExists(atPath: configURL.path) ? try JSONScanner.parse(contentsOf: configURL) : nil
        try self.init(root: try JSONScanner.parse(contentsOf: url), tokenizerConfig: config, path: url.path)
    }

    /// Loads tokenizer.json bytes held in memory (e.g. embedded in a .sentio file), with the optional
    /// tokenizer_config.json bytes; `name` is used in error messages.
    public convenience init(tokenizerJSONData data: Data, tokenizerConfigData: Data? = nil, name: String) throws {
        let config = try tokenizerConfigData.map { try JSONScanner.parse($0, name: name + " (tokenizer_config.json)") }
        try self.init(root: try JSONScanner.parse(data, name: name), tokenizerConfig: config, path: name)
    }

    convenience init(root: JSONValue, tokenizerConfig: JSONValue?, path: String) throws {
        func bad(_ m: String) -> SentioError { SentioError(.tokenizer, file: path, m) }
        func unsupported(_ m: String) -> SentioError { SentioError(.unsupported, file: path, m) }
        guard let model = root["model"], model["type"]?.string == "BPE" else { throw unsupported("model.type is not BPE") }
        if let d = model["dropout"], !d.isNull { throw unsupported("BPE dropout is not supported") }
        for k in ["continuing_subword_prefix", "end_of_word_suffix"] {
            if let s = model[k]?.string, !s.isEmpty { throw unsupported("model.\(k) '\(s)' is not supported") }
        }
        if model["byte_fallback"]?.bool == true { throw unsupported("byte_fallback is not supported") }
        if model["ignore_merges"]?.bool == true { throw unsupported("ignore_merges is not supported") }

        // Normalizer.
        var nfc = false
        if let norm = root["normalizer"], !norm.isNull {
            guard norm["type"]?.string == "NFC" else { throw unsupported("normalizer \(norm["type"]?.string ?? "?") is not supported (only NFC)") }
            nfc = true
        }
        // Pre-tokenizer: must be the Qwen2 split followed by a byte-level mapping without its own regex.
        guard let pre = root["pre_tokenizer"], pre["type"]?.string == "Sequence", let steps = pre["pretokenizers"]?.array,
              steps.count == 2, steps[0]["type"]?.string == "Split", steps[0]["pattern"]?["Regex"]?.string == Self.qwen2Pattern,
              steps[0]["behavior"]?.string == "Isolated", steps[0]["invert"]?.bool != true,
              steps[1]["type"]?.string == "ByteLevel", steps[1]["use_regex"]?.bool == false,
              steps[1]["add_prefix_space"]?.bool != true
        else { throw unsupported("pre_tokenizer is not the Qwen2 regex split + ByteLevel") }

        // Vocabulary.
        guard let vocabPairs = model["vocab"]?.pairs else { throw bad("model.vocab is not an object") }
        var maxID = -1
        var entries: [(String, Int)] = []
        entries.reserveCapacity(vocabPairs.count + 64)
        for (k, v) in vocabPairs {
            guard let id = v.int, id >= 0 else { throw bad("vocab entry '\(k)' has no valid id") }
            entries.append((k, id)); maxID = max(maxID, id)
        }
        var added: [AddedToken] = []
        var special = Set<Int32>()
        for t in root["added_tokens"]?.array ?? [] {
            guard let id = t["id"]?.int, id >= 0, let content = t["content"]?.string, !content.isEmpty else {
                throw bad("added token without id/content")
            }
            if t["lstrip"]?.bool == true || t["rstrip"]?.bool == true || t["single_word"]?.bool == true {
                throw unsupported("added token '\(content)': lstrip/rstrip/single_word are not supported")
            }
            let isSpecial = t["special"]?.bool ?? false
            added.append(AddedToken(content: content, id: Int32(id), special: isSpecial))
            if isSpecial { special.insert(Int32(id)) }
            entries.append((content, id)); maxID = max(maxID, id)
        }
        // Ids must be dense enough that an id-indexed table stays proportional to the file.
        guard maxID >= 0, maxID < 4 * entries.count + 1024 else { throw bad("ids are too sparse (max id \(maxID) for \(entries.count) tokens)") }
        var tokens = [String?](repeating: nil, count: maxID + 1)
        for (s, id) in entries {
            if let old = tokens[id], old != s { throw bad("id \(id) is given to both '\(old)' and '\(s)'") }
            tokens[id] = s
        }

        // Merges: "a b" strings or [a, b] pairs.
        guard let mergeList = model["merges"]?.array else { throw bad("model.merges is not an array") }
        var mergePairs: [(String, String)] = []
        mergePairs.reserveCapacity(mergeList.count)
        for (r, m) in mergeList.enumerated() {
            if let s = m.string {
                guard let pair = Self.splitMerge(s) else { throw bad("merge \(r) '\(s)' is not two space-separated tokens") }
                mergePairs.append(pair)
            } else if let a = m.array, a.count == 2, let x = a[0].string, let y = a[1].string {
                mergePairs.append((x, y))
            } else {
                throw bad("merge \(r) is neither \"a b\" nor [a, b]")
            }
        }

        // bos / eos from tokenizer_config.json beside the file.
        var bos: Int32?, eos: Int32?
        if let config = tokenizerConfig {
            func tokenName(_ v: JSONValue?) -> String? { v?.string ?? v?["content"]?.string }
            func lookup(_ name: String?) throws -> Int32? {
                guard let name else { return nil }
                let n = name.utf8.count
                guard let (_, id) = entries.last(where: { $0.0.utf8.count == n && $0.0 == name }) else {
                    throw bad("tokenizer_config.json names '\(name)', which is not in the vocabulary")
                }
                return Int32(id)
            }
            bos = try lookup(tokenName(config["bos_token"]))
            eos = try lookup(tokenName(config["eos_token"]))
        }
        try self.init(tokens: tokens, added: added, special: special, mergePairs: mergePairs,
                      bos: bos, eos: eos, nfc: nfc, source: path)
    }

    /// Builds the tokenizer from GGUF metadata arrays: `tokenizer.ggml.tokens`, `tokenizer.ggml.merges`
    /// ("a b" strings), `tokenizer.ggml.token_type` (1 normal, 2 unknown, 3 control, 4 user-defined, 5 unused,
    /// 6 byte), `tokenizer.ggml.bos_token_id` / `eos_token_id`.
    /// Control tokens (3) become special added tokens, user-defined (4) non-special added tokens (always matched
    /// in text), unused (5) are neither matched nor emitted by decode with skipSpecial. The pre-tokenizer is the
    /// Qwen2 split (`tokenizer.ggml.pre` = "qwen2"; the caller checks that), with NFC normalization unless
    /// `normalizeNFC` is false.
    public convenience init(tokens: [String], merges: [String], tokenTypes: [Int32]?, bos: Int32?, eos: Int32?,
                            normalizeNFC: Bool = true) throws {
        let source = "GGUF tokenizer metadata"
        if let tokenTypes, tokenTypes.count != tokens.count {
            throw SentioError(.tokenizer, file: source, "\(tokenTypes.count) token types for \(tokens.count) tokens")
        }
        var added: [AddedToken] = []
        var special = Set<Int32>()
        for (i, t) in tokens.enumerated() {
            switch tokenTypes?[i] ?? 1 {
            case 3: added.append(AddedToken(content: t, id: Int32(i), special: true)); special.insert(Int32(i))
            case 4: added.append(AddedToken(content: t, id: Int32(i), special: false))
            case 5: special.insert(Int32(i))
            default: break
            }
        }
        added.removeAll { $0.content.isEmpty }
        var pairs: [(String, String)] = []
        pairs.reserveCapacity(merges.count)
        for (r, m) in merges.enumerated() {
            guard let p = Self.splitMerge(m) else {
                throw SentioError(.tokenizer, file: source, "merge \(r) '\(m)' is not two space-separated tokens")
            }
            pairs.append(p)
        }
        try self.init(tokens: tokens.map { Optional($0) }, added: added, special: special, mergePairs: pairs,
                      bos: bos, eos: eos, nfc: normalizeNFC, source: source)
    }

    static func splitMerge(_ s: String) -> (String, String)? {
        let parts = s.split(separator: " ", omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else { return nil }
        return (String(parts[0]), String(parts[1]))
    }
}
