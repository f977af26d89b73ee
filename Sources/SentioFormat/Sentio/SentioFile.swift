// SentioFile: opens a .sentio file (see docs/FORMAT.md and SentioLayout.swift).
//
// Every field of the header and index is bounds-checked against the file before use; a bad file
// gives a SentioError naming the file and the problem. Raw tensors are used in place from the
// memory map (64-byte aligned because the map is page aligned and offsets are multiples of 64), or,
// when the opener picks them (`resident`), copied into memory at open. LZ4 tensors are decompressed at
// open. Both go, in parallel, into one arena backed by huge pages (SentioCore/HugePages.swift): the
// language model's matrices are read whole every decoded token, and from 4 KiB file pages that cost
// ~15 % of 2-thread decode speed on the Zen 4 machine (docs/BENCHMARKS.md, eighth session).
import Foundation
import SentioCore

public final class SentioFile: @unchecked Sendable {
    public let url: URL
    public let version: Int
    public let config: String
    public let metadata: [String: String]
    public let files: [String: Data]
    public let fileEntries: [SentioFileEntry]
    public let entries: [SentioTensorEntry]
    public let fileSize: Int
    let map: MappedFile
    let index: [String: Int]
    /// Decompressed LZ4 tensors and the raw tensors copied at open live here (nil when none).
    let arena: UnsafeMutableRawBufferPointer?
    /// Bytes of raw tensors copied into the arena at open (`resident`).
    public let residentBytes: Int
    /// Per entry: where its ready bytes live.
    let ready: [UnsafeRawBufferPointer]

    /// Opens `url`. Raw tensors whose name `resident` accepts are copied into huge-page memory (the rest
    /// are read from the map in place, where the page cache can share and drop them).
    public static func open(_ url: URL, verify: Bool = false, resident: ((String) -> Bool)? = nil) throws -> SentioFile {
        try SentioFile(url: url, verify: verify, resident: resident)
    }

    deinit { arena?.deallocate() }

