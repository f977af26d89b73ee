// PromptCache: a prefilled prompt (its KV cache, token ids and the logits of its last position) that
// can be forked for several continuations and saved to / restored from a file.
//
// File layout (little-endian):
//   "SNTPKVC1"                         8-byte magic
//   u32 headerBytes                    length of the JSON header (at most 64 KiB)
//   JSON header                        {version, model_checksum, layout, length, token_count, logits_count}
//                                      version 1 (f32/f16/q8 layouts) or 2 (the q8v layout, keys f16 and
//                                      values q8: each layer's K plane then V plane in a block)
//   token ids                          token_count x i32
//   logits                             logits_count x f32
//   KV blocks                          ceil(length / layout.blockTokens) x layout.blockBytes, raw
// Every size is checked against the file's size before anything is allocated from it; the file is
// written atomically (temporary file + rename).
import Foundation
import SentioCore
import SentioFormat

public struct PromptCache {
    /// Ids of the cached prompt (empty when it was prefilled from embeddings that have no ids).
    public var tokens: [Int32]
    public var cache: any KVCache
    /// Next-token logits after the last cached position (empty when not kept).
    public var logits: [Float]
    /// Identity of the model the cache was computed with (ModelIdentity.checksum).
    public var modelChecksum: String

    public init(tokens: [Int32], cache: any KVCache, logits: [Float], modelChecksum: String) {
        self.tokens = tokens; self.cache = cache; self.logits = logits; self.modelChecksum = modelChecksum
    }

    public var length: Int { cache.length }

    /// A copy-on-write fork: the KV blocks are shared until written.
    public func fork() -> PromptCache {
        PromptCache(tokens: tokens, cache: cache.fork(), logits: logits, modelChecksum: modelChecksum)
    }

    static let magic = Array("SNTPKVC1".utf8)
    /// File version: 1 for the f32/f16/q8 caches (files older builds read), 2 for q8v, so that a build
    /// without q8v says "unsupported version 2" instead of failing on the header's type name.
    static func version(_ t: KVCacheLayout.KVDType) -> Int { t == .q8v ? 2 : 1 }
    static let maxHeaderBytes = 64 << 10

    struct Header: Codable {
        var version: Int
        var modelChecksum: String
        var layout: KVCacheLayout
        var length: Int
        var tokenCount: Int
        var logitsCount: Int
        enum CodingKeys: String, CodingKey {
            case version, layout, length
            case modelChecksum = "model_checksum", tokenCount = "token_count", logitsCount = "logits_count"
        }
    }

