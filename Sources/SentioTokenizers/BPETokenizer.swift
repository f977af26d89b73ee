// Byte-level BPE tokenizer (GPT-2 family; configured here for Qwen2 / Qwen2.5).
//
// encode: text
//   -> split around added tokens (leftmost, longest first; special ones only when allowSpecial)
//   -> each plain segment: NFC normalization, Qwen2 pre-tokenizer split (Qwen2PreTokenizer.swift)
//   -> each piece: UTF-8 bytes -> one symbol per byte -> apply merges lowest rank first (leftmost on ties)
// decode: ids -> bytes (byte-level tokens through the GPT-2 alphabet, added tokens as their UTF-8 text)
//   -> one lossy UTF-8 decode at the end (invalid sequences become U+FFFD).
// Loading from tokenizer.json and GGUF arrays: BPETokenizer+Loading.swift.
import Foundation
import SentioCore

public final class BPETokenizer: @unchecked Sendable {
    public struct AddedToken: Sendable {
        public let content: String
        public let id: Int32
        /// Special tokens (control tokens) are matched in text only with allowSpecial and skipped by skipSpecial.
        public let special: Bool
    }

    // Vocabulary. Ids are dense 0..<vocabSize; an id with no token has an empty entry.
    let tokenText: [String?]               // id -> token as stored (byte-level text, or added-token content)
    let tokenBytesFlat: [UInt8]            // id -> decoded bytes, flat ...
    let tokenBytesStart: [Int32]           // ... with vocabSize+1 offsets
    let specialFlags: [Bool]               // id -> special (skipped by skipSpecial)
    let vocab: [String: Int32]             // token text -> id
    let byteToken: [Int32]                 // byte -> id of its one-byte token
    let merges: [UInt64: UInt64]           // (left id << 32 | right id) -> (rank << 32 | merged id)
    public let addedTokens: [AddedToken]
    let addedByFirstByte: [[Int]]          // first UTF-8 byte -> indices into addedTokens, longest first
    public let normalizesNFC: Bool

    public let bosID: Int32?
    public let eosID: Int32?
    public var vocabSize: Int { tokenText.count }

    // Piece -> ids cache (guarded by cacheLock; cleared when it grows past cacheLimit).
    private var cache: [[UInt8]: [Int32]] = [:]
    private let cacheLock = NSLock()
    private let cacheLimit = 100_000

    /// Builds the tokenizer from an id-indexed vocabulary. `tokens[id]` is the stored text (nil for a hole);
    /// `added` lists the tokens matched verbatim in text (their `tokens[id]` must equal their content);
    /// `mergePairs` are (left, right) token texts in rank order. `source` names the origin in errors.
    init(tokens: [String?], added: [AddedToken], special: Set<Int32>, mergePairs: [(Substring, Substring)],
         bos: Int32?, eos: Int32?, nfc: Bool, source: String) throws {
        let n = tokens.count
        guard n > 0, n < Int(Int32.max) else { throw SentioError(.tokenizer, file: source, "vocabulary size \(n) out of range") }
        var vocab = [String: Int32](minimumCapacity: n)
        var flat: [UInt8] = []
        flat.reserveCapacity(n * 7)
        var starts = [Int32](repeating: 0, count: n + 1)
        var flags = [Bool](repeating: false, count: n)
        let addedIDs = Set(added.map(\.id))
        for id in 0..<n {
            if let t = tokens[id] {
                vocab[t] = Int32(id)
                if addedIDs.contains(Int32(id)) {
                    flat.append(contentsOf: t.utf8)
                } else if let b = ByteLevel.decode(t) {
                    flat.append(contentsOf: b)
                } else {
                    flat.append(contentsOf: t.utf8)   // not in the byte alphabet: decode as its own text
                }
            }
            guard flat.count < Int(Int32.max) else { throw SentioError(.tokenizer, file: source, "vocabulary text too large") }
            starts[id + 1] = Int32(flat.count)
        }
        for id in special where id >= 0 && Int(id) < n { flags[Int(id)] = true }
        var byteToken = [Int32](repeating: -1, count: 256)
        for b in 0..<256 {
            let s = String(Character(Unicode.Scalar(ByteLevel.byteToScalar[b])!))
            guard let id = vocab[s], !addedIDs.contains(id) else {
                throw SentioError(.tokenizer, file: source, "byte-level vocabulary lacks the token for byte \(b) ('\(s)')")
            }
            byteToken[b] = id
        }
        var merges = [UInt64: UInt64](minimumCapacity: mergePairs.count)
        for (rank, (a, b)) in mergePairs.enumerated() {
            guard let ia = vocab[String(a)], let ib = vocab[String(b)], let im = vocab[String(a) + String(b)] else {
                throw SentioError(.tokenizer, file: source, "merge \(rank) '\(a) \(b)' uses a token missing from the vocabulary")
            }
            let key = UInt64(UInt32(ia)) << 32 | UInt64(UInt32(ib))
            if merges[key] == nil { merges[key] = UInt64(rank) << 32 | UInt64(UInt32(im)) }
        }
        for t in added {
            guard t.id >= 0, Int(t.id) < n, tokens[Int(t.id)] == t.content, !t.content.isEmpty else {
                throw SentioError(.tokenizer, file: source, "added token '\(t.content)' (id \(t.id)) does not match the vocabulary")
            }
        }
        var byFirst = [[Int]](repeating: [], count: 256)
        for (k, t) in added.enumerated() { byFirst[Int(t.content.utf8.first!)].append(k) }
        for b in 0..<256 { byFirst[b].sort { added[$0].content.utf8.count > added[$1].content.utf8.count } }
        for x in [bos, eos] { if let x, x < 0 || Int(x) >= n { throw SentioError(.tokenizer, file: source, "bos/eos id \(x) outside the vocabulary") } }

        self.tokenText = tokens
        self.tokenBytesFlat = flat
        self.tokenBytesStart = starts
        self.specialFlags = flags
        self.vocab = vocab
        self.byteToken = byteToken
        self.merges = merges
        self.addedTokens = added
        self.addedByFirstByte = byFirst
        self.normalizesNFC = nfc
        self.bosID = bos
        self.eosID = eos
    }

