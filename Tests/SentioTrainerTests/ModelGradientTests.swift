// Whole-decoder gradient checks on small random Qwen2 models: finite differences of the full loss
// w.r.t. sampled lora_A / lora_B entries and input rows, over a tree batch (prefix + branches, one
// empty), with LoRA dropout, rsLoRA and recompute; the q8 / q4 base against its dequantized f32 twin;
// recompute against stored activations; SFT and GRPO losses against finite differences of themselves.
//
// Tolerances: central differences with h = 1e-2 over a 2-layer f32 model: rounding noise of the
// loss (~1e-6 relative over ~100 terms) / 2h plus curvature h²·f'''/6 stay below ~1e-3 of the
// largest sampled gradient; 5e-3 leaves margin (a wrong term is O(1) off). A quantized base runs the
// forward with Q8_0-quantized activations while the backward uses exact dequantized weights, so it is
// compared with its dequantized f32 twin at 3e-2 (activation quantization error ~1/127 per block).
import XCTest
import SentioCore
import SentioKernels
import SentioModels
import SentioRuntime
import SentioTestSupport
import SentioTrainer

final class ModelGradientTests: XCTestCase {
    /// A tree batch on a random model: prefix 5 rows, branches of 3, 0 and 2 rows, targets in all parts.
    func treeBatch(_ model: Qwen2Model, seed: UInt64) -> (TrainBatch, [Float]) {
        var rng = TestRNG(seed: seed)
        let h = model.config.hiddenSize, V = model.config.vocabSize
        var b = TrainBatch(hidden: h, prefix: rng.floats(5 * h), branches: [rng.floats(3 * h), [], rng.floats(2 * h)], targets: [])
        for row in [1, 4, 5, 6, 7, 8, 9, 4] { b.targets.append(LogProbTarget(row: row, token: Int32(rng.int(0..<V)))) }
        let coef = (0..<b.targets.count).map { _ in rng.uniform() }
        return (b, coef)
    }

    func gradients(_ bp: Qwen2Backprop, _ a: LoRAAdapter, _ b: TrainBatch, _ coef: [Float], seed: UInt64 = 9,
                   input: UnsafeMutablePointer<Float>? = nil) throws -> LoRATensors {
        let g = a.makeGradients()
        try bp.backward(b, adapter: a, gradients: g, dropoutSeed: seed, inputGradient: input) { t, _ in coef[t] }
        return g
    }

    /// loss = Σ coef_t · logp_t, with the same dropout masks as the backward (training-mode forward).
    func loss(_ bp: Qwen2Backprop, _ a: LoRAAdapter, _ b: TrainBatch, _ coef: [Float], seed: UInt64 = 9) throws -> Double {
        var l = 0.0
        let scratch = a.makeGradients()
        try bp.backward(b, adapter: a, gradients: scratch, dropoutSeed: seed) { t, lp in l += Double(coef[t]) * Double(lp); return 0 }
        return l
    }

    func checkFD(dropout: Float, rs: Bool, recompute: Bool, line: UInt = #line) throws {
        let model = try TrainerFixtures.random(seed: 11)
        let a = try TrainerFixtures.randomAdapter(model, r: 3, alpha: 6, dropout: dropout, rs: rs, seed: 12)
        let bp = Qwen2Backprop(model: model, recompute: recompute, headChunk: 3)
        let (b, coef) = treeBatch(model, seed: 13)
        let dIn = FloatBuffer(b.rowCount * model.config.hiddenSize)
        let g = try gradients(bp, a, b, coef, input: dIn.p)
        var rng = TestRNG(seed: 14)
        var analytic: [Float] = [], numeric: [Float] = []
        for ti in stride(from: 0, to: a.tensors.names.count, by: 3) {
            let idx = (0..<3).map { _ in rng.int(0..<a.tensors.values[ti].count) }
            let orig = a.tensors.values[ti]
            var v = orig
            numeric += finiteDifference(&v, indices: idx) { x in
                a.tensors.values[ti] = x
                defer { a.tensors.values[ti] = orig }
                return try! loss(bp, a, b, coef)
            }
            analytic += idx.map { g.values[ti][$0] }
        }
        XCTAssertClose(analytic, numeric, rel: 5e-3, "LoRA gradients (dropout \(dropout), rs \(rs), recompute \(recompute))", line: line)
        // Input rows: prefix row 2 and branch-2 row 1.
        var prefix = b.prefix
        let h = model.config.hiddenSize
        let pIdx = (0..<6).map { 2 * h + $0 * 5 }
        let fdIn = finiteDifference(&prefix, indices: pIdx) { x in
            var bb = b; bb.prefix = x; return try! loss(bp, a, bb, coef)
        }
        XCTAssertClose(pIdx.map { dIn.p[$0] }, fdIn, rel: 5e-3, "input-row gradients", line: line)
        var br = b.branches[2]
        let start = b.branchStart(2)
        let bIdx = (0..<6).map { h + $0 * 5 }
        let fdBr = finiteDifference(&br, indices: bIdx) { x in
            var bb = b; bb.branches[2] = x; return try! loss(bp, a, bb, coef)
        }
        XCTAssertClose(bIdx.map { dIn.p[start * h + $0] }, fdBr, rel: 5e-3, "branch input-row gradients", line: line)
    }

