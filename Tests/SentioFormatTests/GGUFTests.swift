import XCTest
import Foundation
import SentioCore
import SentioFormat
import SentioTestSupport

final class GGUFTests: XCTestCase {
    var dataDir: URL { TestPaths.testData.appendingPathComponent("format") }

    /// Every tensor of the oracle file (real Qwen2.5-Coder slices and synthetic blocks of all 11 types)
    /// dequantizes bit-identically to the Python gguf package (tools/extract-gguf-oracle.py).
    /// Exact equality holds because each dequantizer forms the same f32 products in the same order.
    func testDequantizeMatchesPythonOracleExactly() throws {
        let g = try GGUFFile(dataDir.appendingPathComponent("oracle.gguf"))
        let exp = try SafetensorsFile(dataDir.appendingPathComponent("oracle-expected.safetensors"))
        XCTAssertEqual(g.version, 3)
        XCTAssertEqual(g.alignment, 64)
        XCTAssertEqual(g.dataOffset % 64, 0)
        var seen = Set<String>()
        for t in g.tensors {
            let want = try exp.floats(t.name)
            let got = try g.dequantize(t.name)
            XCTAssertEqual(got.count, want.count, t.name)
            var bad = 0
            for (a, b) in zip(got, want) where a.bitPattern != b.bitPattern { bad += 1 }
            XCTAssertEqual(bad, 0, "\(t.name) (\(t.ggmlType)): \(bad) values differ, \(compare(got, want))")
            XCTAssertEqual(exp.tensors[t.name]!.shape, t.rowCount == 1 && t.dims.count == 1 ? [1, t.rowLength] : t.shape)
            seen.insert(t.ggmlType.description)
            // Row-range variant equals the matching slice of the full result.
            if t.rowCount > 1 {
                let part = try g.dequantize(t.name, rows: 1..<t.rowCount)
                XCTAssertEqual(part, Array(got[t.rowLength...]), t.name)
            }
        }
        XCTAssertEqual(seen, ["F32", "F16", "BF16", "Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q4_K", "Q5_K", "Q6_K", "IQ4_NL"])
        XCTAssertThrowsError(try g.dequantize("real.Q8_0", rows: 1..<3))
        XCTAssertThrowsError(try g.dequantize("missing"))
    }

    func testMetadataOfEveryValueType() throws {
        let g = try GGUFFile(dataDir.appendingPathComponent("oracle.gguf"))
        let m = g.metadata
        XCTAssertEqual(m["oracle.u8"], .uint8(7))
        XCTAssertEqual(m["oracle.i8"], .int8(-7))
        XCTAssertEqual(m["oracle.u16"], .uint16(65535))
        XCTAssertEqual(m["oracle.i16"], .int16(-300))
        XCTAssertEqual(m["oracle.u32"], .uint32(4_000_000_000))
        XCTAssertEqual(m["oracle.i32"], .int32(-2_000_000_000))
        XCTAssertEqual(m["oracle.u64"], .uint64(1 << 63 + 5))
        XCTAssertEqual(m["oracle.i64"]?.int, -(1 << 40))
        XCTAssertEqual(m["oracle.f32"]?.float, 0.25)
        XCTAssertEqual(m["oracle.f64"], .float64(1e-300))
        XCTAssertEqual(m["oracle.bool"]?.bool, true)
        XCTAssertEqual(m["oracle.str"]?.string, "héllo ✓")
        XCTAssertEqual(m["oracle.strings"]?.stringArray, ["a", "", "Ġthe", "日本"])
        XCTAssertEqual(m["oracle.ints"]?.intArray, [1, -2, 3])
        XCTAssertEqual(m["oracle.floats"]?.floatArray, [0.5, -1.5])
        guard case .array(.array(let inner))? = m["oracle.nested"] else { return XCTFail("nested array: \(String(describing: m["oracle.nested"]))") }
        XCTAssertEqual(inner.map { $0.ints ?? [] }, [[1, 2], [3]])
        XCTAssertEqual(m["general.alignment"]?.int, 64)
        XCTAssertNil(m["oracle.u64"]?.int)   // 2^63+5 does not fit in Int
    }

