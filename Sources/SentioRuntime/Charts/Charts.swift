// Three generic SVG charts on SVGWriter: a line chart (several series, axes, legend), a confusion-matrix
// heatmap (counts in the cells, colour = share of the true row) and a timeline band chart (one band per
// category, spans of time coloured by category). Each renders to a standalone SVG document string.
import Foundation

/// One named series of (x, y) points. Points with a non-finite coordinate break the line there.
public struct ChartSeries: Sendable {
    public var name: String
    public var points: [(Double, Double)]
    public init(name: String, points: [(Double, Double)]) {
        self.name = name
        self.points = points
    }
}

public struct SVGLineChart {
    public var title: String
    public var xLabel: String
    public var yLabel: String
    public var series: [ChartSeries]
    public var width: Double = 720
    public var height: Double = 420
    /// Fixed y range (e.g. 0...1 for accuracies); nil fits the data.
    public var yRange: ClosedRange<Double>?
    /// Draw a dot at every point (useful for short series).
    public var markers = false

    public init(title: String, xLabel: String, yLabel: String, series: [ChartSeries]) {
        self.title = title
        self.xLabel = xLabel
        self.yLabel = yLabel
        self.series = series
    }

    public init(title: String, xLabel: String, yLabel: String, series: [(name: String, points: [(Double, Double)])]) {
        self.init(title: title, xLabel: xLabel, yLabel: yLabel, series: series.map { ChartSeries(name: $0.name, points: $0.points) })
    }

    public func render() -> String {
        let left = 70.0, right = 170.0, top = 40.0, bottom = 55.0
        let pw = max(10, width - left - right), ph = max(10, height - top - bottom)
        let finite = series.flatMap(\.points).filter { $0.0.isFinite && $0.1.isFinite }
        var x0 = finite.map(\.0).min() ?? 0, x1 = finite.map(\.0).max() ?? 1
        var y0 = finite.map(\.1).min() ?? 0, y1 = finite.map(\.1).max() ?? 1
        if let r = yRange { y0 = r.lowerBound; y1 = r.upperBound }
        if x1 <= x0 { x0 -= 0.5; x1 += 0.5 }
        if y1 <= y0 { y0 -= 0.5; y1 += 0.5 }
        if yRange == nil { let pad = (y1 - y0) * 0.05; y0 -= pad; y1 += pad }
        func px(_ x: Double) -> Double { left + (x - x0) / (x1 - x0) * pw }
        func py(_ y: Double) -> Double { top + ph - (y - y0) / (y1 - y0) * ph }

        var svg = SVGWriter(width: width, height: height)
        svg.text(title, x: width / 2, y: 24, size: 16, anchor: .middle, bold: true)
        svg.beginGroup(cssClass: "axes")
        for t in ChartStyle.ticks(y0, y1) {
            svg.line(x1: left, y1: py(t), x2: left + pw, y2: py(t), stroke: "#e5e5e5")
            svg.text(ChartStyle.tickLabel(t), x: left - 6, y: py(t) + 4, size: 11, anchor: .end)
        }
        for t in ChartStyle.ticks(x0, x1) {
            svg.line(x1: px(t), y1: top + ph, x2: px(t), y2: top + ph + 5, stroke: "#444")
            svg.text(ChartStyle.tickLabel(t), x: px(t), y: top + ph + 18, size: 11, anchor: .middle)
        }
        svg.line(x1: left, y1: top + ph, x2: left + pw, y2: top + ph, stroke: "#444")
        svg.line(x1: left, y1: top, x2: left, y2: top + ph, stroke: "#444")
        svg.text(xLabel, x: left + pw / 2, y: height - 12, size: 13, anchor: .middle)
        svg.text(yLabel, x: 18, y: top + ph / 2, size: 13, anchor: .middle, rotate: -90)
        svg.endGroup()

        for (i, s) in series.enumerated() {
            let c = ChartStyle.color(i)
            svg.beginGroup(cssClass: "series")
            // Split at non-finite points.
            var run: [(Double, Double)] = []
            func flush() {
                if run.count >= 2 { svg.polyline(run, stroke: c, title: s.name) } else if run.count == 1 { svg.circle(cx: run[0].0, cy: run[0].1, r: 2.5, fill: c) }
                run = []
            }
            for p in s.points {
                if p.0.isFinite && p.1.isFinite { run.append((px(p.0), py(min(max(p.1, y0), y1)))) } else { flush() }
            }
            flush()
            if markers {
                for p in s.points where p.0.isFinite && p.1.isFinite { svg.circle(cx: px(p.0), cy: py(min(max(p.1, y0), y1)), r: 2.5, fill: c) }
            }
            svg.endGroup()
        }

        svg.beginGroup(cssClass: "legend")
        for (i, s) in series.enumerated() {
            let y = top + 10 + Double(i) * 18
            svg.line(x1: left + pw + 14, y1: y, x2: left + pw + 34, y2: y, stroke: ChartStyle.color(i), width: 3)
            svg.text(s.name, x: left + pw + 40, y: y + 4, size: 12)
        }
        svg.endGroup()
        return svg.render()
    }
}

