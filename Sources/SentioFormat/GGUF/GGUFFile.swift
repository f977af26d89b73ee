// Reader for GGUF files (versions 2 and 3, little endian), memory-mapped.
//
//   u32 magic "GGUF" | u32 version | u64 tensor_count | u64 kv_count
//   kv_count x (string key, u32 value type, value)          strings: u64 length + UTF-8 bytes
//   tensor_count x (string name, u32 n_dims, n_dims x u64 ne, u32 ggml type, u64 offset)
//   padding to `general.alignment` (default 32) | tensor data
//
// Dims are in GGUF order: ne[0] is the contiguous (fastest-varying) dimension, the reverse of the
// row-major shapes of PyTorch/safetensors/.sentio. Offsets are relative to the data section and
// must be multiples of the alignment. Every count, length and offset is checked against the file
// size before use.
import Foundation
import SentioCore

public struct GGUFTensorInfo: Sendable {
    public let name: String
    public let ggmlType: GGMLType
    /// GGUF order: dims[0] = ne0, the contiguous dimension.
    public let dims: [Int]
    /// Offset relative to the data section.
    public let offset: Int
    public let byteCount: Int
    public var elementCount: Int { dims.reduce(1, *) }
    /// Row length (ne0) and number of rows (product of the other dims).
    public var rowLength: Int { dims.first ?? 1 }
    public var rowCount: Int { dims.dropFirst().reduce(1, *) }
    /// Row-major shape (outermost first), as .sentio and safetensors write it.
    public var shape: [Int] { dims.reversed() }
}

public final class GGUFFile: @unchecked Sendable {
    public let url: URL
    public let version: Int
    public let metadata: [String: GGUFValue]
    /// Metadata keys in file order.
    public let metadataKeys: [String]
    public let tensors: [GGUFTensorInfo]
    public let alignment: Int
    /// Absolute offset of the data section.
    public let dataOffset: Int
    let map: MappedFile
    let index: [String: Int]

    /// Deepest array nesting accepted (real files use 1).
    public static let maxArrayDepth = 8

    public convenience init(_ url: URL) throws { try self.init(url: url) }

