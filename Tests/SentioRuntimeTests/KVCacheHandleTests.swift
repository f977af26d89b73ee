// KV-cache handles on the tiny fixture LLM (r1omni-tiny-a's Qwen2: 2 layers, 4/2 heads x 16, random
// weights, the real 151936-token vocabulary): fork, rollback and save/restore give the same logits as
// the unforked cache (bit for bit: same arithmetic on the same bytes) and as recomputing the whole
// sequence from scratch in one prefill (within the tolerance of another grouping of the arithmetic),
// for the f32, f16, q8 and q8v cache types; memory accounting of forks; prompt-cache files rejected when
// bad; the quantized caches' logits against the f16 cache's.
import XCTest
import SentioCore
import SentioKernels
import SentioModels
import SentioTokenizers
@testable import SentioRuntime
import SentioTestSupport

enum TinyLM {
    nonisolated(unsafe) static var recognizer: EmotionRecognizer?
    static let lock = NSLock()
    /// The fixture's LLM and the Qwen2 tokenizer (through the converted f32 .sentio).
    static func load() throws -> (model: Qwen2Model, tokenizer: BPETokenizer) {
        try lock.withLock {
            if recognizer == nil { recognizer = try EmotionRecognizer(url: try OmniFixture.sentio(.f32).url) }
            return (recognizer!.model.llm, recognizer!.tokenizer)
        }
    }

    /// Feeds `tokens` into `cache` in chunks of `chunk` rows, returning the logits of every fed row.
    static func feed(_ m: Qwen2Model, _ cache: any KVCache, _ tokens: [Int32], chunk: Int) throws -> [Float] {
        let V = m.config.vocabSize, h = m.config.hiddenSize
        var out: [Float] = []
        var i = 0
        while i < tokens.count {
            let part = Array(tokens[i..<min(tokens.count, i + chunk)])
            var x = [Float](repeating: 0, count: part.count * h), l = [Float](repeating: 0, count: part.count * V)
            try x.withUnsafeMutableBufferPointer { try m.embed(part, into: $0.baseAddress!) }
            try x.withUnsafeBufferPointer { xb in
                try l.withUnsafeMutableBufferPointer { lb in
                    try m.forward(input: xb.baseAddress!, segments: [SequenceSegment(cache: cache, count: part.count)],
                                  logitRows: .all, logits: lb.baseAddress!)
                }
            }
            out += l
            i += part.count
        }
        return out
    }
}

final class KVCacheHandleTests: XCTestCase {
    static let text = "The quick brown fox jumps over the lazy dog. Caches are forked, rolled back, saved and restored; "
        + "each must give the logits a fresh computation gives."

    /// Recompute tolerance (max |diff| / max |ref| over the logits): f32 cache: other summation order only (decode
    /// GEMV vs prefill GEMM), 1e-5 as KVCacheConsistencyTests; f16: keys/values rounded to 2^-11 relative from
    /// slightly different f32 values, 1e-2 as there; q8 (and q8v's values): a row's int8 code can flip by one
    /// quantum (1/127 of the row's max) when the f32 inputs differ in the last bits; one flipped code moves this
    /// model's logits by ~1e-3 of their range, so 1e-2 as for f16. (Measured here: 2.4e-6 f32, 1.6e-6 f16, 1.9e-6 q8.)
    static func tolerance(_ d: KVCacheLayout.KVDType) -> Float { d == .f32 ? 1e-5 : 1e-2 }

    func testForkRollbackSaveRestoreMatchRecompute() throws {
        let (m, tok) = try TinyLM.load()
        let ids = tok.encode(Self.text, allowSpecial: false)
        XCTAssertGreaterThan(ids.count, 30)
        try Self.checkForkRollbackRestore(m, ids: ids, tolerance: Self.tolerance)
    }

