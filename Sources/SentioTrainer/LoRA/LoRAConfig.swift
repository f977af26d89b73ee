// LoRAConfig: which Qwen2 projections get a low-rank adapter and how it is scaled, in the terms of
// PEFT's LoraConfig (adapter_config.json): r, lora_alpha, lora_dropout, target_modules, use_rslora.
//
// target_modules follows PEFT's matching rule: a string is a regular expression that must match the
// whole module path ("model.layers.3.self_attn.q_proj"); a list matches a module whose path equals an
// entry or ends with "." + entry ("q_proj" matches every layer's q projection).
import Foundation
import SentioCore
import SentioModels

public enum LoRATargets: Sendable, Equatable {
    case names([String])
    case regex(String)

    /// All seven decoder projections (q, k, v, o, gate, up, down).
    public static let allLinear = LoRATargets.names(Qwen2Schema.Proj.allCases.map { String($0.rawValue.split(separator: ".").last!) })

    /// Whether the module at `path` is a target.
    public func matches(_ path: String) throws -> Bool {
        switch self {
        case .names(let names):
            return names.contains { path == $0 || path.hasSuffix("." + $0) }
        case .regex(let pattern):
            let re: NSRegularExpression
            do { re = try NSRegularExpression(pattern: pattern) } catch {
                throw SentioError(.argument, "target_modules regex '\(pattern)' does not compile: \(error.localizedDescription)")
            }
            let range = NSRange(path.startIndex..., in: path)
            guard let m = re.firstMatch(in: path, options: [.anchored], range: range) else { return false }
            return m.range == range
        }
    }

    /// Parses a comma-separated list ("q_proj,v_proj"); "all" selects the seven projections.
    public static func parse(_ text: String) -> LoRATargets {
        if text == "all" || text == "all-linear" { return .allLinear }
        return .names(text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty })
    }
}

public struct LoRAConfig: Sendable, Equatable {
    public var r: Int
    public var alpha: Float
    public var dropout: Float
    public var useRSLoRA: Bool
    public var targets: LoRATargets
    public var baseModel: String

    public init(r: Int = 8, alpha: Float = 16, dropout: Float = 0, useRSLoRA: Bool = false,
                targets: LoRATargets = .allLinear, baseModel: String = "") {
        self.r = r; self.alpha = alpha; self.dropout = dropout; self.useRSLoRA = useRSLoRA
        self.targets = targets; self.baseModel = baseModel
    }

    /// The factor on B·A: alpha / r, or alpha / sqrt(r) with rsLoRA.
    public var scale: Float { useRSLoRA ? alpha / Float(r).squareRoot() : alpha / Float(r) }

    public func validate(source: String) throws {
        guard r >= 1 && r <= 4096 else { throw SentioError(.argument, file: source, "LoRA rank r = \(r) is outside 1...4096") }
        guard alpha.isFinite else { throw SentioError(.argument, file: source, "lora_alpha \(alpha) is not finite") }
        guard dropout >= 0 && dropout < 1 else { throw SentioError(.argument, file: source, "lora_dropout \(dropout) is outside [0, 1)") }
    }
}