    public init(url: URL) throws {
        self.url = url
        map = try MappedFile(url)
        let path = url.path
        guard map.size > 0 else { throw SentioError(.corrupt, file: path, "empty file, not GGUF") }
        var r = ByteReader(try map.bytes(0, map.size), file: path)
        let magic = try r.u32("magic")
        guard magic == 0x4655_4747 else {   // "GGUF" read little endian
            throw SentioError(.format, file: path, String(format: "bad magic 0x%08x, not a GGUF file", magic))
        }
        let v = try r.u32("version")
        guard v == 2 || v == 3 else {
            if v.byteSwapped == 2 || v.byteSwapped == 3 {
                throw SentioError(.unsupported, file: path, "big-endian GGUF (version \(v.byteSwapped)) is not supported")
            }
            throw SentioError(.unsupported, file: path, "unsupported GGUF version \(v) (supported: 2, 3)")
        }
        version = Int(v)
        // A tensor info takes at least 8+4+8+4+8 bytes, a key/value at least 8+4+1.
        let nTensors = try r.count("tensor count", minItemBytes: 32)
        let nKV = try r.count("metadata count", minItemBytes: 13)

        var meta: [String: GGUFValue] = [:]
        var keys: [String] = []
        keys.reserveCapacity(nKV)
        for i in 0..<nKV {
            let key = try r.string("metadata key #\(i)")
            let t = try r.u32("type of '\(key)'")
            let value = try Self.readValue(&r, type: t, key: key, depth: 0)
            guard meta.updateValue(value, forKey: key) == nil else { throw r.fail("metadata key '\(key)' appears twice") }
            keys.append(key)
        }

        var align = 32
        if let a = meta["general.alignment"] {
            guard let ai = a.int, ai > 0, ai <= 1 << 20, ai & (ai - 1) == 0 else {
                throw SentioError(.corrupt, file: path, "general.alignment \(a) is not a power of two up to 1 MiB")
            }
            align = ai
        }

        struct Raw { var name: String; var type: GGMLType; var dims: [Int]; var offset: Int; var bytes: Int }
        var raws: [Raw] = []
        raws.reserveCapacity(nTensors)
        var idx: [String: Int] = [:]
        for i in 0..<nTensors {
            let name = try r.string("tensor name #\(i)")
            let nd = try r.u32("n_dims of '\(name)'")
            guard nd >= 1, nd <= 8 else { throw r.fail("tensor '\(name)' has \(nd) dimensions (1...8 allowed)") }
            var dims: [Int] = []
            var n = 1
            for _ in 0..<nd {
                let d = try r.u64("dimension of '\(name)'")
                guard d <= UInt64(1) << 50 else { throw r.fail("tensor '\(name)' has absurd dimension \(d)") }
                let (p, o) = n.multipliedReportingOverflow(by: Int(d))
                guard !o, p <= 1 << 50 else { throw r.fail("tensor '\(name)': dims \(dims + [Int(d)]) hold more than 2^50 elements") }
                n = p
                dims.append(Int(d))
            }
            let tRaw = try r.u32("type of '\(name)'")
            guard let type = GGMLType(rawValue: tRaw), type.bytesPerBlock != nil else {
                throw SentioError(.unsupported, file: path, "tensor '\(name)' has unknown GGML type \(tRaw)")
            }
            guard dims[0] % type.blockSize == 0, let bytes = type.byteCount(elements: n) else {
                throw r.fail("tensor '\(name)': row length \(dims[0]) is not a multiple of the \(type) block size \(type.blockSize)")
            }
            let off = try r.u64("offset of '\(name)'")
            guard off <= UInt64(map.size) else { throw r.fail("tensor '\(name)' offset \(off) is past the end of the file") }
            guard Int(off) % align == 0 else { throw r.fail("tensor '\(name)' offset \(off) is not a multiple of the alignment \(align)") }
            guard idx.updateValue(i, forKey: name) == nil else { throw r.fail("tensor name '\(name)' appears twice") }
            raws.append(Raw(name: name, type: type, dims: dims, offset: Int(off), bytes: bytes))
        }
        let (padded, o) = r.offset.addingReportingOverflow(align - 1)
        guard !o else { throw r.fail("header end overflows") }
        let dataStart = padded / align * align
        guard dataStart <= map.size || nTensors == 0 else {
            throw SentioError(.corrupt, file: path, "data section at \(dataStart) starts past the end of the file (\(map.size) bytes)")
        }
        let dataSize = max(0, map.size - dataStart)
        for t in raws where t.offset > dataSize || t.bytes > dataSize - t.offset {
            throw SentioError(.corrupt, file: path, "tensor '\(t.name)' (\(t.bytes) bytes at data offset \(t.offset)) runs past the end of the file")
        }
        let sorted = raws.sorted { $0.offset < $1.offset }
        for (a, b) in zip(sorted, sorted.dropFirst()) where a.bytes > 0 && b.bytes > 0 && b.offset < a.offset + a.bytes {
            throw SentioError(.corrupt, file: path, "tensors '\(a.name)' and '\(b.name)' overlap")
        }
        metadata = meta
        metadataKeys = keys
        alignment = align
        dataOffset = dataStart
        tensors = raws.map { GGUFTensorInfo(name: $0.name, ggmlType: $0.type, dims: $0.dims, offset: $0.offset, byteCount: $0.bytes) }
        index = idx
    }

    // MARK: metadata values

    static func readValue(_ r: inout ByteReader, type: UInt32, key: String, depth: Int) throws -> GGUFValue {
        switch type {
        case 0: return .uint8(try r.read(UInt8.self, key))
        case 1: return .int8(try r.read(Int8.self, key))
        case 2: return .uint16(try r.read(UInt16.self, key))
        case 3: return .int16(try r.read(Int16.self, key))
        case 4: return .uint32(try r.read(UInt32.self, key))
        case 5: return .int32(try r.read(Int32.self, key))
        case 6: return .float32(Float(bitPattern: try r.read(UInt32.self, key)))
        case 7:
            let b = try r.u8(key)
            guard b <= 1 else { throw r.fail("'\(key)': bool byte \(b) is neither 0 nor 1") }
            return .bool(b == 1)
        case 8: return .string(try r.string(key))
        case 9: return .array(try readArray(&r, key: key, depth: depth))
        case 10: return .uint64(try r.read(UInt64.self, key))
        case 11: return .int64(try r.read(Int64.self, key))
        case 12: return .float64(Double(bitPattern: try r.read(UInt64.self, key)))
        default: throw SentioError(.corrupt, file: r.file, "'\(key)': unknown metadata value type \(type)")
        }
    }

