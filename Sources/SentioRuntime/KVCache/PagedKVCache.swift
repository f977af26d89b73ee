// KV-cache handles: one sequence's keys and values, as a small protocol (`KVCache`) whose variants are
// types: `F16KVCache` (default), `F32KVCache`, `Q8KVCache` (int8 rows with one f32 scale per token and
// KV head, dequantized inside the attention kernels) and `Q8VKVCache` (keys f16, values q8: 0.77x the
// f16 memory at near-f16 quality, where q8 keys cost 35x more KL; docs/BENCHMARKS.md, KV section). All
// are `PagedKVCache<Format>`: fixed-size blocks shared copy-on-write.
//
// A block holds `blockTokens` tokens of every layer (K and V; per layer and KV head one region laid out
// as KVView describes). Blocks are reference-counted Swift objects: fork() copies the block list, so G
// forks of a long prompt share its blocks and cost nothing until one of them writes into a shared
// block, which is then copied (only the partially filled tail block can be written). truncate(to:)
// rolls back (releasing whole blocks past the new end).
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

    /// Element types of a cache (keys and values; q8v: f16 keys, q8 values); each has its cache type
    /// (`makeCache`). Decoding an unknown name (a prompt-cache file from a newer build) throws an error
    /// that names it and the known ones.
    public enum KVDType: String, Sendable, Codable, CaseIterable {
        case f32, f16, q8, q8v

        public init(from decoder: Decoder) throws {
            let c = try decoder.singleValueContainer()
            let s = try c.decode(String.self)
            guard let t = KVDType(rawValue: s) else {
                throw DecodingError.dataCorruptedError(in: c, debugDescription:
                    "unknown KV cache type '\(s)' (this build knows \(Self.names))")
            }
            self = t
        }

        /// "f32, f16, q8, q8v" (CLI help and errors).
        public static var names: String { allCases.map(\.rawValue).joined(separator: ", ") }

        /// Element type of the keys.
        public var keyType: DType { self == .f32 ? .f32 : self == .q8 ? .q8 : .f16 }
        /// Element type of the values.
        public var valueType: DType { self == .f32 ? .f32 : self == .f16 ? .f16 : .q8 }
        /// True when some element is stored rounded below f16 (the cache changes what the model computes
        /// by more than f16 rounding).
        public var isQuantized: Bool { keyType == .q8 || valueType == .q8 }
    }

    public init(layers: Int, kvHeads: Int, headDim: Int, blockTokens: Int = 64, dtype: KVDType = .f16) {
        self.layers = layers; self.kvHeads = kvHeads; self.headDim = headDim
        self.blockTokens = blockTokens; self.dtype = dtype
    }

    public init(config c: Qwen2Config, blockTokens: Int = 64, dtype: KVDType = .f16) {
        self.init(layers: c.numHiddenLayers, kvHeads: c.numKeyValueHeads, headDim: c.headDim, blockTokens: blockTokens, dtype: dtype)
    }

    /// Bytes of one layer's K part of a block.
    var kPlaneBytes: Int { KVView.blockBytes(dtype: dtype.keyType, kvHeads: kvHeads, headDim: headDim, blockTokens: blockTokens) }
    /// Bytes of one layer's V part of a block.
    var vPlaneBytes: Int { KVView.blockBytes(dtype: dtype.valueType, kvHeads: kvHeads, headDim: headDim, blockTokens: blockTokens) }
    /// Bytes of one whole block (all layers, K and V).
    public var blockBytes: Int { (kPlaneBytes + vPlaneBytes) * layers }
    /// Bytes of KV memory per cached token (all layers, K and V, scales included).
    public var bytesPerToken: Double { Double(blockBytes) / Double(blockTokens) }

    /// A fresh, empty cache of the type this layout's dtype names.
    public func makeCache() -> any KVCache {
        switch dtype {
        case .f16: return F16KVCache(layout: self)
        case .f32: return F32KVCache(layout: self)
        case .q8: return Q8KVCache(layout: self)
        case .q8v: return Q8VKVCache(layout: self)
        }
    }
}

