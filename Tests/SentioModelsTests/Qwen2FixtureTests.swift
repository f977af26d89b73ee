// The LLM stage of the r1omni-tiny-a golden set: given the reference's assembled input embeddings,
// Sentio's Qwen2 must reproduce the reference's final hidden states, logits, per-position argmax and
// 32 greedy tokens. Every expected value is read from the fixture folder (SENTIO_FIXTURES).
//
// Tolerances (from the fixture README, section 6): an independent float64 implementation differs from
// the float32 reference by 1.3e-5 (hidden states) and 1.1e-5 (logits) relative to the largest value,
// so a correct float32 implementation with other summation orders must land within 1e-4 relative.
import XCTest
import SentioCore
import SentioKernels
import SentioFormat
import SentioModels
import SentioRuntime
import SentioTestSupport

final class Qwen2FixtureTests: XCTestCase {
    static func loadTinyLLM(dtype: DType = .f32) throws -> Qwen2Model {
        let dir = TestPaths.tinyA
        let cfgText = try String(contentsOf: dir.appendingPathComponent("config.json"), encoding: .utf8)
        let cfg = try Qwen2Config.parse(cfgText, source: "config.json")
        let st = try SafetensorsFile(dir.appendingPathComponent("model.safetensors"))
        let w = InMemoryWeights(name: "tiny-a")
        let policy = QuantPolicy(target: dtype)
        for spec in Qwen2Schema.tensors(cfg) {
            w.add(spec.name, floats: try st.floats(spec.name), shape: spec.shape, as: policy.dtype(for: spec))
        }
        return try Qwen2Model(config: cfg, source: w, maxRows: 128)
    }

    /// A matrix stored in a type Linear cannot run (i32) or in too few bytes is an error naming the file and the
    /// tensor (WeightSource.matrix), not a crash in the kernels' preconditions.
    func testUnusableMatrixIsAnErrorNamingTheTensor() throws {
        let dir = TestPaths.tinyA
        let cfg = try Qwen2Config.parse(try String(contentsOf: dir.appendingPathComponent("config.json"), encoding: .utf8), source: "config.json")
        let st = try SafetensorsFile(dir.appendingPathComponent("model.safetensors"))
        let bad = "model.layers.0.mlp.up_proj.weight"
        for how in ["i32", "short"] {
            let w = InMemoryWeights(name: "tiny-bad")
            for spec in Qwen2Schema.tensors(cfg) {
                let x = try st.floats(spec.name)
                if spec.name == bad && how == "i32" { w.add(spec.name, floats: x, shape: spec.shape, as: .i32) }
                else if spec.name == bad { [UInt8](repeating: 0, count: 64).withUnsafeBytes { w.add(spec.name, dtype: .q8, shape: spec.shape, bytes: $0) } }
                else { w.add(spec.name, floats: x, shape: spec.shape) }
            }
            XCTAssertThrowsError(try Qwen2Model(config: cfg, source: w, maxRows: 16)) { e in
                XCTAssertTrue("\(e)".contains(bad) && "\(e)".contains("tiny-bad"), "\(how): \(e)")
            }
        }
    }

    func testPromptForwardMatchesReference() throws {
        let model = try Self.loadTinyLLM()
        let c = model.config
        let llm = try SafetensorsFile(TestPaths.tinyA.appendingPathComponent("llm.safetensors"))
        let embeds = try llm.floats("llm.inputs_embeds")
        let L = embeds.count / c.hiddenSize
        let refNorm = try llm.floats("llm.final_norm_out")
        let refArgmax = try llm.ints("llm.argmax_all")
        let refLast5 = try llm.floats("llm.logits_last5")

        let cache = KVCacheLayout(config: c, blockTokens: 16, dtype: .f32).makeCache()
        var hidden = [Float](repeating: 0, count: L * c.hiddenSize)
        var argmax = [Int](repeating: -1, count: L)
        var last5 = [Float]()
        var logits = [Float](repeating: 0, count: model.maxRows * c.vocabSize)
        var start = 0
        while start < L {   // chunked prefill: 128 rows at a time
            let n = min(model.maxRows, L - start)
            try embeds.withUnsafeBufferPointer { e in
                try logits.withUnsafeMutableBufferPointer { lg in
                    try hidden.withUnsafeMutableBufferPointer { hd in
                        try model.forward(input: e.baseAddress! + start * c.hiddenSize,
                                          segments: [SequenceSegment(cache: cache, count: n)], logitRows: .all,
                                          logits: lg.baseAddress!, hiddenOut: hd.baseAddress! + start * c.hiddenSize)
                    }
                }
            }
            for r in 0..<n {
                argmax[start + r] = Ops.argmax(logits.withUnsafeBufferPointer { $0.baseAddress! + r * c.vocabSize }, count: c.vocabSize)
                if start + r >= L - 5 { last5 += logits[(r * c.vocabSize)..<((r + 1) * c.vocabSize)] }
            }
            start += n
        }
        XCTAssertEqual(cache.length, L)
        let dn = compare(hidden, refNorm)
        XCTAssertLessThan(dn.maxRel, 1e-4, "final norm \(dn)")
        let dl = compare(last5, refLast5)
        XCTAssertLessThan(dl.maxRel, 1e-4, "logits \(dl)")
        let mismatches = zip(argmax, refArgmax).filter { $0 != $1 }.count
        XCTAssertEqual(mismatches, 0, "argmax differs at \(mismatches) of \(L) positions")
    }

