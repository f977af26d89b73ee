// Qwen2LinearHook: an additive term on the decoder's linear projections, for adapters applied at
// inference without merging (LoRA: y += scale · (x·Aᵀ)·Bᵀ). The model calls it right after each
// base projection; the base weights are never touched.
import SentioKernels

public protocol Qwen2LinearHook: AnyObject, Sendable {
    /// y[n, out] += delta(x[n, in]) for projection `proj` of decoder layer `layer`.
    /// Called for every layer and projection; returns at once for projections without an adapter.
    func addDelta(layer: Int, proj: Qwen2Schema.Proj, x: UnsafePointer<Float>, n: Int,
                  y: UnsafeMutablePointer<Float>, pool: ThreadPool)
}
