// GGMLType: the tensor element types a GGUF file may carry, and which of them Sentio can read.
//
// The numeric ids are those of the GGUF specification (ggml_type). A quantized type packs
// `blockSize` consecutive weights of the contiguous dimension (ne0) into `bytesPerBlock` bytes;
// the block layouts are in GGMLBlocks.swift.
import SentioCore

public enum GGMLType: UInt32, Sendable, CaseIterable, CustomStringConvertible {
    case f32 = 0, f16 = 1, q4_0 = 2, q4_1 = 3
    case q5_0 = 6, q5_1 = 7, q8_0 = 8, q8_1 = 9
    case q2_K = 10, q3_K = 11, q4_K = 12, q5_K = 13, q6_K = 14, q8_K = 15
    case iq2_xxs = 16, iq2_xs = 17, iq3_xxs = 18, iq1_s = 19, iq4_nl = 20, iq3_s = 21, iq2_s = 22, iq4_xs = 23
    case i8 = 24, i16 = 25, i32 = 26, i64 = 27, f64 = 28, iq1_m = 29, bf16 = 30
    case tq1_0 = 34, tq2_0 = 35

    /// Weights per block (1 for plain types).
    public var blockSize: Int {
        switch self {
        case .f32, .f16, .bf16, .i8, .i16, .i32, .i64, .f64: return 1
        case .q4_0, .q4_1, .q5_0, .q5_1, .q8_0, .q8_1, .iq4_nl: return 32
        default: return 256   // the K-quants and the other super-block formats (QK_K)
        }
    }

    /// Bytes per block; nil for types whose layout Sentio does not know.
    public var bytesPerBlock: Int? {
        switch self {
        case .f32, .i32: return 4
        case .f16, .bf16, .i16: return 2
        case .i8: return 1
        case .i64, .f64: return 8
        case .q4_0: return BlockQ4_0.byteSize
        case .q4_1: return GGMLBlockQ4_1.byteSize
        case .q5_0: return BlockQ5_0.byteSize
        case .q5_1: return GGMLBlockQ5_1.byteSize
        case .q8_0: return BlockQ8_0.byteSize
        case .q8_1: return 36
        case .q2_K: return 84
        case .q3_K: return 110
        case .q4_K: return GGMLBlockQ4_K.byteSize
        case .q5_K: return GGMLBlockQ5_K.byteSize
        case .q6_K: return GGMLBlockQ6_K.byteSize
        case .q8_K: return 292
        case .iq4_nl: return GGMLBlockIQ4_NL.byteSize
        case .iq4_xs: return 136
        default: return nil
        }
    }

    /// True when `dequantize` supports this type.
    public var canDequantize: Bool {
        switch self {
        case .f32, .f16, .bf16, .q4_0, .q4_1, .q5_0, .q5_1, .q8_0, .q4_K, .q5_K, .q6_K, .iq4_nl: return true
        default: return false
        }
    }

    public var description: String {
        switch self {
        case .f32: return "F32"
        case .f16: return "F16"
        case .bf16: return "BF16"
        case .q4_0: return "Q4_0"
        case .q4_1: return "Q4_1"
        case .q5_0: return "Q5_0"
        case .q5_1: return "Q5_1"
        case .q8_0: return "Q8_0"
        case .q8_1: return "Q8_1"
        case .q2_K: return "Q2_K"
        case .q3_K: return "Q3_K"
        case .q4_K: return "Q4_K"
        case .q5_K: return "Q5_K"
        case .q6_K: return "Q6_K"
        case .q8_K: return "Q8_K"
        case .iq2_xxs: return "IQ2_XXS"
        case .iq2_xs: return "IQ2_XS"
        case .iq3_xxs: return "IQ3_XXS"
        case .iq1_s: return "IQ1_S"
        case .iq4_nl: return "IQ4_NL"
        case .iq3_s: return "IQ3_S"
        case .iq2_s: return "IQ2_S"
        case .iq4_xs: return "IQ4_XS"
        case .i8: return "I8"
        case .i16: return "I16"
        case .i32: return "I32"
        case .i64: return "I64"
        case .f64: return "F64"
        case .iq1_m: return "IQ1_M"
        case .tq1_0: return "TQ1_0"
        case .tq2_0: return "TQ2_0"
        }
    }

    /// Bytes holding `count` elements, or nil when count is not a whole number of blocks,
    /// overflows, or the type's layout is unknown.
    public func byteCount(elements count: Int) -> Int? {
        guard let bpb = bytesPerBlock, count >= 0, count % blockSize == 0 else { return nil }
        let (r, o) = (count / blockSize).multipliedReportingOverflow(by: bpb)
        return o ? nil : r
    }

    /// Dequantizes `count` elements (a whole number of blocks) from `src` into `dst`.
    /// The arithmetic order of each type follows the Python `gguf` package's reference
    /// dequantizer so that results are bit-identical (see GGMLBlocks.swift).
    public func dequantize(_ src: UnsafeRawBufferPointer, count: Int, into dst: UnsafeMutablePointer<Float>) throws {
        guard canDequantize else { throw SentioError(.unsupported, "no dequantizer for GGML type \(self)") }
        guard let need = byteCount(elements: count), src.count >= need, let base = src.baseAddress else {
            if count == 0 { return }
            throw SentioError(.argument, "dequantize \(self): \(src.count) bytes do not hold \(count) elements")
        }
        let out = UnsafeMutableBufferPointer(start: dst, count: count)
        switch self {
        case .f32:
            for i in 0..<count { dst[i] = Float(bitPattern: UInt32(littleEndian: base.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self))) }
        case .f16:
            for i in 0..<count { dst[i] = f16ToFloat(UInt16(littleEndian: base.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))) }
        case .bf16:
            for i in 0..<count { dst[i] = bf16ToFloat(UInt16(littleEndian: base.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))) }
        case .q8_0: BlockQ8_0.dequantizeRef(UnsafeRawBufferPointer(start: base, count: need), into: out)
        case .q4_0: BlockQ4_0.dequantizeRef(UnsafeRawBufferPointer(start: base, count: need), into: out)
        case .q4_1: GGMLBlockQ4_1.dequantize(base, blocks: count / 32, into: dst)
        case .q5_0: BlockQ5_0.dequantizeRef(UnsafeRawBufferPointer(start: base, count: need), into: out)
        case .q5_1: GGMLBlockQ5_1.dequantize(base, blocks: count / 32, into: dst)
        case .q4_K: GGMLBlockQ4_K.dequantize(base, blocks: count / 256, into: dst)
        case .q5_K: GGMLBlockQ5_K.dequantize(base, blocks: count / 256, into: dst)
        case .q6_K: GGMLBlockQ6_K.dequantize(base, blocks: count / 256, into: dst)
        case .iq4_nl: GGMLBlockIQ4_NL.dequantize(base, blocks: count / 32, into: dst)
        default: throw SentioError(.unsupported, "no dequantizer for GGML type \(self)")
        }
    }
}
