// WeightSource: where a model's tensors come from (a .sentio file, or tensors built in memory by a
// converter or a test). Models ask by schema name and check shapes against their schema.
import Foundation
import SentioCore
import SentioKernels

public struct LoadedTensor: @unchecked Sendable {
    public let dtype: DType
    public let shape: [Int]
    /// Stored bytes (blocks for quantized types); valid while the source lives.
    public let bytes: UnsafeRawBufferPointer
    public init(dtype: DType, shape: [Int], bytes: UnsafeRawBufferPointer) {
        self.dtype = dtype; self.shape = shape; self.bytes = bytes
    }
    public var elementCount: Int { shape.reduce(1, *) }
}

public protocol WeightSource: AnyObject, Sendable {
    /// A name for error messages (usually the file path).
    var sourceName: String { get }
    func has(_ name: String) -> Bool
    func tensor(_ name: String) throws -> LoadedTensor
}

extension WeightSource {
    /// A tensor checked against its schema entry (shape must match exactly).
    public func tensor(_ spec: TensorSpec) throws -> LoadedTensor {
        guard has(spec.name) else { throw SentioError(.model, file: sourceName, "missing tensor '\(spec.name)'") }
        let t = try tensor(spec.name)
        guard t.shape == spec.shape else {
            throw SentioError(.model, file: sourceName, "tensor '\(spec.name)' has shape \(t.shape), expected \(spec.shape)")
        }
        return t
    }

    /// A weight matrix [rows, cols] in its stored dtype (no copy), checked against the schema and against what
    /// Linear.forward can run: a float or block-quantized dtype, whole blocks per row, enough bytes; every
    /// failure is an error naming the file and the tensor. `flattenTrailing` views [rows, a, b, ...] as
    /// [rows, a*b*...] (conv kernels: [Cout, Cin, K...] -> [Cout, Cin*K...]).
    public func matrix(_ spec: TensorSpec, flattenTrailing: Bool = false) throws -> WeightMatrix {
        let t = try tensor(spec)
        guard t.shape.count == 2 || (flattenTrailing && t.shape.count >= 2) else {
            throw SentioError(.model, file: sourceName, "tensor '\(spec.name)' has rank \(t.shape.count), expected a matrix")
        }
        let rows = t.shape[0], cols = t.shape.dropFirst().reduce(1, *)
        guard t.dtype.isFloat else {
            throw SentioError(.model, file: sourceName, "tensor '\(spec.name)' is \(t.dtype), not a float or block-quantized matrix")
        }
        guard cols % t.dtype.blockSize == 0 else {
            throw SentioError(.model, file: sourceName, "tensor '\(spec.name)': \(cols) columns are not a multiple of \(t.dtype)'s block of \(t.dtype.blockSize)")
        }
        guard let need = t.dtype.byteCount(elements: rows * cols), need <= t.bytes.count, let base = t.bytes.baseAddress else {
            throw SentioError(.model, file: sourceName, "tensor '\(spec.name)': \(t.bytes.count) bytes do not hold \(t.shape) of \(t.dtype)")
        }
        return WeightMatrix(dtype: t.dtype, rows: rows, cols: cols, data: base)
    }

    /// Any float tensor as f32 values (norm scales, biases, small tables).
    public func floats(_ spec: TensorSpec) throws -> [Float] {
        try dequantize(try tensor(spec), name: spec.name)
    }

    public func floats(_ name: String) throws -> [Float] {
        try dequantize(try tensor(name), name: name)
    }

    func dequantize(_ t: LoadedTensor, name: String) throws -> [Float] {
        let n = t.elementCount
        guard let need = t.dtype.byteCount(elements: n), need <= t.bytes.count else {
            throw SentioError(.model, file: sourceName, "tensor '\(name)': \(t.bytes.count) bytes do not hold \(t.shape) of \(t.dtype)")
        }
        var out = [Float](repeating: 0, count: n)
        out.withUnsafeMutableBufferPointer { dst in dequantizeRow(t.dtype, t.bytes, into: dst) }
        return out
    }
}

/// Converts stored values of any float dtype to f32 (scalar reference; used at load time only).
public func dequantizeRow(_ dtype: DType, _ src: UnsafeRawBufferPointer, into dst: UnsafeMutableBufferPointer<Float>) {
    let n = dst.count
    switch dtype {
    case .f32: for i in 0..<n { dst[i] = src.loadUnaligned(fromByteOffset: 4 * i, as: Float.self) }
    case .f16: for i in 0..<n { dst[i] = f16ToFloat(src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)) }
    case .bf16: for i in 0..<n { dst[i] = bf16ToFloat(src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)) }
    case .q8, .q8r: BlockQ8_0.dequantizeRef(src, into: dst)
    case .q4: BlockQ4_0.dequantizeRef(src, into: dst)
    case .q4_1: BlockQ4_1.dequantizeRef(src, into: dst)
    case .q5: BlockQ5_0.dequantizeRef(src, into: dst)
    case .i32: for i in 0..<n { dst[i] = Float(src.loadUnaligned(fromByteOffset: 4 * i, as: Int32.self)) }
    case .i64: for i in 0..<n { dst[i] = Float(src.loadUnaligned(fromByteOffset: 8 * i, as: Int64.self)) }
    case .u8: for i in 0..<n { dst[i] = Float(src.load(fromByteOffset: i, as: UInt8.self)) }
    }
}

