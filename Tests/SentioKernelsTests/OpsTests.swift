// Ops vs Double formulas (outside oracle: libm in Double) and vs their scalar twins.
import XCTest
import Foundation
import SentioCore
@testable import SentioKernels
import SentioTestSupport

final class OpsTests: XCTestCase {
    // Lengths cover the 16/8/4-lane widths and their tails.
    let counts = [1, 3, 8, 15, 16, 17, 33, 100, 1000]

    /// Max relative error of `fast` against `oracle` applied element-wise in Double.
    func check(_ name: String, scale: Float, tol: Double, growth: Double = 0, _ fast: (UnsafeMutablePointer<Float>, Int) -> Void,
               _ oracle: (Double) -> Double) {
        var rng = TestRNG(seed: 11)
        forEachISA { isa in
            for n in counts {
                var x = rng.floats(n, scale: scale)
                if n > 3 { x[0] = 0; x[1] = scale; x[2] = -scale }
                let orig = x
                fast(&x, n)
                for i in 0..<n {
                    let want = oracle(Double(orig[i]))
                    // relative error, with an absolute floor of 1e-30 for results that underflow
                    let err = abs(Double(x[i]) - want) / max(abs(want), 1e-30)
                    let x2 = Double(orig[i]) * Double(orig[i])
                    XCTAssertLessThanOrEqual(err, tol + growth * x2, "\(name) \(isa) n=\(n) x=\(orig[i]) got \(x[i]) want \(want)")
                }
            }
        }
    }

    // Tolerances: the vector exp is a degree-7 Taylor polynomial on |r| <= ln2/2 (truncation < 6e-9)
    // evaluated in f32 (a few ulp: ~4e-7); silu/gelu add one division; gelu's erfc approximation has
    // relative error < 1.2e-7 (Numerical Recipes' Chebyshev fit). 2e-6 relative covers all of them.
    func testSilu() { check("silu", scale: 20, tol: 2e-6, { Ops.silu($0, count: $1) }) { $0 / (1 + exp(-$0)) } }
    // gelu's erfc is t * exp(-z^2 + poly(t)), z = x/sqrt2: the f32 exponent argument carries a rounding
    // error of ~eps * z^2 = 6e-8 * x^2 / 2, which exp turns into the same relative error (1e-7 * x^2 margin).
    func testGeluErf() { check("gelu", scale: 8, tol: 2e-6, growth: 1e-7, { Ops.gelu($0, count: $1) }) { 0.5 * $0 * erfc(-$0 / 2.0.squareRoot()) } }
    func testGeluTanh() {
        let c = (2 / Double.pi).squareRoot()
        // Oracle in the cancellation-free identity 0.5 (1 + tanh u) = 1 / (1 + e^(-2u)) (1 + tanh u loses
        // every digit in Double for x < -5). The f32 argument 2u ~ 0.07 x^3 carries ~eps * |2u| relative
        // error into the exp: the same 1e-7 * x^2 margin as gelu covers it for |x| <= 8.
        check("geluTanh", scale: 8, tol: 2e-6, growth: 1e-7, { Ops.geluTanh($0, count: $1) }) {
            $0 / (1 + exp(-2 * c * ($0 + 0.044715 * $0 * $0 * $0)))
        }
        // and the textbook form where it is well conditioned
        var y: [Float] = [0.5, 1, 2, -1]
        Ops.geluTanh(&y, count: 4)
        for (v, x) in zip(y, [0.5, 1.0, 2.0, -1.0]) {
            XCTAssertEqual(Double(v), 0.5 * x * (1 + tanh(c * (x + 0.044715 * x * x * x))), accuracy: 1e-6)
        }
    }

    func testSoftmax() {
        var rng = TestRNG(seed: 12)
        forEachISA { isa in
            for n in counts {
                var x = rng.floats(n, scale: 30)
                if n > 4 { x[3] = -.infinity }          // masked entries give exactly 0
                let orig = x
                Ops.softmax(&x, count: n)
                var ref = orig
                Ops.softmaxRef(&ref, count: n)
                let m = orig.max()!
                let denom = orig.reduce(0.0) { $0 + exp(Double($1) - Double(m)) }
                for i in 0..<n {
                    let want = exp(Double(orig[i]) - Double(m)) / denom
                    // exp error (~4e-7) + f32 sum over n terms (n * eps / 2 worst case)
                    XCTAssertLessThanOrEqual(abs(Double(x[i]) - want), 1e-6 * want + 1e-9 + Double(n) * 6e-8 * want, "\(isa) n=\(n) i=\(i)")
                    XCTAssertEqual(x[i], ref[i], accuracy: 1e-6 * max(ref[i], 1e-3), "vs twin \(isa)")
                }
                if n > 4 { XCTAssertEqual(x[3], 0) }
            }
        }
    }

