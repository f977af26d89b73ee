import XCTest
import Foundation
import SentioCore
import SentioFormat
import SentioTestSupport

final class SentioFileTests: XCTestCase {
    struct Sample { var name: String; var dtype: DType; var shape: [Int]; var bytes: [UInt8] }

    /// Tensors of every dtype: smooth (compressible) and random data, with odd shapes.
    static func samples(seed: UInt64 = 1, scale: Int = 1) -> [Sample] {
        var rng = TestRNG(seed: seed)
        func bytes<T>(_ a: [T]) -> [UInt8] { a.withUnsafeBytes { Array($0) } }
        let f = (0..<(7 * 33 * scale)).map { _ in rng.normal() * 0.02 }
        let smooth = (0..<(64 * 16 * scale)).map { Float($0 % 64) * 0.001 }
        var q8 = [UInt8](repeating: 0, count: 4 * scale * 2 * 34), q4 = [UInt8](repeating: 0, count: 3 * 2 * 18)
        let qsrc = (0..<(4 * scale * 64)).map { _ in rng.normal() }
        qsrc.withUnsafeBufferPointer { s in q8.withUnsafeMutableBytes { BlockQ8_0.quantizeRef(s, into: $0) } }
        Array(qsrc[0..<192]).withUnsafeBufferPointer { s in q4.withUnsafeMutableBytes { BlockQ4_0.quantizeRef(s, into: $0) } }
        return [
            Sample(name: "f32.random", dtype: .f32, shape: [7, 33 * scale], bytes: bytes(f)),
            Sample(name: "f32.smooth", dtype: .f32, shape: [16 * scale, 64], bytes: bytes(smooth)),
            Sample(name: "f16.smooth", dtype: .f16, shape: [16 * scale, 64], bytes: bytes(smooth.map { floatToF16($0) })),
            Sample(name: "bf16.random", dtype: .bf16, shape: [7 * 33 * scale], bytes: bytes(f.map { floatToBF16($0) })),
            Sample(name: "q8.w", dtype: .q8, shape: [4 * scale, 64], bytes: q8),
            Sample(name: "q4.w", dtype: .q4, shape: [3, 2, 32], bytes: q4),
            Sample(name: "ids", dtype: .i32, shape: [5], bytes: bytes([Int32](arrayLiteral: 1, -2, 3, 151_643, 0))),
            Sample(name: "scalar", dtype: .f32, shape: [], bytes: bytes([Float(3.5)])),
            Sample(name: "empty", dtype: .f16, shape: [0, 8], bytes: []),
        ]
    }