/// A sequence's KV-cache handle. The model appends through `KVStore` (reserve, view, advance).
public protocol KVCache: KVStore {
    var layout: KVCacheLayout { get }
    /// Rolls back to the first `n` tokens (0 <= n <= length).
    func truncate(to n: Int)
    /// A new handle sharing this one's tokens copy-on-write.
    func fork() -> Self
    /// Bytes of KV memory this handle references (shared blocks counted fully).
    var bytesReferenced: Int { get }
    /// Bytes of KV memory only this handle references (what dropping it frees).
    var bytesExclusive: Int { get }
    /// The raw bytes of the blocks holding tokens 0..<length, in order (save).
    func forEachBlock(_ body: (UnsafeRawBufferPointer) throws -> Void) rethrows
}

/// The element format of a `PagedKVCache` (a type, so the cache variants are types).
public protocol KVElementFormat { static var dtype: KVCacheLayout.KVDType { get } }
public enum KVFormatF16: KVElementFormat { public static var dtype: KVCacheLayout.KVDType { .f16 } }
public enum KVFormatF32: KVElementFormat { public static var dtype: KVCacheLayout.KVDType { .f32 } }
public enum KVFormatQ8: KVElementFormat { public static var dtype: KVCacheLayout.KVDType { .q8 } }
public enum KVFormatQ8V: KVElementFormat { public static var dtype: KVCacheLayout.KVDType { .q8v } }

public typealias F16KVCache = PagedKVCache<KVFormatF16>
public typealias F32KVCache = PagedKVCache<KVFormatF32>
public typealias Q8KVCache = PagedKVCache<KVFormatQ8>
/// Keys f16 (Qwen2's keys have channels of very different ranges: one int8 scale per row crushes the
/// small ones), values q8 (per-row int8 costs them almost nothing).
public typealias Q8VKVCache = PagedKVCache<KVFormatQ8V>

/// Storage for `blockTokens` tokens of all layers. Freed when the last cache holding it lets go.
final class KVBlock {
    let memory: UnsafeMutableRawPointer
    let bytes: Int
    let kPlaneBytes: Int
    let vPlaneBytes: Int

    init(layout: KVCacheLayout) {
        bytes = layout.blockBytes
        kPlaneBytes = layout.kPlaneBytes
        vPlaneBytes = layout.vPlaneBytes
        memory = .allocate(byteCount: bytes, alignment: 64)
        KVCacheMemory.live.add(bytes)
    }

    deinit {
        memory.deallocate()
        KVCacheMemory.live.add(-bytes)
    }

    /// Layer l's K plane, then its V plane; layers one after another.
    func k(_ layer: Int) -> UnsafeMutableRawPointer { memory + layer * (kPlaneBytes + vPlaneBytes) }
    func v(_ layer: Int) -> UnsafeMutableRawPointer { memory + layer * (kPlaneBytes + vPlaneBytes) + kPlaneBytes }

    func copy(layout: KVCacheLayout) -> KVBlock {
        let b = KVBlock(layout: layout)
        b.memory.copyMemory(from: memory, byteCount: bytes)
        return b
    }
}

/// Process-wide KV memory accounting.
public enum KVCacheMemory {
    static let live = ByteCounter()
    /// Bytes held by every live KV block in the process.
    public static var liveBytes: Int { live.current }
    /// The most ever held at once.
    public static var peakBytes: Int { live.peak }
}

public final class ByteCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var value = 0
    private var peakValue = 0
    func add(_ n: Int) { lock.withLock { value += n; peakValue = max(peakValue, value) } }
    public var current: Int { lock.withLock { value } }
    public var peak: Int { lock.withLock { peakValue } }
}

public final class PagedKVCache<Format: KVElementFormat>: KVCache {
    public let layout: KVCacheLayout
    public private(set) var length: Int = 0
    private var blocks: [KVBlock] = []
    /// Per-layer tables of block pointers handed to the attention kernel.
    private var kTables: [UnsafeMutablePointer<UnsafeMutableRawPointer>] = []
    private var vTables: [UnsafeMutablePointer<UnsafeMutableRawPointer>] = []
    private var tableCapacity = 0
    private var tablesValid = false