    /// preciseActivations: q8 weights with (nearly) unrounded activations against the same q8 weights
    /// dequantized to f32 (so the weights' error is the same on both sides and only the activation handling
    /// differs). The two-term activations leave 1/254 of one Q8_0 rounding per element, so the logits' distance
    /// to the f32 run must shrink by well over an order of magnitude (asserted: 20x) against one rounding, and
    /// every position's argmax must agree with the f32 run.
    func testPreciseActivationsTrackDequantizedWeights() throws {
        let q8 = try Self.loadTinyLLM(dtype: .q8)
        let c = q8.config
        let deq = InMemoryWeights(name: "tiny-a q8 dequantized")
        for spec in Qwen2Schema.tensors(c) { deq.add(spec.name, floats: try q8.weights.source.floats(spec), shape: spec.shape) }
        let f32 = try Qwen2Model(config: c, source: deq, maxRows: 128)
        let embeds = try SafetensorsFile(TestPaths.tinyA.appendingPathComponent("llm.safetensors")).floats("llm.inputs_embeds")
        let n = min(16, embeds.count / c.hiddenSize)
        func run(_ m: Qwen2Model) throws -> [Float] {
            let cache = KVCacheLayout(config: c, blockTokens: 16, dtype: .f32).makeCache()
            var logits = [Float](repeating: 0, count: n * c.vocabSize)
            try embeds.withUnsafeBufferPointer { e in
                try logits.withUnsafeMutableBufferPointer { lg in
                    try m.forward(input: e.baseAddress!, segments: [SequenceSegment(cache: cache, count: n)], logitRows: .all,
                                  logits: lg.baseAddress!)
                }
            }
            return logits
        }
        let ref = try run(f32), plain = try run(q8)
        q8.preciseActivations = true
        let precise = try run(q8)
        q8.preciseActivations = false
        let dPlain = compare(plain, ref), dPrecise = compare(precise, ref)
        print("q8 vs dequantized f32 weights: one Q8_0 rounding \(dPlain); two terms \(dPrecise)")
        XCTAssertGreaterThan(dPlain.maxAbs, 0)
        XCTAssertLessThan(dPrecise.maxAbs * 20, dPlain.maxAbs)
        func argmax(_ l: [Float]) -> [Int] { (0..<n).map { r in l.withUnsafeBufferPointer { Ops.argmax($0.baseAddress! + r * c.vocabSize, count: c.vocabSize) } } }
        XCTAssertEqual(argmax(precise), argmax(ref))
        XCTAssertEqual(try run(q8), plain, "switching back gives the plain path again")
    }

