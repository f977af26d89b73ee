// KVStore: what a decoder needs from a sequence's key/value cache. The runtime provides the
// handles (paged blocks, fork, rollback, save/restore); models only append and read.
import SentioKernels

public protocol KVStore: AnyObject {
    /// Tokens already cached (the position of the next token).
    var length: Int { get }
    /// Makes room for `n` more tokens in every layer (allocates blocks, unshares a copy-on-write tail).
    func reserve(_ n: Int) throws
    /// Layer `layer`'s keys and values for tokens 0..<tokens (tokens <= length + reserved).
    func view(layer: Int, tokens: Int) -> KVView
    /// Marks `n` appended tokens as valid.
    func advance(_ n: Int)
}

/// One sequence's share of a forward pass: `count` consecutive rows of the input, appended to `cache`.
public struct SequenceSegment {
    public let cache: KVStore
    public let count: Int
    public init(cache: KVStore, count: Int) { self.cache = cache; self.count = count }
}

/// Which rows of the final hidden state to turn into logits.
public enum LogitRows: Sendable {
    case none
    case lastOfEachSegment
    case all
}
