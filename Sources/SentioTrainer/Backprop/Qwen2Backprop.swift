// Qwen2Backprop: forward with saved activations and backward of the Qwen2 decoder, for LoRA training.
//
// A batch is a tree of sequences: a shared prefix (the prompt, P rows) and B branches (completions)
// that each attend to the whole prefix and to their own earlier rows. The prompt is run once for all
// G completions and receives the summed key/value gradients of every branch. All projections run on
// the N = P + ΣT rows at once through the inference kernels (Linear.forward / Linear.backwardInput on
// the frozen base in its stored dtype, f32 / f16 / bf16 / q8 / q4); the LoRA products and attention
// use Gemm.sgemm. Only lora_A / lora_B receive gradients; input gradients flow through every frozen op.
//
// Memory plan (per layer, per row, f32): the layer input (hidden) is always kept; with
// `recompute == false` also xn1, q, k, v, att, x2, xn2 (hidden-sized), gate and up (intermediate) and
// the LoRA products u = x·Aᵀ (r per adapted projection). With `recompute == true` (activation
// checkpointing) only the layer inputs are kept and each layer's forward is re-run just before its
// backward (dropout masks are a pure function of the seed, so the re-run is identical).
// `activationBytes` reports the estimate. Logits are never materialized beyond `headChunk` rows ×
// vocab: the output head, log-softmax and its backward run chunk by chunk over the target rows.
import Foundation
import SentioCore
import SentioKernels
import SentioModels

/// One log-probability to compute: the token predicted by hidden row `row` (a global row index).
public struct LogProbTarget: Sendable, Equatable {
    public var row: Int
    public var token: Int32
    public init(row: Int, token: Int32) { self.row = row; self.token = token }
}

/// Input rows of one training forward: prefix rows plus branches, and the targets whose log-probs are needed.
public struct TrainBatch: Sendable {
    /// [P, hidden] rows shared by every branch (may be empty).
    public var prefix: [Float]
    /// [T_b, hidden] rows of each branch (they follow the prefix in the global row order).
    public var branches: [[Float]]
    public var targets: [LogProbTarget]
    public let hidden: Int

    public init(hidden: Int, prefix: [Float], branches: [[Float]] = [], targets: [LogProbTarget]) {
        self.hidden = hidden; self.prefix = prefix; self.branches = branches; self.targets = targets
    }

    public var prefixRows: Int { prefix.count / hidden }
    public func branchRows(_ b: Int) -> Int { branches[b].count / hidden }
    /// Global index of branch b's first row.
    public func branchStart(_ b: Int) -> Int { prefixRows + (0..<b).reduce(0) { $0 + branchRows($1) } }
    public var rowCount: Int { prefixRows + (0..<branches.count).reduce(0) { $0 + branchRows($1) } }
}

public final class Qwen2Backprop: @unchecked Sendable {
    public let model: Qwen2Model
    /// Activation checkpointing: keep only each layer's input and recompute the layer in backward.
    public var recompute: Bool
    /// Target rows per output-head chunk (logits held: headChunk × vocab floats).
    public var headChunk: Int
    public let pool: ThreadPool
    /// Seconds spent in the parts of the last backward() call (forward layers, output head + log-softmax
    /// forward and backward, backward layers including recomputation).
    public private(set) var lastTimings = Timings()

    public struct Timings: Sendable {
        public var forward = 0.0, head = 0.0, backward = 0.0
        public var total: Double { forward + head + backward }
    }

    public init(model: Qwen2Model, recompute: Bool = false, headChunk: Int = 128, pool: ThreadPool = .shared) {
        self.model = model; self.recompute = recompute; self.headChunk = max(1, headChunk); self.pool = pool
    }

    var config: Qwen2Config { model.config }

    /// Estimated bytes of saved activations for `rows` rows (excluding the logits chunk and scratch).
    public func activationBytes(rows: Int, adapter: LoRAAdapter?) -> Int {
        let c = config, h = c.hiddenSize, kv = c.kvDim, f = c.intermediateSize
        let inputs = c.numHiddenLayers * rows * h
        let r = adapter?.config.r ?? 0
        let perLayer = rows * (6 * h + 2 * kv + 2 * f + 7 * r)
        return 4 * (inputs + (recompute ? perLayer : c.numHiddenLayers * perLayer))
    }

