// The AMX-INT8 tile GEMM for q8r weights (amx_int8.c) and its activation quantizer against their Swift twins.
import XCTest
import CSentioKernels
import SentioCore
@testable import SentioKernels
import SentioTestSupport

final class Int8TileTests: XCTestCase {
    /// sentio_quantize_rows_i8 (AVX-512 and portable C) equals quantizeRowI8Ref byte for byte and scale for scale:
    /// odd widths (16-lane tails), padding to ldq, a zero row (scale 0), exact halves (round to nearest even).
    func testRowQuantizerMatchesTwin() {
        var rng = TestRNG(seed: 81)
        forEachISA { isa in
            for cols in [1, 15, 32, 33, 96, 1280] {
                let n = 3, ldq = (cols + 63) / 64 * 64
                var x = rng.floats(n * cols, scale: 4)
                for k in 0..<cols { x[cols + k] = 0 }                       // row 1: all zero
                if cols >= 8 {                                            // row 2: amax 127, then halves
                    x[2 * cols] = 127
                    for k in 1..<8 { x[2 * cols + k] = Float(k) - 3.5 }
                }
                var q = [Int8](repeating: 99, count: n * ldq), s = [Float](repeating: .nan, count: n)
                sentio_quantize_rows_i8(x, cols, cols, 0, n, &q, ldq, &s)
                for i in 0..<n {
                    var rq = [Int8](repeating: 0, count: cols)
                    let rs = x.withUnsafeBufferPointer { xb in
                        rq.withUnsafeMutableBufferPointer { Linear.quantizeRowI8Ref(UnsafeBufferPointer(rebasing: xb[(i * cols)..<((i + 1) * cols)]), into: $0) }
                    }
                    XCTAssertEqual(s[i].bitPattern, rs.bitPattern, "\(isa) cols=\(cols) row \(i) scale")
                    XCTAssertEqual(Array(q[(i * ldq)..<(i * ldq + cols)]), rq, "\(isa) cols=\(cols) row \(i)")
                    XCTAssertTrue(q[(i * ldq + cols)..<((i + 1) * ldq)].allSatisfy { $0 == 0 }, "\(isa) cols=\(cols) row \(i) padding")
                }
                if cols >= 8 { XCTAssertEqual(Array(q[(2 * ldq + 1)..<(2 * ldq + 8)]), [-2, -2, 0, 0, 2, 2, 4], "\(isa): halves to even") }
            }
        }
    }

    /// The tile GEMM bit for bit against forwardRefInt8Rows: several 128-row packing passes with a partial last
    /// group, cols % 64 == 32 (the zero-padded half step), activation rows not a multiple of 32, 1-3 threads.
    func testGemmMatchesTwinBitForBit() throws {
        guard KernelISA.maxSupported >= 4 else { throw XCTSkip("no AMX tiles on this machine") }
        var rng = TestRNG(seed: 82)
        for (rows, cols, n) in [(300, 96, 45), (33, 1280, 32), (64, 32, 100), (129, 160, 37)] {
            let w = OwnedWeight(dtype: .q8r, rows: rows, cols: cols, rng: &rng)
            XCTAssertTrue(Linear.usesInt8Tiles(w.matrix, n: n))
            let x = rng.floats(n * cols, scale: 2), bias = rng.floats(rows)
            var twin = [Float](repeating: 0, count: n * rows)
            Linear.forwardRefInt8Rows(w.matrix, x: x, n: n, y: &twin, bias: bias)
            for pool in pools {
                var y = [Float](repeating: .nan, count: n * rows)
                Linear.forward(w.matrix, x: x, n: n, y: &y, bias: bias, pool: pool)
                let diff = (0..<y.count).filter { y[$0].bitPattern != twin[$0].bitPattern }
                XCTAssertTrue(diff.isEmpty, "\(rows)x\(cols) n=\(n) threads=\(pool.threadCount): \(diff.count) differ, first \(diff.first ?? -1)")
            }
        }
    }

