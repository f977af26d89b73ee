// Helpers for the kernel tests: random weight matrices in every dtype, ISA sweeps.
import XCTest
import SentioCore
import SentioKernels
import SentioTestSupport

/// Owns the bytes of a random weight matrix.
final class OwnedWeight {
    let bytes: UnsafeMutableRawPointer
    let matrix: WeightMatrix

    init(dtype: DType, rows: Int, cols: Int, rng: inout TestRNG, scale: Float = 1) {
        let f = rng.floats(rows * cols, scale: scale)
        let rowBytes = cols / dtype.blockSize * dtype.bytesPerBlock
        let bytes = UnsafeMutableRawPointer.allocate(byteCount: max(1, rows * rowBytes), alignment: 64)
        self.bytes = bytes
        f.withUnsafeBufferPointer { src in
            for r in 0..<rows {
                let row = UnsafeBufferPointer(rebasing: src[(r * cols)..<((r + 1) * cols)])
                let dst = bytes + r * rowBytes
                switch dtype {
                case .f32: dst.copyMemory(from: row.baseAddress!, byteCount: cols * 4)
                case .f16: for k in 0..<cols { dst.storeBytes(of: floatToF16(row[k]), toByteOffset: 2 * k, as: UInt16.self) }
                case .bf16: for k in 0..<cols { dst.storeBytes(of: floatToBF16(row[k]), toByteOffset: 2 * k, as: UInt16.self) }
                case .q8: BlockQ8_0.quantizeRef(row, into: UnsafeMutableRawBufferPointer(start: dst, count: rowBytes))
                case .q4: BlockQ4_0.quantizeRef(row, into: UnsafeMutableRawBufferPointer(start: dst, count: rowBytes))
                case .q4_1: BlockQ4_1.quantizeRef(row, into: UnsafeMutableRawBufferPointer(start: dst, count: rowBytes))
                case .q5: BlockQ5_0.quantizeRef(row, into: UnsafeMutableRawBufferPointer(start: dst, count: rowBytes))
                case .q8r: BlockQ8_0.quantizeRowShared(row, into: UnsafeMutableRawBufferPointer(start: dst, count: rowBytes))
                default: fatalError()
                }
            }
        }
        matrix = WeightMatrix(dtype: dtype, rows: rows, cols: cols, data: bytes)
    }

    deinit { bytes.deallocate() }
}

let weightDTypes: [DType] = [.f32, .f16, .bf16, .q8, .q8r, .q4, .q4_1, .q5]

/// Runs body at every ISA level this CPU has (scalar C, AVX2, AVX-512, VNNI), restoring the limit.
func forEachISA(_ body: (String) throws -> Void) rethrows {
    let top = KernelISA.maxSupported
    defer { KernelISA.limit(top) }
    for level in 0...top {
        KernelISA.limit(level)
        try body(KernelISA.name)
    }
}

let pools = [ThreadPool(threads: 1), ThreadPool(threads: 2), ThreadPool(threads: 3)]

/// Attention.causal (f32) on every test pool against its twin's output `ref`: max |out - ref| <= tol.
func assertCausalMatches(_ ref: [Float], q: [Float], nQ: Int, start: Int, heads: Int, kv: KVView, maxAbs tol: Float,
                         _ ctx: String, file: StaticString = #filePath, line: UInt = #line) {
    for pool in pools {
        var out = [Float](repeating: .nan, count: ref.count)
        Attention.causal(q: q, nQ: nQ, start: start, heads: heads, kv: kv, out: &out, pool: pool)
        let d = compare(out, ref)
        XCTAssertLessThanOrEqual(d.maxAbs, tol, "\(ctx) threads=\(pool.threadCount): \(d)", file: file, line: line)
    }
}

/// Per-output bound of the error Q8_0 activations add to x · dequant(W)ᵀ: each x_k rounds to within
/// amax_block/254, and the f16 scale moves it by <= 2^-11 |x_k|, so |err| <= sum_k |w_k| (amax_b/254 + |x_k|/2048).
func q8ActivationBound(_ w: WeightMatrix, x: [Float], n: Int) -> [Float] {
    var bound = [Float](repeating: 0, count: n * w.rows)
    var row = [Float](repeating: 0, count: w.cols)
    for r in 0..<w.rows {
        row.withUnsafeMutableBufferPointer { w.dequantizeRowRef(r, into: $0.baseAddress!) }
        for i in 0..<n {
            var b: Float = 0
            for blk in 0..<(w.cols / 32) {
                var amax: Float = 0
                for j in 0..<32 { amax = max(amax, abs(x[i * w.cols + blk * 32 + j])) }
                for j in 0..<32 {
                    let k = blk * 32 + j
                    b += abs(row[k]) * (amax / 254 + abs(x[i * w.cols + k]) / 2048)
                }
            }
            bound[i * w.rows + r] = b
        }
    }
    return bound
}
