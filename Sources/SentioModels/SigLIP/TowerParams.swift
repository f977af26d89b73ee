// TowerParams: small shared pieces of the encoder towers (SigLIP, BERT, the vision projector):
// a Linear layer (weight view + optional f32 bias), a norm (f32 scale + shift), and a loader that looks
// tensors up by schema name, checks their shapes, keeps f32 copies of small vectors alive and views
// convolution kernels [O, C, k...] as Linear matrices [O, C*k...] (their flattening is PyTorch's im2col order).
import Foundation
import SentioCore
import SentioKernels

/// y[n, out] = x[n, in] · Wᵀ + b
public struct LinearParams: @unchecked Sendable {
    public let weight: WeightMatrix
    public let bias: UnsafePointer<Float>?
    public var inFeatures: Int { weight.cols }
    public var outFeatures: Int { weight.rows }

    public func callAsFunction(_ x: UnsafePointer<Float>, n: Int, _ y: UnsafeMutablePointer<Float>, pool: ThreadPool) {
        Linear.forward(weight, x: x, n: n, y: y, bias: bias, pool: pool)
    }
}

/// LayerNorm scale and shift over the last dimension.
public struct NormParams: @unchecked Sendable {
    public let weight: UnsafePointer<Float>
    public let bias: UnsafePointer<Float>
    public let eps: Float
    public let dim: Int

    public func callAsFunction(_ x: UnsafePointer<Float>, rows: Int, _ out: UnsafeMutablePointer<Float>) {
        Ops.layerNorm(x, weight: weight, bias: bias, eps: eps, out: out, rows: rows, dim: dim)
    }
}

/// Owns the f32 copies of small tensors and keeps the weight source alive.
final class TowerStore: @unchecked Sendable {
    let source: WeightSource
    private var specs: [String: TensorSpec]
    private var buffers: [UnsafeMutablePointer<Float>] = []

    init(source: WeightSource, specs: [TensorSpec]) {
        self.source = source
        self.specs = Dictionary(specs.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
    }

    deinit { for b in buffers { b.deallocate() } }

    func spec(_ name: String) throws -> TensorSpec {
        guard let s = specs[name] else { throw SentioError(.model, file: source.sourceName, "tensor '\(name)' is not in the schema") }
        return s
    }

    /// Any float tensor as an owned f32 buffer (lives as long as this store).
    func vector(_ name: String) throws -> UnsafePointer<Float> {
        let x = try source.floats(try spec(name))
        let p = UnsafeMutablePointer<Float>.allocate(capacity: max(x.count, 1))
        p.update(from: x, count: x.count)
        buffers.append(p)
        return UnsafePointer(p)
    }

    /// A matrix [rows, cols], or a convolution kernel [O, C, k...] viewed as [O, C*k...] (no copy), checked
    /// (WeightSource.matrix).
    func matrix(_ name: String) throws -> WeightMatrix {
        try source.matrix(try spec(name), flattenTrailing: true)
    }

    func linear(_ prefix: String, bias: Bool = true) throws -> LinearParams {
        LinearParams(weight: try matrix(prefix + "weight"), bias: bias ? try vector(prefix + "bias") : nil)
    }

    func norm(_ prefix: String, eps: Float) throws -> NormParams {
        let s = try spec(prefix + "weight")
        return NormParams(weight: try vector(prefix + "weight"), bias: try vector(prefix + "bias"), eps: eps, dim: s.shape[0])
    }
}

/// An f32 activation buffer (64-byte aligned, zeroed), freed with its owner.
final class TowerBuffer {
    let ptr: UnsafeMutablePointer<Float>
    let count: Int
    init(_ count: Int) {
        self.count = count
        ptr = UnsafeMutableRawPointer.allocate(byteCount: max(count, 1) * 4, alignment: 64).bindMemory(to: Float.self, capacity: max(count, 1))
        ptr.initialize(repeating: 0, count: max(count, 1))
    }
    deinit { ptr.deallocate() }
    var array: [Float] { Array(UnsafeBufferPointer(start: ptr, count: count)) }
}