/// Confusion matrix: rows are true labels, columns predicted labels. Cell colour is the count divided by its
/// row's total (so each true class reads as a recall distribution); the cell text is the count and that share.
public struct SVGConfusionMatrix {
    public var labels: [String]
    /// Column labels when they differ from the rows (e.g. an extra "(none)" column); default = labels.
    public var predictedLabels: [String]
    /// counts[trueRow][predictedColumn].
    public var counts: [[Int]]
    public var title: String

    public init(labels: [String], counts: [[Int]], predictedLabels: [String]? = nil, title: String = "Confusion matrix") {
        self.labels = labels
        self.predictedLabels = predictedLabels ?? labels
        self.counts = counts
        self.title = title
    }

    public func render() -> String {
        let rows = labels.count, cols = predictedLabels.count
        let cell = 56.0, left = 120.0, top = 60.0, right = 30.0, bottom = 110.0
        let width = left + Double(cols) * cell + right, height = top + Double(rows) * cell + bottom
        var svg = SVGWriter(width: max(width, 320), height: height)
        svg.text(title, x: max(width, 320) / 2, y: 24, size: 16, anchor: .middle, bold: true)
        svg.text("predicted", x: left + Double(cols) * cell / 2, y: height - 12, size: 13, anchor: .middle)
        svg.text("true", x: 18, y: top + Double(rows) * cell / 2, size: 13, anchor: .middle, rotate: -90)
        svg.beginGroup(cssClass: "cells")
        for r in 0..<rows {
            let row = r < counts.count ? counts[r] : []
            let total = row.reduce(0, +)
            for c in 0..<cols {
                let n = c < row.count ? row[c] : 0
                let share = total > 0 ? Double(n) / Double(total) : 0
                let x = left + Double(c) * cell, y = top + Double(r) * cell
                svg.rect(x: x, y: y, width: cell, height: cell, fill: ChartStyle.heat(share), stroke: "#ffffff",
                         title: "true \(labels[r]), predicted \(predictedLabels[c]): \(n)", cssClass: "cell")
                let ink = share > 0.55 ? "#ffffff" : "#222222"
                svg.text("\(n)", x: x + cell / 2, y: y + cell / 2 + 1, size: 14, anchor: .middle, fill: ink, bold: r == c)
                if total > 0 {
                    svg.text(String(format: "%.0f%%", share * 100), x: x + cell / 2, y: y + cell / 2 + 16, size: 9, anchor: .middle, fill: ink)
                }
            }
        }
        svg.endGroup()
        svg.beginGroup(cssClass: "labels")
        for (r, l) in labels.enumerated() {
            svg.text(l, x: left - 8, y: top + Double(r) * cell + cell / 2 + 4, size: 12, anchor: .end)
        }
        for (c, l) in predictedLabels.enumerated() {
            let x = left + Double(c) * cell + cell / 2, y = top + Double(rows) * cell + 12
            svg.text(l, x: x, y: y, size: 12, anchor: .end, rotate: -45)
        }
        svg.endGroup()
        return svg.render()
    }
}

