// q4_1 in the format layer: the Sentio block is ggml's Q4_1 byte for byte (GGUF import keeps it as is).
import XCTest
import SentioCore
@testable import SentioFormat
import SentioTestSupport

final class Q41FormatTests: XCTestCase {
    /// Random blocks (finite f16 headers, any nibbles): BlockQ4_1.dequantizeRef and the GGUF reader's
    /// Q4_1 dequantizer (checked against the gguf package in GGUFTests) give identical floats.
    func testSameBytesAsGGMLQ4_1() {
        var rng = TestRNG(seed: 21)
        let blocks = 64
        var bytes = [UInt8](repeating: 0, count: blocks * 20)
        for b in 0..<blocks {
            let d = floatToF16(rng.uniform() * 0.1), m = floatToF16(rng.uniform())
            bytes[b * 20] = UInt8(d & 0xFF); bytes[b * 20 + 1] = UInt8(d >> 8)
            bytes[b * 20 + 2] = UInt8(m & 0xFF); bytes[b * 20 + 3] = UInt8(m >> 8)
            for j in 0..<16 { bytes[b * 20 + 4 + j] = UInt8(truncatingIfNeeded: rng.next()) }
        }
        var a = [Float](repeating: 0, count: blocks * 32), g = a
        bytes.withUnsafeBytes { s in
            a.withUnsafeMutableBufferPointer { BlockQ4_1.dequantizeRef(s, into: $0) }
            g.withUnsafeMutableBufferPointer { GGMLBlockQ4_1.dequantize(s.baseAddress!, blocks: blocks, into: $0.baseAddress!) }
        }
        XCTAssertEqual(a, g)
        XCTAssertEqual(GGMLType.q4_1.bytesPerBlock, DType.q4_1.bytesPerBlock)
    }

    func testShuffleRoundTrip() {
        var rng = TestRNG(seed: 22)
        let src = (0..<(20 * 37)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
        var sh = [UInt8](repeating: 0, count: src.count), back = sh
        src.withUnsafeBytes { s in sh.withUnsafeMutableBytes { ByteShuffle.shuffle(.q4_1, s, into: $0) } }
        sh.withUnsafeBytes { s in back.withUnsafeMutableBytes { ByteShuffle.unshuffle(.q4_1, s, into: $0) } }
        XCTAssertEqual(back, src)
        // 4 header planes first: the low byte of every block's step, then its high byte, ...
        XCTAssertEqual(sh[0], src[0]); XCTAssertEqual(sh[37], src[1]); XCTAssertEqual(sh[2 * 37 + 1], src[20 + 2])
        XCTAssertEqual(Array(sh[(4 * 37)..<(4 * 37 + 16)]), Array(src[4..<20]))
    }
}