    /// Prompt = ids[0..<19], continuation = ids[19..<31], blocks of 8 tokens (the prompt's tail block is shared).
    static func checkForkRollbackRestore(_ m: Qwen2Model, ids: [Int32], tolerance: (KVCacheLayout.KVDType) -> Float,
                                         dtypes: [KVCacheLayout.KVDType] = KVCacheLayout.KVDType.allCases,
                                         file: StaticString = #filePath, line: UInt = #line) throws {
        let prompt = Array(ids.prefix(19)), cont = Array(ids[19..<31]), distractor = Array(ids.prefix(9).reversed())
        let V = m.config.vocabSize
        for dt in dtypes {
            let layout = KVCacheLayout(config: m.config, blockTokens: 8, dtype: dt)
            // From scratch: the whole sequence in one prefill; the continuation's rows.
            let full = try TinyLM.feed(m, layout.makeCache(), prompt + cont, chunk: 64)
            let ref = Array(full[((prompt.count - 1) * V)...].prefix(cont.count * V))
            // The prompt, then the continuation one token at a time (the decode path), on the cache itself,
            // while a sibling fork writes other tokens into its copy of the shared tail block.
            let p = layout.makeCache()
            let pl = try TinyLM.feed(m, p, prompt, chunk: 64)
            let lastPrompt = Array(pl.suffix(V))
            let dir = TestPaths.tempDir("sentio-kv")
            defer { try? FileManager.default.removeItem(at: dir) }
            let url = dir.appendingPathComponent("prompt.kvc")
            try PromptCache(tokens: prompt, cache: p, logits: lastPrompt, modelChecksum: "m").write(to: url)
            let fork = p.fork(), sibling = p.fork()
            let half = cont.count / 2
            var direct = lastPrompt + (try TinyLM.feed(m, p, Array(cont.prefix(half)), chunk: 1))
            _ = try TinyLM.feed(m, sibling, distractor, chunk: 1)
            direct += try TinyLM.feed(m, p, Array(cont[half...]), chunk: 1)
            direct.removeLast(V)   // logits after the last token are not in ref
            let forked = lastPrompt + Array((try TinyLM.feed(m, fork, cont, chunk: 1)).dropLast(V))
            XCTAssertEqual(forked, direct, "\(dt): a fork decodes exactly as the cache it came from", file: file, line: line)
            let d = compare(direct, ref)
            print("kv \(dt): decode vs full recompute \(d)")
            XCTAssertLessThanOrEqual(d.maxRel, tolerance(dt), "\(dt) decode vs recompute: \(d)", file: file, line: line)
            // Rollback: back to prompt + 3, the rest again.
            fork.truncate(to: prompt.count + 3)
            XCTAssertEqual(fork.length, prompt.count + 3, file: file, line: line)
            let again = try TinyLM.feed(m, fork, Array(cont[3...]), chunk: 1)
            XCTAssertEqual(Array(again.dropLast(V)), Array(forked[(4 * V)...]), "\(dt): rollback then re-decode", file: file, line: line)
            // Rolled back into the shared prompt (mid-block), then re-decoded in chunks.
            fork.truncate(to: 11)
            let re = try TinyLM.feed(m, fork, Array((prompt + cont)[11...]), chunk: 5)
            let dr = compare(Array(re[((prompt.count - 12) * V)...].prefix(cont.count * V)), ref)
            print("kv \(dt): rollback into the prompt + chunked re-prefill vs full recompute \(dr)")
            XCTAssertLessThanOrEqual(dr.maxRel, tolerance(dt), "\(dt) rollback into the prompt: \(dr)", file: file, line: line)
            // Restore from the file: the same bytes, so the same logits bit for bit.
            let r = try PromptCache.read(url, expectedModelChecksum: "m", expectedLayout: layout)
            XCTAssertEqual(r.tokens, prompt, file: file, line: line)
            XCTAssertEqual(r.logits, lastPrompt, file: file, line: line)
            XCTAssertEqual(r.cache.layout, layout, file: file, line: line)
            XCTAssertEqual(r.cache.length, prompt.count, file: file, line: line)
            let restored = lastPrompt + Array((try TinyLM.feed(m, r.cache, cont, chunk: 1)).dropLast(V))
            XCTAssertEqual(restored, direct, "\(dt): restored cache decodes exactly as the saved one", file: file, line: line)
        }
    }

