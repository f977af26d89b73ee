// The emotion timeline of a watch session as data and as an SVG chart (SVGTimeline from Charts/): one band per
// emotion, each window drawn over its own hop (so overlapping windows do not overlap on the chart), skipped
// windows in a "skipped" band and windows whose answer names no emotion in "(no label)".
import Foundation

public struct WatchTimeline: Sendable {
    public private(set) var spans: [SVGTimeline.Span] = []
    public let hop: Double
    public let categories: [String]

    public init(hop: Double, categories: [String] = EmotionLabels.dfew) {
        self.hop = hop
        self.categories = categories
    }

    public mutating func add(_ e: WatchEvent) {
        switch e {
        case .window(let r):
            spans.append(.init(start: r.start, end: min(r.end, r.start + hop), category: r.label ?? "(no label)"))
        case .skipped(let s):
            spans.append(.init(start: s.start, end: min(s.end, s.start + hop), category: "skipped"))
        }
    }

    public func svg(title: String = "Emotion over time") -> String {
        SVGTimeline(categories: categories, spans: spans, title: title).render()
    }
}