    func testSwigluAndAdd() {
        var rng = TestRNG(seed: 13)
        for n in counts {
            let g = rng.floats(n, scale: 10), u = rng.floats(n, scale: 3)
            var out = [Float](repeating: 0, count: n), ref = out
            Ops.swiglu(gate: g, up: u, out: &out, count: n)
            Ops.swigluRef(gate: g, up: u, out: &ref, count: n)
            let d = compare(out, ref)
            XCTAssertLessThanOrEqual(d.maxRel, 2e-6, "swiglu n=\(n): \(d)")   // silu's 2e-6 (above)
            Ops.add(g, u, out: &out, count: n)
            for i in 0..<n { XCTAssertEqual(out[i], g[i] + u[i]) }
        }
    }

    func testNormsAgainstDouble() {
        var rng = TestRNG(seed: 14)
        for (rows, dim) in [(1, 7), (3, 64), (2, 896), (5, 1000)] {
            let x = rng.floats(rows * dim, scale: 4)
            let w = rng.floats(dim, scale: 2), b = rng.floats(dim)
            var out = [Float](repeating: 0, count: rows * dim), ref = out
            // f32 sums over dim terms vs Double: relative ~eps*sqrt(dim); 1e-5 is a loose cap for dim <= 1000.
            Ops.rmsNorm(x, weight: w, eps: 1e-6, out: &out, rows: rows, dim: dim)
            Ops.rmsNormRef(x, weight: w, eps: 1e-6, out: &ref, rows: rows, dim: dim)
            XCTAssertLessThanOrEqual(compare(out, ref).maxRel, 1e-5, "rmsNorm \(rows)x\(dim)")
            Ops.layerNorm(x, weight: w, bias: b, eps: 1e-5, out: &out, rows: rows, dim: dim)
            Ops.layerNormRef(x, weight: w, bias: b, eps: 1e-5, out: &ref, rows: rows, dim: dim)
            XCTAssertLessThanOrEqual(compare(out, ref).maxRel, 1e-5, "layerNorm \(rows)x\(dim)")
        }
        // The parallel row chunks (rows >= 64 with a pool of 2-3 threads) and the 16-lane sums with a tail of 5:
        // every row equals the serial result bit for bit (same per-row arithmetic), and the Double twin as above.
        for (rows, dim) in [(64, 37), (150, 1285)] {
            let x = rng.floats(rows * dim, scale: 4), w = rng.floats(dim, scale: 2), b = rng.floats(dim)
            var serial = [Float](repeating: 0, count: rows * dim), ref = serial
            Ops.layerNorm(x, weight: w, bias: b, eps: 1e-5, out: &serial, rows: rows, dim: dim)
            Ops.layerNormRef(x, weight: w, bias: b, eps: 1e-5, out: &ref, rows: rows, dim: dim)
            XCTAssertLessThanOrEqual(compare(serial, ref).maxRel, 1e-5, "layerNorm \(rows)x\(dim)")
            for pool in pools.dropFirst() {
                var par = [Float](repeating: .nan, count: rows * dim)
                Ops.layerNorm(x, weight: w, bias: b, eps: 1e-5, out: &par, rows: rows, dim: dim, pool: pool)
                XCTAssertEqual(par, serial, "layerNorm \(rows)x\(dim) threads=\(pool.threadCount)")
            }
        }
        // Known value: rmsNorm of [3, 4] with eps 0 and unit weight = [3, 4] / sqrt(12.5)
        var o: [Float] = [0, 0]
        Ops.rmsNorm([3, 4], weight: [1, 1], eps: 0, out: &o, rows: 1, dim: 2)
        XCTAssertEqual(o[0], Float(3 / 12.5.squareRoot()), accuracy: 1e-6)
        XCTAssertEqual(o[1], Float(4 / 12.5.squareRoot()), accuracy: 1e-6)
    }

    func testArgmaxAndTopK() {
        let x: [Float] = [1, 5, -2, 5, 3, .nan, 4]
        XCTAssertEqual(Ops.argmax(x, count: x.count), 1, "first index of the max")
        let t = Ops.topK(x, count: x.count, k: 4)
        XCTAssertEqual(t.map(\.index), [1, 3, 6, 4])
        XCTAssertEqual(t.map(\.value), [5, 5, 4, 3])
        XCTAssertEqual(Ops.topK(x, count: x.count, k: 0).count, 0)
        XCTAssertEqual(Ops.topK(x, count: 3, k: 10).map(\.index), [1, 0, 2])
        var rng = TestRNG(seed: 15)
        let big = rng.floats(5000)
        let want = big.enumerated().sorted { $0.element > $1.element }.prefix(20).map(\.offset)
        XCTAssertEqual(Ops.topK(big, count: big.count, k: 20).map(\.index), want)
        XCTAssertEqual(Ops.argmax(big, count: big.count), want[0])
    }

