// Entry points for the command line: apply an adapter at inference (`recognize` / `generate --lora DIR`:
// `try PEFTFormat.apply(dir, to: omni.llm)` or `to: languageModel.model`), describe one (`lora inspect`).
import Foundation
import SentioCore
import SentioModels

extension PEFTFormat {
    /// Loads the adapter folder and sets it as `model`'s linear hook (no merge; the base weights are untouched).
    @discardableResult
    public static func apply(_ dir: URL, to model: Qwen2Model) throws -> LoRAAdapter {
        let a = try load(dir, model: model.config)
        model.linearHook = a
        return a
    }
}

extension LoRAAdapter {
    /// A human-readable description: configuration, parameter count and per-module norms of A and B.
    public var summary: String {
        var lines = ["LoRA r=\(config.r) alpha=\(config.alpha) scale=\(scale) dropout=\(config.dropout) rslora=\(config.useRSLoRA)",
                     "targets: \(config.targets)", "modules: \(modules.count), parameters: \(tensors.scalarCount)"]
        for m in modules {
            func norm(_ i: Int) -> Double { tensors.values[i].reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot() }
            lines.append(String(format: "  %@ [%d x %d]  |A| %.4g  |B| %.4g", m.path, m.outFeatures, m.inFeatures, norm(m.a), norm(m.b)))
        }
        return lines.joined(separator: "\n")
    }
}

extension GRPOGroup {
    /// A group whose prompt is plain token ids (text-only prompts), embedded with `model`'s table.
    public init(promptIDs: [Int32], model: Qwen2Model, completions: [[Int32]], rewards: [Float]) throws {
        var rows = [Float](repeating: 0, count: promptIDs.count * model.config.hiddenSize)
        try rows.withUnsafeMutableBufferPointer { try model.embed(promptIDs, into: $0.baseAddress!) }
        self.init(prompt: rows, completions: completions, rewards: rewards)
    }
}

extension SFTExample {
    /// An example whose prompt is plain token ids.
    public init(promptIDs: [Int32], target: [Int32], model: Qwen2Model) throws {
        var rows = [Float](repeating: 0, count: promptIDs.count * model.config.hiddenSize)
        try rows.withUnsafeMutableBufferPointer { try model.embed(promptIDs, into: $0.baseAddress!) }
        self.init(prompt: rows, target: target)
    }
}
