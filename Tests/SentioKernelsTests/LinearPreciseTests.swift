// Linear.forwardPrecise / forwardPreciseMany (the output head's path, and every matmul with
// Qwen2Model.preciseActivations) against their twins, every quantized dtype, ISA level and thread count,
// one group of 8 activation rows per pass (n = 9, 17 and 40: two, three and five passes, the last partial).
import XCTest
import SentioCore
@testable import SentioKernels
import SentioTestSupport

final class LinearPreciseTests: XCTestCase {
    // n 1...3: the GEMV's 2/4/6 integer rows; 5 and 8: the batched GEMV (10 and 16 rows, its limit);
    // 9, 17 and 40: several passes of 8 rows. Odd row counts: 4-row tails.
    let shapes: [(rows: Int, cols: Int, n: Int)] = [(1, 32, 1), (37, 96, 2), (19, 160, 3), (67, 64, 5), (45, 128, 8),
                                                     (13, 64, 9), (300, 96, 17), (29, 64, 40)]

    func testForwardPreciseMatchesTwins() {
        var rng = TestRNG(seed: 7)
        forEachISA { isa in
            for dtype in [DType.q8, .q8r, .q4, .q4_1, .q5] {
                for (s, (rows, cols, n)) in shapes.enumerated() {
                    let w = OwnedWeight(dtype: dtype, rows: rows, cols: cols, rng: &rng)
                    let x = rng.floats(n * cols)
                    let bias: [Float]? = s % 2 == 0 ? rng.floats(rows) : nil   // both branches of the sum
                    var ref = [Float](repeating: 0, count: n * rows)
                    Linear.forwardRef(w.matrix, x: x, n: n, y: &ref, bias: bias)
                    for pool in pools {
                        var y = [Float](repeating: .nan, count: n * rows)
                        Linear.forwardPrecise(w.matrix, x: x, n: n, y: &y, bias: bias, pool: pool)
                        let ctx = "\(isa) \(dtype) \(rows)x\(cols) n=\(n) threads=\(pool.threadCount)"
                        // Same integers and scale products as the twin; only the f32 order of the sums
                        // differs (<= nb terms per row, two rows added): 2e-6 * sqrt(cols) of the output scale.
                        var twin = [Float](repeating: 0, count: n * rows)
                        Linear.forwardRefTwoTerm(w.matrix, x: x, n: n, y: &twin, bias: bias)
                        let d = compare(y, twin)
                        XCTAssertLessThanOrEqual(d.maxRel, 2e-6 * Float(cols).squareRoot(), "\(ctx) vs two-term twin: \(d)")
                        // Against the f32 product: the only rounding of x left is the second term's, i.e. the
                        // Q8_0 bound of the residual r (a ~1/254 share of x), plus f32 slack.
                        var r = [Float](repeating: 0, count: n * cols)
                        Linear.q8ResidualRef(x, n: n, cols: cols, into: &r)
                        let bound = q8ActivationBound(w.matrix, x: r, n: n)
                        let full = q8ActivationBound(w.matrix, x: x, n: n)
                        for j in 0..<(n * rows) {
                            XCTAssertLessThanOrEqual(abs(y[j] - ref[j]), bound[j] * 1.01 + 2e-5, "\(ctx) vs f32 product at \(j)")
                            // The point of the path: its bound is two orders of magnitude under one Q8_0 term's.
                            XCTAssertLessThanOrEqual(bound[j], full[j] / 100, "\(ctx) bound at \(j)")
                        }
                    }
                }
            }
        }
    }

    /// Several matrices of one input in one call give each matrix's forwardPrecise bit for bit (same integer
    /// rows, same kernels), in one pass (n <= 8) and in several; a list that mixes dtypes runs each matrix on
    /// its own, with the same result.
    func testForwardPreciseManyEqualsOneByOne() {
        var rng = TestRNG(seed: 11)
        forEachISA { isa in
            for dtype in [DType.q8, .q4, .q4_1, .q5] {
                let other: DType = dtype == .q8 ? .q4 : .q8
                let ws = [OwnedWeight(dtype: dtype, rows: 37, cols: 96, rng: &rng), OwnedWeight(dtype: dtype, rows: 8, cols: 96, rng: &rng),
                          OwnedWeight(dtype: dtype, rows: 61, cols: 96, rng: &rng), OwnedWeight(dtype: other, rows: 13, cols: 96, rng: &rng)]
                let biases: [[Float]?] = [rng.floats(37), nil, rng.floats(61), rng.floats(13)]
                for n in [1, 5, 12, 30] {
                    let x = rng.floats(n * 96)
                    for pool in pools {
                        for list in [[0, 1, 2], [0, 3]] {   // one dtype; mixed
                            let outs = list.map { UnsafeMutablePointer<Float>.allocate(capacity: n * ws[$0].matrix.rows) }
                            defer { outs.forEach { $0.deallocate() } }
                            let bs = list.map { i in biases[i].map { b -> UnsafeMutablePointer<Float> in
                                let p = UnsafeMutablePointer<Float>.allocate(capacity: b.count); p.initialize(from: b, count: b.count); return p } }
                            defer { bs.forEach { $0?.deallocate() } }
                            Linear.forwardPreciseMany(list.indices.map { (ws[list[$0]].matrix, outs[$0], bs[$0].map { UnsafePointer($0) }) },
                                                      x: x, n: n, pool: pool)
                            for (k, i) in list.enumerated() {
                                var one = [Float](repeating: .nan, count: n * ws[i].matrix.rows)
                                Linear.forwardPrecise(ws[i].matrix, x: x, n: n, y: &one, bias: biases[i], pool: pool)
                                let many = Array(UnsafeBufferPointer(start: outs[k], count: one.count))
                                XCTAssertEqual(many.map(\.bitPattern), one.map(\.bitPattern),
                                               "\(isa) \(dtype) list \(list) n=\(n) matrix \(i) threads=\(pool.threadCount)")
                            }
                        }
                    }
                }
            }
        }
    }

    /// Float weights run `forward` unchanged (already f32 math).
    func testForwardPreciseOfFloatWeightsIsForward() {
        var rng = TestRNG(seed: 8)
        for dtype in [DType.f32, .f16, .bf16] {
            for n in [1, 20] {
                let w = OwnedWeight(dtype: dtype, rows: 21, cols: 67, rng: &rng)
                let x = rng.floats(n * 67)
                var a = [Float](repeating: 0, count: n * 21), b = a
                Linear.forward(w.matrix, x: x, n: n, y: &a, bias: nil)
                Linear.forwardPrecise(w.matrix, x: x, n: n, y: &b, bias: nil)
                XCTAssertEqual(a, b, "\(dtype) n=\(n)")
            }
        }
    }
}