    func testFiniteDifferencePlain() throws { try checkFD(dropout: 0, rs: false, recompute: false) }
    func testFiniteDifferenceDropoutRSLoRARecompute() throws { try checkFD(dropout: 0.2, rs: true, recompute: true) }

    func testRecomputeEqualsStoredActivations() throws {
        let model = try TrainerFixtures.random(seed: 21)
        let a = try TrainerFixtures.randomAdapter(model, dropout: 0.1, seed: 22)
        let (b, coef) = treeBatch(model, seed: 23)
        let g1 = try gradients(Qwen2Backprop(model: model, recompute: false), a, b, coef)
        let g2 = try gradients(Qwen2Backprop(model: model, recompute: true), a, b, coef)
        XCTAssertEqual(g1.values, g2.values, "recompute re-runs the same ops with the same dropout masks")
        XCTAssertLessThan(Qwen2Backprop(model: model, recompute: true).activationBytes(rows: 100, adapter: a),
                          Qwen2Backprop(model: model, recompute: false).activationBytes(rows: 100, adapter: a))
    }

    func testQuantizedBaseMatchesDequantizedTwin() throws {
        for dt in [DType.q8, .q4] {
            let q = try TrainerFixtures.random(seed: 31, dtype: dt)
            // The twin holds exactly the dequantized values of q's matrices, in f32.
            let names = Qwen2Schema.tensors(q.config).map(\.name)
            let twinSource = InMemoryWeights(name: "twin")
            for n in names {
                let t = try q.weights.source.tensor(n)
                twinSource.add(n, floats: try q.weights.source.floats(n), shape: t.shape, as: .f32)
            }
            let twin = try Qwen2Model(config: q.config, source: twinSource)
            let a = try TrainerFixtures.randomAdapter(q, seed: 32)
            let (b, coef) = treeBatch(q, seed: 33)
            let gq = try gradients(Qwen2Backprop(model: q), a, b, coef)
            let gf = try gradients(Qwen2Backprop(model: twin), a, b, coef)
            XCTAssertClose(gq.values.flatMap { $0 }, gf.values.flatMap { $0 }, rel: 3e-2, "\(dt) base vs dequantized f32 twin")
        }
    }

    func testSFTLossAndGradient() throws {
        let model = try TrainerFixtures.random(seed: 41)
        let a = try TrainerFixtures.randomAdapter(model, seed: 42)
        let bp = Qwen2Backprop(model: model)
        let h = model.config.hiddenSize
        var rng = TestRNG(seed: 43)
        let ex = [SFTExample(prompt: rng.floats(4 * h), target: [5, 17, 3]),
                  SFTExample(prompt: rng.floats(2 * h), target: [9, 1])]
        let g = a.makeGradients()
        let (l, n) = try SFT.step(ex, backprop: bp, adapter: a, gradients: g)
        XCTAssertEqual(n, 5)
        XCTAssertEqual(l, try SFT.loss(ex, backprop: bp, adapter: a), accuracy: 1e-6)
        // Hand-computed: the mean of −log softmax(logits)[target] with the inference forward + hook.
        model.linearHook = a
        defer { model.linearHook = nil }
        var expect = 0.0
        for e in ex {
            let p = e.prompt.count / h
            let cache = SentioRuntime.KVCacheLayout(config: model.config, blockTokens: 16, dtype: .f32).makeCache()
            var rows = e.prompt
            var emb = [Float](repeating: 0, count: (e.target.count - 1) * h)
            try emb.withUnsafeMutableBufferPointer { try model.embed(Array(e.target.dropLast()), into: $0.baseAddress!) }
            rows += emb
            let V = model.config.vocabSize, L = rows.count / h
            var logits = [Float](repeating: 0, count: L * V)
            try rows.withUnsafeBufferPointer { r in try logits.withUnsafeMutableBufferPointer { lg in
                try model.forward(input: r.baseAddress!, segments: [SequenceSegment(cache: cache, count: L)], logitRows: .all, logits: lg.baseAddress!)
            } }
            for (j, t) in e.target.enumerated() {
                let row = logits[((p - 1 + j) * V)..<((p + j) * V)].map(Double.init)
                let m = row.max()!
                expect -= (row[Int(t)] - m - Foundation.log(row.reduce(0) { $0 + Foundation.exp($1 - m) })) / 5
            }
        }
        XCTAssertEqual(Double(l), expect, accuracy: 1e-5 * max(1, abs(expect)))
        // Gradient: finite differences of SFT.loss on sampled entries.
        var analytic: [Float] = [], numeric: [Float] = []
        for ti in [0, 5, 11, 20] {
            let orig = a.tensors.values[ti]
            var v = orig
            let idx = [0, v.count / 2, v.count - 1]
            numeric += finiteDifference(&v, indices: idx) { x in
                a.tensors.values[ti] = x; defer { a.tensors.values[ti] = orig }
                return Double(try! SFT.loss(ex, backprop: bp, adapter: a))
            }
            analytic += idx.map { g.values[ti][$0] }
        }
        XCTAssertClose(analytic, numeric, rel: 5e-3, "SFT gradient")
    }
}