    /// The vector argmax against its scalar twin: every length 0...70 (vector part and tail), ties (the first
    /// index wins, inside one 16-lane vector and across vectors), NaN entries, -inf only, all NaN.
    func testArgmaxMatchesTwin() {
        var rng = TestRNG(seed: 16)
        for count in 0...70 {
            for variant in 0..<6 {
                var x = rng.floats(count).map { ($0 * 4).rounded() }   // few distinct values: many ties
                if count > 0 {
                    switch variant {
                    case 1: for i in stride(from: 0, to: count, by: 3) { x[i] = .nan }
                    case 2: x = [Float](repeating: -.infinity, count: count)
                    case 3: x = [Float](repeating: .nan, count: count)
                    case 4: x[count - 1] = 100; if count > 17 { x[17] = 100 }
                    case 5: x = x.map { $0 == x.max()! ? .nan : -.infinity }
                    default: break
                    }
                }
                let buf = x + [1000]   // one entry past count: never read, and a base address for count 0
                XCTAssertEqual(buf.withUnsafeBufferPointer { Ops.argmax($0.baseAddress!, count: count) },
                               buf.withUnsafeBufferPointer { Ops.argmaxRef($0.baseAddress!, count: count) },
                               "count \(count) variant \(variant): \(x)")
            }
        }
    }
}

final class ScratchCacheTests: XCTestCase {
    /// A buffer given back is reused by the next call that fits, calls running at once get distinct buffers,
    /// at most maxKept buffers stay cached (the largest), and drain frees them.
    func testReuseBoundAndDrain() {
        ScratchCache.drain()
        let a = ScratchCache.with(bytes: 1000) { p -> UnsafeMutableRawPointer in
            XCTAssertEqual(Int(bitPattern: p) % 64, 0)
            return p
        }
        XCTAssertEqual(ScratchCache.with(bytes: 500) { $0 }, a, "a smaller request reuses the cached buffer")
        ScratchCache.with(bytes: 1000) { outer in
            ScratchCache.with(bytes: 1000) { inner in XCTAssertNotEqual(inner, outer, "nested uses get distinct buffers") }
        }
        for i in 0..<(ScratchCache.maxKept + 3) {
            ScratchCache.with(bytes: 4096 * (i + 1)) { p in p.storeBytes(of: UInt8(i), as: UInt8.self) }
        }
        // Sequential calls cache one buffer each time; only the largest maxKept remain.
        XCTAssertLessThanOrEqual(ScratchCache.cachedBytes, ScratchCache.maxKept * 4096 * (ScratchCache.maxKept + 3))
        XCTAssertGreaterThanOrEqual(ScratchCache.cachedBytes, 4096 * (ScratchCache.maxKept + 3))
        ScratchCache.drain()
        XCTAssertEqual(ScratchCache.cachedBytes, 0)
    }
}

final class ParallelElementwiseTests: XCTestCase {
    /// With a pool, gelu / geluTanh / silu / swiglu split the array into 64-element-aligned chunks; each element
    /// goes through the same vector code, so the result equals the serial call bit for bit (sizes below and
    /// above the parallel threshold, with a tail of 37).
    func testPooledEqualsSerial() {
        var rng = TestRNG(seed: 77)
        for count in [100, Ops.parallelElements + 37, 3 * Ops.parallelElements + 5] {
            let x = rng.floats(count, scale: 6), u = rng.floats(count, scale: 2)
            let ops: [(String, (UnsafeMutablePointer<Float>, ThreadPool?) -> Void)] = [
                ("gelu", { Ops.gelu($0, count: count, pool: $1) }), ("geluTanh", { Ops.geluTanh($0, count: count, pool: $1) }),
                ("silu", { Ops.silu($0, count: count, pool: $1) }),
                ("swiglu", { p, pool in u.withUnsafeBufferPointer { up in
                    let g = Array(UnsafeBufferPointer(start: p, count: count))
                    Ops.swiglu(gate: g, up: up.baseAddress!, out: p, count: count, pool: pool) } }),
            ]
            for (name, op) in ops {
                var serial = x
                serial.withUnsafeMutableBufferPointer { op($0.baseAddress!, nil) }
                for pool in pools.dropFirst() {
                    var par = x
                    par.withUnsafeMutableBufferPointer { op($0.baseAddress!, pool) }
                    XCTAssertEqual(par, serial, "\(name) count=\(count) threads=\(pool.threadCount)")
                }
            }
        }
    }
}
