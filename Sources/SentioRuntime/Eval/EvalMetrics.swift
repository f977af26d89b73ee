// Evaluation metrics as R1-Omni reports them (spec section 7): WAR = accuracy over all clips; UAR = the mean,
// over the classes present in the ground truth, of each class's recall. Plus per-class recall and precision
// and a confusion matrix.
//
// A clip counts as correct when its predicted label (the answer mapped with EmotionLabels) equals the
// dataset's normalized label. A clip with no usable answer (an answer that names no label of the vocabulary
// or of the dataset, or a clip that failed to run) counts as wrong, in the confusion matrix's "(none)" column.
import Foundation

/// One evaluated clip: one line of the results JSONL.
public struct EvalRecord: Sendable, Codable, Equatable {
    public var type = "clip"
    public var id: String
    public var index: Int
    public var video: String
    public var label: String
    /// The predicted label (nil when the output names none).
    public var prediction: String?
    public var answer: String?
    public var output: String
    public var generatedTokens: Int
    public var seconds: Double
    /// Set when the clip could not be run (unreadable media, ...).
    public var error: String?
    public var warnings: [String]

    public var correct: Bool { prediction == label }

    /// The label an output predicts: the answer tag's text (the whole stripped output when there is no tag, as
    /// the reference's accuracy reward reads it) mapped with EmotionLabels, or, for datasets with labels outside
    /// the vocabulary, that text lowercased when it is one of `known`. Nil when it names none.
    public static func predictedLabel(answer: String?, output: String, known: Set<String> = []) -> String? {
        let text = (answer ?? output).trimmingCharacters(in: .whitespacesAndNewlines)
        if let l = EmotionLabels.label(for: text) { return l }
        let lower = text.lowercased()
        return known.contains(lower) ? lower : nil
    }

    public init(id: String, index: Int, video: String, label: String, prediction: String?, answer: String?, output: String,
                generatedTokens: Int, seconds: Double, error: String? = nil, warnings: [String] = []) {
        self.id = id
        self.index = index
        self.video = video
        self.label = label
        self.prediction = prediction
        self.answer = answer
        self.output = output
        self.generatedTokens = generatedTokens
        self.seconds = seconds
        self.error = error
        self.warnings = warnings
    }

    enum CodingKeys: String, CodingKey {
        case type, id, index, video, label, prediction, answer, output, error, warnings, seconds
        case generatedTokens = "generated_tokens"
    }
}

public struct EvalClassStats: Sendable, Codable, Equatable {
    public var label: String
    /// Clips whose true label is this class.
    public var support: Int
    public var correct: Int
    /// correct / support.
    public var recall: Double
    /// Clips predicted as this class.
    public var predicted: Int
    /// correct / predicted (0 when never predicted).
    public var precision: Double
}

public struct EvalMetrics: Sendable, Codable, Equatable {
    public static let noneColumn = "(none)"

    public var total: Int
    public var correct: Int
    /// Weighted average recall = accuracy.
    public var war: Double
    /// Unweighted average recall over classes present in the ground truth.
    public var uar: Double
    /// True labels (matrix rows), vocabulary order.
    public var labels: [String]
    /// Predicted labels (matrix columns): the true labels, then other predicted labels, then "(none)" if any.
    public var predictedLabels: [String]
    /// confusion[row: true][column: predicted].
    public var confusion: [[Int]]
    public var perClass: [EvalClassStats]
    /// Clips whose output named no label (no answer tag or an answer outside the vocabulary).
    public var unlabeled: Int
    /// Clips that failed to run.
    public var failed: Int

    enum CodingKeys: String, CodingKey {
        case total, correct, war, uar, labels, confusion, unlabeled, failed
        case predictedLabels = "predicted_labels", perClass = "per_class"
    }

    public static func compute(_ records: [EvalRecord]) -> EvalMetrics {
        let rows = EmotionDataset.orderedLabels(Set(records.map(\.label)))
        let predictedSet = Set(records.compactMap(\.prediction))
        var cols = rows + EmotionDataset.orderedLabels(predictedSet.subtracting(rows))
        if records.contains(where: { $0.prediction == nil }) { cols.append(noneColumn) }
        let rowIndex = Dictionary(uniqueKeysWithValues: rows.enumerated().map { ($1, $0) })
        let colIndex = Dictionary(uniqueKeysWithValues: cols.enumerated().map { ($1, $0) })
        var m = [[Int]](repeating: [Int](repeating: 0, count: cols.count), count: rows.count)
        for r in records {
            m[rowIndex[r.label]!][colIndex[r.prediction ?? noneColumn]!] += 1
        }
        var stats: [EvalClassStats] = []
        for (i, l) in rows.enumerated() {
            let support = m[i].reduce(0, +)
            let hit = m[i][i]   // column i is row i's label: cols starts with rows
            let predicted = m.reduce(0) { $0 + $1[i] }
            stats.append(EvalClassStats(label: l, support: support, correct: hit,
                                        recall: support > 0 ? Double(hit) / Double(support) : 0,
                                        predicted: predicted, precision: predicted > 0 ? Double(hit) / Double(predicted) : 0))
        }
        let total = records.count
        let correct = records.filter(\.correct).count
        let uar = stats.isEmpty ? 0 : stats.map(\.recall).reduce(0, +) / Double(stats.count)
        return EvalMetrics(total: total, correct: correct, war: total > 0 ? Double(correct) / Double(total) : 0, uar: uar,
                           labels: rows, predictedLabels: cols, confusion: m, perClass: stats,
                           unlabeled: records.filter { $0.prediction == nil && $0.error == nil }.count,
                           failed: records.filter { $0.error != nil }.count)
    }
}