    // MARK: public passes

    /// Log-probabilities of the targets (forward only; `adapter` nil or disabled: the base model).
    public func logProbs(_ batch: TrainBatch, adapter: LoRAAdapter?) throws -> [Float] {
        if batch.targets.isEmpty { return [] }
        let run = try Run(self, batch, adapter: adapter, dropoutSeed: nil)
        let x = run.forwardAll(save: false)
        var out = [Float](repeating: 0, count: batch.targets.count)
        run.head(x, dX: nil) { t, logp in out[t] = logp; return 0 }
        return out
    }

    /// Forward and backward. `tokenGradient(t, logp)` returns d loss / d logp of target t (it may record
    /// logp). Adds d loss / d lora_A, lora_B into `gradients` (same names as adapter.tensors) and returns
    /// the targets' log-probs. `inputGradient`, when given, receives d loss / d input rows [N, hidden].
    /// `dropoutSeed` picks the dropout masks (ignored when the adapter's dropout is 0).
    @discardableResult
    public func backward(_ batch: TrainBatch, adapter: LoRAAdapter, gradients: LoRATensors, dropoutSeed: UInt64 = 0,
                         inputGradient: UnsafeMutablePointer<Float>? = nil,
                         tokenGradient: (Int, Float) -> Float) throws -> [Float] {
        guard gradients.names == adapter.tensors.names else {
            throw SentioError(.argument, "gradient buffer does not match the adapter's tensors")
        }
        let run = try Run(self, batch, adapter: adapter, dropoutSeed: dropoutSeed)
        let t0 = Date()
        let x = run.forwardAll(save: true)
        let t1 = Date()
        let dX = FloatBuffer(run.n * config.hiddenSize)
        var logps = [Float](repeating: 0, count: batch.targets.count)
        run.head(x, dX: dX) { t, logp in logps[t] = logp; return tokenGradient(t, logp) }
        let t2 = Date()
        run.backwardAll(dX: dX, gradients: gradients)
        lastTimings = Timings(forward: t1.timeIntervalSince(t0), head: t2.timeIntervalSince(t1), backward: Date().timeIntervalSince(t2))
        if let inputGradient { inputGradient.update(from: dX.p, count: dX.count) }
        return logps
    }

    // MARK: one pass

    /// Saved activations of one layer.
    final class LayerActs {
        let xn1, q, k, v, att, x2, xn2, gate, up: FloatBuffer
        var u: [FloatBuffer?]   // per projection (projOrder index): dropout(x)·Aᵀ [N, r]
        init(n: Int, c: Qwen2Config) {
            let h = c.hiddenSize, kv = c.kvDim, f = c.intermediateSize
            xn1 = FloatBuffer(n * h, zeroed: false); q = FloatBuffer(n * h, zeroed: false)
            k = FloatBuffer(n * kv, zeroed: false); v = FloatBuffer(n * kv, zeroed: false)
            att = FloatBuffer(n * h, zeroed: false); x2 = FloatBuffer(n * h, zeroed: false)
            xn2 = FloatBuffer(n * h, zeroed: false)
            gate = FloatBuffer(n * f, zeroed: false); up = FloatBuffer(n * f, zeroed: false)
            u = Array(repeating: nil, count: 7)
        }
    }

    final class Run {
        let bp: Qwen2Backprop
        let c: Qwen2Config
        let w: Qwen2Weights
        let batch: TrainBatch
        let adapter: LoRAAdapter?
        let dropoutSeed: UInt64?
        let n: Int
        let positions: [Int32]
        /// (first row, rows, prefix rows it also attends to)
        let blocks: [(start: Int, count: Int, prefix: Int)]
        var inputs: [FloatBuffer] = []     // layer inputs (saved passes)
        var acts: [LayerActs] = []         // per layer (no recompute) or one reused (recompute)
        let pool: ThreadPool