/// Tensors held in 64-byte aligned memory: built by converters (e.g. a GGUF converted in memory) and tests.
public final class InMemoryWeights: WeightSource, @unchecked Sendable {
    public let sourceName: String
    private var store: [String: (dtype: DType, shape: [Int], buffer: UnsafeMutableRawBufferPointer)] = [:]
    private let lock = NSLock()
    /// Every tensor's bytes: huge-page slabs, so decode's weight streams need few page translations
    /// (SentioCore/HugePages.swift). A replaced tensor's old bytes stay until the source goes.
    private let arena = HugePageArena()

    public init(name: String) { sourceName = name }

    public func has(_ name: String) -> Bool { lock.withLock { store[name] != nil } }

    public var names: [String] { lock.withLock { Array(store.keys) } }

    public func tensor(_ name: String) throws -> LoadedTensor {
        guard let e = lock.withLock({ store[name] }) else { throw SentioError(.model, file: sourceName, "missing tensor '\(name)'") }
        return LoadedTensor(dtype: e.dtype, shape: e.shape, bytes: UnsafeRawBufferPointer(e.buffer))
    }

    /// Stores a copy of `bytes` (already in `dtype`'s layout).
    public func add(_ name: String, dtype: DType, shape: [Int], bytes: UnsafeRawBufferPointer) {
        let buf = arena.allocate(byteCount: bytes.count)
        if let b = bytes.baseAddress, bytes.count > 0 { buf.baseAddress!.copyMemory(from: b, byteCount: bytes.count) }
        lock.withLock { store[name] = (dtype, shape, buf) }
    }

    /// Stores f32 values converted to `dtype` (quantized with the scalar reference quantizers).
    public func add(_ name: String, floats: [Float], shape: [Int], as dtype: DType = .f32) {
        let bytes = encodeFloats(floats, as: dtype, rowLength: QuantPolicy.rowLength(shape))
        bytes.withUnsafeBytes { add(name, dtype: dtype, shape: shape, bytes: $0) }
    }
}

/// f32 values encoded in `dtype` (round to nearest even for halves, reference quantizers for q4 / q4_1
/// blocks, the least-squares weight quantizer BlockQ8_0.quantizeWeights for q8). `importance` (one value per
/// column of a row; see ImportanceMatrix) weights the 4-bit quantizers' error; other types ignore it.
/// q8r shares one scale per row of `rowLength` values (BlockQ8_0.quantizeRowShared; rowLength required).
/// Block types run on the shared thread pool in chunks of whole rows (blocks are independent, so the bytes
/// are the same as one serial pass).
public func encodeFloats(_ x: [Float], as dtype: DType, importance: [Float]? = nil, rowLength: Int? = nil,
                         pool: ThreadPool = .shared) -> [UInt8] {
    let n = x.count
    var out = [UInt8](repeating: 0, count: dtype.byteCount(elements: n) ?? 0)
    out.withUnsafeMutableBytes { dst in
        x.withUnsafeBufferPointer { src in
            switch dtype {
            case .q8r:
                let len = rowLength ?? 0
                precondition(len > 0 && len % 32 == 0 && n % len == 0, "encodeFloats: q8r needs a row length (multiple of 32) dividing the count")
                let rowBytes = len / 32 * BlockQ8_0.byteSize
                pool.parallelChunks(n / len, maxChunks: max(1, n / 16384)) { rows in
                    for r in rows {
                        BlockQ8_0.quantizeRowShared(UnsafeBufferPointer(rebasing: src[(r * len)..<((r + 1) * len)]),
                                                    into: UnsafeMutableRawBufferPointer(rebasing: dst[(r * rowBytes)..<((r + 1) * rowBytes)]))
                    }
                }
            case .q8, .q4, .q4_1, .q5:
                let bs = dtype.blockSize, bytes = dtype.byteCount(elements: bs)!
                let align = importance?.count ?? bs
                // ~16k values per task (milliseconds of search): dispatch cost vanishes, tasks balance
                pool.parallelChunks(n, align: align, maxChunks: max(1, n / 16384)) { r in
                    let s = UnsafeBufferPointer(rebasing: src[r])
                    let d = UnsafeMutableRawBufferPointer(rebasing: dst[(r.lowerBound / bs * bytes)..<(r.upperBound / bs * bytes)])
                    switch dtype {
                    case .q8: BlockQ8_0.quantizeWeights(s, into: d)
                    case .q5:
                        if let importance { importance.withUnsafeBufferPointer { BlockQ5_0.quantizeWeights(s, into: d, importance: $0) } }
                        else { BlockQ5_0.quantizeWeights(s, into: d) }
                    case .q4:
                        if let importance { importance.withUnsafeBufferPointer { BlockQ4_0.quantizeWeighted(s, into: d, importance: $0) } }
                        else { BlockQ4_0.quantizeRef(s, into: d) }
                    default:
                        if let importance { importance.withUnsafeBufferPointer { BlockQ4_1.quantizeRef(s, into: d, importance: $0) } }
                        else { BlockQ4_1.quantizeRef(s, into: d) }
                    }
                }
            case .f32: for i in 0..<n { dst.storeBytes(of: src[i], toByteOffset: 4 * i, as: Float.self) }
            case .f16: for i in 0..<n { dst.storeBytes(of: floatToF16(src[i]), toByteOffset: 2 * i, as: UInt16.self) }
            case .bf16: for i in 0..<n { dst.storeBytes(of: floatToBF16(src[i]), toByteOffset: 2 * i, as: UInt16.self) }
            case .i32: for i in 0..<n { dst.storeBytes(of: Int32(src[i]), toByteOffset: 4 * i, as: Int32.self) }
            case .i64: for i in 0..<n { dst.storeBytes(of: Int64(src[i]), toByteOffset: 8 * i, as: Int64.self) }
            case .u8: for i in 0..<n { dst[i] = UInt8(src[i]) }
            }
        }
    }
    return out
}