    /// G forks of a 1000-token prompt cost one prompt; writing one token into each costs one (tail) block
    /// each; dropping them frees exactly that. Real Qwen2.5-0.5B shape (24 layers, 2 KV heads x 64).
    func testForkMemoryAccounting() throws {
        for dt in KVCacheLayout.KVDType.allCases {
            let layout = KVCacheLayout(layers: 24, kvHeads: 2, headDim: 64, blockTokens: 64, dtype: dt)
            let before = KVCacheMemory.liveBytes
            var prompt: (any KVCache)? = layout.makeCache()
            let w = layout.kvHeads * layout.headDim
            func append(_ c: any KVCache, _ n: Int) throws {
                try c.reserve(n)
                let k = [Float](repeating: 0.5, count: n * w)
                for l in 0..<layout.layers { c.view(layer: l, tokens: c.length + n).store(k: k, v: k, start: c.length, n: n) }
                c.advance(n)
            }
            try append(prompt!, 1000)
            let blocks = 16   // ceil(1000 / 64)
            XCTAssertEqual(KVCacheMemory.liveBytes - before, blocks * layout.blockBytes)
            XCTAssertEqual(prompt!.bytesReferenced, blocks * layout.blockBytes)
            var forks = (0..<8).map { _ in prompt!.fork() }
            XCTAssertEqual(KVCacheMemory.liveBytes - before, blocks * layout.blockBytes, "\(dt): 8 forks cost nothing")
            XCTAssertEqual(prompt!.bytesExclusive, 0)
            for f in forks { try append(f, 1) }
            XCTAssertEqual(KVCacheMemory.liveBytes - before, (blocks + 8) * layout.blockBytes, "\(dt): one tail copy per fork")
            for f in forks {
                XCTAssertEqual(f.bytesExclusive, layout.blockBytes)
                XCTAssertEqual(f.bytesReferenced, blocks * layout.blockBytes)
            }
            // 24 more tokens cross into block 17 for every fork: one new block each.
            for f in forks { try append(f, 24) }
            XCTAssertEqual(KVCacheMemory.liveBytes - before, (blocks + 16) * layout.blockBytes)
            forks[0].truncate(to: 1000)   // frees its 17th block, keeps its tail copy
            XCTAssertEqual(KVCacheMemory.liveBytes - before, (blocks + 15) * layout.blockBytes)
            prompt = nil   // frees the prompt's own tail block (every fork has its copy); the 15 full blocks stay shared
            XCTAssertEqual(KVCacheMemory.liveBytes - before, (blocks + 14) * layout.blockBytes)
            forks.removeAll()
            XCTAssertEqual(KVCacheMemory.liveBytes - before, 0, "\(dt): everything freed")
            print("kv \(dt): \(layout.bytesPerToken) bytes/token; 8 forks of 1000 tokens + 1 token each: \((blocks + 8) * layout.blockBytes) bytes "
                  + "vs \(8 * blocks * layout.blockBytes) unshared")
        }
    }

    /// Quality of the quantized caches on the tiny model: logits of the whole text (one prefill, then decoding
    /// the last 8 tokens one at a time) with each cache type vs with the f16 cache, mean KL(f16 || type) over
    /// positions. Bounds from the rounding steps: KL grows with the square of the logit error. f32 vs f16
    /// differs by f16's rounding only (<= 2^-12 relative per element): measured 4.5e-6, bound 2e-5. int8 rounds
    /// to half a quantum = 1/254 of a row's max: 8x f16's worst relative step, and ~3x more against a typical
    /// element of these rows, so ~(8 x 3)^2 ~ 600x the f16 KL (~3e-3) when keys and values are both int8
    /// (q8), about half when only the values are (q8v, keys f16). Bounds 2x those orders: q8 6e-3, q8v 3e-3
    /// (measured 1.8e-3 and 4.3e-4). And q8v's KL is below q8's: its only difference is f16 instead of int8 keys.
    func testQuantizedCacheLogitsCloseToF16() throws {
        let (m, tok) = try TinyLM.load()
        let ids = tok.encode(Self.text, allowSpecial: false)
        let V = m.config.vocabSize
        func logits(_ dt: KVCacheLayout.KVDType) throws -> [Float] {
            let c = KVCacheLayout(config: m.config, blockTokens: 8, dtype: dt).makeCache()
            return try TinyLM.feed(m, c, Array(ids.dropLast(8)), chunk: 64) + TinyLM.feed(m, c, Array(ids.suffix(8)), chunk: 1)
        }
        func meanKL(_ p: [Float], _ q: [Float]) -> Double {
            var total = 0.0
            let rows = p.count / V
            for r in 0..<rows {
                let a = p[(r * V)..<((r + 1) * V)].map(Double.init), b = q[(r * V)..<((r + 1) * V)].map(Double.init)
                let ma = a.max()!, mb = b.max()!
                let za = a.reduce(0) { $0 + Foundation.exp($1 - ma) }, zb = b.reduce(0) { $0 + Foundation.exp($1 - mb) }
                var kl = 0.0
                for i in 0..<V {
                    let la = a[i] - ma - Foundation.log(za), lb = b[i] - mb - Foundation.log(zb)
                    kl += Foundation.exp(la) * (la - lb)
                }
                total += kl
            }
            return total / Double(rows)
        }
        let base = try logits(.f16)
        var kls: [KVCacheLayout.KVDType: Double] = [:]
        for (dt, bound) in [(KVCacheLayout.KVDType.f32, 2e-5), (.q8v, 3e-3), (.q8, 6e-3)] {
            let kl = meanKL(base, try logits(dt))
            kls[dt] = kl
            print("kv \(dt): mean KL vs f16 cache \(kl) over \(ids.count) positions")
            XCTAssertLessThanOrEqual(kl, bound, "\(dt)")
            XCTAssertGreaterThan(kl, 0, "\(dt): the cache type changes the logits")
        }
        XCTAssertLessThan(kls[.q8v]!, kls[.q8]!, "f16 keys cost less than int8 keys")
    }

