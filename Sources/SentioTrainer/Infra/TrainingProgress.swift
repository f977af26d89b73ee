// Console progress: a redrawn bar with ETA when stderr is a terminal, else one plain line per step
// (for logs and CI). ETA = mean step time of this session x steps left.
import Foundation

public struct TrainingProgress {
    public let total: Int
    public let isTTY: Bool
    private let start = Date()
    private let firstStep: Int
    private let write: (String) -> Void

    public init(total: Int, firstStep: Int, isTTY: Bool = isatty(2) != 0,
                write: @escaping (String) -> Void = { FileHandle.standardError.write(Data($0.utf8)) }) {
        self.total = total
        self.firstStep = firstStep
        self.isTTY = isTTY
        self.write = write
    }

    public static func duration(_ s: Double) -> String {
        guard s.isFinite, s >= 0 else { return "?" }
        let t = Int(s.rounded())
        if t >= 3600 { return "\(t / 3600)h\(String(format: "%02d", t % 3600 / 60))m" }
        if t >= 60 { return "\(t / 60)m\(String(format: "%02d", t % 60))s" }
        return "\(t)s"
    }

    /// The text for step `r.step` (exposed for tests).
    public func line(_ r: StepRecord, now: Date = Date()) -> String {
        let done = r.step - firstStep
        let elapsed = now.timeIntervalSince(start)
        let eta = done > 0 ? elapsed / Double(done) * Double(total - r.step) : .nan
        let stats = String(format: "loss %.4f reward %.3f kl %.4f len %.0f %.1fs/step", r.loss, r.reward, r.kl, r.completionLength, r.stepTimeS)
        if isTTY {
            let width = 24
            let filled = min(width, width * r.step / max(1, total))
            let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
            return "\r[\(bar)] \(r.step)/\(total) \(stats) eta \(Self.duration(eta))\u{1B}[K"
        }
        return "step \(r.step)/\(total) \(stats) eta \(Self.duration(eta))\n"
    }

    public func update(_ r: StepRecord) { write(line(r)) }
    public func finish() { if isTTY { write("\n") } }
}
