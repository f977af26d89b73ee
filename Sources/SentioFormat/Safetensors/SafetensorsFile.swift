// Reader for the safetensors format (https://github.com/huggingface/safetensors):
//   8 bytes little-endian header length N | N bytes of JSON | data
// The JSON maps tensor names to {"dtype", "shape", "data_offsets": [begin, end]} (offsets relative to
// the data section) plus an optional "__metadata__" string map.
import Foundation
import SentioCore

public enum SafetensorsDType: String, Sendable {
    case f64 = "F64", f32 = "F32", f16 = "F16", bf16 = "BF16"
    case i64 = "I64", i32 = "I32", i16 = "I16", i8 = "I8", u8 = "U8", bool = "BOOL"

    public var byteSize: Int {
        switch self {
        case .f64, .i64: return 8
        case .f32, .i32: return 4
        case .f16, .bf16, .i16: return 2
        case .i8, .u8, .bool: return 1
        }
    }
}

public struct SafetensorsTensor: Sendable {
    public let name: String
    public let dtype: SafetensorsDType
    public let shape: [Int]
    public let begin: Int   // absolute file offset
    public let count: Int   // bytes
    public var elementCount: Int { shape.reduce(1, *) }
}

public final class SafetensorsFile: @unchecked Sendable {
    public let url: URL
    public let metadata: [String: String]
    public let tensors: [String: SafetensorsTensor]
    /// Tensor names in file order (by offset).
    public let names: [String]
    let map: MappedFile

    /// Header JSON larger than this is rejected before allocation (real headers are < 1 MB).
    public static let maxHeaderBytes = 100 << 20

    public init(_ url: URL) throws {
        self.url = url
        map = try MappedFile(url)
        let path = url.path
        guard map.size >= 8 else { throw SentioError(.corrupt, file: path, "too short for a safetensors header (\(map.size) bytes)") }
        let n64 = try map.bytes(0, 8).loadUnaligned(as: UInt64.self).littleEndian
        guard n64 <= UInt64(min(Self.maxHeaderBytes, map.size - 8)) else {
            throw SentioError(.corrupt, file: path, "header length \(n64) exceeds the file size or the \(Self.maxHeaderBytes)-byte limit")
        }
        let n = Int(n64)
        let headerBytes = try map.bytes(8, n, what: "header")
        let obj: Any
        do { obj = try JSONSerialization.jsonObject(with: Data(headerBytes)) } catch {
            throw SentioError(.corrupt, file: path, "header is not valid JSON: \(error.localizedDescription)")
        }
        guard let dict = obj as? [String: Any] else { throw SentioError(.corrupt, file: path, "header is not a JSON object") }
        let dataStart = 8 + n
        let dataSize = map.size - dataStart
        var meta: [String: String] = [:]
        var out: [String: SafetensorsTensor] = [:]
        for (name, value) in dict {
            if name == "__metadata__" {
                guard let m = value as? [String: Any] else { throw SentioError(.corrupt, file: path, "__metadata__ is not an object") }
                for (k, v) in m { meta[k] = (v as? String) ?? "\(v)" }
                continue
            }
            guard let t = value as? [String: Any] else { throw SentioError(.corrupt, file: path, "tensor '\(name)': entry is not an object") }
            guard let ds = t["dtype"] as? String else { throw SentioError(.corrupt, file: path, "tensor '\(name)': missing dtype") }
            guard let dtype = SafetensorsDType(rawValue: ds) else { throw SentioError(.unsupported, file: path, "tensor '\(name)': unknown dtype '\(ds)'") }
            guard let shapeAny = t["shape"] as? [Any], let offs = t["data_offsets"] as? [Any], offs.count == 2 else {
                throw SentioError(.corrupt, file: path, "tensor '\(name)': missing shape or data_offsets")
            }
            var shape: [Int] = []
            var elements = 1
            for d in shapeAny {
                guard let v = (d as? NSNumber)?.int64Value, v >= 0, v < Int64(1) << 48 else {
                    throw SentioError(.corrupt, file: path, "tensor '\(name)': bad dimension \(d)")
                }
                shape.append(Int(v))
                let (r, o) = elements.multipliedReportingOverflow(by: Int(v))
                guard !o, r < Int(1) << 50 else { throw SentioError(.corrupt, file: path, "tensor '\(name)': shape \(shapeAny) has too many elements") }
                elements = r
            }
            guard let b = (offs[0] as? NSNumber)?.int64Value, let e = (offs[1] as? NSNumber)?.int64Value,
                  b >= 0, e >= b, e <= Int64(dataSize) else {
                throw SentioError(.corrupt, file: path, "tensor '\(name)': data_offsets \(offs) outside the data section (\(dataSize) bytes)")
            }
            guard Int(e - b) == elements * dtype.byteSize else {
                throw SentioError(.corrupt, file: path, "tensor '\(name)': \(e - b) bytes do not hold shape \(shape) of \(ds)")
            }
            out[name] = SafetensorsTensor(name: name, dtype: dtype, shape: shape, begin: dataStart + Int(b), count: Int(e - b))
        }
        // Tensors must not overlap.
        let sorted = out.values.sorted { $0.begin < $1.begin }
        for (a, b) in zip(sorted, sorted.dropFirst()) where b.begin < a.begin + a.count && a.count > 0 && b.count > 0 {
            throw SentioError(.corrupt, file: path, "tensors '\(a.name)' and '\(b.name)' overlap")
        }
        metadata = meta
        tensors = out
        names = sorted.map(\.name)
    }

