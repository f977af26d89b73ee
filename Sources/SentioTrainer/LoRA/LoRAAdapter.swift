// LoRAAdapter: low-rank adapters on the Qwen2 decoder's projections, stored as named f32 tensors
// with PEFT's names (base_model.model.<module path>.lora_A.weight [r, in], .lora_B.weight [out, r]),
// so optimizers and checkpoints can treat it as [name: [Float]].
//
// y = x·Wᵀ + b + scale · (dropout(x)·Aᵀ)·Bᵀ; the base W stays frozen in whatever dtype it is stored.
// As a Qwen2LinearHook it applies itself at inference without merging (dropout off).
import Foundation
import SentioCore
import SentioKernels
import SentioModels

/// Named f32 tensors with shapes: the adapter's parameters, or a gradient buffer of the same layout.
public final class LoRATensors: @unchecked Sendable {
    public let names: [String]
    public let shapes: [[Int]]
    public var values: [[Float]]

    public init(names: [String], shapes: [[Int]], values: [[Float]]? = nil) {
        self.names = names
        self.shapes = shapes
        self.values = values ?? shapes.map { [Float](repeating: 0, count: $0.reduce(1, *)) }
    }

    /// A zero-filled buffer of the same names and shapes.
    public func zerosLike() -> LoRATensors { LoRATensors(names: names, shapes: shapes) }

    public func zero() { for i in values.indices { values[i].withUnsafeMutableBufferPointer { $0.update(repeating: 0) } } }

    /// Adds `other` (same layout) element-wise, one addition per element.
    public func add(_ other: LoRATensors) {
        for i in values.indices {
            other.values[i].withUnsafeBufferPointer { src in
                values[i].withUnsafeMutableBufferPointer { dst in
                    for j in 0..<min(src.count, dst.count) { dst[j] += src[j] }
                }
            }
        }
    }

    public var dictionary: [String: [Float]] {
        get { Dictionary(uniqueKeysWithValues: zip(names, values)) }
        set { for (i, n) in names.enumerated() { if let v = newValue[n], v.count == values[i].count { values[i] = v } } }
    }

    public func index(of name: String) -> Int? { names.firstIndex(of: name) }

    /// Replaces one tensor's values (e.g. after an optimizer step), checking name and size.
    public func set(_ name: String, _ v: [Float]) throws {
        guard let i = index(of: name) else { throw SentioError(.argument, "no LoRA tensor named '\(name)'") }
        guard v.count == values[i].count else {
            throw SentioError(.argument, "LoRA tensor '\(name)' has \(values[i].count) values (shape \(shapes[i])), got \(v.count)")
        }
        values[i] = v
    }

    /// Total number of scalars.
    public var scalarCount: Int { values.reduce(0) { $0 + $1.count } }
}

public final class LoRAAdapter: Qwen2LinearHook, @unchecked Sendable {
    /// One adapted projection.
    public struct Module: Sendable {
        public let layer: Int
        public let proj: Qwen2Schema.Proj
        public let inFeatures: Int
        public let outFeatures: Int
        /// Module path in the checkpoint ("model.layers.0.self_attn.q_proj").
        public let path: String
        /// Indices of lora_A / lora_B in `tensors`.
        public let a: Int
        public let b: Int
    }

    public let config: LoRAConfig
    public let modules: [Module]
    public let tensors: LoRATensors
    /// false: the base model (the GRPO reference policy). Read by the hook and the trainer.
    public var enabled = true
    private let table: [Int?]   // layer * 7 + proj index -> module index
    private let numLayers: Int

    public static let projOrder = Qwen2Schema.Proj.allCases

    public static func tensorName(path: String, _ ab: String) -> String { "base_model.model.\(path).lora_\(ab).weight" }

    static func projShape(_ p: Qwen2Schema.Proj, _ c: Qwen2Config) -> (out: Int, in: Int) {
        let h = c.hiddenSize, kv = c.kvDim, f = c.intermediateSize
        switch p {
        case .q, .o: return (h, h)
        case .k, .v: return (kv, h)
        case .gate, .up: return (f, h)
        case .down: return (h, f)
        }
    }

    /// A fresh adapter: A Kaiming-uniform (U(-1/sqrt(in), 1/sqrt(in)), PEFT's bound), B zero, from `seed`.
    public convenience init(config: LoRAConfig, model: Qwen2Config, seed: UInt64) throws {
        try self.init(config: config, model: model, values: nil)
        var rng = SplitMix64(seed: seed)
        for m in modules {
            let bound = 1 / Float(m.inFeatures).squareRoot()
            for j in tensors.values[m.a].indices { tensors.values[m.a][j] = (rng.unit() * 2 - 1) * bound }
        }
    }