    // MARK: bad input

    /// Builds a GGUF in memory: header, key/values, tensor infos, padding and data.
    struct Builder {
        var version: UInt32 = 3
        var kv: [(String, (inout ByteWriter) -> Void)] = []
        var tensors: [(name: String, dims: [UInt64], type: UInt32, offset: UInt64)] = [("w", [32, 2], 8, 0)]
        var nTensorsOverride: UInt64? = nil
        var data = [UInt8](repeating: 1, count: 68)
        func build() -> Data {
            var w = ByteWriter()
            w.put(UInt32(0x4655_4747)); w.put(version)
            w.put(nTensorsOverride ?? UInt64(tensors.count)); w.put(UInt64(kv.count))
            for (k, f) in kv { w.put(k); f(&w) }
            for t in tensors {
                w.put(t.name); w.put(UInt32(t.dims.count)); for d in t.dims { w.put(d) }
                w.put(t.type); w.put(t.offset)
            }
            while w.data.count % 32 != 0 { w.data.append(0) }
            w.data += data
            return Data(w.data)
        }
    }

    func expectError(_ data: Data, _ tag: String, contains: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let u = TestPaths.tempDir("gguf").appendingPathComponent("\(tag).gguf")
        try data.write(to: u)
        XCTAssertThrowsError(try GGUFFile(u), tag, file: file, line: line) { e in
            let s = "\(e)"
            XCTAssertTrue(s.contains(u.path), "\(tag): error should name the file: \(s)", file: file, line: line)
            XCTAssertTrue(contains.isEmpty || s.contains(contains), "\(tag): expected '\(contains)' in: \(s)", file: file, line: line)
        }
    }

    func testBuilderBaselineIsValid() throws {
        let u = TestPaths.tempDir("gguf").appendingPathComponent("ok.gguf")
        try Builder().build().write(to: u)
        let g = try GGUFFile(u)
        XCTAssertEqual(g.tensors.first?.byteCount, 68)
        XCTAssertEqual(try g.dequantize("w").count, 64)
        var b2 = Builder(); b2.version = 2
        try b2.build().write(to: u)
        XCTAssertEqual(try GGUFFile(u).version, 2)
    }

    func testRejectsBadFiles() throws {
        var b = Builder()
        var d = b.build(); d[0] = 0x48
        try expectError(d, "magic", contains: "bad magic")
        b = Builder(); b.version = 1
        try expectError(b.build(), "v1", contains: "unsupported GGUF version 1")
        b = Builder(); b.version = 4
        try expectError(b.build(), "v4", contains: "unsupported GGUF version 4")
        b = Builder(); b.version = UInt32(3).byteSwapped
        try expectError(b.build(), "bigendian", contains: "big-endian")
        b = Builder(); b.nTensorsOverride = 1 << 40
        try expectError(b.build(), "ntensors", contains: "tensor count")
        b = Builder(); b.kv = [("k", { w in w.put(UInt32(8)); w.put(UInt64(1) << 60) })]
        try expectError(b.build(), "strlen", contains: "length")
        b = Builder(); b.kv = [("k", { w in w.put(UInt32(9)); w.put(UInt32(8)); w.put(UInt64(1) << 40) })]
        try expectError(b.build(), "arraylen", contains: "array length")
        b = Builder(); b.kv = [("k", { w in w.put(UInt32(13)) })]
        try expectError(b.build(), "valtype", contains: "unknown metadata value type 13")
        b = Builder(); b.kv = [("k", { w in w.put(UInt32(9)); for _ in 0..<20 { w.put(UInt32(9)); w.put(UInt64(1)) }; w.put(UInt32(0)); w.put(UInt64(0)) })]
        try expectError(b.build(), "deep", contains: "nested deeper")
        b = Builder(); b.tensors = [("w", [1 << 30, 1 << 30, 1 << 30], 0, 0)]
        try expectError(b.build(), "dims", contains: "2^50")
        b = Builder(); b.tensors = [("w", [32, 2], 99, 0)]
        try expectError(b.build(), "type", contains: "unknown GGML type 99")
        b = Builder(); b.tensors = [("w", [32, 2], 8, 1 << 40)]
        try expectError(b.build(), "offpast", contains: "past the end")
        b = Builder(); b.tensors = [("w", [32, 2], 8, 4)]
        try expectError(b.build(), "misaligned", contains: "not a multiple of the alignment")
        b = Builder(); b.tensors = [("w", [32, 4], 8, 0)]
        try expectError(b.build(), "datapast", contains: "runs past the end")
        b = Builder(); b.tensors = [("a", [32], 8, 0), ("b", [32], 8, 32)]
        try expectError(b.build(), "overlap", contains: "overlap")
        b = Builder(); b.tensors = [("a", [33], 8, 0)]
        try expectError(b.build(), "block", contains: "block size")
        b = Builder(); b.kv = [("general.alignment", { w in w.put(UInt32(4)); w.put(UInt32(48)) })]
        try expectError(b.build(), "align", contains: "power of two")
        b = Builder(); b.kv = [("k", { w in w.put(UInt32(7)); w.put(UInt8(2)) })]
        try expectError(b.build(), "bool", contains: "bool")
        b = Builder(); b.kv = [("k", { w in w.put(UInt32(8)); w.put(UInt64(2)); w.put(UInt8(0xff)); w.put(UInt8(0xfe)) })]
        try expectError(b.build(), "utf8", contains: "UTF-8")
        let full = Builder().build()
        for cut in [0, 3, 7, 15, 23, 30, full.count - 100] {
            try expectError(full.prefix(cut), "trunc\(cut)", contains: cut == 0 ? "empty" : "")
        }
    }

