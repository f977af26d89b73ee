// Writes safetensors files (used for PEFT adapters, test checkpoints and tools), atomically:
// the bytes go to a temporary file in the same folder, renamed over the target when complete.
import Foundation
import SentioCore

public struct SafetensorsWriter {
    public struct Entry {
        public let name: String
        public let dtype: SafetensorsDType
        public let shape: [Int]
        public let bytes: Data
    }
    public private(set) var entries: [Entry] = []
    public var metadata: [String: String] = [:]

    public init(metadata: [String: String] = [:]) { self.metadata = metadata }

    public mutating func add(_ name: String, floats: [Float], shape: [Int]) {
        precondition(shape.reduce(1, *) == floats.count, "shape \(shape) does not hold \(floats.count) values")
        entries.append(Entry(name: name, dtype: .f32, shape: shape, bytes: floats.withUnsafeBytes { Data($0) }))
    }

    /// Stores f32 values rounded to bf16 (round to nearest even), as Hugging Face checkpoints are.
    public mutating func add(_ name: String, bf16 floats: [Float], shape: [Int]) {
        precondition(shape.reduce(1, *) == floats.count)
        let h = floats.map { floatToBF16($0) }
        entries.append(Entry(name: name, dtype: .bf16, shape: shape, bytes: h.withUnsafeBytes { Data($0) }))
    }

    public mutating func add(_ name: String, int64 values: [Int64], shape: [Int]) {
        precondition(shape.reduce(1, *) == values.count)
        entries.append(Entry(name: name, dtype: .i64, shape: shape, bytes: values.withUnsafeBytes { Data($0) }))
    }

    /// The file's bytes: 8-byte header length, JSON header (padded with spaces to 8 bytes), data.
    public func serialized() throws -> Data {
        var header: [String: Any] = [:]
        if !metadata.isEmpty { header["__metadata__"] = metadata }
        var offset = 0
        for e in entries {
            header[e.name] = ["dtype": e.dtype.rawValue, "shape": e.shape, "data_offsets": [offset, offset + e.bytes.count]]
            offset += e.bytes.count
        }
        var json = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
        while json.count % 8 != 0 { json.append(0x20) }
        var out = Data()
        var n = UInt64(json.count).littleEndian
        withUnsafeBytes(of: &n) { out.append(contentsOf: $0) }
        out.append(json)
        for e in entries { out.append(e.bytes) }
        return out
    }

    public func write(to url: URL) throws {
        try AtomicFile.write(try serialized(), to: url)
    }
}
