// A small stepper that really learns: least-squares regression y = w.x + b on a seeded synthetic
// dataset, with input noise drawn from the micro-batch generator (so a resume that restored the wrong
// RNG or data order would give different parameters). It exercises the whole loop (accumulation,
// all-reduce, clipping, AdamW, checkpoints, logs, plots) without a language model: the training
// infrastructure's self-check (`sentio train toy`) and the data-parallel and kill -9 tests use it.
//
//   data i: x_i ~ U(-1, 1)^d, y_i = w*.x_i + b*   (w*_j = (j+1)/d - 0.5, b* = 0.25)
//   loss  = mean_i 0.5 (w.(x_i + noise u_i) + b - y_i)^2,  u_i ~ U(-1, 1)^d from the rng (noise 0.01)
import Foundation
import SentioCore
import SentioRuntime

public final class LinearToyStepper: TrainingStepper {
    public let dimension: Int
    public let xs: [[Float]]
    public let ys: [Float]
    public var parameters: NamedTensors
    /// Milliseconds to sleep per step (for kill tests that need a step to take a while).
    public var delayMs = 0
    /// Amplitude of the input noise (0: a deterministic function of the data and parameters).
    public let noise: Float

    public static func target(dimension d: Int) -> (w: [Float], b: Float) {
        ((0..<d).map { Float($0 + 1) / Float(d) - 0.5 }, 0.25)
    }

    public init(dimension d: Int, count: Int, dataSeed: UInt64, noise: Float = 0.01) throws {
        guard d > 0, count > 0 else { throw SentioError(.argument, "toy data: dimension and count must be positive") }
        dimension = d
        self.noise = noise
        var rng = SentioRNG(seed: dataSeed)
        let (w, b) = Self.target(dimension: d)
        var xs: [[Float]] = [], ys: [Float] = []
        for _ in 0..<count {
            let x = (0..<d).map { _ in Float(rng.nextUnit() * 2 - 1) }
            xs.append(x)
            ys.append(zip(w, x).reduce(b) { $0 + $1.0 * $1.1 })
        }
        self.xs = xs
        self.ys = ys
        parameters = try NamedTensors([("linear.weight", [1, d], [Float](repeating: 0, count: d)), ("linear.bias", [1], [0])])
    }

    public func step(batch: [Int], context: StepContext, rng: inout SentioRNG) throws -> (gradients: NamedTensors, stats: StepStats) {
        if delayMs > 0 { usleep(useconds_t(delayMs * 1000)) }
        let d = dimension
        let w = Array(parameters.values[0..<d]), b = parameters.values[d]
        var gw = [Float](repeating: 0, count: d), gb: Float = 0
        var loss = 0.0
        var rewards: [[Double]] = []
        for i in batch {
            let x = noise == 0 ? xs[i] : xs[i].map { $0 + noise * Float(rng.nextUnit() * 2 - 1) }
            let err = zip(w, x).reduce(b) { $0 + $1.0 * $1.1 } - ys[i]
            loss += Double(0.5 * err * err)
            for j in 0..<d { gw[j] += err * x[j] }
            gb += err
            rewards.append([abs(err) < 0.1 ? 1 : 0])
        }
        let n = Float(batch.count)
        var g = NamedTensors(zeros: parameters.layout)
        g.values = gw.map { $0 / n } + [gb / n]
        let stats = StepStats(loss: loss / Double(batch.count), rewardNames: ["close"], rewards: rewards,
                              totals: rewards.map { $0[0] }, completionLengths: batch.map { _ in d },
                              groupSize: batch.count, tokens: batch.count * d,
                              samples: [SampleCompletion(label: String(format: "%.4f", ys[batch[0]]),
                                                         completion: String(format: "%.4f", zip(w, xs[batch[0]]).reduce(b) { $0 + $1.0 * $1.1 }),
                                                         reward: rewards[0][0])])
        return (g, stats)
    }

    /// Squared distance of the parameters from the target.
    public var distanceToTarget: Double {
        let (w, b) = Self.target(dimension: dimension)
        var s = Double(parameters.values[dimension] - b) * Double(parameters.values[dimension] - b)
        for j in 0..<dimension { s += Double(parameters.values[j] - w[j]) * Double(parameters.values[j] - w[j]) }
        return s
    }
}
