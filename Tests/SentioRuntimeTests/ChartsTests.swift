// The SVG charts: each document parses back as XML (Foundation's XMLParser), has the elements the data asks
// for (one polyline per series, one cell per matrix entry, one bar per span) and carries the values as text.
import XCTest
import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import SentioRuntime

/// Collects element names, attributes and text of an XML document with XMLParser.
final class XMLCollector: NSObject, XMLParserDelegate {
    var elements: [(name: String, attrs: [String: String])] = []
    var texts: [String] = []
    var current = ""
    var root: String?

    static func parse(_ s: String) throws -> XMLCollector {
        let c = XMLCollector()
        let p = XMLParser(data: Data(s.utf8))
        p.delegate = c
        guard p.parse() else { throw p.parserError ?? CocoaError(.fileReadCorruptFile) }
        return c
    }

    func parser(_ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?,
                attributes: [String: String] = [:]) {
        if root == nil { root = name }
        elements.append((name, attributes))
        current = ""
    }
    func parser(_ parser: XMLParser, foundCharacters string: String) { current += string }
    func parser(_ parser: XMLParser, didEndElement name: String, namespaceURI: String?, qualifiedName: String?) {
        if name == "text" { texts.append(current) }
        current = ""
    }
    func count(_ name: String, cssClass: String? = nil) -> Int {
        elements.filter { $0.name == name && (cssClass == nil || $0.attrs["class"] == cssClass) }.count
    }
}

final class ChartsTests: XCTestCase {
    func testLineChart() throws {
        let chart = SVGLineChart(title: "loss & reward <train>", xLabel: "step", yLabel: "value",
                                 series: [(name: "loss", points: [(0, 2.5), (1, 1.9), (2, 1.2), (3, 0.7)]),
                                          (name: "reward", points: [(0, 0.1), (1, 0.3), (2, .nan), (3, 0.6), (4, 0.8)])])
        let x = try XMLCollector.parse(chart.render())
        XCTAssertEqual(x.root, "svg")
        // loss: one line; reward: the NaN splits it into a 2-point line and a 3-point line.
        XCTAssertEqual(x.count("polyline"), 3)
        XCTAssertTrue(x.texts.contains("loss & reward <train>"), "title survives escaping")
        XCTAssertTrue(x.texts.contains("loss") && x.texts.contains("reward") && x.texts.contains("step"))
        // y data 0.1...2.5 padded by 5% -> -0.02...2.62; 2.64/5 = 0.528 rounds up to a step of 1: ticks 0, 1, 2.
        // x 0...4 / 5 = 0.8 -> step 1: 0...4.
        XCTAssertFalse(x.texts.contains("0.5"))
        for t in ["0", "1", "2", "3", "4"] { XCTAssertTrue(x.texts.contains(t), "tick \(t) in \(x.texts)") }
        // Every polyline point lies inside the plot area.
        for e in x.elements where e.name == "polyline" {
            for p in e.attrs["points"]!.split(separator: " ") {
                let xy = p.split(separator: ",").compactMap { Double($0) }
                XCTAssertEqual(xy.count, 2)
                XCTAssertTrue((70...550).contains(xy[0]) && (40...365).contains(xy[1]), "\(xy)")
            }
        }
    }

    func testUnlabeledTupleSeriesAndFixedRange() throws {
        var c = SVGLineChart(title: "acc", xLabel: "epoch", yLabel: "WAR", series: [("train", [(1, 0.5), (2, 0.7)]), ("val", [(1, 0.4), (2, 1.5)])])
        c.yRange = 0...1
        c.markers = true
        let x = try XMLCollector.parse(c.render())
        XCTAssertEqual(x.count("polyline"), 2)
        XCTAssertEqual(x.count("circle"), 4)
        // The out-of-range point is clamped to the top of the plot (y = 40), not drawn outside.
        let ys = x.elements.filter { $0.name == "circle" }.map { Double($0.attrs["cy"]!)! }
        XCTAssertEqual(ys.min(), 40)
    }

