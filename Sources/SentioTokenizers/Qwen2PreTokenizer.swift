// The Qwen2 pre-tokenizer split, written out by hand instead of run through a regex engine:
//
//   (?i:'s|'t|'re|'ve|'m|'ll|'d) | [^\r\n\p{L}\p{N}]?\p{L}+ | \p{N} | ?[^\s\p{L}\p{N}]+[\r\n]*
//   | \s*[\r\n]+ | \s+(?!\S) | \s+
//
// At each position the alternatives are tried in order and the first that matches is taken (leftmost-first,
// as Oniguruma and Rust's regex do); the next match starts where it ended. Every scalar is covered by some
// alternative (a letter by 2, a number by 3, whitespace by 7, anything else by 4), so there are no gaps.
// What each alternative matches, once backtracking is worked out:
//   1  an apostrophe and s, t, re, ve, m, ll, d in either case.
//   2  a run of letters, or one non-letter non-number non-CR/LF scalar followed by a run of letters.
//   3  one number scalar.
//   4  an optional U+0020, a run of "other" scalars (not whitespace, letter, number), then any CR/LF run.
//   5  whitespace up to and including its last CR or LF (fails when the run has none).
//   6  a whitespace run that ends the text, or the run minus its last scalar (then followed by whitespace,
//      which is what (?!\S) allows) when the run is at least 2 long.
//   7  the whole whitespace run (a single space/tab before a non-letter, e.g. " 1").
// Classes: \p{L} = general category L*, \p{N} = N*, \s = the White_Space property (Oniguruma's Unicode \s).

struct Qwen2PreTokenizer {
    struct Classes: OptionSet {
        let rawValue: UInt8
        static let letter = Classes(rawValue: 1)
        static let number = Classes(rawValue: 2)
        static let space = Classes(rawValue: 4)
        static let crlf = Classes(rawValue: 8)
    }

    static let asciiClasses: [Classes] = (0..<128).map { classify(Unicode.Scalar(UInt8($0))) }

    static func classify(_ u: Unicode.Scalar) -> Classes {
        var c: Classes = []
        switch u.properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter: c.insert(.letter)
        case .decimalNumber, .letterNumber, .otherNumber: c.insert(.number)
        default: break
        }
        if u.properties.isWhitespace { c.insert(.space) }
        if u.value == 0x0A || u.value == 0x0D { c.insert(.crlf) }
        return c
    }

    /// Splits valid UTF-8 text into pieces; returns the end byte offset of each piece (exclusive), in order.
    static func split(utf8 bytes: UnsafeBufferPointer<UInt8>) -> [Int] {
        var scalars: [Unicode.Scalar] = []
        var cls: [Classes] = []
        var offsets: [Int] = []     // byte offset of each scalar
        scalars.reserveCapacity(bytes.count)
        cls.reserveCapacity(bytes.count)
        offsets.reserveCapacity(bytes.count + 1)
        var p = 0
        while p < bytes.count {
            let b0 = UInt32(bytes[p])
            var v: UInt32, len: Int
            if b0 < 0x80 { v = b0; len = 1 }
            else if b0 < 0xE0 { v = b0 & 0x1F; len = 2 }
            else if b0 < 0xF0 { v = b0 & 0x0F; len = 3 }
            else { v = b0 & 0x07; len = 4 }
            if p + len > bytes.count { len = bytes.count - p }   // cannot happen for text from a String
            for k in 1..<max(len, 1) { v = v << 6 | UInt32(bytes[p + k] & 0x3F) }
            let u = Unicode.Scalar(v) ?? "\u{FFFD}"
            offsets.append(p)
            scalars.append(u)
            cls.append(v < 128 ? asciiClasses[Int(v)] : classify(u))
            p += len
        }
        offsets.append(bytes.count)
        var ends: [Int] = []
        var i = 0
        while i < scalars.count {
            i += max(1, matchLength(scalars, cls, i))   // never 0 (every scalar matches); guards the loop
            ends.append(offsets[i])
        }
        return ends
    }

    /// ASCII lower case of a scalar. Only ASCII letters fold here: HF's tokenizer does not treat "'ſ"
    /// (long s, which Unicode case-folds to 's') as a contraction; the oracle corpus checks this.
    @inline(__always) static func lowerASCII(_ u: Unicode.Scalar) -> UInt32 {
        let v = u.value
        return v >= 0x41 && v <= 0x5A ? v + 32 : v
    }

    static func matchLength(_ s: [Unicode.Scalar], _ cls: [Classes], _ i: Int) -> Int {
        let n = s.count
        let c = cls[i]
        // 1: contractions.
        if s[i] == "'" && i + 1 < n {
            let a = lowerASCII(s[i + 1])
            if a == 0x73 || a == 0x74 || a == 0x6D || a == 0x64 { return 2 }  // s t m d
            if i + 2 < n {
                let b = lowerASCII(s[i + 2])
                if (a == 0x72 && b == 0x65) || (a == 0x76 && b == 0x65) || (a == 0x6C && b == 0x6C) { return 3 }  // re ve ll
            }
        }
        // 2: optional prefix scalar, then letters.
        var j = i
        if c.contains(.letter) {
            j = i + 1
        } else if c.isDisjoint(with: [.crlf, .letter, .number]) && i + 1 < n && cls[i + 1].contains(.letter) {
            j = i + 2
        }
        if j > i {
            while j < n && cls[j].contains(.letter) { j += 1 }
            return j - i
        }
        // 3: one number.
        if c.contains(.number) { return 1 }
        // 4: optional space, run of other scalars, trailing CR/LF.
        let other: (Classes) -> Bool = { $0.isDisjoint(with: [.space, .letter, .number]) }
        if s[i] == " " && i + 1 < n && other(cls[i + 1]) {
            j = i + 1
        } else if other(c) {
            j = i
        }
        if j > i || other(c) {
            while j < n && other(cls[j]) { j += 1 }
            while j < n && cls[j].contains(.crlf) { j += 1 }
            return j - i
        }
        // Whitespace (the only class left).
        var end = i
        var lastCRLF = -1
        while end < n && cls[end].contains(.space) {
            if cls[end].contains(.crlf) { lastCRLF = end }
            end += 1
        }
        if end == i { return 1 }  // unreachable: every scalar is letter, number, space or other
        // 5: whitespace through its last CR/LF.
        if lastCRLF >= 0 { return lastCRLF + 1 - i }
        // 6: \s+(?!\S).
        if end == n { return end - i }
        if end - i >= 2 { return end - 1 - i }
        // 7: \s+.
        return end - i
    }
}
