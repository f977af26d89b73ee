// Incremental decoding for streaming generation: feed ids one at a time, get back the text that became
// complete. A UTF-8 character split across tokens is held back until its last byte arrives.
//
// Equality with the full decode: bytes are cut only before a byte that starts a sequence (ASCII or a lead
// byte), and a held-back tail is always "lead byte + fewer continuation bytes than it announces". No maximal
// ill-formed subpart (what becomes one U+FFFD) or valid character can span such a cut, so the concatenated
// chunks equal `decode(allIDs)` exactly, U+FFFD placement included, once `finish()` has flushed the tail.

public struct StreamingDecoder {
    public let tokenizer: BPETokenizer
    public let skipSpecial: Bool
    private var pending: [UInt8] = []

    public init(tokenizer: BPETokenizer, skipSpecial: Bool = false) {
        self.tokenizer = tokenizer
        self.skipSpecial = skipSpecial
    }

    /// Adds one id and returns the newly completed text ("" when everything is held back).
    public mutating func append(_ id: Int32) -> String {
        tokenizer.appendBytes(of: id, skipSpecial: skipSpecial, to: &pending)
        let cut = Self.completePrefixLength(pending)
        if cut == 0 { return "" }
        let text = String(decoding: pending[..<cut], as: UTF8.self)
        pending.removeFirst(cut)
        return text
    }

    /// Returns whatever is still held back (incomplete sequences become U+FFFD) and resets.
    public mutating func finish() -> String {
        defer { pending.removeAll() }
        return String(decoding: pending, as: UTF8.self)
    }

    /// Length of the prefix that can be decoded now: everything, unless the bytes end in a lead byte followed
    /// by fewer continuation bytes than it needs; then everything before that lead byte.
    static func completePrefixLength(_ b: [UInt8]) -> Int {
        let n = b.count
        var k = n - 1
        // Find the last byte that is not a continuation byte (10xxxxxx), looking back at most 3 bytes.
        while k >= 0 && k >= n - 4 && b[k] & 0xC0 == 0x80 { k -= 1 }
        guard k >= 0 && k >= n - 4 else { return n }
        let lead = b[k]
        let need: Int
        switch lead {
        case 0xC2...0xDF: need = 2
        case 0xE0...0xEF: need = 3
        case 0xF0...0xF4: need = 4
        default: return n   // ASCII or a byte that never starts a valid sequence
        }
        return n - k < need ? k : n
    }
}