    func testEmptyAndDegenerateLineChartsStayWellFormed() throws {
        XCTAssertNoThrow(try XMLCollector.parse(SVGLineChart(title: "empty", xLabel: "x", yLabel: "y", series: [ChartSeries]()).render()))
        let one = try XMLCollector.parse(SVGLineChart(title: "flat", xLabel: "x", yLabel: "y",
                                                      series: [(name: "a", points: [(1, 1)])]).render())
        XCTAssertEqual(one.count("circle"), 1)
    }

    func testConfusionMatrix() throws {
        let labels = ["happy", "sad", "angry"]
        let counts = [[5, 1, 0], [2, 3, 1], [0, 0, 4]]
        let x = try XMLCollector.parse(SVGConfusionMatrix(labels: labels, counts: counts, predictedLabels: labels + ["(none)"]).render())
        XCTAssertEqual(x.count("rect", cssClass: "cell"), 12)
        // Cell titles name the pair and the count; the count is drawn as text.
        let titles = x.elements.filter { $0.name == "rect" && $0.attrs["class"] == "cell" }.count
        XCTAssertEqual(titles, 12)
        XCTAssertTrue(x.texts.contains("(none)"))
        for n in ["5", "3", "4", "2"] { XCTAssertTrue(x.texts.contains(n)) }
        // Row-normalized shares: happy row 5/6 = 83%, sad row 3/6 = 50%, angry row 4/4 = 100%.
        for s in ["83%", "50%", "100%", "17%"] { XCTAssertTrue(x.texts.contains(s), "\(s) in \(x.texts)") }
        // Colour follows the row share: the full angry->angry cell is the darkest heat colour.
        let fills = x.elements.filter { $0.attrs["class"] == "cell" }.map { $0.attrs["fill"]! }
        XCTAssertEqual(fills[2 * 4 + 2], ChartStyle.heat(1))
        XCTAssertEqual(fills[0 * 4 + 2], ChartStyle.heat(0))
        XCTAssertEqual(fills[0 * 4 + 0], ChartStyle.heat(5.0 / 6.0))
    }

    func testTimeline() throws {
        let tl = SVGTimeline(categories: ["happy", "neutral", "sad"],
                             spans: [(0, 2, "neutral"), (2, 3.5, "happy"), (3.5, 6, "neutral"), (6, 8, "surprise")],
                             title: "clip.mp4")
        XCTAssertEqual(tl.categories, ["happy", "neutral", "sad", "surprise"], "unlisted category gets its own band")
        let x = try XMLCollector.parse(tl.render())
        XCTAssertEqual(x.count("rect", cssClass: "span"), 4)
        for c in ["happy", "neutral", "sad", "surprise", "clip.mp4"] { XCTAssertTrue(x.texts.contains(c)) }
        // Spans of the same category share its band (same y) and later spans sit further right.
        let spans = x.elements.filter { $0.attrs["class"] == "span" }
        XCTAssertEqual(spans[0].attrs["y"], spans[2].attrs["y"])
        XCTAssertNotEqual(spans[0].attrs["y"], spans[1].attrs["y"])
        let xs = spans.map { Double($0.attrs["x"]!)! }
        XCTAssertEqual(xs, xs.sorted())
    }

    func testTicksAndEscaping() {
        let t = ChartStyle.ticks(0, 1, count: 5)
        XCTAssertEqual(t.count, 6)
        for (a, b) in zip(t, [0, 0.2, 0.4, 0.6, 0.8, 1]) { XCTAssertEqual(a, b, accuracy: 1e-12) }
        XCTAssertEqual(ChartStyle.ticks(-3, 7, count: 5), [-2, 0, 2, 4, 6])
        XCTAssertEqual(ChartStyle.ticks(0, 100, count: 4), [0, 50, 100])
        XCTAssertEqual(SVGWriter.escape("a<b & \"c\"\u{1}"), "a&lt;b &amp; &quot;c&quot;")
    }
}