        init(_ bp: Qwen2Backprop, _ batch: TrainBatch, adapter: LoRAAdapter?, dropoutSeed: UInt64?) throws {
            self.bp = bp; c = bp.model.config; w = bp.model.weights; self.batch = batch; pool = bp.pool
            self.adapter = (adapter?.enabled ?? false) ? adapter : nil
            self.dropoutSeed = dropoutSeed
            let c = bp.model.config
            guard batch.hidden == c.hiddenSize else {
                throw SentioError(.argument, "batch rows have width \(batch.hidden), the model's hidden size is \(c.hiddenSize)")
            }
            guard batch.prefix.count % c.hiddenSize == 0, batch.branches.allSatisfy({ $0.count % c.hiddenSize == 0 }) else {
                throw SentioError(.argument, "batch input is not a whole number of rows")
            }
            let n = batch.rowCount
            self.n = n
            guard n > 0 else { throw SentioError(.argument, "empty training batch") }
            for t in batch.targets {
                guard t.row >= 0 && t.row < n else { throw SentioError(.argument, "target row \(t.row) outside 0..<\(n)") }
                guard t.token >= 0 && Int(t.token) < c.vocabSize else {
                    throw SentioError(.argument, "target token \(t.token) outside the vocabulary (\(c.vocabSize))")
                }
            }
            let p = batch.prefixRows
            var pos = (0..<p).map { Int32($0) }
            var blocks: [(Int, Int, Int)] = p > 0 ? [(0, p, 0)] : []
            for b in 0..<batch.branches.count {
                let t = batch.branchRows(b)
                guard t > 0 else { continue }
                blocks.append((batch.branchStart(b), t, p))
                pos += (0..<t).map { Int32(p + $0) }
            }
            positions = pos
            self.blocks = blocks
        }

        // MARK: LoRA linear

        /// Keep-mask of dropout for element `idx` of projection (l, pi): a hash of the seed, no storage.
        @inline(__always) func keep(_ l: Int, _ pi: Int, _ idx: Int, threshold: UInt64) -> Bool {
            SplitMix64.mix(dropoutSeed! &+ UInt64(l * 7 + pi) &* 0x9E3779B97F4A7C15 &+ UInt64(idx) &* 0xD1B54A32D192ED03) >> 40 >= threshold
        }

        /// dropout(x) into out (inverted scaling 1/(1-p)); nil when dropout is off.
        func dropped(_ l: Int, _ pi: Int, _ x: UnsafePointer<Float>, count: Int) -> FloatBuffer? {
            guard let a = adapter, a.config.dropout > 0, dropoutSeed != nil else { return nil }
            let out = FloatBuffer(count, zeroed: false)
            let thr = UInt64(Double(a.config.dropout) * Double(1 << 24)), s = 1 / (1 - a.config.dropout)
            for i in 0..<count { out.p[i] = keep(l, pi, i, threshold: thr) ? x[i] * s : 0 }
            return out
        }

        func linear(_ l: Int, _ p: Qwen2Schema.Proj, _ wm: WeightMatrix, x: UnsafePointer<Float>,
                    y: UnsafeMutablePointer<Float>, bias: UnsafePointer<Float>?, acts: LayerActs?) {
            Linear.forward(wm, x: x, n: n, y: y, bias: bias, pool: pool)
            guard let a = adapter, let m = a.module(layer: l, proj: p) else { return }
            let pi = LoRAAdapter.projOrder.firstIndex(of: p)!, r = a.config.r
            let xd = dropped(l, pi, x, count: n * m.inFeatures)
            let u = FloatBuffer(n * r, zeroed: false)
            a.tensors.values[m.a].withUnsafeBufferPointer { A in
                Gemm.sgemm(transA: false, transB: true, m: n, n: r, k: m.inFeatures, alpha: 1, a: xd.map { UnsafePointer($0.p) } ?? x,
                           lda: m.inFeatures, b: A.baseAddress!, ldb: m.inFeatures, beta: 0, c: u.p, ldc: r, pool: pool)
            }
            a.tensors.values[m.b].withUnsafeBufferPointer { B in
                Gemm.sgemm(transA: false, transB: true, m: n, n: m.outFeatures, k: r, alpha: a.scale, a: u.p, lda: r,
                           b: B.baseAddress!, ldb: r, beta: 1, c: y, ldc: m.outFeatures, pool: pool)
            }
            acts?.u[pi] = u
        }

