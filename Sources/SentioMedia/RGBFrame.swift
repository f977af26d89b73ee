// A decoded picture: 8-bit RGB, row-major [height, width, 3] with no row padding.

public struct RGBFrame: Sendable, Equatable {
    public let width: Int
    public let height: Int
    /// height * width * 3 bytes, R G B per pixel, rows top to bottom.
    public var pixels: [UInt8]

    public init(width: Int, height: Int, pixels: [UInt8]) {
        precondition(width >= 0 && height >= 0 && pixels.count == width * height * 3, "RGBFrame size mismatch")
        self.width = width
        self.height = height
        self.pixels = pixels
    }

    /// A frame of one colour.
    public init(width: Int, height: Int, fill: (UInt8, UInt8, UInt8)) {
        var p = [UInt8](repeating: 0, count: width * height * 3)
        for i in 0..<(width * height) { p[3 * i] = fill.0; p[3 * i + 1] = fill.1; p[3 * i + 2] = fill.2 }
        self.init(width: width, height: height, pixels: p)
    }

    /// The pixel at column x, row y.
    public func pixel(x: Int, y: Int) -> (UInt8, UInt8, UInt8) {
        let o = (y * width + x) * 3
        return (pixels[o], pixels[o + 1], pixels[o + 2])
    }

    /// This frame turned clockwise by a multiple of 90 degrees (0, 90, 180, 270).
    public func rotatedClockwise(_ degrees: Int) -> RGBFrame {
        let d = ((degrees % 360) + 360) % 360
        if d == 0 { return self }
        let (w, h) = (width, height)
        let (ow, oh) = d == 180 ? (w, h) : (h, w)
        var out = [UInt8](repeating: 0, count: pixels.count)
        pixels.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for oy in 0..<oh {
                    for ox in 0..<ow {
                        // Source pixel that lands on (ox, oy).
                        let (sx, sy): (Int, Int)
                        switch d {
                        case 90: (sx, sy) = (oy, h - 1 - ox)
                        case 180: (sx, sy) = (w - 1 - ox, h - 1 - oy)
                        default: (sx, sy) = (w - 1 - oy, ox)   // 270
                        }
                        let s = (sy * w + sx) * 3, o = (oy * ow + ox) * 3
                        dst[o] = src[s]; dst[o + 1] = src[s + 1]; dst[o + 2] = src[s + 2]
                    }
                }
            }
        }
        return RGBFrame(width: ow, height: oh, pixels: out)
    }
}
