// BERT WordPiece tokenizer (bert-base-uncased style), as used by R1-Omni's instruction gate.
//
// Basic tokenization, per scalar:
//   clean:  drop U+0000, U+FFFD and "control" scalars (general category C* except \t \n \r);
//           whitespace (\t \n \r, or White_Space) becomes ' '
//   CJK:    put spaces around CJK ideographs (the CJK Unified Ideographs blocks and extensions, compatibility
//           ideographs), so each becomes its own word
//   split on whitespace; for each word, when lowercasing: lower-case, then NFD and drop Mn marks (accents)
//   punctuation: each punctuation scalar is its own word (ASCII 33-47, 58-64, 91-96, 123-126, or category P*)
// WordPiece, per word: a word longer than maxCharsPerWord scalars is [UNK]; otherwise greedy longest-match-first
// against the vocabulary, pieces after the first prefixed with "##"; if some position matches nothing, the
// whole word is [UNK].
// encode() wraps the ids in [CLS] ... [SEP] and truncates to maxLength (the ids between keep their order).
import Foundation
import SentioCore

public final class WordPieceTokenizer: Sendable {
    public let vocab: [String: Int32]
    public let idToToken: [String]
    public let lowercase: Bool
    public let maxCharsPerWord = 100
    public let unkID: Int32
    public let clsID: Int32
    public let sepID: Int32
    public let padID: Int32?

    /// Reads a vocab.txt (one token per line, id = 0-based line number; a repeated token keeps its last id).
    public init(vocab url: URL, lowercase: Bool = true) throws {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw SentioError(.io, file: url.path, "cannot read: \(error.localizedDescription)")
        }
        guard let text = String(data: data, encoding: .utf8) else { throw SentioError(.tokenizer, file: url.path, "vocab is not UTF-8") }
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map { l -> String in
            l.hasSuffix("\r") ? String(l.dropLast()) : String(l)
        }
        if lines.last == "" { lines.removeLast() }
        var v: [String: Int32] = [:]
        for (i, t) in lines.enumerated() { v[t] = Int32(i) }
        func need(_ t: String) throws -> Int32 {
            guard let id = v[t] else { throw SentioError(.tokenizer, file: url.path, "vocab has no \(t) token") }
            return id
        }
        self.vocab = v
        self.idToToken = lines
        self.lowercase = lowercase
        self.unkID = try need("[UNK]")
        self.clsID = try need("[CLS]")
        self.sepID = try need("[SEP]")
        self.padID = v["[PAD]"]
    }

    public var vocabSize: Int { idToToken.count }

    /// [CLS] + wordpiece ids + [SEP], at most maxLength ids (nil = no limit).
    public func encode(_ text: String, maxLength: Int? = 512) -> [Int32] {
        var ids = tokenize(text).map { vocab[$0] ?? unkID }
        if let maxLength { ids = Array(ids.prefix(max(0, maxLength - 2))) }
        return [clsID] + ids + [sepID]
    }

    /// WordPiece token strings (without [CLS]/[SEP]).
    public func tokenize(_ text: String) -> [String] {
        var out: [String] = []
        for word in basicTokenize(text) { wordPiece(word, into: &out) }
        return out
    }

    // MARK: Basic tokenizer

    static func isControl(_ u: Unicode.Scalar) -> Bool {
        if u == "\t" || u == "\n" || u == "\r" { return false }
        switch u.properties.generalCategory {
        case .control, .format, .unassigned, .privateUse, .surrogate: return true
        default: return false
        }
    }

    static func isWhitespace(_ u: Unicode.Scalar) -> Bool {
        u == " " || u == "\t" || u == "\n" || u == "\r" || u.properties.isWhitespace
    }

    static func isPunctuation(_ u: Unicode.Scalar) -> Bool {
        let v = u.value
        if (33...47).contains(v) || (58...64).contains(v) || (91...96).contains(v) || (123...126).contains(v) { return true }
        switch u.properties.generalCategory {
        case .connectorPunctuation, .dashPunctuation, .openPunctuation, .closePunctuation,
             .initialPunctuation, .finalPunctuation, .otherPunctuation: return true
        default: return false
        }
    }

    static func isCJK(_ v: UInt32) -> Bool {
        (0x4E00...0x9FFF).contains(v) || (0x3400...0x4DBF).contains(v) || (0x20000...0x2A6DF).contains(v)
            || (0x2A700...0x2B73F).contains(v) || (0x2B740...0x2B81F).contains(v) || (0x2B820...0x2CEAF).contains(v)
            || (0xF900...0xFAFF).contains(v) || (0x2F800...0x2FA1F).contains(v)
    }

    /// Words after cleaning, CJK spacing, lower-casing/accent stripping and punctuation splitting.
    public func basicTokenize(_ text: String) -> [String] {
        var cleaned = String.UnicodeScalarView()
        for u in text.unicodeScalars {
            if u.value == 0 || u.value == 0xFFFD || Self.isControl(u) { continue }
            if Self.isWhitespace(u) { cleaned.append(" "); continue }
            if Self.isCJK(u.value) { cleaned.append(" "); cleaned.append(u); cleaned.append(" "); continue }
            cleaned.append(u)
        }
        var words: [String] = []
        for raw in String(cleaned).unicodeScalars.split(separator: " ") {
            var w = String(String.UnicodeScalarView(raw))
            if lowercase {
                w = w.lowercased()
                w = String(String.UnicodeScalarView(w.decomposedStringWithCanonicalMapping.unicodeScalars.filter {
                    $0.properties.generalCategory != .nonspacingMark
                }))
            }
            var current = String.UnicodeScalarView()
            for u in w.unicodeScalars {
                if Self.isPunctuation(u) {
                    if !current.isEmpty { words.append(String(current)); current = String.UnicodeScalarView() }
                    words.append(String(Character(u)))
                } else {
                    current.append(u)
                }
            }
            if !current.isEmpty { words.append(String(current)) }
        }
        return words
    }

    // MARK: WordPiece

    func wordPiece(_ word: String, into out: inout [String]) {
        let chars = Array(word.unicodeScalars)
        if chars.count > maxCharsPerWord { out.append("[UNK]"); return }
        var pieces: [String] = []
        var start = 0
        while start < chars.count {
            var end = chars.count
            var found: String?
            while start < end {
                var s = String(String.UnicodeScalarView(chars[start..<end]))
                if start > 0 { s = "##" + s }
                if vocab[s] != nil { found = s; break }
                end -= 1
            }
            guard let piece = found else { out.append("[UNK]"); return }
            pieces.append(piece)
            start = end
        }
        out.append(contentsOf: pieces)
    }
}
