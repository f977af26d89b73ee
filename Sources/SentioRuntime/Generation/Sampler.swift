// Sampler: turns a row of logits into the next token.
// Order of operations follows Hugging Face's generate(): repetition penalty on the raw logits,
// then temperature, top-k, top-p (nucleus, keeping at least one token), then a draw from the
// renormalized distribution. Temperature 0 (or `greedy`) is argmax of the penalized logits.
import Foundation
import SentioKernels

public struct SamplingOptions: Sendable, Equatable, Codable {
    public var temperature: Float = 0
    public var topK: Int = 0              // 0: off
    public var topP: Float = 1            // 1: off
    public var repetitionPenalty: Float = 1
    public var seed: UInt64 = 0

    public init(temperature: Float = 0, topK: Int = 0, topP: Float = 1, repetitionPenalty: Float = 1, seed: UInt64 = 0) {
        self.temperature = temperature; self.topK = topK; self.topP = topP
        self.repetitionPenalty = repetitionPenalty; self.seed = seed
    }

    public static let greedy = SamplingOptions()
    public var isGreedy: Bool { temperature <= 0 }
}

/// Xoshiro256** seeded with SplitMix64: a small, fast, reproducible generator whose state can be
/// saved in a checkpoint.
public struct SentioRNG: RandomNumberGenerator, Sendable, Codable, Equatable {
    public var s: [UInt64]

    public init(seed: UInt64) {
        var x = seed
        func splitmix() -> UInt64 {
            x &+= 0x9E3779B97F4A7C15
            var z = x
            z = (z ^ (z >> 30)) &* 0xBF58476D1CE4E5B9
            z = (z ^ (z >> 27)) &* 0x94D049BB133111EB
            return z ^ (z >> 31)
        }
        s = [splitmix(), splitmix(), splitmix(), splitmix()]
    }

    public mutating func next() -> UInt64 {
        let result = ((s[1] &* 5) << 7 | (s[1] &* 5) >> 57) &* 9
        let t = s[1] << 17
        s[2] ^= s[0]; s[3] ^= s[1]; s[1] ^= s[2]; s[0] ^= s[3]
        s[2] ^= t
        s[3] = (s[3] << 45) | (s[3] >> 19)
        return result
    }

    /// Uniform in [0, 1).
    public mutating func nextUnit() -> Double { Double(next() >> 11) * 0x1p-53 }
}

public struct Sampler: Sendable {
    public var options: SamplingOptions
    public var rng: SentioRNG

    public init(_ options: SamplingOptions) {
        self.options = options
        self.rng = SentioRNG(seed: options.seed)
    }

    /// Picks the next token from `logits` (modified in place by the penalty), given the tokens seen so far.
    public mutating func sample(_ logits: UnsafeMutableBufferPointer<Float>, history: [Int32]) -> Int32 {
        let o = options
        if o.repetitionPenalty != 1 {
            // HF RepetitionPenaltyLogitsProcessor: each distinct seen token once.
            for id in Set(history) where id >= 0 && Int(id) < logits.count {
                let l = logits[Int(id)]
                logits[Int(id)] = l > 0 ? l / o.repetitionPenalty : l * o.repetitionPenalty
            }
        }
        if o.isGreedy { return Int32(Ops.argmax(logits.baseAddress!, count: logits.count)) }

        // Candidates: top-k (or the whole vocabulary) with temperature applied.
        let k = o.topK > 0 ? min(o.topK, logits.count) : logits.count
        var cand: [(index: Int, value: Float)]
        if k < logits.count {
            cand = Ops.topK(logits.baseAddress!, count: logits.count, k: k)
        } else {
            cand = logits.enumerated().map { ($0.offset, $0.element) }.sorted { $0.1 > $1.1 }
        }
        let maxL = cand[0].value / o.temperature
        var probs = cand.map { Double(expf($0.value / o.temperature - maxL)) }
        var total = probs.reduce(0, +)
        if o.topP < 1 {
            var acc = 0.0, keep = 0
            for (i, p) in probs.enumerated() {
                acc += p / total
                keep = i + 1
                if acc >= Double(o.topP) { break }
            }
            probs.removeLast(probs.count - keep)
            cand.removeLast(cand.count - keep)
            total = probs.reduce(0, +)
        }
        var r = rng.nextUnit() * total
        for (i, p) in probs.enumerated() {
            r -= p
            if r < 0 { return Int32(cand[i].index) }
        }
        return Int32(cand[cand.count - 1].index)
    }
}