    /// Every known type prints as its ggml name (a GGUF with IQ4_NL tensors once crashed here: the fallback description
    /// interpolated the value itself, recursing forever), and a known type without a dequantizer is an error
    /// naming the type and the file, not a crash.
    func testKnownTypesWithoutDequantizerAreClearErrors() throws {
        let names = GGMLType.allCases.map(\.description)
        XCTAssertEqual(Set(names).count, names.count)
        XCTAssertEqual(GGMLType.iq4_nl.description, "IQ4_NL")
        XCTAssertEqual(GGMLType.tq2_0.description, "TQ2_0")
        var b = Builder()
        b.tensors = [("w", [256, 1], GGMLType.iq4_xs.rawValue, 0)]
        b.data = [UInt8](repeating: 1, count: 136)
        let u = TestPaths.tempDir("gguf").appendingPathComponent("iq4xs.gguf")
        try b.build().write(to: u)
        let g = try GGUFFile(u)
        XCTAssertEqual(g.tensors.first?.ggmlType.description, "IQ4_XS")
        XCTAssertThrowsError(try g.dequantize("w")) { e in
            XCTAssertTrue("\(e)".contains("IQ4_XS"), "\(e)")
        }
    }

    /// Random byte corruptions of the oracle file: each open either succeeds or throws; never crashes.
    func testRandomCorruptionsNeverCrash() throws {
        let orig = try Data(contentsOf: dataDir.appendingPathComponent("oracle.gguf"))
        let dir = ramScratchDir("ggufz")
        defer { try? FileManager.default.removeItem(at: dir) }
        var rng = TestRNG(seed: 7)
        let headerEnd = 3000   // corrupt mostly the header/metadata/tensor-info area
        var opened = 0
        for i in 0..<3000 {
            var d = orig
            switch i % 3 {
            case 0: for _ in 0..<rng.int(1..<4) { let p = rng.int(0..<headerEnd); d[p] ^= UInt8(1 << rng.int(0..<8)) }
            case 1: d = d.prefix(rng.int(0..<d.count))
            default: let p = rng.int(0..<headerEnd - 8); for k in 0..<8 { d[p + k] = UInt8(truncatingIfNeeded: rng.next()) }
            }
            let u = dir.appendingPathComponent("c.gguf")
            try d.write(to: u)
            if let g = try? GGUFFile(u) {
                opened += 1
                for t in g.tensors where t.ggmlType.canDequantize { _ = try? g.dequantize(t.name, rows: 0..<min(1, t.rowCount)) }
            }
        }
        XCTAssertLessThan(opened, 3000)
    }