        /// dx (+)= dy·W + LoRA input gradient; dA, dB accumulated into `g`.
        func linearBackward(_ l: Int, _ p: Qwen2Schema.Proj, _ wm: WeightMatrix, x: UnsafePointer<Float>,
                            dy: UnsafePointer<Float>, dx: UnsafeMutablePointer<Float>, accumulate: Bool,
                            acts: LayerActs, g: LoRATensors) {
            Linear.backwardInput(wm, dy: dy, n: n, dx: dx, accumulate: accumulate, pool: pool)
            guard let a = adapter, let m = a.module(layer: l, proj: p) else { return }
            let pi = LoRAAdapter.projOrder.firstIndex(of: p)!, r = a.config.r, s = a.scale
            let u = acts.u[pi]!
            let du = FloatBuffer(n * r, zeroed: false)
            g.values[m.b].withUnsafeMutableBufferPointer { dB in   // dB[out, r] += s · dyᵀ·u
                Gemm.sgemm(transA: true, transB: false, m: m.outFeatures, n: r, k: n, alpha: s, a: dy, lda: m.outFeatures,
                           b: u.p, ldb: r, beta: 1, c: dB.baseAddress!, ldc: r, pool: pool)
            }
            a.tensors.values[m.b].withUnsafeBufferPointer { B in   // du[n, r] = s · dy·B
                Gemm.sgemm(transA: false, transB: false, m: n, n: r, k: m.outFeatures, alpha: s, a: dy, lda: m.outFeatures,
                           b: B.baseAddress!, ldb: r, beta: 0, c: du.p, ldc: r, pool: pool)
            }
            let xd = dropped(l, pi, x, count: n * m.inFeatures)
            g.values[m.a].withUnsafeMutableBufferPointer { dA in   // dA[r, in] += duᵀ·dropout(x)
                Gemm.sgemm(transA: true, transB: false, m: r, n: m.inFeatures, k: n, alpha: 1, a: du.p, lda: r,
                           b: xd.map { UnsafePointer($0.p) } ?? x, ldb: m.inFeatures, beta: 1, c: dA.baseAddress!,
                           ldc: m.inFeatures, pool: pool)
            }
            a.tensors.values[m.a].withUnsafeBufferPointer { A in   // dx += (du·A) ⊙ mask / (1-p)
                if let xd {
                    let t = FloatBuffer(n * m.inFeatures, zeroed: false)
                    Gemm.sgemm(transA: false, transB: false, m: n, n: m.inFeatures, k: r, alpha: 1, a: du.p, lda: r,
                               b: A.baseAddress!, ldb: m.inFeatures, beta: 0, c: t.p, ldc: m.inFeatures, pool: pool)
                    let thr = UInt64(Double(a.config.dropout) * Double(1 << 24)), sc = 1 / (1 - a.config.dropout)
                    _ = xd
                    for i in 0..<(n * m.inFeatures) where keep(l, pi, i, threshold: thr) { dx[i] += t.p[i] * sc }
                } else {
                    Gemm.sgemm(transA: false, transB: false, m: n, n: m.inFeatures, k: r, alpha: 1, a: du.p, lda: r,
                               b: A.baseAddress!, ldb: m.inFeatures, beta: 1, c: dx, ldc: m.inFeatures, pool: pool)
                }
            }
        }

        // MARK: layers