    /// A q8r matrix whose row does not share one scale (valid Q8_0 bytes, not what the converter writes): the
    /// kernel leaves the 128-row pass holding that row and Linear computes it as Q8_0 weights in f32. Every
    /// output row is then either the int8 twin's bit for bit or the f32 product of the stored weights; the bad
    /// row is the latter, and at most its pass's rows (up to 128, whatever the task split) left the tiles.
    func testRowWithUnequalScalesFallsBackToQ8Product() throws {
        guard KernelISA.maxSupported >= 4 else { throw XCTSkip("no AMX tiles on this machine") }
        var rng = TestRNG(seed: 83)
        let rows = 300, cols = 128, n = 40, bad = 200
        let w = OwnedWeight(dtype: .q8r, rows: rows, cols: cols, rng: &rng)
        let blk = w.bytes + bad * w.matrix.rowBytes + 2 * BlockQ8_0.byteSize        // third block of row 200
        blk.storeBytes(of: blk.loadUnaligned(as: UInt16.self) &+ 1, as: UInt16.self)
        let x = rng.floats(n * cols), bias = rng.floats(rows)
        var twin = [Float](repeating: 0, count: n * rows), exact = twin
        Linear.forwardRefInt8Rows(w.matrix, x: x, n: n, y: &twin, bias: bias)
        Linear.forwardRef(w.matrix, x: x, n: n, y: &exact, bias: bias)
        for pool in pools {
            var y = [Float](repeating: .nan, count: n * rows)
            Linear.forward(w.matrix, x: x, n: n, y: &y, bias: bias, pool: pool)
            var fallback: [Int] = []
            for r in 0..<rows {
                if (0..<n).allSatisfy({ y[$0 * rows + r].bitPattern == twin[$0 * rows + r].bitPattern }) && r != bad { continue }
                fallback.append(r)
                for i in 0..<n {
                    let j = i * rows + r
                    XCTAssertEqual(y[j], exact[j], accuracy: 1e-5 * max(1, abs(exact[j])), "threads=\(pool.threadCount) (\(i), \(r))")
                }
            }
            XCTAssertTrue(fallback.contains(bad) && fallback.count <= 128, "threads=\(pool.threadCount): rows off the tiles \(fallback.count)")
        }
    }

    /// quantizeRowShared: every block carries the row's f16 scale (amax / 127), levels within +-127, and each
    /// weight within half a step of its stored value.
    func testRowSharedQuantizer() {
        var rng = TestRNG(seed: 84)
        for cols in [32, 96, 1280] {
            var x = rng.floats(cols, scale: 0.2)
            x[cols / 2] = -3                                                   // one large value sets the row's scale
            var b = [UInt8](repeating: 0, count: cols / 32 * 34)
            x.withUnsafeBufferPointer { src in b.withUnsafeMutableBytes { BlockQ8_0.quantizeRowShared(src, into: $0) } }
            let h = floatToF16(3 / Float(127)), d = f16ToFloat(h)
            var back = [Float](repeating: 0, count: cols)
            b.withUnsafeBytes { src in back.withUnsafeMutableBufferPointer { BlockQ8_0.dequantizeRef(src, into: $0) } }
            for blk in 0..<(cols / 32) {
                XCTAssertEqual(UInt16(b[34 * blk]) | UInt16(b[34 * blk + 1]) << 8, h, "cols=\(cols) block \(blk) scale")
                for j in 0..<32 { XCTAssertNotEqual(Int8(bitPattern: b[34 * blk + 2 + j]), -128) }
            }
            for k in 0..<cols { XCTAssertLessThanOrEqual(abs(back[k] - x[k]), d / 2 * 1.0001, "cols=\(cols) k=\(k)") }
        }
        var zeros = [UInt8](repeating: 7, count: 34)
        [Float](repeating: 0, count: 32).withUnsafeBufferPointer { src in zeros.withUnsafeMutableBytes { BlockQ8_0.quantizeRowShared(src, into: $0) } }
        XCTAssertEqual(zeros, [UInt8](repeating: 0, count: 34), "a zero row stores zeros")
    }
}