    /// The real tokenizer arrays parse fast; the full real file dequantizes like Python (SENTIO_SLOW=1).
    func testRealQwenFile() throws {
        guard let url = TestPaths.cachedModel("qwen2.5-coder-0.5b-instruct-q4_k_m.gguf") else { throw XCTSkip("real GGUF not fetched (tools/fetch-test-models.sh)") }
        let t0 = Date()
        let g = try GGUFFile(url)
        let dt = Date().timeIntervalSince(t0)
        print("GGUF open (291 tensors, 151k-token vocabulary + merges): \(String(format: "%.3f", dt)) s")
        XCTAssertEqual(g.metadata["tokenizer.ggml.tokens"]?.stringArray?.count, 151936)
        XCTAssertEqual(g.metadata["qwen2.block_count"]?.int, 24)
        XCTAssertEqual(g.tensors.count, 291)
        guard slowTestsEnabled else { return }
        let sums = try JSONSerialization.jsonObject(with: Data(contentsOf: dataDir.appendingPathComponent("real-tensor-sums.json"))) as! [String: [String: Any]]
        XCTAssertEqual(sums.count, g.tensors.count)
        for t in g.tensors {
            let ref = sums[t.name]!
            XCTAssertEqual(ref["type"] as? String, t.ggmlType.description, t.name)
            XCTAssertEqual(ref["dims"] as? [Int], t.dims, t.name)
            let v = try g.dequantize(t.name)
            var s = 0.0, s2 = 0.0
            for x in v { s += Double(x); s2 += Double(x) * Double(x) }
            // Sums are float64 over identical f32 values; only the summation order differs (numpy
            // pairwise vs sequential), so they agree to ~1e-12 relative of the sum of |x|.
            let refS = ref["sum"] as! Double, refS2 = ref["sumsq"] as! Double
            XCTAssertEqual(s, refS, accuracy: 1e-9 * max(1, refS2.squareRoot() * Double(v.count).squareRoot()), t.name)
            XCTAssertEqual(s2, refS2, accuracy: 1e-9 * max(1, refS2), t.name)
            XCTAssertEqual(Array(v.prefix(4)).map { Int($0.bitPattern) }, ref["first_bits"] as? [Int], t.name)
        }
        // And the extracted rows match the real file's rows bit for bit.
        let exp = try SafetensorsFile(dataDir.appendingPathComponent("oracle-expected.safetensors"))
        for (n, real) in [("real.Q5_0", "blk.0.ffn_gate.weight"), ("real.Q8_0", "blk.0.attn_v.weight"),
                          ("real.Q6_K", "blk.0.ffn_down.weight"), ("real.Q4_K", "blk.11.ffn_down.weight")] {
            XCTAssertEqual(try g.dequantize(real, rows: 0..<2), try exp.floats(n), real)
        }
    }

    /// The real SmolLM2-135M Q4_1 file opens; its Q4_1 rows equal the extracted oracle rows.
    func testRealSmolLM2File() throws {
        guard let url = TestPaths.cachedModel("smollm2-135m-instruct-q4_1.gguf") else {
            throw XCTSkip("SmolLM2 GGUF not fetched (tools/fetch-test-models.sh smollm2)")
        }
        let g = try GGUFFile(url)
        XCTAssertEqual(g.tensors.count, 272)
        XCTAssertEqual(g.metadata["general.architecture"]?.string, "llama")
        XCTAssertEqual(Set(g.tensors.map(\.ggmlType.description)), ["Q4_1", "F32", "Q8_0"])
        let exp = try SafetensorsFile(dataDir.appendingPathComponent("oracle-expected.safetensors"))
        XCTAssertEqual(try g.dequantize("blk.0.ffn_gate.weight", rows: 0..<2), try exp.floats("real.Q4_1"))
    }
}