        /// Runs layer l on x in place, filling acts.
        func forwardLayer(_ l: Int, x: UnsafeMutablePointer<Float>, acts: LayerActs, save: Bool) {
            let L = w.layers[l], h = c.hiddenSize, f = c.intermediateSize
            let rope = bp.model.rope
            Ops.rmsNorm(x, weight: L.inputNorm, eps: c.rmsNormEps, out: acts.xn1.p, rows: n, dim: h)
            linear(l, .q, L.q, x: acts.xn1.p, y: acts.q.p, bias: L.qBias, acts: acts)
            linear(l, .k, L.k, x: acts.xn1.p, y: acts.k.p, bias: L.kBias, acts: acts)
            linear(l, .v, L.v, x: acts.xn1.p, y: acts.v.p, bias: L.vBias, acts: acts)
            positions.withUnsafeBufferPointer { pos in
                rope.apply(acts.q.p, n: n, heads: c.numAttentionHeads, positions: pos.baseAddress!)
                rope.apply(acts.k.p, n: n, heads: c.numKeyValueHeads, positions: pos.baseAddress!)
            }
            attention(acts)
            let t = FloatBuffer(n * h, zeroed: false)
            linear(l, .o, L.o, x: acts.att.p, y: t.p, bias: nil, acts: acts)
            Ops.add(x, t.p, out: acts.x2.p, count: n * h)
            Ops.rmsNorm(acts.x2.p, weight: L.postNorm, eps: c.rmsNormEps, out: acts.xn2.p, rows: n, dim: h)
            linear(l, .gate, L.gate, x: acts.xn2.p, y: acts.gate.p, bias: nil, acts: acts)
            linear(l, .up, L.up, x: acts.xn2.p, y: acts.up.p, bias: nil, acts: acts)
            let act = FloatBuffer(n * f, zeroed: false)
            Ops.swiglu(gate: acts.gate.p, up: acts.up.p, out: act.p, count: n * f)
            linear(l, .down, L.down, x: act.p, y: t.p, bias: nil, acts: acts)
            Ops.add(acts.x2.p, t.p, out: x, count: n * h)
        }

        /// Gathers block keys/values ([prefix; own rows]) into contiguous buffers.
        func gather(_ src: UnsafePointer<Float>, block: (start: Int, count: Int, prefix: Int), width: Int) -> FloatBuffer {
            let out = FloatBuffer((block.prefix + block.count) * width, zeroed: false)
            out.p.update(from: src, count: block.prefix * width)
            (out.p + block.prefix * width).update(from: src + block.start * width, count: block.count * width)
            return out
        }

        func attention(_ acts: LayerActs) {
            let h = c.hiddenSize, kvd = c.kvDim
            for b in blocks {
                let k = gather(acts.k.p, block: b, width: kvd), v = gather(acts.v.p, block: b, width: kvd)
                TrainOps.attentionForward(q: acts.q.p + b.start * h, k: k.p, v: v.p, tq: b.count, tk: b.prefix + b.count,
                                          heads: c.numAttentionHeads, kvHeads: c.numKeyValueHeads, headDim: c.headDim,
                                          out: acts.att.p + b.start * h, pool: pool)
            }
        }

        func attentionBackward(_ acts: LayerActs, dAtt: UnsafePointer<Float>, dq: UnsafeMutablePointer<Float>,
                               dk: UnsafeMutablePointer<Float>, dv: UnsafeMutablePointer<Float>) {
            let h = c.hiddenSize, kvd = c.kvDim
            dk.update(repeating: 0, count: n * kvd)
            dv.update(repeating: 0, count: n * kvd)
            for b in blocks {
                let tk = b.prefix + b.count
                let k = gather(acts.k.p, block: b, width: kvd), v = gather(acts.v.p, block: b, width: kvd)
                let dkb = FloatBuffer(tk * kvd), dvb = FloatBuffer(tk * kvd)
                TrainOps.attentionBackward(q: acts.q.p + b.start * h, k: k.p, v: v.p, dOut: dAtt + b.start * h,
                                           tq: b.count, tk: tk, heads: c.numAttentionHeads, kvHeads: c.numKeyValueHeads,
                                           headDim: c.headDim, dq: dq + b.start * h, dk: dkb.p, dv: dvb.p, pool: pool)
                // Scatter: the first `prefix` key rows are the shared prefix rows 0..<prefix.
                for i in 0..<(b.prefix * kvd) { dk[i] += dkb.p[i]; dv[i] += dvb.p[i] }
                let o = b.start * kvd, po = b.prefix * kvd
                for i in 0..<(b.count * kvd) { dk[o + i] += dkb.p[po + i]; dv[o + i] += dvb.p[po + i] }
            }
        }

        /// Row-parallel RMSNorm backward (accumulating into dx).
        func rmsNormBackward(_ x: UnsafePointer<Float>, _ weight: UnsafePointer<Float>, dy: UnsafePointer<Float>,
                             dx: UnsafeMutablePointer<Float>) {
            let h = c.hiddenSize, eps = c.rmsNormEps
            nonisolated(unsafe) let (x, weight, dy, dx) = (x, weight, dy, dx)
            pool.parallelChunks(n, maxChunks: pool.threadCount * 2) { r in
                TrainOps.rmsNormBackward(x: x + r.lowerBound * h, weight: weight, eps: eps, dy: dy + r.lowerBound * h,
                                         dx: dx + r.lowerBound * h, rows: r.count, dim: h, accumulate: true)
            }
        }

