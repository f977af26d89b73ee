// DType: the element types a Sentio tensor can be stored in.
//
// Quantized types are stored in blocks of `blockSize` weights along the last (contiguous) dimension,
// exactly as ggml lays out Q8_0 / Q4_0 / Q4_1 (see BlockQ8_0.swift, BlockQ4_0.swift, BlockQ4_1.swift and
// docs/FORMAT.md; q5 is ggml's Q5_0, BlockQ5_0.swift); q8r is Q8_0 with one scale per row (BlockQ8_0.quantizeRowShared).

public enum DType: UInt32, CaseIterable, Sendable, CustomStringConvertible {
    case f32 = 0
    case f16 = 1
    case bf16 = 2
    case q8 = 8     // BlockQ8_0: f16 scale + 32 x int8           (34 bytes / 32 weights)
    case q4 = 9     // BlockQ4_0: f16 scale + 16 bytes of nibbles  (18 bytes / 32 weights)
    case q4_1 = 10  // BlockQ4_1: f16 step + f16 offset + 16 bytes of nibbles (20 bytes / 32 weights)
    case q5 = 12    // BlockQ5_0: f16 scale + 4 bytes of high bits + 16 bytes of nibbles (22 bytes / 32 weights)
    case q8r = 11   // BlockQ8_0 bytes whose scales are equal along each row: one int8 scale per output row
                    // (as CTranslate2's int8), which the AMX-INT8 GEMM needs; any Q8_0 reader reads it as Q8_0
    case i32 = 16   // integer tensors (e.g. token ids in fixtures); never quantized
    case i64 = 17
    case u8 = 18

    /// Weights per storage block (1 for plain types).
    public var blockSize: Int {
        switch self {
        case .q8, .q8r, .q4, .q4_1, .q5: return 32
        default: return 1
        }
    }

    /// Bytes per storage block.
    public var bytesPerBlock: Int {
        switch self {
        case .f32, .i32: return 4
        case .f16, .bf16: return 2
        case .q8, .q8r: return BlockQ8_0.byteSize
        case .q4: return BlockQ4_0.byteSize
        case .q4_1: return BlockQ4_1.byteSize
        case .q5: return BlockQ5_0.byteSize
        case .i64: return 8
        case .u8: return 1
        }
    }

    public var isQuantized: Bool { blockSize > 1 }
    /// Stored as Q8_0 blocks (q8 and q8r): every Q8_0 reader and kernel takes the bytes as they are.
    public var isQ8Blocks: Bool { self == .q8 || self == .q8r }
    public var isFloat: Bool { self == .f32 || self == .f16 || self == .bf16 || isQuantized }

    /// Bytes needed for `count` elements, or nil when `count` is not a whole number of blocks
    /// or the byte count would overflow.
    public func byteCount(elements count: Int) -> Int? {
        guard count >= 0, count % blockSize == 0 else { return nil }
        let (r, o) = (count / blockSize).multipliedReportingOverflow(by: bytesPerBlock)
        return o ? nil : r
    }

    /// Bits per weight, for reports.
    public var bitsPerWeight: Double { Double(bytesPerBlock * 8) / Double(blockSize) }

    public var description: String { name }

    public var name: String {
        switch self {
        case .f32: return "f32"
        case .f16: return "f16"
        case .bf16: return "bf16"
        case .q8: return "q8"
        case .q4: return "q4"
        case .q4_1: return "q4_1"
        case .q5: return "q5"
        case .q8r: return "q8r"
        case .i32: return "i32"
        case .i64: return "i64"
        case .u8: return "u8"
        }
    }

    public init?(name: String) {
        guard let t = DType.allCases.first(where: { $0.name == name.lowercased() }) else { return nil }
        self = t
    }
}