    /// Builds the module list for `model`; `values` (by tensor name) fills the tensors, else zeros.
    public init(config: LoRAConfig, model c: Qwen2Config, values: [String: [Float]]?, source: String = "LoRA adapter") throws {
        try config.validate(source: source)
        self.config = config
        numLayers = c.numHiddenLayers
        var mods: [Module] = [], names: [String] = [], shapes: [[Int]] = []
        var table = [Int?](repeating: nil, count: c.numHiddenLayers * 7)
        for l in 0..<c.numHiddenLayers {
            for (pi, p) in Self.projOrder.enumerated() {
                let path = Qwen2Schema.layer(l) + p.rawValue
                guard try config.targets.matches(path) else { continue }
                let (o, i) = Self.projShape(p, c)
                table[l * 7 + pi] = mods.count
                mods.append(Module(layer: l, proj: p, inFeatures: i, outFeatures: o, path: path,
                                   a: names.count, b: names.count + 1))
                names += [Self.tensorName(path: path, "A"), Self.tensorName(path: path, "B")]
                shapes += [[config.r, i], [o, config.r]]
            }
        }
        guard !mods.isEmpty else { throw SentioError(.argument, file: source, "target_modules \(config.targets) match no projection of the model") }
        modules = mods
        self.table = table
        tensors = LoRATensors(names: names, shapes: shapes)
        if let values {
            for (i, n) in names.enumerated() {
                guard let v = values[n] else { throw SentioError(.format, file: source, "missing tensor '\(n)'") }
                guard v.count == tensors.values[i].count else {
                    throw SentioError(.format, file: source, "tensor '\(n)' has \(v.count) values, expected shape \(shapes[i])")
                }
                tensors.values[i] = v
            }
        }
    }

    public var scale: Float { config.scale }

    /// The module on (layer, proj), if adapted.
    public func module(layer: Int, proj: Qwen2Schema.Proj) -> Module? {
        guard layer >= 0 && layer < numLayers, let pi = Self.projOrder.firstIndex(of: proj),
              let m = table[layer * 7 + pi] else { return nil }
        return modules[m]
    }

    /// Parameters as [PEFT name: values] (for optimizers and checkpoints).
    public var parameters: [String: [Float]] {
        get { tensors.dictionary }
        set { tensors.dictionary = newValue }
    }

    /// A gradient buffer with the adapter's names and shapes, zero-filled.
    public func makeGradients() -> LoRATensors { tensors.zerosLike() }

    // MARK: inference hook

    public func addDelta(layer: Int, proj: Qwen2Schema.Proj, x: UnsafePointer<Float>, n: Int,
                         y: UnsafeMutablePointer<Float>, pool: ThreadPool) {
        guard enabled, n > 0, let m = module(layer: layer, proj: proj) else { return }
        let r = config.r
        let u = UnsafeMutablePointer<Float>.allocate(capacity: n * r)
        defer { u.deallocate() }
        tensors.values[m.a].withUnsafeBufferPointer { a in
            Gemm.sgemm(transA: false, transB: true, m: n, n: r, k: m.inFeatures, alpha: 1, a: x, lda: m.inFeatures,
                       b: a.baseAddress!, ldb: m.inFeatures, beta: 0, c: u, ldc: r, pool: pool)
        }
        tensors.values[m.b].withUnsafeBufferPointer { b in
            Gemm.sgemm(transA: false, transB: true, m: n, n: m.outFeatures, k: r, alpha: scale, a: u, lda: r,
                       b: b.baseAddress!, ldb: r, beta: 1, c: y, ldc: m.outFeatures, pool: pool)
        }
    }

    /// scale · B·A [out, in] for one module (row-major), the term merging adds to W.
    public func delta(_ m: Module) -> [Float] {
        var d = [Float](repeating: 0, count: m.outFeatures * m.inFeatures)
        let r = config.r
        tensors.values[m.b].withUnsafeBufferPointer { b in
            tensors.values[m.a].withUnsafeBufferPointer { a in
                d.withUnsafeMutableBufferPointer { out in
                    Gemm.sgemm(transA: false, transB: false, m: m.outFeatures, n: m.inFeatures, k: r, alpha: scale,
                               a: b.baseAddress!, lda: r, b: a.baseAddress!, ldb: m.inFeatures, beta: 0,
                               c: out.baseAddress!, ldc: m.inFeatures)
                }
            }
        }
        return d
    }
}

/// SplitMix64: the trainer's small deterministic generator (initialization, dropout masks).
public struct SplitMix64: Sendable {
    public var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E3779B97F4A7C15
        return SplitMix64.mix(state)
    }
    /// Uniform in [0, 1) with 24 bits.
    public mutating func unit() -> Float { Float(next() >> 40) / Float(1 << 24) }
    @inline(__always) public static func mix(_ x: UInt64) -> UInt64 {
        var z = x
        z = (z ^ (z >> 30)) &* 0xBF58476D1CE4E5B9
        z = (z ^ (z >> 27)) &* 0x94D049BB133111EB
        return z ^ (z >> 31)
    }
}
