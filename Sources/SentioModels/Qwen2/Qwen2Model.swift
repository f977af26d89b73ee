// Qwen2Model: the Qwen2 decoder-only language model.
// Follows transformers' models/qwen2/modeling_qwen2.py (Qwen2ForCausalLM): pre-RMSNorm layers,
// grouped-query attention with q/k/v bias and rotate-half RoPE, SwiGLU MLP, final RMSNorm, tied or
// untied output head.
//
// One forward pass takes N input rows (embeddings) split into segments, each segment being one
// sequence appended to its own KV cache: a prefill is one segment of many rows, a batched decode is
// B segments of one row each, so every weight matrix is read once for the whole batch.
import Foundation
import SentioCore
import SentioKernels

public final class Qwen2Model: @unchecked Sendable {
    public let config: Qwen2Config
    public let weights: Qwen2Weights
    public let rope: Rope
    /// Largest number of rows one forward call takes; callers chunk longer prefills.
    public let maxRows: Int
    private let scratch: Qwen2Scratch
    private let lock = NSLock()
    private var hook: Qwen2LinearHook?

    private var precise = false

    /// Quantized matmuls of the layers with (nearly) unrounded activations (Linear.forwardPreciseMany: x as
    /// two Q8_0 terms) instead of one Q8_0 rounding (the output head runs that way anyway when it is 8-bit or float:
    /// headWantsPreciseActivations). Closer to the
    /// model's own arithmetic (Qwen2.5-Coder-0.5B q8 against f32: KL 0.000331 -> 0.000014, top-1 98.87 ->
    /// 99.78 %), at a cost in speed (2 threads: q8 prefill ~0.5x, decode ~0.8x; docs/BENCHMARKS.md).
    /// No effect on float weights, whose matmuls are f32 already. Set it between forward calls.
    public var preciseActivations: Bool {
        get { lock.withLock { precise } }
        set { lock.withLock { precise = newValue } }
    }

    /// Whether the output head runs with (nearly) unrounded activations (Linear.forwardPrecise): its logits pick
    /// every token and rounding x moves near ties. With an 8-bit head that rounding is as large as the weights'
    /// (coder q8: top-1 agreement with f32 98.43 -> 98.87 %, docs/BENCHMARKS.md); with a 4- or 5-bit head the
    /// weights' rounding dominates (two-term head vs integer head: q4 79.22 / 79.39 %, q4_1 85.49 / 85.36 %, q5 94.60 /
    /// 94.16 % with KL 0.00650 / 0.00664; the top-1 standard error is ~0.5 points) while the second activation row
    /// costs time (the 5-bit GEMV is compute-bound: KernelBench head q5 2 threads 2.5 -> 3.4 ms per token), so those
    /// heads keep the integer path unless `preciseActivations` asks for two terms everywhere. Float heads: f32 math
    /// either way.
    public static func headWantsPreciseActivations(_ dtype: DType, precise: Bool) -> Bool {
        precise || !dtype.isQuantized || dtype.isQ8Blocks
    }

    /// An adapter applied on top of the base projections at every forward (nil: the base model).
    /// Set it between forward calls (e.g. a LoRA adapter loaded with `--lora DIR`).
    public var linearHook: Qwen2LinearHook? {
        get { lock.withLock { hook } }
        set { lock.withLock { hook = newValue } }
    }

    public init(config: Qwen2Config, source: WeightSource, maxRows: Int = 512) throws {
        try config.validate(source: source.sourceName)
        self.config = config
        self.weights = try Qwen2Weights(config: config, source: source)
        let style: RopeStyle = config.ropeStyle == "interleaved" ? .interleaved : .neox
        self.rope = Rope(headDim: config.headDim, theta: config.ropeTheta, style: style)
        self.maxRows = maxRows
        self.scratch = Qwen2Scratch(config: config, rows: maxRows)
    }

    /// Token ids -> embedding rows [ids.count, hidden].
    public func embed(_ ids: [Int32], into out: UnsafeMutablePointer<Float>) throws {
        for id in ids where id < 0 || Int(id) >= config.vocabSize {
            throw SentioError(.argument, "token id \(id) is outside the vocabulary (\(config.vocabSize))")
        }
        Ops.embeddingLookup(weights.embed, ids: ids, out: out)
    }

    /// Number of logit rows `forward` writes for these segments.
    public func logitRowCount(_ segments: [SequenceSegment], _ rows: LogitRows) -> Int {
        switch rows {
        case .none: return 0
        case .lastOfEachSegment: return segments.count
        case .all: return segments.reduce(0) { $0 + $1.count }
        }
    }

