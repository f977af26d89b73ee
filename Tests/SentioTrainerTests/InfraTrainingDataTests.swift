import Foundation
import XCTest
@testable import SentioTrainer
import SentioCore
import SentioTestSupport

final class InfraTrainingDataTests: XCTestCase {
    /// An R1-Omni JSON file -> samples; over an epoch the ranks' micro-batches are disjoint, cover
    /// every full global batch, and the order is a function of (seed, epoch) only.
    func testDatasetOrderShardsAcrossRanks() throws {
        let dir = TestPaths.tempDir("train-data")
        let labels = ["sad", "Happy", "<answer> angry </answer>", "neutral", "fear", "surprise", "disgust", "sad", "happy", "angry", "neutral"]
        let entries = labels.enumerated().map { i, l in
            ["video": "clips/\(i).mp4", "conversations": [["from": "human", "value": "<video>\n<audio>\nQ?"], ["from": "gpt", "value": l]]] as [String: Any]
        }
        let url = dir.appendingPathComponent("train.json")
        try JSONSerialization.data(withJSONObject: entries).write(to: url)
        let data = try TrainingData(contentsOf: url)
        XCTAssertEqual(data.samples.count, 11)
        XCTAssertEqual(data.samples[1].label, "Happy")           // case kept for the accuracy reward
        XCTAssertEqual(data.samples[2].label, "angry")           // answer tag extracted, stripped
        XCTAssertEqual(data.samples[3].clip.path, dir.appendingPathComponent("clips/3.mp4").standardizedFileURL.path)
        XCTAssertEqual(Reward.accuracy.function("<think>x</think><answer>Happy</answer>", data.samples[1].label), 1)

        let world = 2
        let orders = try (0..<world).map { _ in try DataOrder(count: 11, seed: 99, microBatch: 1, accumulation: 2, worldSize: world) }
        XCTAssertEqual(orders[0].batchesPerEpoch, 2)             // 11 / 4, the last 3 are dropped this epoch
        for epoch in 0..<3 {
            var seen: [Int] = []
            var pos = DataPosition(epoch: epoch, batch: 0)
            for _ in 0..<orders[0].batchesPerEpoch {
                // Slot order: accumulation step outer, rank inner (slot = a * world + rank).
                for a in 0..<2 {
                    for (rank, o) in orders.enumerated() {
                        let (g, p) = o.globalBatch(at: pos)
                        XCTAssertEqual(p, pos)
                        seen += o.microBatch(g, accumulationStep: a, rank: rank).indices
                    }
                }
                pos = orders[0].advance(pos)
            }
            XCTAssertEqual(seen.count, 8)
            XCTAssertEqual(Set(seen).count, 8, "epoch \(epoch): a sample seen twice")
            XCTAssertEqual(seen, Array(orders[0].permutation(epoch: epoch).prefix(8)))
        }
        let empty = dir.appendingPathComponent("empty.json")
        try Data("[]".utf8).write(to: empty)
        XCTAssertThrowsError(try TrainingData(contentsOf: empty)) { XCTAssertTrue($0 is SentioError) }
    }
}
