// The .sentio weight file: constants and table entries. The normative description is docs/FORMAT.md.
//
//   [0, 64)                 fixed header (magic, version, index location/size/checksum, file size)
//   [64, indexOffset)       data: embedded files and tensors, each at a 64-byte aligned offset
//   [indexOffset, fileSize) index: config.json, metadata, file table, tensor table
import Foundation
import SentioCore

public enum SentioFormat {
    /// "\x89SENTIO\n": the high byte and the newline catch 7-bit and text-mode mangling.
    public static let magic: [UInt8] = [0x89, 0x53, 0x45, 0x4E, 0x54, 0x49, 0x4F, 0x0A]
    public static let version: UInt32 = 1
    public static let alignment = 64
    public static let headerSize = 64
    /// Bounds that keep a corrupt index from asking for absurd work.
    public static let maxDims = 8
    public static let maxElements = 1 << 50
    /// LZ4 cannot expand data by more than 255x (one 0xFF run byte per 255 bytes).
    public static let maxLZ4Ratio = 255

    static func alignUp(_ x: Int) -> Int { (x + alignment - 1) / alignment * alignment }
}

/// How a tensor's bytes are stored.
public enum SentioCodec: UInt32, Sendable, CustomStringConvertible {
    /// The bytes as they are, 64-byte aligned, used in place from the memory map.
    case raw = 0
    /// Independent ~256 KiB chunks, each ByteShuffle'd then LZ4-compressed (ChunkedLZ4.swift).
    case lz4Shuffle = 1
    public var description: String { self == .raw ? "raw" : "lz4+shuffle" }
}

/// What the writer should do with one tensor.
public enum SentioCodecPolicy: Sendable {
    case raw
    /// Shuffle + LZ4, kept only if it saves more than `minSaving` (0.1 = 10%) of the raw size.
    case lz4Auto(minSaving: Double)
    /// The default: LZ4 when it saves more than 10%, the point below which the decompression time
    /// on load (about 1-2 GB/s per core) costs more than reading the saved bytes from disk.
    public static let lz4 = SentioCodecPolicy.lz4Auto(minSaving: 0.10)
}

public struct SentioTensorEntry: Sendable, Equatable {
    public let name: String
    public let dtype: DType
    /// Row-major, outermost dimension first (the last dimension is contiguous).
    public let shape: [Int]
    public let codec: SentioCodec
    /// Absolute file offset of the stored bytes (a multiple of 64).
    public let offset: Int
    public let storedSize: Int
    public let rawSize: Int
    /// xxHash64 (seed 0) of the stored bytes.
    public let checksum: UInt64
    public var elementCount: Int { shape.reduce(1, *) }
}

public struct SentioFileEntry: Sendable, Equatable {
    public let name: String
    public let offset: Int
    public let size: Int
    public let checksum: UInt64
}

/// A tensor ready to use: `bytes` is 64-byte aligned and valid while its SentioFile lives.
public struct SentioTensor: @unchecked Sendable {
    public let name: String
    public let dtype: DType
    public let shape: [Int]
    public let bytes: UnsafeRawBufferPointer
    public var elementCount: Int { shape.reduce(1, *) }
}

public struct SentioDTypeStats: Sendable, Equatable {
    public var tensors = 0
    public var elements = 0
    public var rawBytes = 0
    public var storedBytes = 0
    public var lz4Tensors = 0
    public var saving: Double { rawBytes > 0 ? 1 - Double(storedBytes) / Double(rawBytes) : 0 }
}

public struct SentioWriteSummary: Sendable {
    public let url: URL
    public let fileSize: Int
    public let tensorCount: Int
    public let rawBytes: Int
    public let storedBytes: Int
    public let perDType: [DType: SentioDTypeStats]
}