    /// Runs the decoder over `input` [N, hidden] (N = sum of segment counts, N <= maxRows), appending each
    /// segment's keys/values to its cache, and writes logits [logitRowCount, vocab] to `logits`.
    /// When `hiddenOut` is given, the final-norm hidden states of the logit rows are copied there too.
    public func forward(input: UnsafePointer<Float>, segments: [SequenceSegment], logitRows: LogitRows,
                        logits: UnsafeMutablePointer<Float>?, hiddenOut: UnsafeMutablePointer<Float>? = nil,
                        pool: ThreadPool = .shared) throws {
        lock.lock(); defer { lock.unlock() }
        let c = config, s = scratch, w = weights
        let n = segments.reduce(0) { $0 + $1.count }
        guard n > 0 else { return }
        guard n <= maxRows else { throw SentioError(.argument, "forward of \(n) rows exceeds maxRows \(maxRows)") }
        let h = c.hiddenSize, kvd = c.kvDim, f = c.intermediateSize
        for seg in segments where seg.count > 0 { try seg.cache.reserve(seg.count) }
        let batchedDecode = segments.count > 1 && segments.allSatisfy { $0.count == 1 }

        // Positions of every row.
        var r = 0
        for seg in segments {
            for j in 0..<seg.count { s.positions[r + j] = Int32(seg.cache.length + j) }
            r += seg.count
        }
        let x = s.x, xn = s.xn, q = s.q, k = s.k, v = s.v, att = s.att, g = s.gate, u = s.up
        x.update(from: input, count: n * h)
        let hook = self.hook, precise = self.precise
        // Base projections of one input (staged or quantized once for all of them), then the adapter's terms
        // when one is set.
        func project(_ l: Int, _ xin: UnsafePointer<Float>,
                     _ outs: [(p: Qwen2Schema.Proj, w: WeightMatrix, y: UnsafeMutablePointer<Float>, bias: UnsafePointer<Float>?)]) {
            if precise {
                Linear.forwardPreciseMany(outs.map { ($0.w, $0.y, $0.bias) }, x: xin, n: n, pool: pool)
            } else {
                Linear.forwardMany(outs.map { ($0.w, $0.y, $0.bias) }, x: xin, n: n, pool: pool)
            }
            if let hook { for o in outs { hook.addDelta(layer: l, proj: o.p, x: xin, n: n, y: o.y, pool: pool) } }
        }

        for l in 0..<c.numHiddenLayers {
            let L = w.layers[l]
            Ops.rmsNorm(x, weight: L.inputNorm, eps: c.rmsNormEps, out: xn, rows: n, dim: h)
            project(l, xn, [(.q, L.q, q, L.qBias), (.k, L.k, k, L.kBias), (.v, L.v, v, L.vBias)])
            rope.apply(q, n: n, heads: c.numAttentionHeads, positions: s.positions)
            rope.apply(k, n: n, heads: c.numKeyValueHeads, positions: s.positions)
            if batchedDecode {
                // B sequences of one row each: store every row's K/V, then one attention dispatch for all.
                var views: [KVView] = []
                views.reserveCapacity(segments.count)
                for (i, seg) in segments.enumerated() {
                    let start = seg.cache.length
                    let view = seg.cache.view(layer: l, tokens: start + 1)
                    view.store(k: k + i * kvd, v: v + i * kvd, start: start, n: 1)
                    views.append(view)
                }
                Attention.decodeRows(q: q, views: views, heads: c.numAttentionHeads, out: att, pool: pool)
            }
            var row = 0
            for seg in segments where seg.count > 0 && !batchedDecode {
                let start = seg.cache.length
                let view = seg.cache.view(layer: l, tokens: start + seg.count)
                view.store(k: k + row * kvd, v: v + row * kvd, start: start, n: seg.count)
                Attention.causal(q: q + row * h, nQ: seg.count, start: start, heads: c.numAttentionHeads,
                                 kv: view, out: att + row * h, precision: .matchingDecoder(L.q), pool: pool)
                row += seg.count
            }
            project(l, att, [(.o, L.o, xn, nil)])
            Ops.add(x, xn, out: x, count: n * h)

            Ops.rmsNorm(x, weight: L.postNorm, eps: c.rmsNormEps, out: xn, rows: n, dim: h)
            project(l, xn, [(.gate, L.gate, g, nil), (.up, L.up, u, nil)])
            Ops.swiglu(gate: g, up: u, out: g, count: n * f, pool: pool)
            project(l, g, [(.down, L.down, xn, nil)])
            Ops.add(x, xn, out: x, count: n * h)
        }
        for seg in segments where seg.count > 0 { seg.cache.advance(seg.count) }

        // Final norm and output head over the selected rows only.
        let m = logitRowCount(segments, logitRows)
        guard m > 0 else { return }
        var src: [Int] = []
        switch logitRows {
        case .none: break
        case .all: src = Array(0..<n)
        case .lastOfEachSegment:
            var end = 0
            for seg in segments { end += seg.count; src.append(end - 1) }
        }
        for (i, rr) in src.enumerated() { (xn + i * h).update(from: x + rr * h, count: h) }
        Ops.rmsNorm(xn, weight: w.finalNorm, eps: c.rmsNormEps, out: x, rows: m, dim: h)
        if let hiddenOut { hiddenOut.update(from: x, count: m * h) }
        if let logits {
            if Self.headWantsPreciseActivations(w.outputHead.dtype, precise: precise) {
                Linear.forwardPrecise(w.outputHead, x: x, n: m, y: logits, bias: nil, pool: pool)
            } else {
                Linear.forward(w.outputHead, x: x, n: m, y: logits, bias: nil, pool: pool)
            }
        }
    }
}