    private init(url: URL, verify: Bool, resident: ((String) -> Bool)?) throws {
        self.url = url
        let path = url.path
        map = try MappedFile(url)
        func bad(_ m: String) -> SentioError { SentioError(.corrupt, file: path, m) }
        guard map.size >= SentioFormat.headerSize else {
            throw bad("file is \(map.size) bytes, shorter than the \(SentioFormat.headerSize)-byte header")
        }
        var h = ByteReader(try map.bytes(0, SentioFormat.headerSize), file: path)
        let magic = try h.take(8, "magic")
        guard Array(magic) == SentioFormat.magic else { throw SentioError(.format, file: path, "bad magic, not a .sentio file") }
        let v = try h.u32("version")
        guard v == SentioFormat.version else {
            throw SentioError(.unsupported, file: path, "unsupported .sentio version \(v) (this build reads \(SentioFormat.version))")
        }
        let flags = try h.u32("flags")
        guard flags == 0 else { throw SentioError(.unsupported, file: path, "unknown header flags 0x\(String(flags, radix: 16))") }
        let indexOffset64 = try h.u64("index offset"), indexSize64 = try h.u64("index size")
        let indexSum = try h.u64("index checksum"), size64 = try h.u64("file size")
        guard try h.take(SentioFormat.headerSize - h.offset, "reserved").allSatisfy({ $0 == 0 }) else {
            throw bad("reserved header bytes are not zero")
        }
        guard size64 == UInt64(map.size) else {
            throw bad("header says the file is \(size64) bytes but it is \(map.size) (truncated or extended)")
        }
        guard indexOffset64 >= UInt64(SentioFormat.headerSize), indexOffset64 % UInt64(SentioFormat.alignment) == 0,
              indexOffset64 <= UInt64(map.size), indexSize64 == UInt64(map.size) - indexOffset64 else {
            throw bad("index at \(indexOffset64) (\(indexSize64) bytes) does not end the file or is misaligned")
        }
        let indexOffset = Int(indexOffset64)
        let indexBytes = try map.bytes(indexOffset, Int(indexSize64), what: "index")
        guard XXHash64.hash(indexBytes) == indexSum else { throw bad("index checksum mismatch") }
        fileSize = map.size
        version = Int(v)

        var r = ByteReader(indexBytes, file: path)
        let cfg = try r.string("config")
        if !cfg.isEmpty {
            guard (try? JSONSerialization.jsonObject(with: Data(cfg.utf8))) is [String: Any] else {
                throw bad("config is not a valid JSON object")
            }
        }
        config = cfg
        var meta: [String: String] = [:]
        let nMeta = try r.count("metadata count", minItemBytes: 16)
        for i in 0..<nMeta {
            let k = try r.string("metadata key #\(i)"), val = try r.string("metadata value '\(k)'")
            guard meta.updateValue(val, forKey: k) == nil else { throw bad("metadata key '\(k)' appears twice") }
        }
        metadata = meta

        // Blobs (files and tensors) must lie in [64, indexOffset), aligned, and not overlap.
        var spans: [(start: Int, count: Int, what: String)] = []
        func checkSpan(_ off: UInt64, _ size: UInt64, _ what: String) throws -> (Int, Int) {
            guard off >= UInt64(SentioFormat.headerSize), off % UInt64(SentioFormat.alignment) == 0 else {
                throw bad("\(what): offset \(off) is misaligned or inside the header")
            }
            guard off <= UInt64(indexOffset), size <= UInt64(indexOffset) - off else {
                throw bad("\(what): \(size) bytes at offset \(off) run past the data section (ends at \(indexOffset))")
            }
            spans.append((Int(off), Int(size), what))
            return (Int(off), Int(size))
        }

        var fEntries: [SentioFileEntry] = []
        var fileData: [String: Data] = [:]
        let nFiles = try r.count("file count", minItemBytes: 32)
        for i in 0..<nFiles {
            let name = try r.string("file name #\(i)")
            let (off, size) = try checkSpan(try r.u64("offset of file '\(name)'"), try r.u64("size of file '\(name)'"), "file '\(name)'")
            let sum = try r.u64("checksum of file '\(name)'")
            guard fileData[name] == nil else { throw bad("file '\(name)' appears twice") }
            let bytes = try map.bytes(off, size, what: "file '\(name)'")
            if verify, XXHash64.hash(bytes) != sum { throw bad("checksum mismatch in embedded file '\(name)'") }
            fileData[name] = Data(bytes)
            fEntries.append(SentioFileEntry(name: name, offset: off, size: size, checksum: sum))
        }
        files = fileData
        fileEntries = fEntries

        var list: [SentioTensorEntry] = []
        var idx: [String: Int] = [:]
        let nT = try r.count("tensor count", minItemBytes: 8 + 12 + 32)
        list.reserveCapacity(nT)
        for i in 0..<nT {
            let name = try r.string("tensor name #\(i)")
            let what = "tensor '\(name)'"
            let dt = try r.u32("dtype of \(what)")
            guard let dtype = DType(rawValue: dt) else { throw SentioError(.unsupported, file: path, "\(what): unknown dtype \(dt)") }
            let cd = try r.u32("codec of \(what)")
            guard let codec = SentioCodec(rawValue: cd) else { throw SentioError(.unsupported, file: path, "\(what): unknown codec \(cd)") }
            let nd = try r.u32("rank of \(what)")
            guard nd <= UInt32(SentioFormat.maxDims) else { throw bad("\(what): rank \(nd) exceeds \(SentioFormat.maxDims)") }
            var shape: [Int] = []
            var n = 1
            for _ in 0..<nd {
                let d = try r.i64("dimension of \(what)")
                guard d >= 0, d <= Int64(SentioFormat.maxElements) else { throw bad("\(what): absurd dimension \(d)") }
                let (p, o) = n.multipliedReportingOverflow(by: Int(d))
                guard !o, p <= SentioFormat.maxElements else { throw bad("\(what): shape \(shape + [Int(d)]) has more than 2^50 elements") }
                n = p
                shape.append(Int(d))
            }
            if dtype.isQuantized, (shape.last ?? 1) % dtype.blockSize != 0 {
                throw bad("\(what): last dimension \(shape.last ?? 1) is not a multiple of \(dtype.blockSize) for \(dtype)")
            }
            let (off, stored) = try checkSpan(try r.u64("offset of \(what)"), try r.u64("stored size of \(what)"), what)
            let raw64 = try r.u64("raw size of \(what)")
            let sum = try r.u64("checksum of \(what)")
            guard let want = dtype.byteCount(elements: n), raw64 == UInt64(want) else {
                throw bad("\(what): raw size \(raw64) does not match shape \(shape) of \(dtype)")
            }
            switch codec {
            case .raw:
                guard stored == want else { throw bad("\(what): stored size \(stored) differs from raw size \(want) for a raw tensor") }
            case .lz4Shuffle:
                guard stored >= 8, want / SentioFormat.maxLZ4Ratio <= stored else {
                    throw bad("\(what): LZ4 sizes (stored \(stored), raw \(want)) are impossible")
                }
            }
            guard idx.updateValue(i, forKey: name) == nil else { throw bad("tensor '\(name)' appears twice") }
            list.append(SentioTensorEntry(name: name, dtype: dtype, shape: shape, codec: codec, offset: off,
                                          storedSize: stored, rawSize: want, checksum: sum))
        }
        guard r.remaining == 0 else { throw bad("\(r.remaining) unexpected bytes after the tensor table") }
        let sorted = spans.filter { $0.count > 0 }.sorted { $0.start < $1.start }
        for (a, b) in zip(sorted, sorted.dropFirst()) where b.start < a.start + a.count {
            throw bad("\(a.what) and \(b.what) overlap")
        }
        entries = list
        index = idx

        if verify { try Self.verifyEntries(list, map: map, path: path) }

        // Decompress LZ4 tensors and copy the resident raw ones in parallel into one arena: every chunk
        // of every tensor is a job; each worker decodes its jobs through one cache-sized scratch buffer.
        // A raw tensor's job is a copy (chunk.srcLen == -1) of at most 4 MiB.
        var arenaSize = 0
        var arenaOffsets = [Int](repeating: -1, count: list.count)
        var jobs: [(entry: Int, chunk: ChunkedLZ4.Chunk)] = []
        var maxChunk = 0
        var copied = 0
        let copyChunk = 4 << 20
        for (i, e) in list.enumerated() {
            if e.codec == .lz4Shuffle {
                arenaOffsets[i] = arenaSize
                arenaSize += SentioFormat.alignUp(e.rawSize)
                let stored = try map.bytes(e.offset, e.storedSize, what: "tensor '\(e.name)'")
                for c in try ChunkedLZ4.chunks(stored, rawSize: e.rawSize, dtype: e.dtype, fail: { bad("tensor '\(e.name)': \($0)") }) {
                    jobs.append((i, c))
                    maxChunk = max(maxChunk, c.rawLen)
                }
            } else if e.storedSize > 0, resident?(e.name) == true {
                _ = try map.bytes(e.offset, e.storedSize, what: "tensor '\(e.name)'")
                arenaOffsets[i] = arenaSize
                arenaSize += SentioFormat.alignUp(e.storedSize)
                copied += e.storedSize
                for start in stride(from: 0, to: e.storedSize, by: copyChunk) {
                    jobs.append((i, ChunkedLZ4.Chunk(src: start, srcLen: -1, dst: start, rawLen: min(copyChunk, e.storedSize - start))))
                }
            }
        }
        residentBytes = copied
        if arenaSize > 0 {
            let a = HugePages.allocate(byteCount: arenaSize)
            let errors = ErrorBox()
            nonisolated(unsafe) let base = a.baseAddress!
            guard let mb = map.base else { a.deallocate(); throw bad("empty map") }
            nonisolated(unsafe) let mapBase = mb
            let entriesCopy = list, offsetsCopy = arenaOffsets, jobsCopy = jobs, scratchSize = maxChunk
            let workers = max(1, min(jobs.count, ProcessInfo.processInfo.activeProcessorCount))
            DispatchQueue.concurrentPerform(iterations: workers) { w in
                let scratch = UnsafeMutableRawPointer.allocate(byteCount: scratchSize, alignment: SentioFormat.alignment)
                defer { scratch.deallocate() }
                var j = w
                while j < jobsCopy.count {
                    let (i, c) = jobsCopy[j]
                    let e = entriesCopy[i]
                    if c.srcLen < 0 {
                        (base + offsetsCopy[i] + c.dst).copyMemory(from: mapBase + e.offset + c.src, byteCount: c.rawLen)
                    } else if !ChunkedLZ4.decode(e.dtype, c, stored: mapBase + e.offset, dst: base + offsetsCopy[i], scratch: scratch) {
                        errors.add(SentioError(.corrupt, file: path, "tensor '\(e.name)': LZ4 data is corrupt (chunk at \(c.dst) does not decode to \(c.rawLen) bytes)"))
                    }
                    j += workers
                }
            }
            if let err = errors.first {
                a.deallocate()
                throw err
            }
            for (i, e) in list.enumerated() where e.codec == .raw && arenaOffsets[i] >= 0 { map.dropPages(e.offset, e.storedSize) }
            arena = a
        } else {
            arena = nil
        }
        var views: [UnsafeRawBufferPointer] = []
        views.reserveCapacity(list.count)
        for (i, e) in list.enumerated() {
            if arenaOffsets[i] < 0 { views.append(try map.bytes(e.offset, e.storedSize, what: "tensor '\(e.name)'")) }
            else { views.append(UnsafeRawBufferPointer(start: arena!.baseAddress! + arenaOffsets[i], count: e.rawSize)) }
        }
        ready = views
    }