/// Labels over time: one horizontal band per category, each span drawn as a bar from start to end in its
/// category's band and colour.
public struct SVGTimeline {
    public struct Span: Sendable {
        public var start: Double, end: Double
        public var category: String
        public init(start: Double, end: Double, category: String) {
            self.start = start
            self.end = end
            self.category = category
        }
    }

    public var categories: [String]
    public var spans: [Span]
    public var title: String
    public var xLabel: String
    public var width: Double = 800

    /// Categories are drawn top to bottom in the given order; a span whose category is not listed gets a band
    /// added at the bottom.
    public init(categories: [String], spans: [(Double, Double, String)], title: String = "Timeline", xLabel: String = "time (s)") {
        self.init(categories: categories, spans: spans.map { Span(start: $0.0, end: $0.1, category: $0.2) }, title: title, xLabel: xLabel)
    }

    public init(categories: [String], spans: [Span], title: String = "Timeline", xLabel: String = "time (s)") {
        var cats = categories
        for s in spans where !cats.contains(s.category) { cats.append(s.category) }
        self.categories = cats
        self.spans = spans
        self.title = title
        self.xLabel = xLabel
    }

    public func render() -> String {
        let band = 26.0, left = 120.0, right = 30.0, top = 44.0, bottom = 50.0
        let height = top + Double(max(1, categories.count)) * band + bottom
        let pw = max(10, width - left - right)
        let good = spans.filter { $0.start.isFinite && $0.end.isFinite }
        var t0 = good.map { min($0.start, $0.end) }.min() ?? 0, t1 = good.map { max($0.start, $0.end) }.max() ?? 1
        if t1 <= t0 { t0 -= 0.5; t1 += 0.5 }
        func px(_ t: Double) -> Double { left + (t - t0) / (t1 - t0) * pw }
        var svg = SVGWriter(width: width, height: height)
        svg.text(title, x: width / 2, y: 24, size: 16, anchor: .middle, bold: true)
        svg.beginGroup(cssClass: "bands")
        for (i, c) in categories.enumerated() {
            let y = top + Double(i) * band
            svg.rect(x: left, y: y, width: pw, height: band, fill: i % 2 == 0 ? "#f6f6f6" : "#ffffff")
            svg.text(c, x: left - 8, y: y + band / 2 + 4, size: 12, anchor: .end)
        }
        svg.endGroup()
        svg.beginGroup(cssClass: "axes")
        let axisY = top + Double(max(1, categories.count)) * band
        svg.line(x1: left, y1: axisY, x2: left + pw, y2: axisY, stroke: "#444")
        for t in ChartStyle.ticks(t0, t1, count: 8) {
            svg.line(x1: px(t), y1: top, x2: px(t), y2: axisY + 5, stroke: "#dddddd")
            svg.text(ChartStyle.tickLabel(t), x: px(t), y: axisY + 18, size: 11, anchor: .middle)
        }
        svg.text(xLabel, x: left + pw / 2, y: height - 10, size: 13, anchor: .middle)
        svg.endGroup()
        svg.beginGroup(cssClass: "spans")
        for s in good {
            guard let i = categories.firstIndex(of: s.category) else { continue }
            let a = min(s.start, s.end), b = max(s.start, s.end)
            svg.rect(x: px(a), y: top + Double(i) * band + 3, width: max(1, px(b) - px(a)), height: band - 6,
                     fill: ChartStyle.color(i), title: "\(s.category): \(ChartStyle.tickLabel(a))-\(ChartStyle.tickLabel(b))",
                     cssClass: "span")
        }
        svg.endGroup()
        return svg.render()
    }
}
