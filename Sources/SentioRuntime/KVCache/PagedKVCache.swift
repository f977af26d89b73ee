// PagedKVCache: one sequence's keys and values in fixed-size blocks shared copy-on-write.
//
// A block holds `blockTokens` tokens of every layer (K and V, [kvHeads][blockTokens][headDim] each).
// Blocks are reference-counted Swift objects: fork() copies the block list, so G forks of a long
// prompt share its blocks and cost nothing until one of them writes into a shared block, which is
// then copied (only the partially filled tail block can be written). truncate(to:) rolls back.
import Foundation
import SentioCore
import SentioKernels
import SentioModels

public struct KVCacheLayout: Sendable, Equatable, Codable {
    public var layers: Int
    public var kvHeads: Int
    public var headDim: Int
    public var blockTokens: Int
    public var dtype: KVDType

    public enum KVDType: String, Sendable, Codable { case f32, f16 }

    public init(layers: Int, kvHeads: Int, headDim: Int, blockTokens: Int = 64, dtype: KVDType = .f16) {
        self.layers = layers; self.kvHeads = kvHeads; self.headDim = headDim
        self.blockTokens = blockTokens; self.dtype = dtype
    }

    public init(config c: Qwen2Config, blockTokens: Int = 64, dtype: KVDType = .f16) {
        self.init(layers: c.numHiddenLayers, kvHeads: c.numKeyValueHeads, headDim: c.headDim, blockTokens: blockTokens, dtype: dtype)
    }

    var elementSize: Int { dtype == .f32 ? 4 : 2 }
    var coreDType: DType { dtype == .f32 ? .f32 : .f16 }
    /// Bytes of one layer's K (or V) part of a block.
    var planeBytes: Int { kvHeads * blockTokens * headDim * elementSize }
    /// Bytes of one whole block (all layers, K and V).
    public var blockBytes: Int { planeBytes * 2 * layers }
}

/// Storage for `blockTokens` tokens of all layers. Freed when the last cache holding it lets go.
final class KVBlock {
    let memory: UnsafeMutableRawPointer
    let layout: KVCacheLayout

    init(layout: KVCacheLayout) {
        self.layout = layout
        memory = .allocate(byteCount: layout.blockBytes, alignment: 64)
        KVBlock.live.add(layout.blockBytes)
    }

    deinit {
        memory.deallocate()
        KVBlock.live.add(-layout.blockBytes)
    }

    func k(_ layer: Int) -> UnsafeMutableRawPointer { memory + layer * 2 * layout.planeBytes }
    func v(_ layer: Int) -> UnsafeMutableRawPointer { memory + (layer * 2 + 1) * layout.planeBytes }

    func copy() -> KVBlock {
        let b = KVBlock(layout: layout)
        b.memory.copyMemory(from: memory, byteCount: layout.blockBytes)
        return b
    }

    /// Bytes held by all live blocks in the process (memory accounting).
    static let live = ByteCounter()
}

public final class ByteCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var value = 0
    private var peakValue = 0
    func add(_ n: Int) { lock.withLock { value += n; peakValue = max(peakValue, value) } }
    public var current: Int { lock.withLock { value } }
    public var peak: Int { lock.withLock { peakValue } }
}

public final class PagedKVCache: KVStore {
    public let layout: KVCacheLayout
    public private(set) var length: Int = 0
    private var blocks: [KVBlock] = []
    /// Per-layer tables of block pointers handed to the attention kernel.
    private var kTables: [UnsafeMutablePointer<UnsafeMutableRawPointer>] = []
    private var vTables: [UnsafeMutablePointer<UnsafeMutableRawPointer>] = []
    private var tableCapacity = 0
    private var tablesValid = false

    public init(layout: KVCacheLayout) {
        self.layout = layout
    }

    deinit { freeTables() }

    /// Bytes of KV memory this cache references (shared blocks counted fully).
    public var bytesReferenced: Int { blocks.count * layout.blockBytes }
    /// Bytes held by every live KV block in the process.
    public static var bytesLiveInProcess: Int { KVBlock.live.current }

    public func reserve(_ n: Int) throws {
        precondition(n >= 0)
        let needed = (length + n + layout.blockTokens - 1) / layout.blockTokens
        // The tail block will be written into: unshare it if a fork also holds it.
        if length % layout.blockTokens != 0, n > 0 {
            let t = length / layout.blockTokens
            if !isKnownUniquelyReferenced(&blocks[t]) { blocks[t] = blocks[t].copy(); tablesValid = false }
        }
        while blocks.count < needed { blocks.append(KVBlock(layout: layout)); tablesValid = false }
    }

    public func view(layer: Int, tokens: Int) -> KVView {
        precondition(tokens <= blocks.count * layout.blockTokens, "view past reserved blocks")
        if !tablesValid { rebuildTables() }
        return KVView(dtype: layout.coreDType, kvHeads: layout.kvHeads, headDim: layout.headDim,
                      blockTokens: layout.blockTokens, kBlocks: UnsafePointer(kTables[layer]),
                      vBlocks: UnsafePointer(vTables[layer]), length: tokens)
    }

    public func advance(_ n: Int) {
        precondition(length + n <= blocks.count * layout.blockTokens)
        length += n
    }

    /// Rolls back to the first `n` tokens (n <= length); later blocks are released.
    public func truncate(to n: Int) {
        precondition(n >= 0 && n <= length, "truncate(to: \(n)) outside 0...\(length)")
        length = n
        let keep = (n + layout.blockTokens - 1) / layout.blockTokens
        if blocks.count > keep { blocks.removeLast(blocks.count - keep); tablesValid = false }
    }

    /// A new cache sharing this one's blocks copy-on-write.
    public func fork() -> PagedKVCache {
        let c = PagedKVCache(layout: layout)
        c.blocks = blocks
        c.length = length
        return c
    }

    private func rebuildTables() {
        if tableCapacity < blocks.count {
            freeTables()
            tableCapacity = max(blocks.count, 16) * 2
            for _ in 0..<layout.layers {
                kTables.append(.allocate(capacity: tableCapacity))
                vTables.append(.allocate(capacity: tableCapacity))
            }
        }
        for l in 0..<layout.layers {
            for (i, b) in blocks.enumerated() { kTables[l][i] = b.k(l); vTables[l][i] = b.v(l) }
        }
        tablesValid = true
    }

    private func freeTables() {
        for p in kTables { p.deallocate() }
        for p in vTables { p.deallocate() }
        kTables = []; vTables = []; tableCapacity = 0
    }
}