    /// Raw bytes of a tensor (valid while this object lives).
    public func rawBytes(_ name: String) throws -> UnsafeRawBufferPointer {
        guard let t = tensors[name] else { throw SentioError(.format, file: url.path, "no tensor named '\(name)'") }
        return try map.bytes(t.begin, t.count, what: "tensor '\(name)'")
    }

    /// A floating-point tensor converted to f32 (F32/F16/BF16/F64 sources).
    public func floats(_ name: String) throws -> [Float] {
        guard let t = tensors[name] else { throw SentioError(.format, file: url.path, "no tensor named '\(name)'") }
        let raw = try rawBytes(name)
        let n = t.elementCount
        var out = [Float](repeating: 0, count: n)
        switch t.dtype {
        case .f32: for i in 0..<n { out[i] = Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self))) }
        case .f16: for i in 0..<n { out[i] = f16ToFloat(UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))) }
        case .bf16: for i in 0..<n { out[i] = bf16ToFloat(UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))) }
        case .f64: for i in 0..<n { out[i] = Float(Double(bitPattern: UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: 8 * i, as: UInt64.self)))) }
        default: throw SentioError(.unsupported, file: url.path, "tensor '\(name)' has dtype \(t.dtype.rawValue), not a float type")
        }
        return out
    }

    /// An integer tensor widened to Int (I64/I32/I16/I8/U8/BOOL sources).
    public func ints(_ name: String) throws -> [Int] {
        guard let t = tensors[name] else { throw SentioError(.format, file: url.path, "no tensor named '\(name)'") }
        let raw = try rawBytes(name)
        let n = t.elementCount
        switch t.dtype {
        case .i64: return (0..<n).map { Int(Int64(littleEndian: raw.loadUnaligned(fromByteOffset: 8 * $0, as: Int64.self))) }
        case .i32: return (0..<n).map { Int(Int32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * $0, as: Int32.self))) }
        case .i16: return (0..<n).map { Int(Int16(littleEndian: raw.loadUnaligned(fromByteOffset: 2 * $0, as: Int16.self))) }
        case .i8: return (0..<n).map { Int(raw.load(fromByteOffset: $0, as: Int8.self)) }
        case .u8, .bool: return (0..<n).map { Int(raw.load(fromByteOffset: $0, as: UInt8.self)) }
        default: throw SentioError(.unsupported, file: url.path, "tensor '\(name)' has dtype \(t.dtype.rawValue), not an integer type")
        }
    }
}
