// WeightMatrix: a borrowed view of a weight in PyTorch nn.Linear layout (rows = outputs, cols = inputs).
import CSentioKernels
import SentioCore

/// A weight matrix in PyTorch nn.Linear layout: `rows` outputs x `cols` inputs, row-major; quantized
/// types store each row as cols/32 blocks (BlockQ8_0 / BlockQ4_0 / BlockQ4_1 from SentioCore). Not owned.
public struct WeightMatrix: @unchecked Sendable {
    public let dtype: DType
    public let rows: Int
    public let cols: Int
    public let data: UnsafeRawPointer

    public init(dtype: DType, rows: Int, cols: Int, data: UnsafeRawPointer) {
        precondition([.f32, .f16, .bf16, .q8, .q8r, .q4, .q4_1, .q5].contains(dtype), "WeightMatrix: unsupported dtype \(dtype)")
        precondition(rows >= 0 && cols >= 0 && cols % dtype.blockSize == 0,
                     "WeightMatrix: cols \(cols) must be a multiple of \(dtype.blockSize) for \(dtype)")
        self.dtype = dtype
        self.rows = rows
        self.cols = cols
        self.data = data
    }

    /// Bytes of one row.
    public var rowBytes: Int { cols / dtype.blockSize * dtype.bytesPerBlock }

    /// Bytes of the whole matrix.
    public var byteCount: Int { rows * rowBytes }

    /// Row r dequantized to f32 with the scalar reference dequantizers of SentioCore.
    public func dequantizeRowRef(_ r: Int, into out: UnsafeMutablePointer<Float>) {
        let src = data + r * rowBytes
        switch dtype {
        case .f32: out.update(from: src.assumingMemoryBound(to: Float.self), count: cols)
        case .f16:
            let h = src.assumingMemoryBound(to: UInt16.self)
            for k in 0..<cols { out[k] = f16ToFloat(h[k]) }
        case .bf16:
            let h = src.assumingMemoryBound(to: UInt16.self)
            for k in 0..<cols { out[k] = bf16ToFloat(h[k]) }
        case .q8, .q8r:
            BlockQ8_0.dequantizeRef(UnsafeRawBufferPointer(start: src, count: rowBytes),
                                    into: UnsafeMutableBufferPointer(start: out, count: cols))
        case .q4:
            BlockQ4_0.dequantizeRef(UnsafeRawBufferPointer(start: src, count: rowBytes),
                                    into: UnsafeMutableBufferPointer(start: out, count: cols))
        case .q4_1:
            BlockQ4_1.dequantizeRef(UnsafeRawBufferPointer(start: src, count: rowBytes),
                                    into: UnsafeMutableBufferPointer(start: out, count: cols))
        case .q5:
            BlockQ5_0.dequantizeRef(UnsafeRawBufferPointer(start: src, count: rowBytes),
                                    into: UnsafeMutableBufferPointer(start: out, count: cols))
        default: preconditionFailure("unsupported dtype")
        }
    }
}

extension DType {
    /// The code the C kernels use for this dtype (the raw value; q8r: Q8_0's, its bytes are Q8_0 blocks).
    var kernelCode: Int32 { self == .q8r ? Int32(SENTIO_Q8) : Int32(rawValue) }
}