    /// Whether tensor `name`'s bytes are read from the file mapping in place (raw and not resident).
    public func isMapped(_ name: String) throws -> Bool {
        guard let i = index[name] else { throw SentioError(.argument, file: url.path, "no tensor named '\(name)'") }
        guard let p = ready[i].baseAddress, let m = map.base else { return false }
        return p >= m && p < m + map.size
    }

    final class ErrorBox: @unchecked Sendable {
        let lock = NSLock()
        var errors: [SentioError] = []
        func add(_ e: SentioError) { lock.lock(); errors.append(e); lock.unlock() }
        var first: SentioError? { lock.lock(); defer { lock.unlock() }; return errors.min { $0.message < $1.message } }
    }

    static func verifyEntries(_ list: [SentioTensorEntry], map: MappedFile, path: String) throws {
        let errors = ErrorBox()
        DispatchQueue.concurrentPerform(iterations: list.count) { i in
            let e = list[i]
            guard let b = try? map.bytes(e.offset, e.storedSize) else { return }
            if XXHash64.hash(b) != e.checksum {
                errors.add(SentioError(.corrupt, file: path, "checksum mismatch in tensor '\(e.name)'"))
            }
        }
        if let e = errors.first { throw e }
    }

    /// Checks every tensor's and embedded file's checksum; the error names the first bad one.
    public func verify() throws {
        for f in fileEntries where XXHash64.hash(try map.bytes(f.offset, f.size)) != f.checksum {
            throw SentioError(.corrupt, file: url.path, "checksum mismatch in embedded file '\(f.name)'")
        }
        try Self.verifyEntries(entries, map: map, path: url.path)
    }