        /// dX: gradient w.r.t. the layer output on entry, w.r.t. the layer input on return.
        func backwardLayer(_ l: Int, xIn: UnsafePointer<Float>, acts: LayerActs, dX: UnsafeMutablePointer<Float>, g: LoRATensors) {
            let L = w.layers[l], h = c.hiddenSize, f = c.intermediateSize, kvd = c.kvDim
            // MLP: out = x2 + down(silu(gate) · up)
            let act = FloatBuffer(n * f, zeroed: false)
            Ops.swiglu(gate: acts.gate.p, up: acts.up.p, out: act.p, count: n * f)
            let dAct = FloatBuffer(n * f, zeroed: false)
            linearBackward(l, .down, L.down, x: act.p, dy: dX, dx: dAct.p, accumulate: false, acts: acts, g: g)
            let dGate = FloatBuffer(n * f, zeroed: false)
            nonisolated(unsafe) let (gp, upp, dap, dgp) = (acts.gate.p, acts.up.p, dAct.p, dGate.p)
            pool.parallelChunks(n * f, align: 64, maxChunks: pool.threadCount * 2) { r in
                let o = r.lowerBound
                TrainOps.swigluBackward(gate: gp + o, up: upp + o, dOut: dap + o, dGate: dgp + o, dUp: dap + o, count: r.count)
            }
            let dXn = FloatBuffer(n * h, zeroed: false)
            linearBackward(l, .gate, L.gate, x: acts.xn2.p, dy: dGate.p, dx: dXn.p, accumulate: false, acts: acts, g: g)
            linearBackward(l, .up, L.up, x: acts.xn2.p, dy: dAct.p, dx: dXn.p, accumulate: true, acts: acts, g: g)
            rmsNormBackward(acts.x2.p, L.postNorm, dy: dXn.p, dx: dX)   // dX is now d x2
            // Attention: x2 = xIn + o(att)
            let dAtt = FloatBuffer(n * h, zeroed: false)
            linearBackward(l, .o, L.o, x: acts.att.p, dy: dX, dx: dAtt.p, accumulate: false, acts: acts, g: g)
            let dq = FloatBuffer(n * h, zeroed: false), dk = FloatBuffer(n * kvd, zeroed: false), dv = FloatBuffer(n * kvd, zeroed: false)
            attentionBackward(acts, dAtt: dAtt.p, dq: dq.p, dk: dk.p, dv: dv.p)
            positions.withUnsafeBufferPointer { pos in
                bp.model.rope.applyInverse(dq.p, n: n, heads: c.numAttentionHeads, positions: pos.baseAddress!)
                bp.model.rope.applyInverse(dk.p, n: n, heads: c.numKeyValueHeads, positions: pos.baseAddress!)
            }
            linearBackward(l, .q, L.q, x: acts.xn1.p, dy: dq.p, dx: dXn.p, accumulate: false, acts: acts, g: g)
            linearBackward(l, .k, L.k, x: acts.xn1.p, dy: dk.p, dx: dXn.p, accumulate: true, acts: acts, g: g)
            linearBackward(l, .v, L.v, x: acts.xn1.p, dy: dv.p, dx: dXn.p, accumulate: true, acts: acts, g: g)
            rmsNormBackward(xIn, L.inputNorm, dy: dXn.p, dx: dX)
        }

        /// Runs every layer; returns the last layer's output (before the final norm).
        func forwardAll(save: Bool) -> FloatBuffer {
            let h = c.hiddenSize
            let x = FloatBuffer(n * h, zeroed: false)
            batch.prefix.withUnsafeBufferPointer { x.p.update(from: $0.baseAddress!, count: $0.count) }
            var off = batch.prefix.count
            for br in batch.branches where !br.isEmpty {
                br.withUnsafeBufferPointer { (x.p + off).update(from: $0.baseAddress!, count: $0.count) }
                off += br.count
            }
            let shared = LayerActs(n: n, c: c)
            for l in 0..<c.numHiddenLayers {
                if save { let s = FloatBuffer(n * h, zeroed: false); s.p.update(from: x.p, count: n * h); inputs.append(s) }
                let a = (save && !bp.recompute) ? LayerActs(n: n, c: c) : shared
                forwardLayer(l, x: x.p, acts: a, save: save)
                if save { acts.append(a) }
            }
            return x
        }