    static func readArray(_ r: inout ByteReader, key: String, depth: Int) throws -> GGUFArray {
        guard depth < maxArrayDepth else { throw r.fail("'\(key)': arrays nested deeper than \(maxArrayDepth)") }
        let et = try r.u32("'\(key)' array element type")
        let minSize: Int
        switch et {
        case 0, 1, 7: minSize = 1
        case 2, 3: minSize = 2
        case 4, 5, 6: minSize = 4
        case 8, 10, 11, 12: minSize = 8
        case 9: minSize = 12
        default: throw SentioError(.corrupt, file: r.file, "'\(key)': unknown array element type \(et)")
        }
        let n = try r.count("'\(key)' array length", minItemBytes: minSize)
        func fixed<T: FixedWidthInteger>(_: T.Type) throws -> [T] {
            let b = try r.take(n * MemoryLayout<T>.size, key)
            return (0..<n).map { T(littleEndian: b.loadUnaligned(fromByteOffset: $0 * MemoryLayout<T>.size, as: T.self)) }
        }
        switch et {
        case 0: return .uint8(try fixed(UInt8.self))
        case 1: return .int8(try fixed(Int8.self))
        case 2: return .uint16(try fixed(UInt16.self))
        case 3: return .int16(try fixed(Int16.self))
        case 4: return .uint32(try fixed(UInt32.self))
        case 5: return .int32(try fixed(Int32.self))
        case 6: return .float32(try fixed(UInt32.self).map { Float(bitPattern: $0) })
        case 7:
            let a = try fixed(UInt8.self)
            guard a.allSatisfy({ $0 <= 1 }) else { throw r.fail("'\(key)': bool array holds a byte other than 0 or 1") }
            return .bool(a.map { $0 == 1 })
        case 8:
            var out: [String] = []
            out.reserveCapacity(n)
            for i in 0..<n { out.append(try r.string("'\(key)'[\(i)]")) }
            return .string(out)
        case 9:
            var out: [GGUFArray] = []
            for _ in 0..<n { out.append(try readArray(&r, key: key, depth: depth + 1)) }
            return .array(out)
        case 10: return .uint64(try fixed(UInt64.self))
        case 11: return .int64(try fixed(Int64.self))
        default: return .float64(try fixed(UInt64.self).map { Double(bitPattern: $0) })
        }
    }

    // MARK: tensors

    public func has(_ name: String) -> Bool { index[name] != nil }

    public func info(_ name: String) throws -> GGUFTensorInfo {
        guard let i = index[name] else { throw SentioError(.argument, file: url.path, "no tensor named '\(name)'") }
        return tensors[i]
    }

    /// The tensor's stored bytes (valid while this object lives).
    public func rawBytes(_ name: String) throws -> UnsafeRawBufferPointer {
        let t = try info(name)
        return try map.bytes(dataOffset + t.offset, t.byteCount, what: "tensor '\(name)'")
    }

    /// The whole tensor as f32.
    public func dequantize(_ name: String) throws -> [Float] {
        let t = try info(name)
        return try dequantize(name, rows: 0..<t.rowCount)
    }

    /// Rows `rows` (each `rowLength` = ne0 elements) as f32.
    public func dequantize(_ name: String, rows: Range<Int>) throws -> [Float] {
        let t = try info(name)
        let (n, o) = rows.count.multipliedReportingOverflow(by: t.rowLength)
        guard !o else { throw SentioError(.argument, file: url.path, "tensor '\(name)': row range too large") }
        var out = [Float](repeating: 0, count: n)
        try out.withUnsafeMutableBufferPointer { try dequantize(name, rows: rows, into: $0) }
        return out
    }

    /// Rows `rows` dequantized into `dst` (which must hold rows.count * rowLength floats):
    /// lets a converter stream a tensor through a fixed buffer.
    public func dequantize(_ name: String, rows: Range<Int>, into dst: UnsafeMutableBufferPointer<Float>) throws {
        let t = try info(name)
        guard rows.lowerBound >= 0, rows.upperBound <= t.rowCount else {
            throw SentioError(.argument, file: url.path, "tensor '\(name)': rows \(rows) outside 0..<\(t.rowCount)")
        }
        guard t.ggmlType.canDequantize else {
            throw SentioError(.unsupported, file: url.path, "tensor '\(name)': no dequantizer for GGML type \(t.ggmlType)")
        }
        let n = rows.count * t.rowLength
        guard dst.count >= n else { throw SentioError(.argument, file: url.path, "tensor '\(name)': output buffer holds \(dst.count) floats, need \(n)") }
        if n == 0 { return }
        let rowBytes = t.ggmlType.byteCount(elements: t.rowLength)!   // checked at open
        let raw = try rawBytes(name)
        let src = UnsafeRawBufferPointer(rebasing: raw[(rows.lowerBound * rowBytes)..<(rows.upperBound * rowBytes)])
        try t.ggmlType.dequantize(src, count: n, into: dst.baseAddress!)
    }
}
