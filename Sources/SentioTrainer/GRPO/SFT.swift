// SFT (the paper's cold start): token-mean cross-entropy on the assistant tokens, on the same
// forward / backward as GRPO.
import Foundation
import SentioCore
import SentioModels

/// One supervised example: the prompt rows and the assistant tokens to learn.
public struct SFTExample: Sendable {
    /// [P, hidden] prompt rows (token embeddings or spliced omni rows); P >= 1.
    public var prompt: [Float]
    /// Target tokens (e.g. "<think>..</think><answer>..</answer><|im_end|>").
    public var target: [Int32]
    public init(prompt: [Float], target: [Int32]) { self.prompt = prompt; self.target = target }
}

public enum SFT {
    /// The example as one sequence: rows = prompt + embed(target[0 ..< n−1]); target j is predicted by
    /// row P − 1 + j.
    public static func batch(_ e: SFTExample, model: Qwen2Model) throws -> TrainBatch {
        let h = model.config.hiddenSize
        guard e.prompt.count % h == 0, e.prompt.count >= h, !e.target.isEmpty else {
            throw SentioError(.argument, "an SFT example needs at least one prompt row and one target token")
        }
        let p = e.prompt.count / h
        let inputs = Array(e.target.dropLast())
        var rows = [Float](repeating: 0, count: inputs.count * h)
        if !inputs.isEmpty { try rows.withUnsafeMutableBufferPointer { try model.embed(inputs, into: $0.baseAddress!) } }
        return TrainBatch(hidden: h, prefix: e.prompt + rows,
                          targets: e.target.enumerated().map { LogProbTarget(row: p - 1 + $0.offset, token: $0.element) })
    }

    /// Loss = −(1/N) Σ log p(target token) over all N target tokens of the examples; adds its gradient
    /// into `gradients`. Returns (loss, N).
    @discardableResult
    public static func step(_ examples: [SFTExample], backprop: Qwen2Backprop, adapter: LoRAAdapter,
                            gradients: LoRATensors, dropoutSeed: UInt64 = 0) throws -> (loss: Float, tokens: Int) {
        let n = examples.reduce(0) { $0 + $1.target.count }
        guard n > 0 else { throw SentioError(.argument, "no SFT target tokens") }
        var loss: Double = 0
        for (i, e) in examples.enumerated() {
            try backprop.backward(try batch(e, model: backprop.model), adapter: adapter, gradients: gradients,
                                  dropoutSeed: dropoutSeed &+ UInt64(i)) { _, logp in
                loss -= Double(logp) / Double(n)
                return -1 / Float(n)
            }
        }
        return (Float(loss), n)
    }

    /// The same loss without gradients (evaluation).
    public static func loss(_ examples: [SFTExample], backprop: Qwen2Backprop, adapter: LoRAAdapter?) throws -> Float {
        let n = examples.reduce(0) { $0 + $1.target.count }
        var loss: Double = 0
        for e in examples {
            for lp in try backprop.logProbs(try batch(e, model: backprop.model), adapter: adapter) { loss -= Double(lp) / Double(n) }
        }
        return Float(loss)
    }
}