/// The model's tensors, as views into the weight source (no copies of matrices).
public struct Qwen2Weights: @unchecked Sendable {
    public struct Layer: @unchecked Sendable {
        public let q, k, v, o, gate, up, down: WeightMatrix
        public let qBias, kBias, vBias: UnsafePointer<Float>?
        public let inputNorm, postNorm: UnsafePointer<Float>
    }
    public let embed: WeightMatrix
    public let outputHead: WeightMatrix
    public let layers: [Layer]
    public let finalNorm: UnsafePointer<Float>
    /// Keeps the source (and the f32 copies of small tensors) alive.
    let owner: WeightSource
    let floatStore: FloatStore
    /// The weight source the matrices view (e.g. for merging an adapter into a copy).
    public var source: WeightSource { owner }

    final class FloatStore: @unchecked Sendable {
        var buffers: [UnsafeMutablePointer<Float>] = []
        func keep(_ x: [Float]) -> UnsafePointer<Float> {
            let p = UnsafeMutablePointer<Float>.allocate(capacity: max(x.count, 1))
            p.update(from: x, count: x.count)
            buffers.append(p)
            return UnsafePointer(p)
        }
        deinit { for b in buffers { b.deallocate() } }
    }

    public init(config c: Qwen2Config, source: WeightSource) throws {
        let specs = Dictionary(uniqueKeysWithValues: Qwen2Schema.tensors(c).map { ($0.name, $0) })
        func spec(_ n: String) -> TensorSpec { specs[n]! }
        let store = FloatStore()
        func vec(_ n: String) throws -> UnsafePointer<Float> { store.keep(try source.floats(spec(n))) }
        func mat(_ n: String) throws -> WeightMatrix { try source.matrix(spec(n)) }
        embed = try mat(Qwen2Schema.embed)
        if c.tieWordEmbeddings || !source.has(Qwen2Schema.lmHead) {
            outputHead = embed
        } else {
            outputHead = try mat(Qwen2Schema.lmHead)
        }
        var layers: [Layer] = []
        for i in 0..<c.numHiddenLayers {
            typealias P = Qwen2Schema.Proj
            let bias = c.hasQKVBias
            layers.append(Layer(
                q: try mat(Qwen2Schema.weight(i, .q)), k: try mat(Qwen2Schema.weight(i, .k)),
                v: try mat(Qwen2Schema.weight(i, .v)), o: try mat(Qwen2Schema.weight(i, .o)),
                gate: try mat(Qwen2Schema.weight(i, .gate)), up: try mat(Qwen2Schema.weight(i, .up)),
                down: try mat(Qwen2Schema.weight(i, .down)),
                qBias: bias ? try vec(Qwen2Schema.bias(i, .q)) : nil,
                kBias: bias ? try vec(Qwen2Schema.bias(i, .k)) : nil,
                vBias: bias ? try vec(Qwen2Schema.bias(i, .v)) : nil,
                inputNorm: try vec(Qwen2Schema.inputNorm(i)), postNorm: try vec(Qwen2Schema.postNorm(i))))
        }
        self.layers = layers
        finalNorm = try vec(Qwen2Schema.finalNorm)
        owner = source
        floatStore = store
    }
}

/// Activation buffers for up to `rows` rows (allocated once per model).
final class Qwen2Scratch: @unchecked Sendable {
    let x, xn, q, k, v, att, gate, up: UnsafeMutablePointer<Float>
    let positions: UnsafeMutablePointer<Int32>
    private let all: [UnsafeMutablePointer<Float>]

    init(config c: Qwen2Config, rows: Int) {
        func buf(_ n: Int) -> UnsafeMutablePointer<Float> {
            let p = UnsafeMutableRawPointer.allocate(byteCount: max(n, 1) * 4, alignment: 64).bindMemory(to: Float.self, capacity: max(n, 1))
            p.initialize(repeating: 0, count: max(n, 1))
            return p
        }
        let h = c.hiddenSize
        x = buf(rows * h); xn = buf(rows * h); q = buf(rows * h)
        k = buf(rows * c.kvDim); v = buf(rows * c.kvDim); att = buf(rows * h)
        gate = buf(rows * c.intermediateSize); up = buf(rows * c.intermediateSize)
        positions = .allocate(capacity: rows)
        all = [x, xn, q, k, v, att, gate, up]
    }

    deinit {
        for p in all { UnsafeMutableRawPointer(p).deallocate() }
        positions.deallocate()
    }
}