    /// Writes the cache atomically to `url`.
    public func write(to url: URL) throws {
        guard tokens.isEmpty || tokens.count == cache.length else {
            throw SentioError(.argument, file: url.path, "prompt cache: \(tokens.count) token ids for \(cache.length) cached positions")
        }
        let h = Header(version: Self.version(cache.layout.dtype), modelChecksum: modelChecksum, layout: cache.layout, length: cache.length,
                       tokenCount: tokens.count, logitsCount: logits.count)
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys]
        let json = try enc.encode(h)
        var d = Data(Self.magic)
        var n = UInt32(json.count).littleEndian
        withUnsafeBytes(of: &n) { d.append(contentsOf: $0) }
        d.append(json)
        tokens.withUnsafeBytes { d.append(contentsOf: $0) }       // x86-64 / arm64: little-endian in memory
        logits.withUnsafeBytes { d.append(contentsOf: $0) }
        cache.forEachBlock { d.append(contentsOf: $0) }
        try AtomicFile.write(d, to: url)
    }

    /// Reads a prompt cache. `expectedModelChecksum`: refuse a cache computed with another model;
    /// `expectedLayout` (its dtype ignored when nil fields match): refuse a cache of another shape.
    public static func read(_ url: URL, expectedModelChecksum: String? = nil, expectedLayout: KVCacheLayout? = nil) throws -> PromptCache {
        func bad(_ why: String) -> SentioError { SentioError(.format, file: url.path, "prompt cache: \(why)") }
        let data: Data
        do { data = try Data(contentsOf: url, options: .alwaysMapped) } catch {
            throw SentioError(.io, file: url.path, "prompt cache: cannot read: \(error.localizedDescription)")
        }
        let size = data.count
        guard size >= 12, Array(data.prefix(8)) == magic else { throw bad("not a Sentio prompt cache (bad magic)") }
        let hb = data.withUnsafeBytes { Int(UInt32(littleEndian: $0.loadUnaligned(fromByteOffset: 8, as: UInt32.self))) }
        guard hb > 0, hb <= maxHeaderBytes, 12 + hb <= size else { throw bad("header length \(hb) does not fit the file (\(size) bytes)") }
        let h: Header
        do { h = try JSONDecoder().decode(Header.self, from: data.subdata(in: 12..<(12 + hb))) } catch {
            throw bad("unreadable header: \(error)")
        }
        guard (1...2).contains(h.version) else { throw bad("unsupported version \(h.version) (this build reads 1 and 2)") }
        let l = h.layout
        guard h.version >= Self.version(l.dtype) else { throw bad("a \(l.dtype.rawValue) cache in a version \(h.version) file") }
        guard (1...4096).contains(l.layers), (1...1024).contains(l.kvHeads), (1...4096).contains(l.headDim),
              (1...65536).contains(l.blockTokens) else {
            throw bad("implausible layout (layers \(l.layers), kv heads \(l.kvHeads), head dim \(l.headDim), block \(l.blockTokens))")
        }
        guard h.length >= 0, h.tokenCount == 0 || h.tokenCount == h.length, h.logitsCount >= 0 else {
            throw bad("length \(h.length), \(h.tokenCount) token ids, \(h.logitsCount) logits are inconsistent")
        }
        if let m = expectedModelChecksum, m != h.modelChecksum {
            throw bad("computed with model \(h.modelChecksum), not this model (\(m))")
        }
        if let e = expectedLayout, e.layers != l.layers || e.kvHeads != l.kvHeads || e.headDim != l.headDim {
            throw bad("layout \(l.layers) layers x \(l.kvHeads) kv heads x \(l.headDim) does not match the model's "
                      + "\(e.layers) x \(e.kvHeads) x \(e.headDim)")
        }
        // Sizes with overflow checks; all must add up to exactly the file's size before anything is allocated.
        func mul(_ a: Int, _ b: Int) throws -> Int {
            let (r, o) = a.multipliedReportingOverflow(by: b)
            guard !o else { throw bad("size overflows") }
            return r
        }
        func add(_ a: Int, _ b: Int) throws -> Int {
            let (r, o) = a.addingReportingOverflow(b)
            guard !o else { throw bad("size overflows") }
            return r
        }
        // One layer's K or V plane: kvHeads regions of blockTokens rows (q8: int8 rows, then an f32 scale per row).
        func plane(_ t: DType) throws -> Int {
            let rows = try mul(try mul(l.blockTokens, l.headDim), t == .f32 ? 4 : t == .f16 ? 2 : 1)
            return try mul(l.kvHeads, try add(rows, t == .q8 ? try mul(l.blockTokens, 4) : 0))
        }
        let blockBytes = try mul(l.layers, try add(try plane(l.dtype.keyType), try plane(l.dtype.valueType)))
        guard blockBytes == l.blockBytes else { throw bad("block size mismatch") }
        let nBlocks = h.length / l.blockTokens + (h.length % l.blockTokens == 0 ? 0 : 1)
        let tokBytes = try mul(h.tokenCount, 4), logitBytes = try mul(h.logitsCount, 4), kvBytes = try mul(nBlocks, blockBytes)
        let expected = try add(try add(try add(12 + hb, tokBytes), logitBytes), kvBytes)
        guard expected == size else { throw bad("the header describes \(expected) bytes but the file has \(size) (truncated or corrupt)") }
        var off = 12 + hb
        return try data.withUnsafeBytes { raw -> PromptCache in
            var tokens = [Int32](repeating: 0, count: h.tokenCount)
            tokens.withUnsafeMutableBytes { $0.copyMemory(from: UnsafeRawBufferPointer(rebasing: raw[off..<(off + tokBytes)])) }
            off += tokBytes
            var logits = [Float](repeating: 0, count: h.logitsCount)
            logits.withUnsafeMutableBytes { $0.copyMemory(from: UnsafeRawBufferPointer(rebasing: raw[off..<(off + logitBytes)])) }
            off += logitBytes
            let cache = l.restore(blocks: UnsafeRawBufferPointer(rebasing: raw[off..<(off + kvBytes)]), length: h.length)
            return PromptCache(tokens: tokens, cache: cache, logits: logits, modelChecksum: h.modelChecksum)
        }
    }
}

/// A short identity of a model file: xxHash64 of its first 64 bytes (a .sentio header carries the
/// xxHash64 of the whole tensor index) plus the file size (the same string `sentio recognize` reports).
public enum ModelIdentity {
    public static func checksum(of url: URL) throws -> String {
        let attrs = try FileManager.default.attributesOfItem(atPath: url.path)
        let size = (attrs[.size] as? NSNumber)?.intValue ?? 0
        let fh = try FileHandle(forReadingFrom: url)
        defer { try? fh.close() }
        let head = try fh.read(upToCount: 64) ?? Data()
        return String(format: "%016llx-%d", XXHash64.hash([UInt8](head)), size)
    }
}