    // MARK: Lookups

    public func id(for token: String) -> Int32? { vocab[token] }
    public func token(for id: Int32) -> String? { id >= 0 && Int(id) < tokenText.count ? tokenText[Int(id)] : nil }
    public func isSpecial(_ id: Int32) -> Bool { id >= 0 && Int(id) < specialFlags.count && specialFlags[Int(id)] }
    public var mergeCount: Int { merges.count }

    /// The bytes an id decodes to (empty for ids outside the vocabulary).
    public func bytes(for id: Int32) -> ArraySlice<UInt8> {
        guard id >= 0, Int(id) < tokenText.count else { return [] }
        return tokenBytesFlat[Int(tokenBytesStart[Int(id)])..<Int(tokenBytesStart[Int(id) + 1])]
    }

    // MARK: Encode

    public func encode(_ text: String, allowSpecial: Bool = true) -> [Int32] {
        var out: [Int32] = []
        var utf8 = Array(text.utf8)
        if utf8.isEmpty { return out }
        utf8.withUnsafeMutableBufferPointer { buf in
            let bytes = UnsafeBufferPointer(buf)
            var segStart = 0
            var i = 0
            while i < bytes.count {
                if let (k, len) = addedMatch(bytes, at: i, allowSpecial: allowSpecial) {
                    if segStart < i { encodePlain(UnsafeBufferPointer(rebasing: bytes[segStart..<i]), into: &out) }
                    out.append(addedTokens[k].id)
                    i += len
                    segStart = i
                } else {
                    i += 1
                }
            }
            if segStart < bytes.count { encodePlain(UnsafeBufferPointer(rebasing: bytes[segStart...]), into: &out) }
        }
        return out
    }

    /// The longest added token starting at byte `i`, as (index into addedTokens, byte length).
    @inline(__always) func addedMatch(_ bytes: UnsafeBufferPointer<UInt8>, at i: Int, allowSpecial: Bool) -> (Int, Int)? {
        let candidates = addedByFirstByte[Int(bytes[i])]
        if candidates.isEmpty { return nil }
        for k in candidates {
            let t = addedTokens[k]
            if t.special && !allowSpecial { continue }
            let c = t.content.utf8
            if c.count > bytes.count - i { continue }
            var j = i
            var ok = true
            for b in c { if bytes[j] != b { ok = false; break }; j += 1 }
            if ok { return (k, c.count) }
        }
        return nil
    }

    /// Encodes text that holds no added tokens: normalize, pre-tokenize, BPE each piece.
    func encodePlain(_ bytes: UnsafeBufferPointer<UInt8>, into out: inout [Int32]) {
        var text = String(decoding: bytes, as: UTF8.self)
        // NFC: scalars below U+0300 are all NFC-stable (the first NFC_Quick_Check No/Maybe scalar is U+0300),
        // so text made only of them is already normalized.
        if normalizesNFC && text.unicodeScalars.contains(where: { $0.value >= 0x300 }) {
            text = text.precomposedStringWithCanonicalMapping
        }
        let scalars = Array(text.unicodeScalars)
        let ends = Qwen2PreTokenizer.split(scalars)
        var start = 0
        var piece: [UInt8] = []
        for end in ends {
            piece.removeAll(keepingCapacity: true)
            for k in start..<end { piece.append(contentsOf: UTF8.encode(scalars[k])!) }
            start = end
            encodePiece(piece, into: &out)
        }
    }

    func encodePiece(_ piece: [UInt8], into out: inout [Int32]) {
        if piece.count == 1 { out.append(byteToken[Int(piece[0])]); return }
        cacheLock.lock()
        let hit = cache[piece]
        cacheLock.unlock()
        if let hit { out.append(contentsOf: hit); return }
        let ids = bpe(piece)
        out.append(contentsOf: ids)
        cacheLock.lock()
        if cache.count >= cacheLimit { cache.removeAll(keepingCapacity: true) }
        cache[piece] = ids
        cacheLock.unlock()
    }

