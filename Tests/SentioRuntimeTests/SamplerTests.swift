import XCTest
import SentioRuntime
import SentioTestSupport

final class SamplerTests: XCTestCase {
    func testGreedyPicksArgmaxAndPenaltyFollowsHF() {
        var s = Sampler(.greedy)
        var logits: [Float] = [1, 5, 3, -2]
        XCTAssertEqual(logits.withUnsafeMutableBufferPointer { s.sample($0, history: []) }, 1)
        // HF: a seen positive logit is divided by the penalty, a negative one multiplied.
        s.options.repetitionPenalty = 2
        logits = [1, 5, 3, -2]
        XCTAssertEqual(logits.withUnsafeMutableBufferPointer { s.sample($0, history: [1, 1, 3]) }, 2)
        XCTAssertEqual(logits, [1, 2.5, 3, -4])
    }

    /// With temperature 1 and no truncation, draw frequencies follow softmax(logits).
    func testSamplingFollowsSoftmax() {
        let base: [Float] = [0, 1, 2, 0.5]
        let p = base.map { exp(Double($0)) }
        let z = p.reduce(0, +)
        var s = Sampler(SamplingOptions(temperature: 1, seed: 42))
        var counts = [Int](repeating: 0, count: 4)
        let n = 40000
        for _ in 0..<n {
            var l = base
            counts[Int(l.withUnsafeMutableBufferPointer { s.sample($0, history: []) })] += 1
        }
        for i in 0..<4 {
            let expected = p[i] / z
            // 5 standard deviations of a binomial proportion: fails by chance with probability < 1e-6.
            let sd = (expected * (1 - expected) / Double(n)).squareRoot()
            XCTAssertEqual(Double(counts[i]) / Double(n), expected, accuracy: 5 * sd, "token \(i)")
        }
    }

    func testTopKAndTopPTruncate() {
        var s = Sampler(SamplingOptions(temperature: 1, topK: 2, seed: 7))
        for _ in 0..<2000 {
            var l: [Float] = [3, 0, 2.9, 1]
            let t = l.withUnsafeMutableBufferPointer { s.sample($0, history: []) }
            XCTAssertTrue(t == 0 || t == 2)
        }
        // top-p 0.5: token 0 alone holds > 50% of the mass, so it is always chosen.
        s = Sampler(SamplingOptions(temperature: 1, topP: 0.5, seed: 7))
        for _ in 0..<2000 {
            var l: [Float] = [5, 0, 1, 2]
            XCTAssertEqual(l.withUnsafeMutableBufferPointer { s.sample($0, history: []) }, 0)
        }
    }

    func testSeedsReproduce() {
        func draw(_ seed: UInt64) -> [Int32] {
            var s = Sampler(SamplingOptions(temperature: 0.8, topK: 3, seed: seed))
            return (0..<50).map { _ in var l: [Float] = [1, 1.2, 0.9, 0.1]; return l.withUnsafeMutableBufferPointer { s.sample($0, history: []) } }
        }
        XCTAssertEqual(draw(1), draw(1))
        XCTAssertNotEqual(draw(1), draw(2))
    }
}
