// Rewards for GRPO: a reward is a named, weighted function of (completion, label) -> Double.
//
// The two R1-Omni rewards (spec section 7) are reproduced with Python `re`/`str` semantics, on Unicode
// scalars (Python strings are code points; Swift Characters would merge "\r\n" into one):
//   accuracy: re.search(r"<answer>(.*?)</answer>", s) without DOTALL ('.' is anything but "\n"),
//             group 1 stripped; no match -> the whole stripped completion. The label gets the same
//             extraction (a plain label is just stripped). 1 if equal (case-sensitive), else 0.
//             Equality is per code point (no Unicode normalization). R1-V/R1-Omni first try math_verify's symbolic check; for the emotion labels it never
//             matches, so only the string comparison is reproduced.
//   format:   re.fullmatch(r"<think>.*?</think>\s*<answer>.*?</answer>", s, re.DOTALL).
// `strip()` and `\s` both use Python's whitespace set (str.isspace), which is wider than Unicode
// White_Space (it adds U+001C..U+001F).
//
// Adding a reward: `Reward(name: "length", weight: 0.5) { completion, label in ... }` and pass it in
// the `RewardSet` (the CLI's `--rewards accuracy,format` picks among `RewardSet.builtins`).

public struct Reward: Sendable {
    public let name: String
    public var weight: Double
    public let function: @Sendable (_ completion: String, _ label: String) -> Double

    public init(name: String, weight: Double = 1, _ function: @escaping @Sendable (String, String) -> Double) {
        self.name = name
        self.weight = weight
        self.function = function
    }

    /// R1-Omni's accuracy reward.
    public static let accuracy = Reward(name: "accuracy") { completion, label in
        // Code point equality, as Python's ==: Swift's String == would call "café" (U+00E9) and
        // "cafe\u{301}" equal (canonical equivalence).
        R1OmniText.answer(in: completion).unicodeScalars.elementsEqual(R1OmniText.answer(in: label).unicodeScalars) ? 1 : 0
    }

    /// R1-Omni's format reward.
    public static let format = Reward(name: "format") { completion, _ in
        R1OmniText.isThinkAnswerFormat(completion) ? 1 : 0
    }
}

/// The rewards of one run, evaluated together.
public struct RewardSet: Sendable {
    public var rewards: [Reward]
    public init(_ rewards: [Reward]) { self.rewards = rewards }

    /// R1-Omni: accuracy + format, weight 1 each.
    public static let r1omni = RewardSet([.accuracy, .format])
    public static let builtins: [String: Reward] = ["accuracy": .accuracy, "format": .format]

    public var names: [String] { rewards.map(\.name) }

    /// Each reward's raw value for one completion (in `names` order).
    public func values(completion: String, label: String) -> [Double] {
        rewards.map { $0.function(completion, label) }
    }

    /// One group's completions of one prompt: each reward's values (completion-major) and the totals.
    public func score(completions: [String], label: String) -> (values: [[Double]], totals: [Double]) {
        let v = completions.map { values(completion: $0, label: label) }
        return (v, v.map(total))
    }

    /// The weighted sum the advantages are computed from.
    public func total(_ values: [Double]) -> Double {
        zip(rewards, values).reduce(0) { $0 + $1.0.weight * $1.1 }
    }
}

/// Python-compatible text matching for the R1-Omni rewards.
public enum R1OmniText {
    /// Python's str.isspace() for one code point (also the set `\s` matches in a str pattern).
    public static func isPythonSpace(_ u: Unicode.Scalar) -> Bool {
        switch u.value {
        case 0x09...0x0D, 0x1C...0x20, 0x85, 0xA0, 0x1680, 0x2000...0x200A, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000:
            return true
        default:
            return false
        }
    }

    /// Python's str.strip() with no arguments.
    public static func strip(_ s: [Unicode.Scalar]) -> [Unicode.Scalar] {
        var lo = 0, hi = s.count
        while lo < hi && isPythonSpace(s[lo]) { lo += 1 }
        while hi > lo && isPythonSpace(s[hi - 1]) { hi -= 1 }
        return Array(s[lo..<hi])
    }

    public static func strip(_ s: String) -> String { string(strip(Array(s.unicodeScalars))) }

    /// Group 1 of re.search(r"<answer>(.*?)</answer>", s) (no DOTALL), or nil.
    public static func firstAnswerTag(_ text: String) -> String? {
        let s = Array(text.unicodeScalars)
        let open = Array("<answer>".unicodeScalars), close = Array("</answer>".unicodeScalars)
        var start = 0
        // Leftmost start wins; from a start the lazy group grows until "</answer>" or a "\n" (which
        // '.' cannot cross: that start fails and the search moves on).
        while let o = find(open, in: s, from: start) {
            var j = o + open.count
            while j <= s.count {
                if has(close, in: s, at: j) { return string(Array(s[(o + open.count)..<j])) }
                if j == s.count || s[j] == "\n" { break }
                j += 1
            }
            start = o + 1
        }
        return nil
    }

    /// What the accuracy reward compares: the stripped tag content, else the stripped text.
    public static func answer(in text: String) -> String {
        strip(firstAnswerTag(text) ?? text)
    }

    /// re.fullmatch(r"<think>.*?</think>\s*<answer>.*?</answer>", s, re.DOTALL) != None.
    public static func isThinkAnswerFormat(_ text: String) -> Bool {
        let s = Array(text.unicodeScalars)
        let think = Array("<think>".unicodeScalars), endThink = Array("</think>".unicodeScalars)
        let answer = Array("<answer>".unicodeScalars), endAnswer = Array("</answer>".unicodeScalars)
        // With DOTALL the lazy groups can hold anything, so a full match exists iff the text starts
        // with "<think>", ends with "</answer>", and some "</think>" after the opening tag is followed
        // by whitespace and "<answer>" that ends before the closing tag begins.
        guard has(think, in: s, at: 0) else { return false }
        let closeAt = s.count - endAnswer.count
        guard closeAt >= think.count, has(endAnswer, in: s, at: closeAt) else { return false }
        var from = think.count
        while let t = find(endThink, in: s, from: from) {
            var k = t + endThink.count
            while k < s.count && isPythonSpace(s[k]) { k += 1 }
            if has(answer, in: s, at: k) && k + answer.count <= closeAt { return true }
            from = t + 1
        }
        return false
    }

    static func has(_ pat: [Unicode.Scalar], in s: [Unicode.Scalar], at i: Int) -> Bool {
        guard i >= 0, i + pat.count <= s.count else { return false }
        for (k, p) in pat.enumerated() where s[i + k] != p { return false }
        return true
    }

    static func find(_ pat: [Unicode.Scalar], in s: [Unicode.Scalar], from: Int) -> Int? {
        var i = from
        while i + pat.count <= s.count {
            if has(pat, in: s, at: i) { return i }
            i += 1
        }
        return nil
    }

    static func string(_ u: [Unicode.Scalar]) -> String {
        var v = String.UnicodeScalarView()
        v.append(contentsOf: u)
        return String(v)
    }
}