    func testPromptCacheFileErrors() throws {
        let dir = TestPaths.tempDir("sentio-kv-bad")
        defer { try? FileManager.default.removeItem(at: dir) }
        let layout = KVCacheLayout(layers: 2, kvHeads: 2, headDim: 8, blockTokens: 4, dtype: .q8)
        let c = layout.makeCache()
        try c.reserve(6)
        let k = (0..<(6 * 16)).map { Float($0) / 10 }
        for l in 0..<2 { c.view(layer: l, tokens: 6).store(k: k, v: k, start: 0, n: 6) }
        c.advance(6)
        let good = dir.appendingPathComponent("good.kvc")
        try PromptCache(tokens: [1, 2, 3, 4, 5, 6], cache: c, logits: [0.5, 1.5], modelChecksum: "abc").write(to: good)
        let r = try PromptCache.read(good)
        XCTAssertEqual(r.cache.length, 6)
        XCTAssertEqual(r.cache.view(layer: 1, tokens: 6).read(value: true, token: 5, head: 1, 7), k[5 * 16 + 15], accuracy: 9.5 / 254 + 1e-6)
        let bytes = try Data(contentsOf: good)
        func expectError(_ data: Data, _ name: String, contains what: String, checksum: String? = nil, file: StaticString = #filePath, line: UInt = #line) {
            let u = dir.appendingPathComponent(name)
            try? data.write(to: u)
            XCTAssertThrowsError(try PromptCache.read(u, expectedModelChecksum: checksum), file: file, line: line) { e in
                let s = "\(e)"
                XCTAssertTrue(s.contains(u.path) && s.contains(what), "\(name): \(s)", file: file, line: line)
            }
        }
        expectError(bytes.prefix(bytes.count - 1), "truncated.kvc", contains: "truncated")
        expectError(bytes + Data([0]), "longer.kvc", contains: "truncated or corrupt")
        expectError(Data("NOTACACHE-------".utf8), "magic.kvc", contains: "bad magic")
        expectError(Data(), "empty.kvc", contains: "bad magic")
        var huge = bytes; huge.replaceSubrange(8..<12, with: [0xFF, 0xFF, 0xFF, 0x7F])
        expectError(huge, "header-length.kvc", contains: "header length")
        expectError(bytes, "checksum.kvc", contains: "not this model", checksum: "other")
        // A header claiming 2^60 tokens: refused from the sizes, nothing allocated.
        let hb = Int(bytes[8]) | Int(bytes[9]) << 8
        var json = String(decoding: bytes[12..<(12 + hb)], as: UTF8.self)
        json = json.replacingOccurrences(of: "\"length\":6", with: "\"length\":1152921504606846976")
            .replacingOccurrences(of: "\"token_count\":6", with: "\"token_count\":0")
        var forged = Data(bytes.prefix(8))
        var n = UInt32(json.utf8.count).littleEndian
        withUnsafeBytes(of: &n) { forged.append(contentsOf: $0) }
        forged.append(Data(json.utf8)); forged.append(bytes[(12 + hb)...])
        expectError(forged, "huge-length.kvc", contains: "prompt cache")
        let layoutJSON = String(decoding: bytes[12..<(12 + hb)], as: UTF8.self).replacingOccurrences(of: "\"layers\":2", with: "\"layers\":-3")
        var forged2 = Data(bytes.prefix(8))
        var n2 = UInt32(layoutJSON.utf8.count).littleEndian
        withUnsafeBytes(of: &n2) { forged2.append(contentsOf: $0) }
        forged2.append(Data(layoutJSON.utf8)); forged2.append(bytes[(12 + hb)...])
        expectError(forged2, "layout.kvc", contains: "implausible layout")
        XCTAssertThrowsError(try PromptCache.read(dir.appendingPathComponent("missing.kvc")))
        // A type this build does not know, and a q8v layout in a version-1 file (q8v files are version 2).
        func forgeHeader(_ edit: (String) -> String) -> Data {
            let j = edit(String(decoding: bytes[12..<(12 + hb)], as: UTF8.self))
            var d = Data(bytes.prefix(8))
            var n = UInt32(j.utf8.count).littleEndian
            withUnsafeBytes(of: &n) { d.append(contentsOf: $0) }
            d.append(Data(j.utf8)); d.append(bytes[(12 + hb)...])
            return d
        }
        XCTAssertTrue(json.contains("\"dtype\":\"q8\"") && json.contains("\"version\":1"), json)
        expectError(forgeHeader { $0.replacingOccurrences(of: "\"dtype\":\"q8\"", with: "\"dtype\":\"q3\"") }, "unknown-type.kvc",
                    contains: "unknown KV cache type 'q3'")
        expectError(forgeHeader { $0.replacingOccurrences(of: "\"version\":1", with: "\"version\":3") }, "version.kvc",
                    contains: "unsupported version 3")
        // q8v: written as version 2, read back; the same header relabelled version 1 is refused.
        let l2 = KVCacheLayout(layers: 2, kvHeads: 2, headDim: 8, blockTokens: 4, dtype: .q8v)
        let c2 = l2.makeCache()
        try c2.reserve(6)
        for l in 0..<2 { c2.view(layer: l, tokens: 6).store(k: k, v: k, start: 0, n: 6) }
        c2.advance(6)
        let good2 = dir.appendingPathComponent("good-q8v.kvc")
        try PromptCache(tokens: [1, 2, 3, 4, 5, 6], cache: c2, logits: [], modelChecksum: "abc").write(to: good2)
        let r2 = try PromptCache.read(good2)
        XCTAssertEqual(r2.cache.layout, l2)
        XCTAssertTrue(r2.cache is Q8VKVCache)
        let v2 = r2.cache.view(layer: 1, tokens: 6)
        XCTAssertEqual(v2.read(value: false, token: 5, head: 1, 7), Float(Float16(k[5 * 16 + 15])), "keys f16")
        XCTAssertEqual(v2.read(value: true, token: 5, head: 1, 7), k[5 * 16 + 15], accuracy: 9.5 / 254 + 1e-6, "values q8")
        let bytes2 = try Data(contentsOf: good2)
        let hb2 = Int(bytes2[8]) | Int(bytes2[9]) << 8
        let json2 = String(decoding: bytes2[12..<(12 + hb2)], as: UTF8.self)
        XCTAssertTrue(json2.contains("\"version\":2") && json2.contains("\"dtype\":\"q8v\""), json2)
        let j1 = json2.replacingOccurrences(of: "\"version\":2", with: "\"version\":1")
        var v1 = Data(bytes2.prefix(8))
        var n3 = UInt32(j1.utf8.count).littleEndian
        withUnsafeBytes(of: &n3) { v1.append(contentsOf: $0) }
        v1.append(Data(j1.utf8)); v1.append(bytes2[(12 + hb2)...])
        expectError(v1, "q8v-v1.kvc", contains: "q8v cache in a version 1 file")
    }
}
