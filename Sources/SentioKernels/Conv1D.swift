// Conv1D: 1-D convolution (PyTorch nn.Conv1d, groups = 1, dilation = 1) as im2col + Linear.forward.
//
// The kernel [Cout, Cin, K] is read as a WeightMatrix [Cout, Cin*K] (row-major, the same bytes), and each
// output position t gets one im2col row [Cin*K] holding x[c, t*stride - pad + k] at c*K + k (0 outside the
// input). Linear.forward then multiplies [Tout, Cin*K] by the kernel, so any weight dtype works (f32/f16/bf16
// through sgemm, q8/q4 through the integer path when Cin*K is a multiple of 32). Output is [Tout, Cout]
// (tokens x channels, the layout every model here uses for activations).
//
// Input can be channels-first ([Cin, T], e.g. a log-mel [mels, frames]) or channels-last ([T, Cin], e.g.
// the output of a previous Conv1D). `forwardRef` is the direct-loop scalar twin (Double accumulation).
import SentioCore

public enum Conv1D {
    public enum Layout: Sendable { case channelsFirst, channelsLast }

    /// Output length of nn.Conv1d: floor((length + 2 pad - kernel) / stride) + 1 (0 when the input is too short).
    public static func outputLength(_ length: Int, kernel: Int, stride: Int, padding: Int) -> Int {
        let span = length + 2 * padding - kernel
        return span < 0 ? 0 : span / stride + 1
    }

    /// cols[Tout, Cin*K]: row t, column c*K + k = x[c, t*stride - padding + k] (0 outside 0..<length).
    public static func im2col(_ x: UnsafePointer<Float>, layout: Layout, channels: Int, length: Int, kernel: Int,
                              stride: Int, padding: Int, cols: UnsafeMutablePointer<Float>, pool: ThreadPool = .shared) {
        let tOut = outputLength(length, kernel: kernel, stride: stride, padding: padding)
        let width = channels * kernel
        nonisolated(unsafe) let x = x, cols = cols
        pool.parallelChunks(tOut, maxChunks: pool.threadCount * 4) { range in
            for t in range {
                let row = cols + t * width
                let t0 = t * stride - padding
                for k in 0..<kernel {
                    let s = t0 + k
                    if s < 0 || s >= length {
                        for c in 0..<channels { row[c * kernel + k] = 0 }
                    } else if layout == .channelsLast {
                        let src = x + s * channels
                        for c in 0..<channels { row[c * kernel + k] = src[c] }
                    } else {
                        for c in 0..<channels { row[c * kernel + k] = x[c * length + s] }
                    }
                }
            }
        }
    }

    /// out[Tout, Cout] = conv1d(x, weight [Cout, Cin*K]) + bias[Cout].
    /// `scratch` may hold Tout*Cin*K floats for the im2col rows (allocated here when nil).
    public static func forward(_ weight: WeightMatrix, kernel: Int, x: UnsafePointer<Float>, layout: Layout,
                               channels: Int, length: Int, stride: Int, padding: Int, bias: UnsafePointer<Float>?,
                               out: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<Float>? = nil,
                               pool: ThreadPool = .shared) {
        precondition(weight.cols == channels * kernel, "Conv1D: kernel matrix has \(weight.cols) columns, expected \(channels)*\(kernel)")
        let tOut = outputLength(length, kernel: kernel, stride: stride, padding: padding)
        if tOut == 0 { return }
        let cols = scratch ?? UnsafeMutablePointer<Float>.allocate(capacity: tOut * channels * kernel)
        defer { if scratch == nil { cols.deallocate() } }
        im2col(x, layout: layout, channels: channels, length: length, kernel: kernel, stride: stride,
               padding: padding, cols: cols, pool: pool)
        Linear.forward(weight, x: cols, n: tOut, y: out, bias: bias, pool: pool)
    }

    /// Scalar twin: direct loops over the dequantized kernel, Double sums. out[Tout, Cout].
    public static func forwardRef(_ weight: WeightMatrix, kernel: Int, x: UnsafePointer<Float>, layout: Layout,
                                  channels: Int, length: Int, stride: Int, padding: Int, bias: UnsafePointer<Float>?,
                                  out: UnsafeMutablePointer<Float>) {
        let tOut = outputLength(length, kernel: kernel, stride: stride, padding: padding)
        var w = [Float](repeating: 0, count: weight.cols)
        for o in 0..<weight.rows {
            w.withUnsafeMutableBufferPointer { weight.dequantizeRowRef(o, into: $0.baseAddress!) }
            for t in 0..<tOut {
                var acc = Double(bias?[o] ?? 0)
                for c in 0..<channels {
                    for k in 0..<kernel {
                        let s = t * stride - padding + k
                        if s < 0 || s >= length { continue }
                        let v = layout == .channelsLast ? x[s * channels + c] : x[c * length + s]
                        acc += Double(w[c * kernel + k]) * Double(v)
                    }
                }
                out[t * weight.rows + o] = Float(acc)
            }
        }
    }
}
