// SigLIP input pixels from RGB frames (R1-OMNI-SPEC section 3, fixture README section 7):
// optional pad-to-square, Pillow-exact bicubic resize to 224x224, then p = (float32(u8 * (1/255)) - 0.5) / 0.5
// in channels-first layout [3, 224, 224] per frame.

/// How frames are fitted to the square model input. The reference uses both, in different places.
public enum FramePreprocessMode: String, Sendable, CaseIterable {
    /// Inference (`inference.py`, aspect_ratio=None): stretch the frame to 224x224.
    case inference
    /// GRPO / SFT training (aspect_ratio="pad"): paste the frame centred on a square of (127,127,127), then resize.
    case training
}

public enum ImagePreprocessor {
    public static let size = 224
    /// Canvas colour of training-mode padding: int(0.5 * 255).
    public static let padValue: UInt8 = 127

    /// Pillow-exact bicubic resize (see PillowResize.swift).
    public static func resizeBicubic(_ frame: RGBFrame, width: Int, height: Int) -> RGBFrame {
        PillowResize.resize(frame, width: width, height: height)
    }

    /// The frame pasted on a square canvas of side max(w, h) filled with `fill`, at offset
    /// ((side - w) / 2, (side - h) / 2) (integer division), as the reference's expand2square does.
    public static func expandToSquare(_ frame: RGBFrame, fill: UInt8 = padValue) -> RGBFrame {
        let side = max(frame.width, frame.height)
        if frame.width == frame.height { return frame }
        var out = [UInt8](repeating: fill, count: side * side * 3)
        let ox = (side - frame.width) / 2, oy = (side - frame.height) / 2
        let rowBytes = frame.width * 3
        frame.pixels.withUnsafeBufferPointer { s in
            out.withUnsafeMutableBufferPointer { o in
                for y in 0..<frame.height {
                    let dst = ((y + oy) * side + ox) * 3
                    for i in 0..<rowBytes { o[dst + i] = s[y * rowBytes + i] }
                }
            }
        }
        return RGBFrame(width: side, height: side, pixels: out)
    }

    /// Value of each byte after rescale and normalise: HF multiplies in float64 by 1/255, casts to float32,
    /// then subtracts the float32 mean 0.5 and divides by the float32 std 0.5.
    static let normalized: [Float] = (0..<256).map { u in (Float(Double(u) * (1.0 / 255.0)) - 0.5) / 0.5 }

    /// Writes a 224x224 (or any size) RGB frame as normalised float32 [3, h, w] into `out`.
    public static func normalize(_ frame: RGBFrame, into out: UnsafeMutableBufferPointer<Float>) {
        let plane = frame.width * frame.height
        precondition(out.count >= 3 * plane, "normalize: output buffer too small")
        let table = normalized
        frame.pixels.withUnsafeBufferPointer { s in
            for i in 0..<plane {
                out[i] = table[Int(s[3 * i])]
                out[plane + i] = table[Int(s[3 * i + 1])]
                out[2 * plane + i] = table[Int(s[3 * i + 2])]
            }
        }
    }

    /// One frame in model layout [3, 224, 224].
    public static func pixelValues(_ frame: RGBFrame, mode: FramePreprocessMode) -> [Float] {
        let fitted = mode == .training ? expandToSquare(frame) : frame
        let resized = resizeBicubic(fitted, width: size, height: size)
        var out = [Float](repeating: 0, count: 3 * size * size)
        out.withUnsafeMutableBufferPointer { normalize(resized, into: $0) }
        return out
    }

    /// Frames in model layout [n, 3, 224, 224].
    public static func pixelValues(_ frames: [RGBFrame], mode: FramePreprocessMode) -> [Float] {
        var out: [Float] = []
        out.reserveCapacity(frames.count * 3 * size * size)
        for f in frames { out += pixelValues(f, mode: mode) }
        return out
    }
}