        func backwardAll(dX: FloatBuffer, gradients: LoRATensors) {
            for l in stride(from: c.numHiddenLayers - 1, through: 0, by: -1) {
                let a = acts[l]
                if bp.recompute {
                    let x = FloatBuffer(n * c.hiddenSize, zeroed: false)
                    x.p.update(from: inputs[l].p, count: x.count)
                    forwardLayer(l, x: x.p, acts: a, save: true)
                }
                backwardLayer(l, xIn: inputs[l].p, acts: a, dX: dX.p, g: gradients)
                if !bp.recompute { acts[l] = LayerActs(n: 0, c: c); inputs[l] = FloatBuffer(0) }   // free as we go
            }
        }

        /// Final norm, output head and log-softmax over the targets in chunks; with dX, the backward of
        /// all three into dX (rows of the last layer's output).
        func head(_ x: FloatBuffer, dX: FloatBuffer?, _ tokenGrad: (Int, Float) -> Float) {
            let h = c.hiddenSize, V = c.vocabSize, targets = batch.targets
            let chunk = bp.headChunk
            let xr = FloatBuffer(chunk * h, zeroed: false), hn = FloatBuffer(chunk * h, zeroed: false)
            let logits = FloatBuffer(chunk * V, zeroed: false)
            var t0 = 0
            while t0 < targets.count {
                let m = min(chunk, targets.count - t0)
                for i in 0..<m { (xr.p + i * h).update(from: x.p + targets[t0 + i].row * h, count: h) }
                Ops.rmsNorm(xr.p, weight: w.finalNorm, eps: c.rmsNormEps, out: hn.p, rows: m, dim: h)
                // The integer head, not Linear.forwardPrecise (which inference uses to pick tokens): here the
                // log-probs feed the loss and its gradient, where Q8_0-rounded activations are far finer than
                // needed, and the f32 head cost ~7 % of a GRPO step (docs/BENCHMARKS.md, seventh session).
                Linear.forward(w.outputHead, x: hn.p, n: m, y: logits.p, bias: nil, pool: pool)
                nonisolated(unsafe) let lp = logits.p
                var values = [Float](repeating: 0, count: m)
                // Per-row softmax in parallel; the caller's gradient callback runs serially afterwards.
                let withGrad = dX != nil
                var logps = [Float](repeating: 0, count: m)
                logps.withUnsafeMutableBufferPointer { lb in
                    nonisolated(unsafe) let lb = lb
                    pool.parallelFor(m) { i in
                        lb[i] = TrainOps.logSoftmaxPick(lp + i * V, count: V, token: Int(targets[t0 + i].token), grad: nil)
                    }
                }
                for i in 0..<m { values[i] = tokenGrad(t0 + i, logps[i]) }
                if withGrad, let dX {
                    // logits rows now hold softmax; turn them into g · (onehot − p).
                    values.withUnsafeBufferPointer { vb in
                        nonisolated(unsafe) let vb = vb
                        pool.parallelFor(m) { i in
                            let row = lp + i * V, g = vb[i], ng = -g
                            for j in 0..<V { row[j] *= ng }
                            row[Int(targets[t0 + i].token)] += g
                        }
                    }
                    Linear.backwardInput(w.outputHead, dy: logits.p, n: m, dx: hn.p, accumulate: false, pool: pool)
                    TrainOps.rmsNormBackward(x: xr.p, weight: w.finalNorm, eps: c.rmsNormEps, dy: hn.p, dx: xr.p,
                                             rows: m, dim: h, accumulate: false)
                    for i in 0..<m {
                        let d = dX.p + targets[t0 + i].row * h, s = xr.p + i * h
                        for j in 0..<h { d[j] += s[j] }
                    }
                }
                t0 += m
            }
        }
    }
}
