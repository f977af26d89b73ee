// encodeFloats runs the block quantizers on the thread pool in chunks of whole rows: the bytes must equal one
// serial pass (a 1-thread pool), with and without importance weights, for sizes that do not split evenly.
import XCTest
import SentioCore
import SentioKernels
import SentioModels
import SentioTestSupport

final class EncodeFloatsTests: XCTestCase {
    func testParallelChunksGiveTheSerialBytes() {
        var rng = TestRNG(seed: 11)
        let serial = ThreadPool(threads: 1), parallel = ThreadPool(threads: 3)
        for (rows, cols) in [(1, 32), (7, 96), (2049, 64), (300, 320)] {
            let x = rng.floats(rows * cols, scale: 2)
            let imp = (0..<cols).map { _ in 1 + rng.uniform() }
            for dtype in [DType.q8, .q4, .q4_1, .q5] {
                XCTAssertEqual(encodeFloats(x, as: dtype, pool: serial), encodeFloats(x, as: dtype, pool: parallel), "\(dtype) \(rows)x\(cols)")
                XCTAssertEqual(encodeFloats(x, as: dtype, importance: imp, pool: serial),
                               encodeFloats(x, as: dtype, importance: imp, pool: parallel), "\(dtype) weighted \(rows)x\(cols)")
            }
        }
    }
}