    static let config = #"{"model_type": "qwen2", "hidden_size": 896, "rope_theta": 1000000.0}"#
    static let meta = ["sentio.model": "test", "sentio.quantization": "mixed", "sentio.converter": "0.1"]
    static let files = ["tokenizer.json": Data(#"{"version":"1.0","model":{"type":"BPE"}}"#.utf8), "empty.txt": Data()]

    @discardableResult
    static func write(_ url: URL, _ s: [Sample], codec: SentioCodecPolicy) throws -> SentioWriteSummary {
        let w = try SentioFileWriter(url: url, config: config, metadata: meta, files: files)
        for t in s { try t.bytes.withUnsafeBytes { try w.add(name: t.name, dtype: t.dtype, shape: t.shape, data: $0, codec: codec) } }
        return try w.finish()
    }

    func checkSame(_ f: SentioFile, _ s: [Sample], file: StaticString = #filePath, line: UInt = #line) throws {
        XCTAssertEqual(f.config, Self.config, file: file, line: line)
        XCTAssertEqual(f.metadata, Self.meta, file: file, line: line)
        XCTAssertEqual(f.files, Self.files, file: file, line: line)
        XCTAssertEqual(f.entries.map(\.name), s.map(\.name), file: file, line: line)
        for t in s {
            let got = try f.tensor(t.name)
            XCTAssertEqual(got.dtype, t.dtype, file: file, line: line)
            XCTAssertEqual(got.shape, t.shape, file: file, line: line)
            XCTAssertEqual(Array(got.bytes), t.bytes, t.name, file: file, line: line)
            if let p = got.bytes.baseAddress { XCTAssertEqual(Int(bitPattern: p) % 64, 0, "\(t.name) not 64-byte aligned", file: file, line: line) }
        }
    }

    /// f32/f16/bf16 come back bit-identical, q8/q4 byte-identical, with and without LZ4; floats()
    /// equals the scalar reference dequantizers.
    func testRoundTripRawAndLZ4() throws {
        let dir = TestPaths.tempDir("sentio")
        let s = Self.samples()
        for (tag, policy) in [("raw", SentioCodecPolicy.raw), ("lz4", .lz4), ("lz4all", .lz4Auto(minSaving: -10))] {
            let u = dir.appendingPathComponent("\(tag).sentio")
            let sum = try Self.write(u, s, codec: policy)
            let f = try SentioFile.open(u, verify: true)
            try checkSame(f, s)
            try f.verify()
            XCTAssertEqual(sum.fileSize, f.fileSize)
            XCTAssertEqual(sum.tensorCount, s.count)
            let lz = f.entries.filter { $0.codec == .lz4Shuffle }.map(\.name)
            switch tag {
            case "raw": XCTAssertEqual(lz, [])
            case "lz4": XCTAssertTrue(lz.contains("f32.smooth") && lz.contains("f16.smooth"), "\(lz)")
                        XCTAssertFalse(lz.contains("f32.random"), "random f32 should not save 10%")
            default: XCTAssertEqual(lz.count, s.count - 1)   // every non-empty tensor
            }
            for e in f.entries { XCTAssertEqual(e.offset % 64, 0); XCTAssertTrue(e.codec == .lz4Shuffle ? e.storedSize <= e.rawSize + e.rawSize / 200 + 16 : e.storedSize == e.rawSize) }
            // floats() against the reference dequantizers
            XCTAssertEqual(try f.floats("f16.smooth"), s[2].bytes.withUnsafeBytes { b in (0..<(b.count / 2)).map { f16ToFloat(b.load(fromByteOffset: 2 * $0, as: UInt16.self)) } })
            XCTAssertEqual(try f.floats("bf16.random").map(\.bitPattern), s[3].bytes.withUnsafeBytes { b in (0..<(b.count / 2)).map { bf16ToFloat(b.load(fromByteOffset: 2 * $0, as: UInt16.self)).bitPattern } })
            var ref = [Float](repeating: 0, count: 256)
            s[4].bytes.withUnsafeBytes { b in ref.withUnsafeMutableBufferPointer { BlockQ8_0.dequantizeRef(b, into: $0) } }
            XCTAssertEqual(try f.floats("q8.w"), ref)
            var ref4 = [Float](repeating: 0, count: 192)
            s[5].bytes.withUnsafeBytes { b in ref4.withUnsafeMutableBufferPointer { BlockQ4_0.dequantizeRef(b, into: $0) } }
            XCTAssertEqual(try f.floats("q4.w"), ref4)
            XCTAssertEqual(try f.floats("scalar"), [3.5])
            XCTAssertThrowsError(try f.floats("ids"))
            XCTAssertThrowsError(try f.tensor("nope"))
            XCTAssertTrue(f.has("q4.w") && !f.has("nope"))
        }
    }

    /// Raw tensors picked as resident are copied out of the map (also ones over one 4 MiB copy job, with
    /// a short last job), byte-identical and 64-byte aligned; the others stay in the map; LZ4 tensors
    /// decode into the same arena.
    func testResidentCopies() throws {
        let dir = TestPaths.tempDir("sentio")
        var s = Self.samples()
        var rng = TestRNG(seed: 9)
        s.append(Sample(name: "big.raw", dtype: .f32, shape: [(9 << 20) / 4 + 5], bytes: (0..<((9 << 20) + 20)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }))
        for (tag, policy) in [("raw", SentioCodecPolicy.raw), ("lz4", .lz4)] {
            let u = dir.appendingPathComponent("resident-\(tag).sentio")
            try Self.write(u, s, codec: policy)
            let mapped = try SentioFile.open(u)
            let pick: Set<String> = ["big.raw", "q8.w", "f32.random", "empty"]
            let f = try SentioFile.open(u, verify: true, resident: { pick.contains($0) })
            try checkSame(f, s)
            let raw = f.entries.filter { $0.codec == .raw }
            XCTAssertEqual(f.residentBytes, raw.filter { pick.contains($0.name) }.reduce(0) { $0 + $1.storedSize }, tag)
            XCTAssertEqual(mapped.residentBytes, 0)
            for e in f.entries where e.rawSize > 0 {
                XCTAssertEqual(try f.isMapped(e.name), e.codec == .raw && !pick.contains(e.name), "\(tag) \(e.name)")
                XCTAssertEqual(try mapped.isMapped(e.name), e.codec == .raw, "\(tag) \(e.name)")
            }
        }
    }

    /// Tensors over one LZ4 chunk (256 KiB) round-trip exactly, with a short last chunk.
    func testMultiChunkLZ4() throws {
        var rng = TestRNG(seed: 5)
        let n = 3 * 32 * 4001   // q8: 12003 blocks = 408102 bytes -> 2 chunks; f16: 768 KB -> 3+ chunks
        let x = (0..<n).map { _ in rng.normal() }
        var q8 = [UInt8](repeating: 0, count: n / 32 * 34)
        x.withUnsafeBufferPointer { s in q8.withUnsafeMutableBytes { BlockQ8_0.quantizeRef(s, into: $0) } }
        let h = x.map { floatToBF16($0) }
        let u = TestPaths.tempDir("sentio").appendingPathComponent("big.sentio")
        let w = try SentioFileWriter(url: u, config: "", metadata: [:], files: [:])
        try w.add(name: "q8", dtype: .q8, shape: [3, n / 3], array: q8, codec: .lz4Auto(minSaving: -1))
        try w.add(name: "bf16", dtype: .bf16, shape: [n], array: h, codec: .lz4Auto(minSaving: -1))
        try w.finish()
        let f = try SentioFile.open(u, verify: true)
        XCTAssertEqual(f.entries.map(\.codec), [.lz4Shuffle, .lz4Shuffle])
        XCTAssertEqual(Array(try f.tensor("q8").bytes), q8)
        XCTAssertEqual(Array(try f.tensor("bf16").bytes), h.withUnsafeBytes { Array($0) })
        XCTAssertLessThan(f.entries[1].storedSize, f.entries[1].rawSize * 9 / 10)   // bf16 exponent plane compresses
    }

    func testWriterRejectsBadInput() throws {
        let u = TestPaths.tempDir("sentio").appendingPathComponent("w.sentio")
        XCTAssertThrowsError(try SentioFileWriter(url: u, config: "{not json", metadata: [:], files: [:]))
        let w = try SentioFileWriter(url: u, config: "", metadata: [:], files: [:])
        let four = [Float](repeating: 1, count: 4)
        XCTAssertThrowsError(try w.add(name: "a", dtype: .f32, shape: [5], array: four))        // size mismatch
        XCTAssertThrowsError(try w.add(name: "q", dtype: .q8, shape: [2, 16], array: [UInt8](repeating: 0, count: 34)))  // last dim not /32
        try w.add(name: "a", dtype: .f32, shape: [2, 2], array: four)
        XCTAssertThrowsError(try w.add(name: "a", dtype: .f32, shape: [4], array: four))        // duplicate
        XCTAssertThrowsError(try w.add(name: "big", dtype: .f32, shape: [1 << 30, 1 << 30, 1 << 30], array: four))
        try w.finish()
        XCTAssertThrowsError(try w.finish())
        XCTAssertEqual(try SentioFile.open(u).floats("a"), four)
    }

    /// A writer dropped (or failing) before finish() leaves neither the file nor its temp file.
    func testInterruptedWriteLeavesNothing() throws {
        let dir = TestPaths.tempDir("sentio")
        let u = dir.appendingPathComponent("model.sentio")
        do {
            let w = try SentioFileWriter(url: u, config: Self.config, metadata: [:], files: Self.files)
            try w.add(name: "a", dtype: .f32, shape: [4], array: [Float](repeating: 1, count: 4))
            XCTAssertTrue(FileManager.default.fileExists(atPath: w.tempURL.path))
            // dropped here without finish()
        }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path), [])
        // An existing file at url is untouched by an interrupted rewrite.
        try Self.write(u, Self.samples(), codec: .raw)
        let before = try Data(contentsOf: u)
        do {
            let w = try SentioFileWriter(url: u, config: "", metadata: [:], files: [:])
            try w.add(name: "x", dtype: .f32, shape: [1], array: [Float(1)])
            w.abort()
        }
        XCTAssertEqual(try Data(contentsOf: u), before)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path), ["model.sentio"])
    }

    /// A writer process killed with SIGKILL mid-write leaves no file at the destination (only its
    /// hidden .partial temp file, which no cleanup code can remove after SIGKILL).
    func testKilledWriterProcessLeavesNoOutput() throws {
        let exe = URL(fileURLWithPath: CommandLine.arguments[0])
        guard exe.lastPathComponent.hasSuffix(".xctest") else { throw XCTSkip("not run from an xctest binary: \(exe.path)") }
        let dir = TestPaths.tempDir("sentiokill")
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("model.sentio")
        let p = Process()
        p.executableURL = exe
        p.arguments = ["SentioFormatTests.SentioFileTests/testChildWriterForKillTest"]
        p.environment = ProcessInfo.processInfo.environment.merging(["SENTIO_KILL_CHILD_OUT": out.path]) { $1 }
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        // Wait until the child has written at least one tensor into its temp file.
        let deadline = Date().addingTimeInterval(60)
        func partials() -> [String] { ((try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []).filter { $0.contains(".partial-") } }
        while Date() < deadline {
            if let f = partials().first, let a = try? FileManager.default.attributesOfItem(atPath: dir.appendingPathComponent(f).path),
               (a[.size] as? Int ?? 0) > 4096 { break }
            usleep(20_000)
        }
        kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()
        XCTAssertEqual(p.terminationReason, .uncaughtSignal)
        XCTAssertFalse(FileManager.default.fileExists(atPath: out.path), "a killed writer must not leave \(out.lastPathComponent)")
        XCTAssertEqual(partials().count, 1, "the child should have been killed mid-write")
    }

    /// The child side of the kill test: writes tensors forever into SENTIO_KILL_CHILD_OUT.
    func testChildWriterForKillTest() throws {
        guard let path = ProcessInfo.processInfo.environment["SENTIO_KILL_CHILD_OUT"] else { return }
        let w = try SentioFileWriter(url: URL(fileURLWithPath: path), config: "", metadata: [:], files: [:])
        let chunk = [Float](repeating: 0.5, count: 4096)
        for i in 0..<1_000_000 {
            try w.add(name: "t\(i)", dtype: .f32, shape: [4096], array: chunk, codec: .raw)
            usleep(10_000)
        }
        try w.finish()
    }

    func testRejectsBadFiles() throws {
        let dir = TestPaths.tempDir("sentio")
        let u = dir.appendingPathComponent("good.sentio")
        try Self.write(u, Self.samples(), codec: .lz4)
        let good = try Data(contentsOf: u)
        let f = try SentioFile.open(u)
        let indexOffset = Int(good.subdata(in: 16..<24).withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) })

        /// Rewrites the index (and its checksum and the file size) so the parser sees the change.
        func withIndex(_ edit: (inout [UInt8]) -> Void) -> Data {
            var idx = Array(good[indexOffset...])
            edit(&idx)
            var d = Data(good[..<indexOffset]) + Data(idx)
            d.replaceSubrange(24..<32, with: withUnsafeBytes(of: UInt64(idx.count).littleEndian) { Data($0) })
            d.replaceSubrange(32..<40, with: withUnsafeBytes(of: XXHash64.hash(idx).littleEndian) { Data($0) })
            d.replaceSubrange(40..<48, with: withUnsafeBytes(of: UInt64(d.count).littleEndian) { Data($0) })
            return d
        }
        /// Finds the index position of tensor `name`'s fixed fields (just after its name string).
        func fieldsOf(_ idx: [UInt8], _ name: String) -> Int {
            let pat = withUnsafeBytes(of: UInt64(name.utf8.count).littleEndian) { Array($0) } + Array(name.utf8)
            for i in 0...(idx.count - pat.count) where Array(idx[i..<(i + pat.count)]) == pat { return i + pat.count }
            fatalError("tensor \(name) not in index")
        }
        func put<T: FixedWidthInteger>(_ v: T, _ idx: inout [UInt8], _ at: Int) {
            withUnsafeBytes(of: v.littleEndian) { for (k, b) in $0.enumerated() { idx[at + k] = b } }
        }
        let q8 = try f.entry("q8.w"), f32 = try f.entry("f32.random")
        var cases: [(String, Data, String)] = [
            ("short", good.prefix(10), "shorter than"),
            ("magic", { var d = good; d[1] = 0x58; return d }(), "bad magic"),
            ("version", { var d = good; d[8] = 9; return d }(), "unsupported .sentio version 9"),
            ("truncated", good.prefix(good.count - 1), "truncated"),
            ("extended", good + Data([0]), "truncated or extended"),
            ("indexsum", { var d = good; d[indexOffset + 3] ^= 1; return d }(), "index checksum"),
            ("tensorsum", { var d = good; d[f32.offset + 5] ^= 1; return d }(), "checksum mismatch in tensor 'f32.random'"),
            ("filesum", { var d = good; d[f.fileEntries.first { $0.name == "tokenizer.json" }!.offset] ^= 1; return d }(), "checksum mismatch in embedded file 'tokenizer.json'"),
            ("badjson", withIndex { idx in idx[8] = UInt8(ascii: "[") }, "config is not a valid JSON object"),
            ("dtype", withIndex { idx in put(UInt32(77), &idx, fieldsOf(idx, "q8.w")) }, "unknown dtype 77"),
            ("codec", withIndex { idx in put(UInt32(5), &idx, fieldsOf(idx, "q8.w") + 4) }, "unknown codec 5"),
            ("absurd", withIndex { idx in put(Int64(1) << 60, &idx, fieldsOf(idx, "q8.w") + 12) }, "absurd dimension"),
            ("offset", withIndex { idx in put(UInt64(1) << 40, &idx, fieldsOf(idx, "f32.random") + 12 + 16) }, "run past the data section"),
            ("misaligned", withIndex { idx in put(UInt64(q8.offset + 8), &idx, fieldsOf(idx, "q8.w") + 12 + 16) }, "misaligned"),
            ("overlap", withIndex { idx in put(UInt64(f32.offset), &idx, fieldsOf(idx, "f32.smooth") + 12 + 16) }, "overlap"),
            ("rawsize", withIndex { idx in put(UInt64(99), &idx, fieldsOf(idx, "f32.random") + 12 + 16 + 16) }, "raw size 99"),
            ("trailing", withIndex { idx in idx.append(0) }, "unexpected bytes"),
            ("count", withIndex { idx in put(UInt64(1) << 40, &idx, 8 + Self.config.utf8.count) }, "metadata count"),
        ]
        // LZ4 damage with a matching checksum: only the chunk parser / decoder can notice.
        let lzName = f.entries.first { $0.codec == .lz4Shuffle }!.name
        let lzE = try f.entry(lzName)
        func lzDamaged(from start: Int) -> Data {
            var d = good
            for k in start..<lzE.storedSize { d[lzE.offset + k] = 0xFF }
            let sum = d.subdata(in: lzE.offset..<(lzE.offset + lzE.storedSize)).withUnsafeBytes { XXHash64.hash($0) }
            var idx = Array(d[indexOffset...])
            put(sum, &idx, fieldsOf(idx, lzName) + 12 + 8 * lzE.shape.count + 24)
            d = Data(d[..<indexOffset]) + Data(idx)
            d.replaceSubrange(32..<40, with: withUnsafeBytes(of: XXHash64.hash(idx).littleEndian) { Data($0) })
            return d
        }
        XCTAssertEqual(lzE.rawSize <= ChunkedLZ4.chunkBytes(lzE.dtype), true)   // one chunk: table is 12 bytes
        cases.append(("lz4", lzDamaged(from: 12), "LZ4 data is corrupt"))
        cases.append(("lz4table", lzDamaged(from: 0), "LZ4 chunk size"))
        for (tag, data, want) in cases {
            let p = dir.appendingPathComponent("\(tag).sentio")
            try data.write(to: p)
            XCTAssertThrowsError(try SentioFile.open(p, verify: true), tag) { e in
                XCTAssertTrue("\(e)".contains(p.path) && "\(e)".contains(want), "\(tag): want '\(want)' in: \(e)")
            }
        }
        // Without verify, a damaged raw tensor still opens, and verify() then names it.
        let p = dir.appendingPathComponent("tensorsum.sentio")
        let g = try SentioFile.open(p)
        XCTAssertThrowsError(try g.verify()) { XCTAssertTrue("\($0)".contains("f32.random"), "\($0)") }
    }

    /// Thousands of random corruptions of a small valid file (bit flips, truncations, overwrites,
    /// and index damage with the index checksum recomputed so the parser itself is exercised):
    /// each open either throws a SentioError or yields a file whose verified content is intact.
    func testRandomCorruptions() throws {
        let dir = ramScratchDir("sentioz")
        defer { try? FileManager.default.removeItem(at: dir) }
        let u = dir.appendingPathComponent("good.sentio")
        let s = Self.samples()
        try Self.write(u, s, codec: .lz4)
        let good = try Data(contentsOf: u)
        let indexOffset = Int(good.subdata(in: 16..<24).withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) })
        var rng = TestRNG(seed: 99)
        var counts = [0, 0, 0]   // threw, opened intact, opened via re-checksummed index
        let p = dir.appendingPathComponent("c.sentio")
        for i in 0..<5000 {
            var d = good
            let mode = i % 5
            switch mode {
            case 0: for _ in 0..<rng.int(1..<4) { let at = rng.int(0..<d.count); d[at] ^= UInt8(1 << rng.int(0..<8)) }
            case 1: d = d.prefix(rng.int(0..<d.count))
            case 2: let at = rng.int(0..<(d.count - 8)); for k in 0..<8 { d[at + k] = UInt8(truncatingIfNeeded: rng.next()) }
            default:   // damage the index, then fix the checksum (and maybe size) so the parser sees it
                var idx = Array(d[indexOffset...])
                if mode == 3 { for _ in 0..<rng.int(1..<4) { let at = rng.int(0..<idx.count); idx[at] = UInt8(truncatingIfNeeded: rng.next()) } }
                else { let at = rng.int(0..<(idx.count - 8)); let v = [UInt64(1) << 60, UInt64.max, UInt64(rng.int(0..<5000)), 0][rng.int(0..<4)]
                       withUnsafeBytes(of: v.littleEndian) { for (k, b) in $0.enumerated() { idx[at + k] = b } } }
                d = Data(d[..<indexOffset]) + Data(idx)
                d.replaceSubrange(32..<40, with: withUnsafeBytes(of: XXHash64.hash(idx).littleEndian) { Data($0) })
            }
            try d.write(to: p)
            do {
                let f = try SentioFile.open(p, verify: mode != 4)
                if mode < 3 {
                    try checkSame(f, s)
                    counts[1] += 1
                } else {
                    // Parsed a damaged-but-consistent index: everything it claims must be readable.
                    for e in f.entries where e.dtype.isFloat { _ = try f.floats(e.name) }
                    counts[2] += 1
                }
            } catch let e as SentioError {
                XCTAssertTrue(e.description.contains(p.path), "\(e)")
                counts[0] += 1
            }
        }
        print("corruptions: \(counts[0]) rejected, \(counts[1]) intact, \(counts[2]) parsed after index re-checksum")
        XCTAssertGreaterThan(counts[0], 4000)
    }
}
