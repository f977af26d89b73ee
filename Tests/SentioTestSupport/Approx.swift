// Approximate comparison of float arrays, with the statistics tests report.
//
// maxRel = max|a-b| / max|b| (the measure the fixtures' tolerances.json uses: the error relative to
// the reference's scale, which stays meaningful where individual values cross zero).

public struct Diff: CustomStringConvertible {
    public var maxAbs: Float
    public var maxRef: Float
    public var argmax: Int
    public var sumAbs: Double = 0
    public var count: Int = 0
    public var meanAbs: Float { count > 0 ? Float(sumAbs / Double(count)) : 0 }
    public var maxRel: Float { maxRef > 0 ? maxAbs / maxRef : maxAbs }
    public var description: String { "maxAbs=\(maxAbs) maxRef=\(maxRef) maxRel=\(maxRel) meanAbs=\(meanAbs) at \(argmax)" }
}

public func compare<A: Collection, B: Collection>(_ a: A, _ ref: B) -> Diff where A.Element == Float, B.Element == Float {
    precondition(a.count == ref.count, "length mismatch \(a.count) vs \(ref.count)")
    var d = Diff(maxAbs: 0, maxRef: 0, argmax: -1)
    for (i, (x, y)) in zip(a, ref).enumerated() {
        let e = abs(x - y)
        if e > d.maxAbs || e.isNaN { d.maxAbs = e.isNaN ? .infinity : e; d.argmax = i }
        d.sumAbs += e.isNaN ? .infinity : Double(e)
        d.count += 1
        d.maxRef = max(d.maxRef, abs(y))
    }
    return d
}

/// Deterministic pseudo-random floats for property tests (SplitMix64; no Foundation dependency).
public struct TestRNG {
    var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E3779B97F4A7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58476D1CE4E5B9
        z = (z ^ (z >> 27)) &* 0x94D049BB133111EB
        return z ^ (z >> 31)
    }
    /// Uniform in [-1, 1).
    public mutating func uniform() -> Float { Float(next() >> 40) / Float(1 << 24) * 2 - 1 }
    /// Approximately standard normal (sum of uniforms).
    public mutating func normal() -> Float {
        var s: Float = 0
        for _ in 0..<12 { s += Float(next() >> 40) / Float(1 << 24) }
        return s - 6
    }
    public mutating func int(_ range: Range<Int>) -> Int { range.lowerBound + Int(next() % UInt64(range.count)) }
    public mutating func floats(_ n: Int, scale: Float = 1) -> [Float] { (0..<n).map { _ in uniform() * scale } }
}
