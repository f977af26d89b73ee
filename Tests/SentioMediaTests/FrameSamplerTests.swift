import XCTest
import SentioFormat
import SentioTestSupport
@testable import SentioMedia

final class FrameSamplerTests: XCTestCase {
    /// The fixture records N and the indices the reference picked.
    func testIndicesMatchFixture() throws {
        let inputs = try SafetensorsFile(TestPaths.tinyA.appendingPathComponent("inputs.safetensors"))
        let expected = try inputs.ints("inputs.frame_indices")
        let n = try VideoDecoder.frameCount(TestPaths.tinyA.appendingPathComponent("clip.mp4"))
        XCTAssertEqual(FrameSampler.uniformIndices(frameCount: n, count: expected.count), expected)
    }

    /// Against numpy's half-to-even rounding, written out by hand for small N (1e-6 breaks exact .5 ties upward).
    func testSmallCounts() {
        XCTAssertEqual(FrameSampler.uniformIndices(frameCount: 1), [0, 0, 0, 0, 0, 0, 0, 0])
        // N=3: seg=0.25 -> 0.125 0.375 0.625 0.875 1.125 1.375 1.625 1.875
        XCTAssertEqual(FrameSampler.uniformIndices(frameCount: 3), [0, 0, 1, 1, 1, 1, 2, 2])
        // N=9: seg=1 -> 0.5+1e-6 rounds up to 1, 1.5 -> 2, ...
        XCTAssertEqual(FrameSampler.uniformIndices(frameCount: 9), [1, 2, 3, 4, 5, 6, 7, 8])
        XCTAssertEqual(FrameSampler.uniformIndices(frameCount: 0), [])
    }
}
