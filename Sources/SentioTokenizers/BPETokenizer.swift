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

    // Vocabulary. Ids are dense 0..<vocabSize; an id with no token has empty text and bytes.
    let textFlat: [UInt8]                  // id -> token text as stored (byte-level text, or added-token content), UTF-8 ...
    let textStarts: [Int32]                // ... flat, with vocabSize+1 offsets
    let hasToken: [Bool]                   // id -> whether the id has a token
    let bytesFlat: [UInt8]                 // id -> the bytes it decodes to, flat ...
    let bytesStarts: [Int32]               // ... with vocabSize+1 offsets
    let specialFlags: [Bool]               // id -> special (skipped by skipSpecial)
    let textIndex: ByteStringIndex         // token text -> id
    let byteToken: [Int32]                 // byte -> id of its one-byte token
    let merges: PairTable                  // (left, right) -> (rank, merged id)
    public let addedTokens: [AddedToken]
    let addedByFirstByte: [[Int]]          // first UTF-8 byte -> indices into addedTokens, longest first
    public let normalizesNFC: Bool

    public let bosID: Int32?
    public let eosID: Int32?
    public var vocabSize: Int { hasToken.count }

    /// Builds the tokenizer from an id-indexed vocabulary. `tokens[id]` is the stored text (nil for a hole);
    /// `added` lists the tokens matched verbatim in text (their `tokens[id]` must equal their content);
    /// `mergePairs` are (left, right) token texts in rank order. `source` names the origin in errors.
    init(tokens: [String?], added: [AddedToken], special: Set<Int32>, mergePairs: [(String, String)],
         bos: Int32?, eos: Int32?, nfc: Bool, source: String) throws {
        let n = tokens.count
        guard n > 0, n < Int(Int32.max) else { throw SentioError(.tokenizer, file: source, "vocabulary size \(n) out of range") }
        var isAdded = [Bool](repeating: false, count: n)
        for t in added where t.id >= 0 && Int(t.id) < n { isAdded[Int(t.id)] = true }
        var text: [UInt8] = [], tStarts = [Int32](repeating: 0, count: n + 1)
        var bytes: [UInt8] = [], bStarts = [Int32](repeating: 0, count: n + 1)
        var has = [Bool](repeating: false, count: n)
        text.reserveCapacity(n * 8); bytes.reserveCapacity(n * 7)
        for id in 0..<n {
            if let t = tokens[id] {
                has[id] = true
                let before = text.count
                text.append(contentsOf: t.utf8)
                if isAdded[id] || !ByteLevel.appendDecoded(t, to: &bytes) {
                    bytes.append(contentsOf: text[before...])   // added token, or not byte-level text: its own UTF-8
                }
            }
            guard text.count < Int(Int32.max), bytes.count < Int(Int32.max) else {
                throw SentioError(.tokenizer, file: source, "vocabulary text too large")
            }
            tStarts[id + 1] = Int32(text.count)
            bStarts[id + 1] = Int32(bytes.count)
        }
        var index = ByteStringIndex(capacity: n)
        text.withUnsafeBufferPointer { tp in
            tStarts.withUnsafeBufferPointer { sp in
                for id in 0..<n where has[id] { index.insert(Int32(id), text: tp, starts: sp) }
            }
        }
        func find(_ key: UnsafeBufferPointer<UInt8>) -> Int32? {
            text.withUnsafeBufferPointer { tp in tStarts.withUnsafeBufferPointer { sp in index.find(key, text: tp, starts: sp) } }
        }
        func find(_ s: String) -> Int32? {
            var s = s
            return s.withUTF8 { find($0) }
        }
        var flags = [Bool](repeating: false, count: n)
        for id in special where id >= 0 && Int(id) < n { flags[Int(id)] = true }
        var byteToken = [Int32](repeating: -1, count: 256)
        for b in 0..<256 {
            let s = String(Character(Unicode.Scalar(ByteLevel.byteToScalar[b])!))
            guard let id = find(s), !isAdded[Int(id)] else {
                throw SentioError(.tokenizer, file: source, "byte-level vocabulary lacks the token for byte \(b) ('\(s)')")
            }
            byteToken[b] = id
        }
        var merges = PairTable(capacity: mergePairs.count)
        var joined: [UInt8] = []
        for (rank, (a, b)) in mergePairs.enumerated() {
            joined.removeAll(keepingCapacity: true)
            joined.append(contentsOf: a.utf8); joined.append(contentsOf: b.utf8)
            guard let ia = find(a), let ib = find(b), let im = joined.withUnsafeBufferPointer({ find($0) }) else {
                throw SentioError(.tokenizer, file: source, "merge \(rank) '\(a) \(b)' uses a token missing from the vocabulary")
            }
            merges.insertIfAbsent(ia, ib, rank: UInt32(rank), merged: im)
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

        self.textFlat = text
        self.textStarts = tStarts
        self.hasToken = has
        self.bytesFlat = bytes
        self.bytesStarts = bStarts
        self.specialFlags = flags
        self.textIndex = index
        self.byteToken = byteToken
        self.merges = merges
        self.addedTokens = added
        self.addedByFirstByte = byFirst
        self.normalizesNFC = nfc
        self.bosID = bos
        self.eosID = eos
    }

    // MARK: Lookups

    public func id(for token: String) -> Int32? {
        var s = token
        return s.withUTF8 { key in
            textFlat.withUnsafeBufferPointer { tp in textStarts.withUnsafeBufferPointer { sp in textIndex.find(key, text: tp, starts: sp) } }
        }
    }
    public func token(for id: Int32) -> String? {
        guard id >= 0, Int(id) < hasToken.count, hasToken[Int(id)] else { return nil }
        return String(decoding: textFlat[Int(textStarts[Int(id)])..<Int(textStarts[Int(id) + 1])], as: UTF8.self)
    }
    public func isSpecial(_ id: Int32) -> Bool { id >= 0 && Int(id) < specialFlags.count && specialFlags[Int(id)] }
    public var mergeCount: Int { merges.count }

    /// The bytes an id decodes to (empty for ids outside the vocabulary).
    public func bytes(for id: Int32) -> ArraySlice<UInt8> {
        guard id >= 0, Int(id) < hasToken.count else { return [] }
        return bytesFlat[Int(bytesStarts[Int(id)])..<Int(bytesStarts[Int(id) + 1])]
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
        // NFC: scalars below U+0300 are all NFC-stable (the first NFC_Quick_Check No/Maybe scalar is U+0300),
        // and exactly those have UTF-8 lead bytes below 0xCC, so such text is already normalized.
        if normalizesNFC && bytes.contains(where: { $0 >= 0xCC }) {
            var nfc = String(decoding: bytes, as: UTF8.self).precomposedStringWithCanonicalMapping
            nfc.withUTF8 { splitAndMerge($0, into: &out) }
        } else {
            splitAndMerge(bytes, into: &out)
        }
    }

    func splitAndMerge(_ bytes: UnsafeBufferPointer<UInt8>, into out: inout [Int32]) {
        var start = 0
        for end in Qwen2PreTokenizer.split(utf8: bytes) {
            let piece = UnsafeBufferPointer(rebasing: bytes[start..<end])
            start = end
            if piece.count == 1 { out.append(byteToken[Int(piece[0])]) } else { bpe(piece, into: &out) }
        }
    }

    /// BPE on one piece: start from one symbol per byte, repeatedly merge the adjacent pair with the lowest
    /// merge rank (the leftmost such pair on ties) until no adjacent pair has a merge. A min-heap of candidate
    /// pairs keyed by (rank, left position) keeps long pieces O(n log n); stale heap entries are recognised by
    /// re-checking the pair at pop time.
    func bpe(_ piece: UnsafeBufferPointer<UInt8>, into out: inout [Int32]) {
        if piece.count <= 24 { bpeShort(piece, into: &out) } else { bpeHeap(piece, into: &out) }
    }

    func bpeHeap(_ piece: UnsafeBufferPointer<UInt8>, into out: inout [Int32]) {
        let n = piece.count
        if n < 2 { out.append(contentsOf: piece.map { byteToken[Int($0)] }); return }
        var ids = piece.map { byteToken[Int($0)] }
        var next = Array(1...n)            // n = none
        var prev = Array(-1..<(n - 1))     // -1 = none
        var alive = [Bool](repeating: true, count: n)
        var heap = MinHeap()
        heap.a.reserveCapacity(n)
        let merges = self.merges
        @inline(__always) func push(_ r: UInt64, _ pos: Int) { heap.push((r & 0xFFFF_FFFF_0000_0000) | UInt64(pos)) }
        for i in 0..<(n - 1) { if let r = merges.find(ids[i], ids[i + 1]) { push(r, i) } }
        while let top = heap.pop() {
            let i = Int(top & 0xFFFF_FFFF)
            guard alive[i] else { continue }
            let j = next[i]
            guard j < n, let m = merges.find(ids[i], ids[j]), m >> 32 == top >> 32 else { continue }
            ids[i] = Int32(truncatingIfNeeded: m & 0xFFFF_FFFF)
            alive[j] = false
            next[i] = next[j]
            if next[j] < n { prev[next[j]] = i }
            if prev[i] >= 0, let r = merges.find(ids[prev[i]], ids[i]) { push(r, prev[i]) }
            if next[i] < n, let r = merges.find(ids[i], ids[next[i]]) { push(r, i) }
        }
        var i = 0
        while i < n { out.append(ids[i]); i = next[i] }
    }

    /// The same merge order for short pieces (most words), without the heap: scan for the lowest-rank
    /// adjacent pair (strict `<` keeps the leftmost on ties), merge it, repeat. O(n^2) lookups, n <= 24.
    func bpeShort(_ piece: UnsafeBufferPointer<UInt8>, into out: inout [Int32]) {
        withUnsafeTemporaryAllocation(of: Int32.self, capacity: piece.count) { ids in
            var n = piece.count
            for k in 0..<n { ids[k] = byteToken[Int(piece[k])] }
            let merges = self.merges
            while n > 1 {
                var best = UInt64.max
                var at = -1
                for k in 0..<(n - 1) {
                    if let m = merges.find(ids[k], ids[k + 1]), m < best { best = m; at = k }
                }
                if at < 0 { break }
                ids[at] = Int32(truncatingIfNeeded: best & 0xFFFF_FFFF)
                for k in (at + 1)..<(n - 1) { ids[k] = ids[k + 1] }
                n -= 1
            }
            out.append(contentsOf: UnsafeBufferPointer(rebasing: ids[0..<n]))
        }
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
        guard id >= 0, Int(id) < hasToken.count else { return }
        if skipSpecial && specialFlags[Int(id)] { return }
        bytes.append(contentsOf: bytesFlat[Int(bytesStarts[Int(id)])..<Int(bytesStarts[Int(id) + 1])])
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
