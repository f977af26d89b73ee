// A small SVG 1.1 writer with no dependencies: elements are appended as escaped XML text. The charts in this
// folder (line chart, confusion matrix, timeline) build on it; anything else can too.
import Foundation

public struct SVGWriter {
    public let width: Double
    public let height: Double
    public private(set) var body: [String] = []
    private var depth = 1

    public init(width: Double, height: Double) {
        self.width = width
        self.height = height
    }

    /// XML text escaping for content and attribute values.
    public static func escape(_ s: String) -> String {
        var o = ""
        o.reserveCapacity(s.count)
        for ch in s.unicodeScalars {
            switch ch {
            case "&": o += "&amp;"
            case "<": o += "&lt;"
            case ">": o += "&gt;"
            case "\"": o += "&quot;"
            case "'": o += "&apos;"
            default:
                // XML 1.0 forbids most control characters even escaped: drop them.
                if ch.value < 0x20 && ch != "\t" && ch != "\n" && ch != "\r" { continue }
                o.unicodeScalars.append(ch)
            }
        }
        return o
    }

    /// A number as SVG wants it: finite, at most 2 decimals, no exponent.
    public static func num(_ v: Double) -> String {
        guard v.isFinite else { return "0" }
        let r = (v * 100).rounded() / 100
        if r == r.rounded() && abs(r) < 1e15 { return String(Int64(r)) }
        return String(format: "%.2f", r)
    }

    private static func attrs(_ a: KeyValuePairs<String, String>) -> String {
        a.map { " \($0.key)=\"\(escape($0.value))\"" }.joined()
    }

    private mutating func add(_ s: String) {
        body.append(String(repeating: "  ", count: depth) + s)
    }

    public mutating func rect(x: Double, y: Double, width w: Double, height h: Double, fill: String,
                              stroke: String? = nil, title: String? = nil, cssClass: String? = nil) {
        var s = "<rect x=\"\(Self.num(x))\" y=\"\(Self.num(y))\" width=\"\(Self.num(max(0, w)))\" height=\"\(Self.num(max(0, h)))\" fill=\"\(Self.escape(fill))\""
        if let stroke { s += " stroke=\"\(Self.escape(stroke))\"" }
        if let cssClass { s += " class=\"\(Self.escape(cssClass))\"" }
        if let title { add(s + "><title>\(Self.escape(title))</title></rect>") } else { add(s + "/>") }
    }

    public mutating func line(x1: Double, y1: Double, x2: Double, y2: Double, stroke: String = "#000", width w: Double = 1,
                              dash: String? = nil) {
        var s = "<line x1=\"\(Self.num(x1))\" y1=\"\(Self.num(y1))\" x2=\"\(Self.num(x2))\" y2=\"\(Self.num(y2))\" stroke=\"\(Self.escape(stroke))\" stroke-width=\"\(Self.num(w))\""
        if let dash { s += " stroke-dasharray=\"\(Self.escape(dash))\"" }
        add(s + "/>")
    }

    public mutating func polyline(_ points: [(Double, Double)], stroke: String, width w: Double = 1.5, title: String? = nil) {
        let pts = points.map { "\(Self.num($0.0)),\(Self.num($0.1))" }.joined(separator: " ")
        let s = "<polyline points=\"\(pts)\" fill=\"none\" stroke=\"\(Self.escape(stroke))\" stroke-width=\"\(Self.num(w))\" stroke-linejoin=\"round\""
        if let title { add(s + "><title>\(Self.escape(title))</title></polyline>") } else { add(s + "/>") }
    }

    public mutating func circle(cx: Double, cy: Double, r: Double, fill: String) {
        add("<circle cx=\"\(Self.num(cx))\" cy=\"\(Self.num(cy))\" r=\"\(Self.num(r))\" fill=\"\(Self.escape(fill))\"/>")
    }

    public enum Anchor: String { case start, middle, end }

    public mutating func text(_ t: String, x: Double, y: Double, size: Double = 12, anchor: Anchor = .start,
                              fill: String = "#222", bold: Bool = false, rotate: Double? = nil) {
        var s = "<text x=\"\(Self.num(x))\" y=\"\(Self.num(y))\" font-size=\"\(Self.num(size))\" text-anchor=\"\(anchor.rawValue)\" fill=\"\(Self.escape(fill))\""
        if bold { s += " font-weight=\"bold\"" }
        if let rotate { s += " transform=\"rotate(\(Self.num(rotate)) \(Self.num(x)) \(Self.num(y)))\"" }
        add(s + ">\(Self.escape(t))</text>")
    }

    public mutating func beginGroup(id: String? = nil, cssClass: String? = nil) {
        var s = "<g"
        if let id { s += " id=\"\(Self.escape(id))\"" }
        if let cssClass { s += " class=\"\(Self.escape(cssClass))\"" }
        add(s + ">")
        depth += 1
    }

    public mutating func endGroup() {
        depth = max(1, depth - 1)
        add("</g>")
    }

    /// The whole document.
    public func render() -> String {
        var s = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        s += "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"\(Self.num(width))\" height=\"\(Self.num(height))\" viewBox=\"0 0 \(Self.num(width)) \(Self.num(height))\" font-family=\"Helvetica, Arial, sans-serif\">\n"
        s += "  <rect x=\"0\" y=\"0\" width=\"\(Self.num(width))\" height=\"\(Self.num(height))\" fill=\"#ffffff\"/>\n"
        for l in body { s += l + "\n" }
        return s + "</svg>\n"
    }
}

/// Colours and scales shared by the charts.
public enum ChartStyle {
    /// Ten distinguishable series colours (cycled).
    public static let palette = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd",
                                 "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"]

    public static func color(_ i: Int) -> String { palette[((i % palette.count) + palette.count) % palette.count] }

    /// White (0) to dark blue (1), for heatmaps.
    public static func heat(_ v: Double) -> String {
        let t = v.isFinite ? min(1, max(0, v)) : 0
        let r = Int((255 - t * (255 - 8)).rounded()), g = Int((255 - t * (255 - 48)).rounded()), b = Int((255 - t * (255 - 107)).rounded())
        return String(format: "#%02x%02x%02x", r, g, b)
    }

    /// About `count` round tick values (1, 2, 5 x 10^k steps) covering lo...hi.
    public static func ticks(_ lo: Double, _ hi: Double, count: Int = 5) -> [Double] {
        guard lo.isFinite, hi.isFinite, hi > lo, count > 0 else { return lo.isFinite ? [lo] : [] }
        let raw = (hi - lo) / Double(count)
        let mag = pow(10, floor(log10(raw)))
        let step = [1.0, 2, 5, 10].map { $0 * mag }.first { $0 >= raw } ?? 10 * mag
        var out: [Double] = []
        var k = (lo / step - 1e-9).rounded(.up)
        while k * step <= hi + step * 1e-9 && out.count < 100 {
            let v = k * step
            out.append(abs(v) < step * 1e-9 ? 0 : v)
            k += 1
        }
        return out
    }

    /// A tick label: integers plainly, else up to 4 significant digits.
    public static func tickLabel(_ v: Double) -> String {
        if v == v.rounded() && abs(v) < 1e9 { return String(Int64(v)) }
        return String(format: "%.4g", v)
    }
}
