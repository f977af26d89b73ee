// SVG plots of a run from its log: reward (total and each reward), KL, completion length and loss
// over steps, drawn with SentioRuntime's line charts.
import Foundation
import SentioCore
import SentioRuntime

public enum TrainingPlots {
    /// Writes reward.svg, kl.svg, length.svg and loss.svg into `directory`; returns their URLs.
    @discardableResult
    public static func write(_ records: [StepRecord], to directory: URL) throws -> [URL] {
        guard !records.isEmpty else { return [] }
        func series(_ name: String, _ f: (StepRecord) -> Double) -> ChartSeries {
            ChartSeries(name: name, points: records.compactMap { r in
                let v = f(r)
                return v.isFinite ? (Double(r.step), v) : nil
            })
        }
        var rewardSeries = [series("total", \.reward)]
        for name in records[0].rewards.keys.sorted() {
            rewardSeries.append(series(name) { $0.rewards[name]?.mean ?? .nan })
        }
        let charts: [(String, SVGLineChart)] = [
            ("reward.svg", SVGLineChart(title: "Mean reward", xLabel: "step", yLabel: "reward", series: rewardSeries)),
            ("kl.svg", SVGLineChart(title: "KL to the reference", xLabel: "step", yLabel: "KL", series: [series("kl", \.kl)])),
            ("length.svg", SVGLineChart(title: "Mean completion length", xLabel: "step", yLabel: "tokens",
                                        series: [series("length", \.completionLength)])),
            ("loss.svg", SVGLineChart(title: "Loss", xLabel: "step", yLabel: "loss", series: [series("loss", \.loss)])),
        ]
        var urls: [URL] = []
        for (file, chart) in charts {
            let url = directory.appendingPathComponent(file)
            try AtomicFile.write(Data(chart.render().utf8), to: url)
            urls.append(url)
        }
        return urls
    }
}
