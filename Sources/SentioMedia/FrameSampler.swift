// Which frames of a clip the model sees (R1-OMNI-SPEC section 3): `count` frames spread uniformly over
// the whole clip, idx_i = round_half_even(seg * (i + 0.5) + 1e-6) with seg = (N - 1) / count.

public enum FrameSampler {
    /// Frame indices for a clip of `frameCount` frames (non-decreasing; repeats when the clip is shorter
    /// than `count`). Empty when the clip has no frames.
    public static func uniformIndices(frameCount n: Int, count: Int = 8) -> [Int] {
        guard n > 0, count > 0 else { return [] }
        let seg = Double(n - 1) / Double(count)
        return (0..<count).map { i in
            let v = (seg * (Double(i) + 0.5) + 1e-6).rounded(.toNearestOrEven)
            return min(n - 1, max(0, Int(v)))
        }
    }
}
