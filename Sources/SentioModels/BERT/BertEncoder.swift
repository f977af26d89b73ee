// BertEncoder: a BERT encoder over one sequence, and R1-Omni's instruction gate on its [CLS] vector.
// Follows transformers' models/bert/modeling_bert.py (BertEmbeddings, BertLayer: post-LayerNorm) as
// HumanOmni uses it: last_hidden_state[:, 0] (no pooler), token_type_ids all 0, no padding.
//
//   ids [n] -> word[ids] + position[0..<n] + token_type[0] -> LayerNorm          x [n, C]
//   per layer: x = LN(x + dense(MHA(x)))       (q/k/v/dense with bias, scale 1/sqrt(head_dim))
//              x = LN(x + out(gelu(inter(x))))  (GELU erf)
//   cls = x[0]
import Foundation
import SentioCore
import SentioKernels

public final class BertEncoder: @unchecked Sendable {
    public struct Layer: @unchecked Sendable {
        public let q, k, v, attnOut, intermediate, output: LinearParams
        public let attnNorm, outputNorm: NormParams
    }

    public let config: BertConfig
    public let wordEmbeddings: WeightMatrix          // [vocab, C], any dtype
    public let positionEmbeddings: UnsafePointer<Float>   // [maxPositions, C]
    public let tokenTypeEmbeddings: UnsafePointer<Float>  // [typeVocab, C]
    public let embeddingNorm: NormParams
    public let layers: [Layer]
    private let store: TowerStore

    public init(config: BertConfig, source: WeightSource, prefix: String = BertSchema.humanOmniPrefix) throws {
        try config.validate(source: source.sourceName)
        self.config = config
        let s = TowerStore(source: source, specs: BertSchema.tensors(config, prefix: prefix))
        store = s
        let eps = config.layerNormEps
        wordEmbeddings = try s.matrix(BertSchema.wordEmbeddings(prefix))
        positionEmbeddings = try s.vector(BertSchema.positionEmbeddings(prefix))
        tokenTypeEmbeddings = try s.vector(BertSchema.tokenTypeEmbeddings(prefix))
        embeddingNorm = try s.norm(BertSchema.embeddingNorm(prefix), eps: eps)
        layers = try (0..<config.numHiddenLayers).map { i in
            let l = BertSchema.layer(prefix, i)
            return Layer(q: try s.linear(l + "attention.self.query."), k: try s.linear(l + "attention.self.key."),
                         v: try s.linear(l + "attention.self.value."), attnOut: try s.linear(l + "attention.output.dense."),
                         intermediate: try s.linear(l + "intermediate.dense."), output: try s.linear(l + "output.dense."),
                         attnNorm: try s.norm(l + "attention.output.LayerNorm.", eps: eps),
                         outputNorm: try s.norm(l + "output.LayerNorm.", eps: eps))
        }
    }

    /// last_hidden_state [ids.count, hidden].
    public func forward(ids: [Int32], pool: ThreadPool = .shared) throws -> [Float] {
        let c = config, h = c.hiddenSize, n = ids.count
        guard n > 0 else { throw SentioError(.argument, "BERT: empty input") }
        guard n <= c.maxPositionEmbeddings else {
            throw SentioError(.argument, "BERT: \(n) tokens exceed max_position_embeddings \(c.maxPositionEmbeddings)")
        }
        for id in ids where id < 0 || Int(id) >= wordEmbeddings.rows {
            throw SentioError(.argument, "BERT: token id \(id) is outside the vocabulary (\(wordEmbeddings.rows))")
        }
        let x = TowerBuffer(n * h), t = TowerBuffer(n * h)
        Ops.embeddingLookup(wordEmbeddings, ids: ids, out: t.ptr)
        for r in 0..<n {
            let row = t.ptr + r * h, pos = positionEmbeddings + r * h
            for i in 0..<h { row[i] = row[i] + pos[i] + tokenTypeEmbeddings[i] }
        }
        embeddingNorm(t.ptr, rows: n, x.ptr)
        let q = TowerBuffer(n * h), k = TowerBuffer(n * h), v = TowerBuffer(n * h), att = TowerBuffer(n * h)
        let mid = TowerBuffer(n * c.intermediateSize)
        for L in layers {
            Linear.forwardMany([(L.q.weight, q.ptr, L.q.bias), (L.k.weight, k.ptr, L.k.bias), (L.v.weight, v.ptr, L.v.bias)],
                               x: x.ptr, n: n, pool: pool)
            Attention.full(q: q.ptr, k: k.ptr, v: v.ptr, n: n, heads: c.numAttentionHeads, headDim: c.headDim, out: att.ptr,
                           precision: .matching(L.q.weight), pool: pool)
            L.attnOut(att.ptr, n: n, t.ptr, pool: pool)
            Ops.add(t.ptr, x.ptr, out: t.ptr, count: n * h)
            L.attnNorm(t.ptr, rows: n, x.ptr)
            L.intermediate(x.ptr, n: n, mid.ptr, pool: pool)
            Ops.gelu(mid.ptr, count: n * c.intermediateSize)
            L.output(mid.ptr, n: n, t.ptr, pool: pool)
            Ops.add(t.ptr, x.ptr, out: t.ptr, count: n * h)
            L.outputNorm(t.ptr, rows: n, x.ptr)
        }
        return x.array
    }

    /// The [CLS] vector last_hidden_state[0] [hidden] (what R1-Omni's gate reads; the pooler is unused).
    public func cls(ids: [Int32], pool: ThreadPool = .shared) throws -> [Float] {
        Array(try forward(ids: ids, pool: pool).prefix(config.hiddenSize))
    }
}

/// R1-Omni's `bert_gate`: the mixing weights p = softmax(Linear(GELU(Linear(cls)))) of the vision projector's
/// branches (p0 video, p1 body, p2 face).
public final class BertGate: @unchecked Sendable {
    public let hidden, output: LinearParams
    private let store: TowerStore

    public init(bertHidden: Int, source: WeightSource, prefix: String = BertGateSchema.humanOmniPrefix,
                width: Int = BertGateSchema.referenceWidth) throws {
        let s = TowerStore(source: source, specs: BertGateSchema.tensors(bertHidden: bertHidden, width: width, prefix: prefix))
        store = s
        hidden = try s.linear(prefix + "0.")
        output = try s.linear(prefix + "2.")
    }

    /// Gate logits [branches] and probabilities [branches] for a [CLS] vector.
    public func callAsFunction(cls: [Float], pool: ThreadPool = .shared) throws -> (logits: [Float], p: [Float]) {
        guard cls.count == hidden.inFeatures else {
            throw SentioError(.argument, "BERT gate: [CLS] has \(cls.count) values, expected \(hidden.inFeatures)")
        }
        let mid = TowerBuffer(hidden.outFeatures), out = TowerBuffer(output.outFeatures)
        cls.withUnsafeBufferPointer { hidden($0.baseAddress!, n: 1, mid.ptr, pool: pool) }
        Ops.gelu(mid.ptr, count: mid.count)
        output(mid.ptr, n: 1, out.ptr, pool: pool)
        let logits = out.array
        Ops.softmax(out.ptr, count: out.count)
        return (logits, out.array)
    }
}
