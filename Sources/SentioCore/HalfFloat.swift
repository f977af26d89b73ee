// Conversions between Float and the 16-bit float formats stored in weight files.
//
// f16 uses Swift's Float16 (IEEE binary16; vcvtph2ps with F16C when built for this CPU).
// bf16 has no Swift type: it is stored as UInt16 holding the top half of a Float's bits.

@inline(__always) public func f16ToFloat(_ bits: UInt16) -> Float {
    Float(Float16(bitPattern: bits))
}

@inline(__always) public func floatToF16(_ x: Float) -> UInt16 {
    Float16(x).bitPattern   // round to nearest even, overflow to inf, NaN preserved
}

@inline(__always) public func bf16ToFloat(_ bits: UInt16) -> Float {
    Float(bitPattern: UInt32(bits) << 16)
}

/// Round-to-nearest-even Float -> bf16 (as PyTorch and ggml do); NaN stays a quiet NaN.
@inline(__always) public func floatToBF16(_ x: Float) -> UInt16 {
    let u = x.bitPattern
    if x.isNaN { return UInt16(truncatingIfNeeded: (u >> 16) | 0x40) }
    let rounding = UInt32(0x7FFF) + ((u >> 16) & 1)
    return UInt16(truncatingIfNeeded: (u &+ rounding) >> 16)
}