    public func has(_ name: String) -> Bool { index[name] != nil }

    public func entry(_ name: String) throws -> SentioTensorEntry {
        guard let i = index[name] else { throw SentioError(.argument, file: url.path, "no tensor named '\(name)'") }
        return entries[i]
    }

    /// The tensor's bytes, ready to use (64-byte aligned; valid while this object lives).
    public func tensor(_ name: String) throws -> SentioTensor {
        guard let i = index[name] else { throw SentioError(.argument, file: url.path, "no tensor named '\(name)'") }
        let e = entries[i]
        return SentioTensor(name: e.name, dtype: e.dtype, shape: e.shape, bytes: ready[i])
    }

    /// A float tensor (f32, f16, bf16, q8, q8r, q4, q4_1, q5) as f32 values.
    public func floats(_ name: String) throws -> [Float] {
        let t = try tensor(name)
        let n = t.elementCount
        let b = t.bytes
        var out = [Float](repeating: 0, count: n)
        switch t.dtype {
        case .f32: for i in 0..<n { out[i] = Float(bitPattern: UInt32(littleEndian: b.load(fromByteOffset: 4 * i, as: UInt32.self))) }
        case .f16: for i in 0..<n { out[i] = f16ToFloat(UInt16(littleEndian: b.load(fromByteOffset: 2 * i, as: UInt16.self))) }
        case .bf16: for i in 0..<n { out[i] = bf16ToFloat(UInt16(littleEndian: b.load(fromByteOffset: 2 * i, as: UInt16.self))) }
        case .q8, .q8r: out.withUnsafeMutableBufferPointer { BlockQ8_0.dequantizeRef(b, into: $0) }
        case .q4: out.withUnsafeMutableBufferPointer { BlockQ4_0.dequantizeRef(b, into: $0) }
        case .q4_1: out.withUnsafeMutableBufferPointer { BlockQ4_1.dequantizeRef(b, into: $0) }
        case .q5: out.withUnsafeMutableBufferPointer { BlockQ5_0.dequantizeRef(b, into: $0) }
        case .i32, .i64, .u8: throw SentioError(.argument, file: url.path, "tensor '\(name)' has dtype \(t.dtype), not a float type")
        }
        return out
    }
}
