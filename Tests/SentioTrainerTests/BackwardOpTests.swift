// Finite-difference checks of every backward op on tiny shapes (odd sizes included).
//
// Method: a scalar loss L = Σ c ⊙ f(x) with fixed random c, accumulated in Double; central
// differences (L(x + h) − L(x − h)) / 2h with h = 1e-2 on f32 inputs of size ~1. Error budget: f32
// rounding of the outputs (~6e-8 relative each, ~1e-6 summed) divided by 2h gives ~5e-5, and the
// truncation term h²·f'''/6 ~ 2e-5 for these smooth functions, so the analytic gradient must agree
// within 2e-3 of the largest gradient component (maxRel); a wrong term is off by O(1).
import XCTest
import SentioCore
import SentioKernels
import SentioTestSupport
import SentioTrainer

/// Central-difference gradient of `loss` w.r.t. x[i] for the given indices.
func finiteDifference(_ x: inout [Float], indices: [Int], h: Float = 1e-2, _ loss: ([Float]) -> Double) -> [Float] {
    indices.map { i in
        let orig = x[i]
        x[i] = orig + h; let lp = loss(x)
        x[i] = orig - h; let lm = loss(x)
        x[i] = orig
        return Float((lp - lm) / Double(2 * h))
    }
}

func dot(_ a: [Float], _ b: [Float]) -> Double { zip(a, b).reduce(0.0) { $0 + Double($1.0) * Double($1.1) } }

final class BackwardOpTests: XCTestCase {
    let tol: Float = 2e-3

    func testRMSNormBackward() {
        var rng = TestRNG(seed: 1)
        let rows = 3, dim = 37
        var x = rng.floats(rows * dim)
        let w: [Float] = rng.floats(dim).map { 1 + 0.3 * $0 }
        let cw = rng.floats(rows * dim)
        func f(_ x: [Float], _ w: [Float]) -> [Float] {
            var y = [Float](repeating: 0, count: rows * dim)
            Ops.rmsNorm(x, weight: w, eps: 1e-6, out: &y, rows: rows, dim: dim)
            return y
        }
        var dx = [Float](repeating: 0.5, count: rows * dim)   // accumulate onto a known base
        TrainOps.rmsNormBackward(x: x, weight: w, eps: 1e-6, dy: cw, dx: &dx, rows: rows, dim: dim, accumulate: true)
        let fd = finiteDifference(&x, indices: Array(0..<(rows * dim))) { dot(f($0, w), cw) }
        XCTAssertClose(dx.map { $0 - 0.5 }, fd, rel: tol, "rmsnorm dx")
    }

    func testSwiGLUBackward() {
        var rng = TestRNG(seed: 2)
        let n = 29
        var g = rng.floats(n, scale: 3), u = rng.floats(n, scale: 2)
        let c = rng.floats(n)
        var dg = [Float](repeating: 0, count: n), du = dg
        TrainOps.swigluBackward(gate: g, up: u, dOut: c, dGate: &dg, dUp: &du, count: n)
        func f(_ g: [Float], _ u: [Float]) -> Double {
            var o = [Float](repeating: 0, count: n)
            Ops.swiglu(gate: g, up: u, out: &o, count: n)
            return dot(o, c)
        }
        let uu = u, gg = g
        XCTAssertClose(dg, finiteDifference(&g, indices: Array(0..<n)) { f($0, uu) }, rel: tol, "swiglu dgate")
        XCTAssertClose(du, finiteDifference(&u, indices: Array(0..<n)) { f(gg, $0) }, rel: tol, "swiglu dup")
    }

    func testRopeInverseIsTheBackward() {
        var rng = TestRNG(seed: 3)
        let rope = Rope(headDim: 8, theta: 10000, style: .neox)
        let n = 5, heads = 3
        var x = rng.floats(n * heads * 8)
        let c = rng.floats(x.count)
        let pos: [Int32] = [0, 3, 7, 100, 4097]
        var g = c
        rope.applyInverse(&g, n: n, heads: heads, positions: pos)
        let fd = finiteDifference(&x, indices: Array(0..<x.count)) { v in
            var y = v; rope.apply(&y, n: n, heads: heads, positions: pos); return dot(y, c)
        }
        XCTAssertClose(g, fd, rel: tol, "rope backward")
    }