    /// A cache of this type's element format (the layout's dtype is set to it).
    public init(layout: KVCacheLayout) {
        var l = layout
        l.dtype = Format.dtype
        self.layout = l
    }

    public convenience init(config: Qwen2Config, blockTokens: Int = 64) {
        self.init(layout: KVCacheLayout(config: config, blockTokens: blockTokens, dtype: Format.dtype))
    }

    deinit { freeTables() }

    public var bytesReferenced: Int { blocks.count * layout.blockBytes }

    public var bytesExclusive: Int {
        var n = 0
        for i in blocks.indices where isKnownUniquelyReferenced(&blocks[i]) { n += layout.blockBytes }
        return n
    }

    public func reserve(_ n: Int) throws {
        guard n >= 0 else { throw SentioError(.argument, "KV cache: reserve(\(n))") }
        let needed = (length + n + layout.blockTokens - 1) / layout.blockTokens
        // The tail block will be written into: unshare it if a fork also holds it.
        if length % layout.blockTokens != 0, n > 0 {
            let t = length / layout.blockTokens
            if !isKnownUniquelyReferenced(&blocks[t]) { blocks[t] = blocks[t].copy(layout: layout); tablesValid = false }
        }
        while blocks.count < needed { blocks.append(KVBlock(layout: layout)); tablesValid = false }
    }

    public func view(layer: Int, tokens: Int) -> KVView {
        precondition(tokens <= blocks.count * layout.blockTokens, "view past reserved blocks")
        if !tablesValid { rebuildTables() }
        return KVView(keyType: layout.dtype.keyType, valueType: layout.dtype.valueType, kvHeads: layout.kvHeads, headDim: layout.headDim,
                      blockTokens: layout.blockTokens, kBlocks: UnsafePointer(kTables[layer]),
                      vBlocks: UnsafePointer(vTables[layer]), length: tokens)
    }

    public func advance(_ n: Int) {
        precondition(length + n <= blocks.count * layout.blockTokens)
        length += n
    }

    public func truncate(to n: Int) {
        precondition(n >= 0 && n <= length, "truncate(to: \(n)) outside 0...\(length)")
        length = n
        let keep = (n + layout.blockTokens - 1) / layout.blockTokens
        if blocks.count > keep { blocks.removeLast(blocks.count - keep); tablesValid = false }
    }

    public func fork() -> PagedKVCache<Format> {
        let c = PagedKVCache<Format>(layout: layout)
        c.blocks = blocks
        c.length = length
        return c
    }

    public func forEachBlock(_ body: (UnsafeRawBufferPointer) throws -> Void) rethrows {
        let used = (length + layout.blockTokens - 1) / layout.blockTokens
        for b in blocks.prefix(used) { try body(UnsafeRawBufferPointer(start: b.memory, count: b.bytes)) }
    }

    /// Appends `count` whole blocks read from `bytes` (count * blockBytes) and sets the length (restore).
    func load(blocks bytes: UnsafeRawBufferPointer, length n: Int) {
        precondition(blocks.isEmpty && bytes.count == ((n + layout.blockTokens - 1) / layout.blockTokens) * layout.blockBytes)
        var off = 0
        while off < bytes.count {
            let b = KVBlock(layout: layout)
            b.memory.copyMemory(from: bytes.baseAddress! + off, byteCount: layout.blockBytes)
            blocks.append(b)
            off += layout.blockBytes
        }
        length = n
        tablesValid = false
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

extension KVCacheLayout {
    /// A cache of this layout filled from saved blocks (PromptCache.read).
    func restore(blocks: UnsafeRawBufferPointer, length: Int) -> any KVCache {
        switch dtype {
        case .f16: let c = F16KVCache(layout: self); c.load(blocks: blocks, length: length); return c
        case .f32: let c = F32KVCache(layout: self); c.load(blocks: blocks, length: length); return c
        case .q8: let c = Q8KVCache(layout: self); c.load(blocks: blocks, length: length); return c
        case .q8v: let c = Q8VKVCache(layout: self); c.load(blocks: blocks, length: length); return c
        }
    }
}
