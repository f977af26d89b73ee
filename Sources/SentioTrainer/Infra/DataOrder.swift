// Which samples each optimizer step sees: a seeded shuffle per epoch, cut into global batches, each
// cut into micro-batch slots for (accumulation step, rank). The position (epoch, batch index) is all
// a checkpoint needs to continue the same order.
//
//   global batch b of epoch e = order(e)[b*G ..< (b+1)*G],  G = micro * accumulation * worldSize
//   slot s = a * worldSize + rank  ->  global batch[s*micro ..< (s+1)*micro]
// so one process with accumulation 2 and two ranks with accumulation 1 see the same slices. The last
// partial batch of an epoch is dropped (every step has the same global batch).
import SentioCore
import SentioRuntime

public struct DataPosition: Codable, Equatable, Sendable {
    public var epoch: Int
    /// Global batches of this epoch already consumed.
    public var batch: Int
    public init(epoch: Int = 0, batch: Int = 0) { self.epoch = epoch; self.batch = batch }
}

public struct DataOrder: Sendable {
    public let count: Int
    public let seed: UInt64
    public let microBatch: Int
    public let accumulation: Int
    public let worldSize: Int
    public var shuffle: Bool

    public init(count: Int, seed: UInt64, microBatch: Int, accumulation: Int, worldSize: Int, shuffle: Bool = true) throws {
        guard microBatch > 0, accumulation > 0, worldSize > 0 else {
            throw SentioError(.argument, "data order: micro-batch \(microBatch), accumulation \(accumulation) and world size \(worldSize) must be positive")
        }
        let (g, o1) = microBatch.multipliedReportingOverflow(by: accumulation)
        let (g2, o2) = g.multipliedReportingOverflow(by: worldSize)
        guard !o1, !o2, g2 <= count else {
            throw SentioError(.argument, "data order: a global batch of \(microBatch)x\(accumulation)x\(worldSize) samples needs at least that many samples (have \(count))")
        }
        self.count = count
        self.seed = seed
        self.microBatch = microBatch
        self.accumulation = accumulation
        self.worldSize = worldSize
        self.shuffle = shuffle
    }

    public var globalBatch: Int { microBatch * accumulation * worldSize }
    public var batchesPerEpoch: Int { count / globalBatch }

    /// The sample order of one epoch: Fisher-Yates with a generator seeded from (seed, epoch).
    public func permutation(epoch: Int) -> [Int] {
        var order = Array(0..<count)
        guard shuffle else { return order }
        var rng = SentioRNG(seed: seed ^ (UInt64(truncatingIfNeeded: epoch) &+ 1) &* 0xD1B54A32D192ED03)
        var i = count - 1
        while i > 0 {
            let j = Int(rng.next() % UInt64(i + 1))
            order.swapAt(i, j)
            i -= 1
        }
        return order
    }

    /// The global batch at `position` (normalized: a finished epoch rolls over).
    public func globalBatch(at position: DataPosition) -> (indices: [Int], position: DataPosition) {
        var p = position
        if p.batch >= batchesPerEpoch { p = DataPosition(epoch: p.epoch + 1, batch: 0) }
        let order = permutation(epoch: p.epoch)
        return (Array(order[p.batch * globalBatch ..< (p.batch + 1) * globalBatch]), p)
    }

    /// The micro-batch of `rank` for accumulation step `a` inside a global batch, and its slot.
    public func microBatch(_ global: [Int], accumulationStep a: Int, rank: Int) -> (indices: [Int], slot: Int) {
        let slot = a * worldSize + rank
        return (Array(global[slot * microBatch ..< (slot + 1) * microBatch]), slot)
    }

    /// The position after consuming the batch at `position`.
    public func advance(_ position: DataPosition) -> DataPosition {
        DataPosition(epoch: position.epoch, batch: position.batch + 1)
    }
}

/// The generator a micro-batch samples with: a function of (seed, step, slot) only, so it is the same
/// whether the slot runs on another rank or in another accumulation step, and after a resume.
public func microBatchRNG(seed: UInt64, step: Int, slot: Int) -> SentioRNG {
    SentioRNG(seed: seed ^ (UInt64(truncatingIfNeeded: step) &* 0x9E3779B97F4A7C15) ^ (UInt64(truncatingIfNeeded: slot) &* 0xC2B2AE3D27D4EB4F &+ 0x165667B19E3779F9))
}

/// The generator of the sample at `position` of step `step`'s global batch (position = slot ×
/// micro-batch + index in the micro-batch), for stream `stream` (GRPO: 0 rollouts, 1 LoRA dropout).
/// Unlike `microBatchRNG` it does not depend on how the global batch is cut into micro-batches, ranks
/// and accumulation steps: a prompt's rollouts are the same on one process and on N ranks.
public func sampleRNG(seed: UInt64, step: Int, position: Int, stream: UInt64 = 0) -> SentioRNG {
    SentioRNG(seed: seed ^ (UInt64(truncatingIfNeeded: step) &* 0xBF58476D1CE4E5B9)
                  ^ (UInt64(truncatingIfNeeded: position) &* 0x94D049BB133111EB &+ 0x2545F4914F6CDD1D)
                  ^ (stream &* 0xD6E8FEB86659FD93))
}
