// ActivationQuant: f32 activations -> Q8_0 blocks (the partner format of the integer dot paths).
import CSentioKernels
import SentioCore

/// Quantize activation rows to Q8_0 (for the integer dot paths), scalar twin = BlockQ8_0.quantizeRef.
public enum ActivationQuant {
    /// `count` (a multiple of 32) floats -> count/32 BlockQ8_0 blocks (34 bytes each) at `into`;
    /// bit-identical to BlockQ8_0.quantizeRef.
    public static func quantizeQ8(_ x: UnsafePointer<Float>, count: Int, into: UnsafeMutableRawPointer) {
        precondition(count % 32 == 0, "quantizeQ8: count \(count) is not a multiple of 32")
        sentio_quantize_q8_0(x, count, into)
    }
}
