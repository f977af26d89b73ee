// Training samples from an R1-Omni dataset (SentioRuntime's EmotionDataset parses the JSON): the clip
// and the label the rewards compare against. Which samples a step and a rank see is DataOrder's job
// (indices into `samples`).
import Foundation
import SentioCore
import SentioRuntime

public struct TrainingSample: Sendable, Equatable {
    public var id: String
    public var clip: URL
    /// The gpt turn's text after answer-tag extraction (EmotionSample.rawLabel): what R1-Omni's accuracy
    /// reward compares with, case and spelling kept (not the normalized vocabulary label).
    public var label: String
    public var instruction: String?
}

public struct TrainingData: Sendable {
    public let samples: [TrainingSample]
    public let source: URL?

    public init(_ dataset: EmotionDataset) throws {
        guard !dataset.samples.isEmpty else {
            throw SentioError(.data, file: dataset.source?.path, "the dataset has no samples")
        }
        samples = dataset.samples.map {
            TrainingSample(id: $0.id, clip: URL(fileURLWithPath: $0.videoPath), label: $0.rawLabel, instruction: $0.instruction)
        }
        source = dataset.source
    }

    public init(contentsOf url: URL) throws { try self.init(EmotionDataset(contentsOf: url)) }

    /// The samples of one micro-batch.
    public func batch(_ indices: [Int]) -> [TrainingSample] { indices.map { samples[$0] } }
}
