// Importance-weighted 4-bit quantizers (sentio convert --imatrix): BlockQ4_0.quantizeWeighted and
// BlockQ4_1.quantizeRef(importance:). What must hold: the weighted error (the quantity they minimize) is never
// above the unweighted reference's on any block where the reference is a candidate, it drops clearly in total
// when a few columns dominate, columns of zero importance stay on a sane grid, and the element weights are
// importance[col] * sqrt(sigma2 + x^2).
import XCTest
@testable import SentioCore
import SentioTestSupport

final class QuantImportanceTests: XCTestCase {
    /// Rows of `cols` values, Gaussian-ish, with an occasional outlier; importance: a few columns 100x.
    func data(rows: Int, cols: Int, seed: UInt64) -> (x: [Float], imp: [Float]) {
        var rng = TestRNG(seed: seed)
        var x = (0..<(rows * cols)).map { _ in rng.normal() * 0.05 }
        for _ in 0..<(rows * cols / 50) { x[rng.int(0..<x.count)] *= 6 }
        var imp = (0..<cols).map { _ in 0.5 + rng.uniform() }
        for _ in 0..<(cols / 16) { imp[rng.int(0..<cols)] *= 100 }
        return (x, imp)
    }

    func elementWeights(_ x: [Float], _ imp: [Float]) -> [Float] {
        let w = x.withUnsafeBufferPointer { s in imp.withUnsafeBufferPointer { BlockQ4_1.elementWeights(s, importance: $0) } }
        defer { w.deallocate() }
        return Array(w)
    }

    func weightedError(_ x: [Float], _ y: [Float], _ w: [Float], block b: Int) -> Double {
        var e = 0.0
        for i in (b * 32)..<((b + 1) * 32) { let d = Double(x[i] - y[i]); e += Double(w[i]) * d * d }
        return e
    }

    func roundTrip(_ x: [Float], _ imp: [Float]?, q41: Bool) -> [Float] {
        let bs = q41 ? BlockQ4_1.byteSize : BlockQ4_0.byteSize
        var q = [UInt8](repeating: 0, count: x.count / 32 * bs)
        var y = [Float](repeating: 0, count: x.count)
        x.withUnsafeBufferPointer { s in
            q.withUnsafeMutableBytes { d in
                if let imp {
                    imp.withUnsafeBufferPointer { i in
                        if q41 { BlockQ4_1.quantizeRef(s, into: d, importance: i) } else { BlockQ4_0.quantizeWeighted(s, into: d, importance: i) }
                    }
                } else if q41 { BlockQ4_1.quantizeRef(s, into: d) } else { BlockQ4_0.quantizeRef(s, into: d) }
            }
        }
        q.withUnsafeBytes { s in
            y.withUnsafeMutableBufferPointer { if q41 { BlockQ4_1.dequantizeRef(s, into: $0) } else { BlockQ4_0.dequantizeRef(s, into: $0) } }
        }
        return y
    }

    func testElementWeights() {
        let x: [Float] = (0..<64).map { Float($0 % 7) - 3 }           // one row of 64
        let imp: [Float] = (0..<64).map { $0 == 5 ? 0 : Float($0 + 1) }
        let w = elementWeights(x, imp)
        let sigma2 = x.map { $0 * $0 }.reduce(0, +) / 64
        let meanImp = imp.reduce(0, +) / 64
        for j in 0..<64 {
            let base = j == 5 ? meanImp * 1e-3 : imp[j]
            XCTAssertEqual(w[j], base * (sigma2 + x[j] * x[j]).squareRoot(), accuracy: 1e-4 * w[j] + 1e-7, "col \(j)")
        }
    }

    func testWeightedQ40NeverWorseThanReferenceAndClearlyBetterInTotal() {
        for (rows, cols, seed) in [(64, 96, 1 as UInt64), (33, 32, 2), (20, 320, 3)] {
            let (x, imp) = data(rows: rows, cols: cols, seed: seed)
            let ref = roundTrip(x, nil, q41: false), wq = roundTrip(x, imp, q41: false)
            let w = elementWeights(x, imp)
            var totRef = 0.0, totW = 0.0
            for b in 0..<(x.count / 32) {
                let er = weightedError(x, ref, w, block: b), ew = weightedError(x, wq, w, block: b)
                XCTAssertLessThanOrEqual(ew, er * (1 + 1e-9), "block \(b)")   // the reference scale is a candidate
                totRef += er; totW += ew
            }
            XCTAssertLessThan(totW, 0.8 * totRef, "rows \(rows) cols \(cols): weighted \(totW) vs reference \(totRef)")
        }
    }

    func testWeightedQ41BeatsUnweightedOnTheWeightedError() {
        for (rows, cols, seed) in [(64, 96, 4 as UInt64), (33, 32, 5), (20, 320, 6)] {
            let (x, imp) = data(rows: rows, cols: cols, seed: seed)
            let plain = roundTrip(x, nil, q41: true), wq = roundTrip(x, imp, q41: true)
            let w = elementWeights(x, imp)
            var totPlain = 0.0, totW = 0.0, plainErr = 0.0, wErr = 0.0
            for b in 0..<(x.count / 32) { totPlain += weightedError(x, plain, w, block: b); totW += weightedError(x, wq, w, block: b) }
            for i in 0..<x.count { plainErr += Double((x[i] - plain[i]) * (x[i] - plain[i])); wErr += Double((x[i] - wq[i]) * (x[i] - wq[i])) }
            XCTAssertLessThan(totW, 0.8 * totPlain, "weighted error: \(totW) vs unweighted quantizer's \(totPlain)")
            // The price is paid in the unweighted error, and it stays bounded (the grid still spans the block).
            XCTAssertGreaterThanOrEqual(wErr, plainErr * 0.999)
            XCTAssertLessThan(wErr, plainErr * 3)
        }
    }

    /// Columns the calibration never exercised keep values near their inputs (within a few steps of the grid),
    /// thanks to the importance floor, instead of landing anywhere.
    func testZeroImportanceColumnsStayOnTheGrid() {
        var rng = TestRNG(seed: 9)
        let cols = 64
        let x = (0..<(16 * cols)).map { _ in rng.normal() }
        let imp = (0..<cols).map { $0 < 32 ? Float(0) : Float(1 + rng.uniform()) }
        for q41 in [true, false] {
            let y = roundTrip(x, imp, q41: q41)
            for b in 0..<(x.count / 32) {
                let blk = x[(b * 32)..<((b + 1) * 32)]
                let step = (blk.max()! - blk.min()!) / 15
                for i in (b * 32)..<((b + 1) * 32) {
                    XCTAssertLessThanOrEqual(abs(x[i] - y[i]), 2 * step + 1e-6, "q4_1 \(q41) element \(i)")
                }
            }
        }
    }
}