    /// BPE on one piece: start from one symbol per byte, repeatedly merge the adjacent pair with the lowest
    /// merge rank (the leftmost such pair on ties) until no adjacent pair has a merge. A min-heap of candidate
    /// pairs keyed by (rank, left position) keeps long pieces O(n log n); stale heap entries are recognised by
    /// re-checking the pair at pop time.
    func bpe(_ piece: [UInt8]) -> [Int32] {
        let n = piece.count
        var ids = piece.map { byteToken[Int($0)] }
        var next = Array(1...n)            // n = none
        var prev = Array(-1..<(n - 1))     // -1 = none
        var alive = [Bool](repeating: true, count: n)
        var heap = MinHeap()
        @inline(__always) func rank(_ a: Int32, _ b: Int32) -> UInt64? { merges[UInt64(UInt32(a)) << 32 | UInt64(UInt32(b))] }
        for i in 0..<(n - 1) { if let r = rank(ids[i], ids[i + 1]) { heap.push((r & 0xFFFF_FFFF_0000_0000) | UInt64(i)) } }
        while let top = heap.pop() {
            let r = top >> 32
            let i = Int(top & 0xFFFF_FFFF)
            guard alive[i] else { continue }
            let j = next[i]
            guard j < n, let m = rank(ids[i], ids[j]), m >> 32 == r else { continue }
            ids[i] = Int32(truncatingIfNeeded: m & 0xFFFF_FFFF)
            alive[j] = false
            next[i] = next[j]
            if next[j] < n { prev[next[j]] = i }
            if prev[i] >= 0, let r2 = rank(ids[prev[i]], ids[i]) { heap.push((r2 & 0xFFFF_FFFF_0000_0000) | UInt64(prev[i])) }
            if next[i] < n, let r2 = rank(ids[i], ids[next[i]]) { heap.push((r2 & 0xFFFF_FFFF_0000_0000) | UInt64(i)) }
        }
        var out: [Int32] = []
        var i = 0
        while i < n { out.append(ids[i]); i = next[i] }
        return out
    }

    // MARK: Decode

    /// Decodes ids to text. Unknown ids are skipped; special tokens too when skipSpecial. Byte sequences that
    /// are not valid UTF-8 become U+FFFD (one decode over all bytes, so tokens that split a character join up).
    public func decode(_ ids: [Int32], skipSpecial: Bool = false) -> String {
        var bytes: [UInt8] = []
        for id in ids { appendBytes(of: id, skipSpecial: skipSpecial, to: &bytes) }
        return String(decoding: bytes, as: UTF8.self)
    }

    func appendBytes(of id: Int32, skipSpecial: Bool, to bytes: inout [UInt8]) {
        guard id >= 0, Int(id) < tokenText.count else { return }
        if skipSpecial && specialFlags[Int(id)] { return }
        bytes.append(contentsOf: tokenBytesFlat[Int(tokenBytesStart[Int(id)])..<Int(tokenBytesStart[Int(id) + 1])])
    }

    /// Tokenizes a prompt that holds placeholder strings (e.g. "<video>", "<audio>"): the text between
    /// placeholders is encoded chunk by chunk, and each placeholder becomes its (usually negative) sentinel id.
    /// This is how LLaVA-style models (R1-Omni: <video> -> -201, <audio> -> -202) build input_ids.
    /// Where two placeholders start at the same position the longer wins.
    public func tokenizeMultimodal(_ prompt: String, sentinels: [String: Int32]) -> [Int32] {
        let keys = sentinels.keys.filter { !$0.isEmpty }.sorted { $0.utf8.count > $1.utf8.count }
        let bytes = Array(prompt.utf8)
        var out: [Int32] = []
        var segStart = 0
        var i = 0
        func flush(_ end: Int) {
            if segStart < end { out.append(contentsOf: encode(String(decoding: bytes[segStart..<end], as: UTF8.self))) }
        }
        while i < bytes.count {
            if let k = keys.first(where: { k in k.utf8.count <= bytes.count - i && bytes[i..<(i + k.utf8.count)].elementsEqual(k.utf8) }) {
                flush(i)
                out.append(sentinels[k]!)
                i += k.utf8.count
                segStart = i
            } else {
                i += 1
            }
        }
        flush(bytes.count)
        return out
    }
}

/// Binary min-heap of UInt64 keys (rank << 32 | position).
struct MinHeap {
    var a: [UInt64] = []
    mutating func push(_ x: UInt64) {
        a.append(x)
        var i = a.count - 1
        while i > 0 {
            let p = (i - 1) / 2
            if a[p] <= a[i] { break }
            a.swapAt(p, i); i = p
        }
    }
    mutating func pop() -> UInt64? {
        guard let top = a.first else { return nil }
        let last = a.removeLast()
        if !a.isEmpty {
            a[0] = last
            var i = 0
            while true {
                let l = 2 * i + 1, r = l + 1
                var m = i
                if l < a.count && a[l] < a[m] { m = l }
                if r < a.count && a[r] < a[m] { m = r }
                if m == i { break }
                a.swapAt(i, m); i = m
            }
        }
        return top
    }
}
