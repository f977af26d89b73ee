// ByteReader: a bounds-checked little-endian cursor over a byte buffer, for binary headers
// (GGUF, .sentio). Every read checks the remaining length first and throws a SentioError that
// names the file; lengths read from the data are checked against what is left before any
// allocation, so a corrupt count can never trigger a huge allocation.
import SentioCore

public struct ByteReader {
    public let bytes: UnsafeRawBufferPointer
    public let file: String
    public private(set) var offset: Int

    public init(_ bytes: UnsafeRawBufferPointer, file: String, offset: Int = 0) {
        self.bytes = bytes
        self.file = file
        self.offset = offset
    }

    public var remaining: Int { bytes.count - offset }

    public func fail(_ what: String) -> SentioError {
        SentioError(.corrupt, file: file, what)
    }

    @inline(__always) mutating func need(_ n: Int, _ what: @autoclosure () -> String) throws {
        guard n >= 0, n <= remaining else {
            throw fail("\(what()) at offset \(offset) needs \(n) bytes but only \(max(remaining, 0)) remain")
        }
    }

    @inline(__always) public mutating func read<T: FixedWidthInteger>(_: T.Type, _ what: @autoclosure () -> String) throws -> T {
        try need(MemoryLayout<T>.size, what())
        let v = T(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: T.self))
        offset += MemoryLayout<T>.size
        return v
    }

    public mutating func u8(_ what: @autoclosure () -> String) throws -> UInt8 { try read(UInt8.self, what()) }
    public mutating func u32(_ what: @autoclosure () -> String) throws -> UInt32 { try read(UInt32.self, what()) }
    public mutating func u64(_ what: @autoclosure () -> String) throws -> UInt64 { try read(UInt64.self, what()) }
    public mutating func i64(_ what: @autoclosure () -> String) throws -> Int64 { try read(Int64.self, what()) }

    /// A u64 length or count that must fit in what remains when each item takes at least
    /// `minItemBytes` bytes.
    public mutating func count(_ what: @autoclosure () -> String, minItemBytes: Int) throws -> Int {
        let at = offset
        let n = try u64(what())
        let limit = UInt64(remaining / max(minItemBytes, 1))
        guard n <= limit else {
            throw fail("\(what()) at offset \(at) is \(n), more than the \(remaining) remaining bytes can hold")
        }
        return Int(n)
    }

    /// A view of the next `n` bytes.
    public mutating func take(_ n: Int, _ what: @autoclosure () -> String) throws -> UnsafeRawBufferPointer {
        try need(n, what())
        let r = UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + n)])
        offset += n
        return r
    }

    /// A u64-length-prefixed UTF-8 string. Invalid UTF-8 is rejected.
    public mutating func string(_ what: @autoclosure () -> String) throws -> String {
        let n = try count("\(what()) length", minItemBytes: 1)
        let b = try take(n, what())
        guard let s = String(validating: b, as: UTF8.self) else {
            throw fail("\(what()) at offset \(offset - n) is not valid UTF-8")
        }
        return s
    }

    public mutating func seek(_ to: Int) throws {
        guard to >= 0, to <= bytes.count else { throw fail("offset \(to) is outside the \(bytes.count)-byte buffer") }
        offset = to
    }
}

/// Little-endian byte output for writers.
public struct ByteWriter {
    public var data: [UInt8] = []
    public init() {}
    public mutating func put<T: FixedWidthInteger>(_ v: T) {
        withUnsafeBytes(of: v.littleEndian) { data.append(contentsOf: $0) }
    }
    public mutating func put(_ s: String) {
        let u = Array(s.utf8)
        put(UInt64(u.count))
        data.append(contentsOf: u)
    }
    public mutating func put(bytes: [UInt8]) { data.append(contentsOf: bytes) }
}
