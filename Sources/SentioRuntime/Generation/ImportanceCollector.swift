// ImportanceCollector: measures an ImportanceMatrix while the language model runs. Installed as the model's
// linear hook it sees the input of every decoder projection (it adds nothing to the outputs); the output
// head's input (the final-norm hidden states) is handed to it by Perplexity.run. Sums of x^2 per column
// are kept in Double; q/k/v share one input (as do gate/up), so each shared input is summed once.
import Foundation
import SentioFormat
import SentioKernels
import SentioModels

public final class ImportanceCollector: Qwen2LinearHook, @unchecked Sendable {
    let layers: Int
    let hidden: Int
    let intermediate: Int
    /// [layer][input kind] column sums; kinds: 0 attention input (q,k,v), 1 attention output (o),
    /// 2 MLP input (gate, up), 3 MLP hidden (down).
    var sums: [[[Double]]]
    var rows: [[Int]]
    var head: [Double]
    var headRows = 0
    let lock = NSLock()

    public init(config: Qwen2Config) {
        layers = config.numHiddenLayers; hidden = config.hiddenSize; intermediate = config.intermediateSize
        let widths = [hidden, hidden, hidden, intermediate]
        sums = (0..<layers).map { _ in widths.map { [Double](repeating: 0, count: $0) } }
        rows = [[Int]](repeating: [0, 0, 0, 0], count: layers)
        head = [Double](repeating: 0, count: hidden)
    }

    static func kind(_ p: Qwen2Schema.Proj) -> Int? {
        switch p {
        case .q: return 0
        case .o: return 1
        case .gate: return 2
        case .down: return 3
        case .k, .v, .up: return nil   // same input as q / gate
        }
    }

    public func addDelta(layer: Int, proj: Qwen2Schema.Proj, x: UnsafePointer<Float>, n: Int,
                         y: UnsafeMutablePointer<Float>, pool: ThreadPool) {
        guard let k = Self.kind(proj), layer < layers else { return }
        lock.lock(); defer { lock.unlock() }
        let w = sums[layer][k].count
        sums[layer][k].withUnsafeMutableBufferPointer { Self.accumulate(x, rows: n, width: w, into: $0) }
        rows[layer][k] += n
    }

    /// The output head's input rows [n, hidden].
    public func addHeadInput(_ x: UnsafePointer<Float>, rows n: Int) {
        lock.lock(); defer { lock.unlock() }
        head.withUnsafeMutableBufferPointer { Self.accumulate(x, rows: n, width: hidden, into: $0) }
        headRows += n
    }

    static func accumulate(_ x: UnsafePointer<Float>, rows n: Int, width w: Int, into s: UnsafeMutableBufferPointer<Double>) {
        for r in 0..<n {
            let row = x + r * w
            for j in 0..<w { let v = Double(row[j]); s[j] += v * v }
        }
    }

    /// Positions seen by the first layer's attention input.
    public var positions: Int { lock.withLock { layers > 0 ? rows[0][0] : headRows } }

    /// Means per column, keyed by weight name (the head only when it has its own matrix, `untiedHead`).
    public func matrix(untiedHead: Bool, info: [String: String] = [:]) -> ImportanceMatrix {
        lock.lock(); defer { lock.unlock() }
        func mean(_ s: [Double], _ n: Int) -> [Float] { s.map { Float($0 / Double(max(n, 1))) } }
        var cols: [String: [Float]] = [:]
        for l in 0..<layers {
            let attnIn = mean(sums[l][0], rows[l][0]), mlpIn = mean(sums[l][2], rows[l][2])
            for p: Qwen2Schema.Proj in [.q, .k, .v] { cols[Qwen2Schema.weight(l, p)] = attnIn }
            cols[Qwen2Schema.weight(l, .o)] = mean(sums[l][1], rows[l][1])
            cols[Qwen2Schema.weight(l, .gate)] = mlpIn
            cols[Qwen2Schema.weight(l, .up)] = mlpIn
            cols[Qwen2Schema.weight(l, .down)] = mean(sums[l][3], rows[l][3])
        }
        if untiedHead, headRows > 0 { cols[Qwen2Schema.lmHead] = mean(head, headRows) }
        return ImportanceMatrix(columns: cols, info: info)
    }
}
