import XCTest
import SentioFormat
import SentioTestSupport
@testable import SentioMedia

/// Decoding the fixture clip must give decord's frames (the reference's reader): both use swscale's
/// YUV -> RGB24 at the source size, so they agree bit for bit.
final class VideoDecoderTests: XCTestCase {
    var clip: URL { TestPaths.tinyA.appendingPathComponent("clip.mp4") }

    func testFixtureFramesMatchDecord() throws {
        let inputs = try SafetensorsFile(TestPaths.tinyA.appendingPathComponent("inputs.safetensors"))
        let t = try XCTUnwrap(inputs.tensors["inputs.frames_rgb_u8"])
        let raw = try inputs.rawBytes("inputs.frames_rgb_u8")
        let s = try VideoDecoder.sampleFrames(clip, count: t.shape[0])
        XCTAssertEqual(s.indices, try inputs.ints("inputs.frame_indices"))
        XCTAssertEqual(s.frames.count, t.shape[0])
        XCTAssertTrue(s.warnings.isEmpty, "\(s.warnings)")
        var same = 0, total = 0, maxDiff = 0
        for (i, f) in s.frames.enumerated() {
            XCTAssertEqual(f.height, t.shape[1]); XCTAssertEqual(f.width, t.shape[2])
            let per = f.pixels.count
            for j in 0..<per {
                let d = abs(Int(f.pixels[j]) - Int(raw[i * per + j]))
                if d == 0 { same += 1 }
                maxDiff = max(maxDiff, d); total += 1
            }
        }
        print("decoded frames vs decord: exact share \(Double(same) / Double(total)), max diff \(maxDiff)")
        XCTAssertEqual(same, total, "max diff \(maxDiff)")
    }

    /// End to end: clip.mp4 -> 8 frames -> preprocessing -> the reference's inference pixels.
    func testEndToEndPixels() throws {
        let inputs = try SafetensorsFile(TestPaths.tinyA.appendingPathComponent("inputs.safetensors"))
        for (mode, key) in [(FramePreprocessMode.inference, "inputs.pixel_values_inference"),
                            (.training, "inputs.pixel_values_training")] {
            let expected = try inputs.floats(key)
            let s = try VideoDecoder.sampleFrames(clip)
            let got = ImagePreprocessor.pixelValues(s.frames, mode: mode)
            XCTAssertEqual(got.count, expected.count)
            // Share of values within one uint8 step (2/255 in normalised units).
            var exact = 0, within = 0
            for (a, b) in zip(got, expected) {
                if a == b { exact += 1 }
                if abs(a - b) <= 2 / 255 + 1e-6 { within += 1 }
            }
            print("end-to-end \(mode): exact \(Double(exact) / Double(got.count)), within 1/255 \(Double(within) / Double(got.count))")
            XCTAssertEqual(exact, got.count, "\(compare(got, expected))")
        }
    }

    func testStreamingVisitsEveryFrameInOrder() throws {
        var seen: [Int] = []
        var lastPts = -Double.infinity
        try VideoDecoder.forEachFrame(clip) { i, pts, f in
            seen.append(i)
            XCTAssertGreaterThan(pts, lastPts); lastPts = pts
            XCTAssertEqual(f.width, 320)
            return true
        }
        XCTAssertEqual(seen, Array(0..<(try VideoDecoder.frameCount(clip))))
        // Stopping early.
        var count = 0
        try VideoDecoder.forEachFrame(clip) { _, _, _ in count += 1; return count < 5 }
        XCTAssertEqual(count, 5)
    }
}
