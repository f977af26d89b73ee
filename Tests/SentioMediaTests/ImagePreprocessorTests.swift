import XCTest
import SentioFormat
import SentioTestSupport
@testable import SentioMedia

/// The fixture's decord frames through our preprocessing must give the reference's pixels bit for bit:
/// the fixtures were made with Pillow's fixed-point bicubic, which PillowResize reproduces exactly.
final class ImagePreprocessorTests: XCTestCase {
    func fixtureFrames(_ inputs: SafetensorsFile) throws -> [RGBFrame] {
        let t = try XCTUnwrap(inputs.tensors["inputs.frames_rgb_u8"])
        XCTAssertEqual(t.shape.count, 4)
        let (n, h, w) = (t.shape[0], t.shape[1], t.shape[2])
        let raw = try inputs.rawBytes("inputs.frames_rgb_u8")
        let per = h * w * 3
        return (0..<n).map { i in RGBFrame(width: w, height: h, pixels: Array(raw[(i * per)..<((i + 1) * per)])) }
    }

    func check(_ mode: FramePreprocessMode, key: String) throws {
        let inputs = try SafetensorsFile(TestPaths.tinyA.appendingPathComponent("inputs.safetensors"))
        let frames = try fixtureFrames(inputs)
        let expected = try inputs.floats(key)
        let got = ImagePreprocessor.pixelValues(frames, mode: mode)
        XCTAssertEqual(got.count, expected.count)
        var mismatches = 0
        for i in 0..<min(got.count, expected.count) where got[i].bitPattern != expected[i].bitPattern { mismatches += 1 }
        XCTAssertEqual(mismatches, 0, "\(mode): \(mismatches) of \(got.count) values differ; \(compare(got, expected))")
    }

    func testInferencePixelsBitExact() throws { try check(.inference, key: "inputs.pixel_values_inference") }
    func testTrainingPixelsBitExact() throws { try check(.training, key: "inputs.pixel_values_training") }

    func testExpandToSquareGeometry() {
        // 3 wide, 1 high: canvas 3x3, image on row (3-1)/2 = 1.
        let f = RGBFrame(width: 3, height: 1, pixels: [1, 2, 3, 4, 5, 6, 7, 8, 9])
        let s = ImagePreprocessor.expandToSquare(f, fill: 127)
        XCTAssertEqual(s.width, 3); XCTAssertEqual(s.height, 3)
        XCTAssertEqual(s.pixel(x: 0, y: 0).0, 127)
        XCTAssertEqual(s.pixel(x: 0, y: 1).0, 1)
        XCTAssertEqual(s.pixel(x: 2, y: 1).2, 9)
        XCTAssertEqual(s.pixel(x: 2, y: 2).1, 127)
        // 2 wide, 5 high: offset x = (5-2)/2 = 1.
        let g = RGBFrame(width: 2, height: 5, fill: (9, 9, 9))
        let t = ImagePreprocessor.expandToSquare(g, fill: 0)
        XCTAssertEqual(t.pixel(x: 0, y: 0).0, 0)
        XCTAssertEqual(t.pixel(x: 1, y: 0).0, 9)
        XCTAssertEqual(t.pixel(x: 2, y: 4).0, 9)
        XCTAssertEqual(t.pixel(x: 3, y: 4).0, 0)
    }

    /// A constant image stays constant under any resize (weights are normalised; fixed point rounding of a
    /// sum of 2^22-scaled weights times c must give c back), upscaling included.
    func testConstantImageStaysConstant() {
        for (w, h, ow, oh) in [(320, 240, 224, 224), (7, 5, 224, 224), (1000, 3, 13, 224)] {
            let f = RGBFrame(width: w, height: h, fill: (200, 17, 255))
            let r = ImagePreprocessor.resizeBicubic(f, width: ow, height: oh)
            XCTAssertEqual(r, RGBFrame(width: ow, height: oh, fill: (200, 17, 255)), "\(w)x\(h)->\(ow)x\(oh)")
        }
    }

    func testRotation() {
        // 2x1 image: A B. Clockwise 90 -> 1x2 column A over B; 270 -> B over A; 180 -> B A.
        let f = RGBFrame(width: 2, height: 1, pixels: [1, 1, 1, 2, 2, 2])
        XCTAssertEqual(f.rotatedClockwise(90).pixels, [1, 1, 1, 2, 2, 2])
        XCTAssertEqual(f.rotatedClockwise(90).width, 1)
        XCTAssertEqual(f.rotatedClockwise(270).pixels, [2, 2, 2, 1, 1, 1])
        XCTAssertEqual(f.rotatedClockwise(180).pixels, [2, 2, 2, 1, 1, 1])
        // 2x2: [a b; c d] clockwise -> [c a; d b]
        let g = RGBFrame(width: 2, height: 2, pixels: [1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4])
        XCTAssertEqual(g.rotatedClockwise(90).pixels.enumerated().filter { $0.offset % 3 == 0 }.map(\.element), [3, 1, 4, 2])
    }
}