    /// The head's path by weight type (Qwen2Model.headWantsPreciseActivations): 8-bit heads run two-term activations
    /// (Linear.forwardPrecise), 4- and 5-bit heads the integer kernels (Linear.forward) unless preciseActivations is on;
    /// the logits are those paths' outputs on the final-norm hidden states, bit for bit. (The tiny model's body stays
    /// f32 and its tied 151936-row head is stored with the reference quantizers: the debug build's search quantizers
    /// would take most of a minute.)
    func testHeadPathFollowsWeightType() throws {
        for t in DType.allCases where t.isQuantized {
            XCTAssertEqual(Qwen2Model.headWantsPreciseActivations(t, precise: false), t.isQ8Blocks, "\(t)")
            XCTAssertTrue(Qwen2Model.headWantsPreciseActivations(t, precise: true), "\(t)")
        }
        XCTAssertTrue(Qwen2Model.headWantsPreciseActivations(.f16, precise: false))
        let dir = TestPaths.tinyA
        let cfg = try Qwen2Config.parse(try String(contentsOf: dir.appendingPathComponent("config.json"), encoding: .utf8), source: "config.json")
        let st = try SafetensorsFile(dir.appendingPathComponent("model.safetensors"))
        let embeds = try SafetensorsFile(dir.appendingPathComponent("llm.safetensors")).floats("llm.inputs_embeds")
        let n = min(5, embeds.count / cfg.hiddenSize)
        for (dtype, wantPrecise) in [(DType.q8, true), (.q5, false)] {
            let w = InMemoryWeights(name: "tiny-a, \(dtype) head")
            for spec in Qwen2Schema.tensors(cfg) {
                let x = try st.floats(spec.name)
                if spec.shape == [cfg.vocabSize, cfg.hiddenSize] {
                    var bytes = [UInt8](repeating: 0, count: dtype.byteCount(elements: x.count)!)
                    x.withUnsafeBufferPointer { s in
                        bytes.withUnsafeMutableBytes { dtype == .q8 ? BlockQ8_0.quantizeRef(s, into: $0) : BlockQ5_0.quantizeRef(s, into: $0) }
                    }
                    bytes.withUnsafeBytes { w.add(spec.name, dtype: dtype, shape: spec.shape, bytes: $0) }
                } else {
                    w.add(spec.name, floats: x, shape: spec.shape)
                }
            }
            let m = try Qwen2Model(config: cfg, source: w, maxRows: 16)
            XCTAssertEqual(m.weights.outputHead.dtype, dtype)
            for precise in [false, true] {
                m.preciseActivations = precise
                let cache = KVCacheLayout(config: cfg, blockTokens: 16, dtype: .f32).makeCache()
                var logits = [Float](repeating: 0, count: n * cfg.vocabSize), hidden = [Float](repeating: 0, count: n * cfg.hiddenSize)
                try embeds.withUnsafeBufferPointer { e in
                    try logits.withUnsafeMutableBufferPointer { lg in
                        try hidden.withUnsafeMutableBufferPointer { hd in
                            try m.forward(input: e.baseAddress!, segments: [SequenceSegment(cache: cache, count: n)], logitRows: .all,
                                          logits: lg.baseAddress!, hiddenOut: hd.baseAddress!)
                        }
                    }
                }
                var viaPrecise = [Float](repeating: 0, count: logits.count), viaInteger = viaPrecise
                Linear.forwardPrecise(m.weights.outputHead, x: hidden, n: n, y: &viaPrecise)
                Linear.forward(m.weights.outputHead, x: hidden, n: n, y: &viaInteger)
                XCTAssertNotEqual(viaPrecise, viaInteger, "\(dtype): the two paths must differ for this test to show anything")
                XCTAssertEqual(logits, wantPrecise || precise ? viaPrecise : viaInteger, "\(dtype) precise=\(precise)")
            }
        }
    }

    func testGreedyGenerationMatchesReference() throws {
        let model = try Self.loadTinyLLM()
        let c = model.config
        let llm = try SafetensorsFile(TestPaths.tinyA.appendingPathComponent("llm.safetensors"))
        let embeds = try llm.floats("llm.inputs_embeds")
        let refIds = try llm.ints("gen.ids")
        let refSteps = try llm.floats("gen.step_logits_first3")
        let L = embeds.count / c.hiddenSize
        let cache = KVCacheLayout(config: c, blockTokens: 32, dtype: .f32).makeCache()
        var logits = [Float](repeating: 0, count: c.vocabSize)
        var start = 0
        while start < L {
            let n = min(model.maxRows, L - start)
            try embeds.withUnsafeBufferPointer { e in
                try logits.withUnsafeMutableBufferPointer { lg in
                    try model.forward(input: e.baseAddress! + start * c.hiddenSize,
                                      segments: [SequenceSegment(cache: cache, count: n)],
                                      logitRows: .lastOfEachSegment, logits: lg.baseAddress!)
                }
            }
            start += n
        }
        var ids: [Int] = []
        var stepLogits: [Float] = []
        var x = [Float](repeating: 0, count: c.hiddenSize)
        for step in 0..<refIds.count {
            if step < 3 { stepLogits += logits }
            let next = Ops.argmax(logits, count: logits.count)
            ids.append(next)
            try x.withUnsafeMutableBufferPointer { try model.embed([Int32(next)], into: $0.baseAddress!) }
            try x.withUnsafeBufferPointer { xb in
                try logits.withUnsafeMutableBufferPointer { lg in
                    try model.forward(input: xb.baseAddress!, segments: [SequenceSegment(cache: cache, count: 1)],
                                      logitRows: .lastOfEachSegment, logits: lg.baseAddress!)
                }
            }
        }
        XCTAssertEqual(ids, refIds)
        let d = compare(stepLogits, refSteps)
        XCTAssertLessThan(d.maxRel, 1e-4, "decode-step logits \(d)")
    }
}
