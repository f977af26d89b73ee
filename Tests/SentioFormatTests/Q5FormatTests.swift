// q5 in the format layer: the Sentio block is ggml's Q5_0 byte for byte (GGUF import keeps it as is), and
// its reference quantizer is ggml's rule, checked against the Python gguf package.
import XCTest
import SentioCore
@testable import SentioFormat
import SentioTestSupport

final class Q5FormatTests: XCTestCase {
    /// BlockQ5_0.quantizeRef gives the bytes of gguf.quants.quantize(x, Q5_0) (tools/make-q5-oracle.py: random
    /// rows with a zero block, positive and negative extremes, an outlier and values on exact levels).
    func testQuantizeRefMatchesGGUFPackage() throws {
        let f = try SafetensorsFile(TestPaths.testData.appendingPathComponent("format/q5-quantize-oracle.safetensors"))
        let x = try f.floats("x")
        let expected = Array(try f.rawBytes("q5"))
        XCTAssertEqual(x.count, 4 * 256)
        var got = [UInt8](repeating: 0, count: DType.q5.byteCount(elements: x.count)!)
        x.withUnsafeBufferPointer { s in got.withUnsafeMutableBytes { BlockQ5_0.quantizeRef(s, into: $0) } }
        XCTAssertEqual(got.count, expected.count)
        let diff = (0..<got.count).filter { got[$0] != expected[$0] }
        XCTAssertTrue(diff.isEmpty, "\(diff.count) bytes differ, first at \(diff.first ?? -1) (block \((diff.first ?? 0) / 22))")
    }

    func testSameBlockAsGGML() {
        XCTAssertEqual(GGMLType.q5_0.bytesPerBlock, DType.q5.bytesPerBlock)
        XCTAssertEqual(GGMLType.q5_0.blockSize, DType.q5.blockSize)
        XCTAssertEqual(DType.q5.byteCount(elements: 64), 44)
        XCTAssertNil(DType.q5.byteCount(elements: 48))
        XCTAssertEqual(DType(name: "q5"), .q5)
    }

    func testShuffleRoundTrip() {
        var rng = TestRNG(seed: 23)
        let src = (0..<(22 * 37)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
        var sh = [UInt8](repeating: 0, count: src.count), back = sh
        src.withUnsafeBytes { s in sh.withUnsafeMutableBytes { ByteShuffle.shuffle(.q5, s, into: $0) } }
        sh.withUnsafeBytes { s in back.withUnsafeMutableBytes { ByteShuffle.unshuffle(.q5, s, into: $0) } }
        XCTAssertEqual(back, src)
        // 2 scale planes (low bytes, then high bytes), then each block's high bits and nibbles as they are
        XCTAssertEqual(sh[0], src[0]); XCTAssertEqual(sh[37], src[1]); XCTAssertEqual(sh[1], src[22])
        XCTAssertEqual(Array(sh[(2 * 37)..<(2 * 37 + 20)]), Array(src[2..<22]))
    }
}