    /// Causal GQA attention with a shared prefix (tk > tq) and without.
    func testAttentionBackward() {
        for (tq, tk) in [(5, 5), (3, 7)] {
            var rng = TestRNG(seed: UInt64(10 + tk))
            let heads = 4, kvHeads = 2, d = 6
            var q = rng.floats(tq * heads * d), k = rng.floats(tk * kvHeads * d), v = rng.floats(tk * kvHeads * d)
            let c = rng.floats(tq * heads * d)
            func f(_ q: [Float], _ k: [Float], _ v: [Float]) -> Double {
                var o = [Float](repeating: 0, count: tq * heads * d)
                TrainOps.attentionForward(q: q, k: k, v: v, tq: tq, tk: tk, heads: heads, kvHeads: kvHeads, headDim: d, out: &o)
                return dot(o, c)
            }
            var dq = [Float](repeating: 0, count: q.count), dk = [Float](repeating: 0, count: k.count), dv = dk
            TrainOps.attentionBackward(q: q, k: k, v: v, dOut: c, tq: tq, tk: tk, heads: heads, kvHeads: kvHeads, headDim: d,
                                       dq: &dq, dk: &dk, dv: &dv)
            let (q0, k0, v0) = (q, k, v)
            XCTAssertClose(dq, finiteDifference(&q, indices: Array(0..<q.count)) { f($0, k0, v0) }, rel: tol, "attention dq \(tq)x\(tk)")
            XCTAssertClose(dk, finiteDifference(&k, indices: Array(0..<k.count)) { f(q0, $0, v0) }, rel: tol, "attention dk \(tq)x\(tk)")
            XCTAssertClose(dv, finiteDifference(&v, indices: Array(0..<v.count)) { f(q0, k0, $0) }, rel: tol, "attention dv \(tq)x\(tk)")
        }
    }

    /// The forward matches a plain Double softmax attention (causal, prefix visible).
    func testAttentionForwardMatchesScalar() {
        var rng = TestRNG(seed: 5)
        let tq = 3, tk = 6, heads = 2, kvHeads = 1, d = 5
        let q = rng.floats(tq * heads * d), k = rng.floats(tk * d), v = rng.floats(tk * d)
        var o = [Float](repeating: 0, count: tq * heads * d)
        TrainOps.attentionForward(q: q, k: k, v: v, tq: tq, tk: tk, heads: heads, kvHeads: kvHeads, headDim: d, out: &o)
        var ref = [Float](repeating: 0, count: o.count)
        for i in 0..<tq { for h in 0..<heads {
            let keys = tk - tq + i + 1
            let s = (0..<keys).map { j in (0..<d).reduce(0.0) { $0 + Double(q[(i * heads + h) * d + $1]) * Double(k[j * d + $1]) } / Double(d).squareRoot() }
            let m = s.max()!, e = s.map { Foundation.exp($0 - m) }, z = e.reduce(0, +)
            for t in 0..<d { ref[(i * heads + h) * d + t] = Float((0..<keys).reduce(0.0) { $0 + e[$1] / z * Double(v[$1 * d + t]) }) }
        } }
        XCTAssertClose(o, ref, rel: 1e-5, "attention forward vs Double")
    }

    func testLogSoftmaxPickAndGradient() {
        var rng = TestRNG(seed: 4)
        let n = 53, token = 17
        var x = rng.floats(n, scale: 4)
        var row = x
        let lp = TrainOps.logSoftmaxPick(&row, count: n, token: token, grad: { _ in 0.7 })
        let m = x.map(Double.init).max()!, z = x.reduce(0.0) { $0 + Foundation.exp(Double($1) - m) }
        XCTAssertEqual(Double(lp), Double(x[token]) - m - Foundation.log(z), accuracy: 1e-6)
        let fd = finiteDifference(&x, indices: Array(0..<n)) { v in
            var r = v; return 0.7 * Double(TrainOps.logSoftmaxPick(&r, count: n, token: token, grad: nil))
        }
        XCTAssertClose(row, fd, rel: tol, "log-softmax gradient")
    }
}
