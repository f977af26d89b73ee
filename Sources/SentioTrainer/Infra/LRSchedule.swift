// Learning-rate schedules with linear warmup, as transformers' get_scheduler defines them.
// The optimizer step with 0-based index s uses lr = baseLR * multiplier(s) (LambdaLR semantics:
// with warmup the first step's lr is 0).
import Foundation
import SentioCore

public struct LRSchedule: Codable, Equatable, Sendable {
    public enum Kind: String, Codable, Sendable, CaseIterable {
        case constant
        case constantWithWarmup = "constant_with_warmup"
        case linear, cosine
    }
    public var kind: Kind
    public var warmupSteps: Int
    public var totalSteps: Int

    public init(_ kind: Kind, warmupSteps: Int = 0, totalSteps: Int) {
        self.kind = kind
        self.warmupSteps = warmupSteps
        self.totalSteps = totalSteps
    }

    public func multiplier(step s: Int) -> Double {
        if kind == .constant { return 1 }
        if s < warmupSteps { return Double(s) / Double(max(1, warmupSteps)) }
        switch kind {
        case .constant, .constantWithWarmup:
            return 1
        case .linear:
            return max(0, Double(totalSteps - s) / Double(max(1, totalSteps - warmupSteps)))
        case .cosine:
            // num_cycles = 0.5: half a cosine from 1 down to 0 over the steps after warmup.
            let progress = Double(s - warmupSteps) / Double(max(1, totalSteps - warmupSteps))
            return max(0, 0.5 * (1 + cos(Double.pi * 2 * 0.5 * progress)))
        }
    }
}
