import XCTest
import SentioFormat
import SentioTestSupport

final class SafetensorsTests: XCTestCase {
    /// The fixture's files parse, and every tensor listed in manifest.json is present with its shape.
    func testFixtureFilesMatchManifest() throws {
        let dir = TestPaths.tinyA
        let manifest = try JSONSerialization.jsonObject(with: Data(contentsOf: dir.appendingPathComponent("manifest.json"))) as! [String: Any]
        let st = try SafetensorsFile(dir.appendingPathComponent("vision.safetensors"))
        XCTAssertFalse(st.tensors.isEmpty)
        let text = String(data: try JSONSerialization.data(withJSONObject: manifest), encoding: .utf8)!
        for name in st.names { XCTAssertTrue(text.contains(name), "\(name) not in manifest") }
        let p = try st.floats("gate.p")
        XCTAssertEqual(p.count, 3)
        XCTAssertEqual(p.reduce(0, +), 1, accuracy: 1e-5)   // softmax output sums to one
        let ids = try SafetensorsFile(dir.appendingPathComponent("inputs.safetensors")).ints("inputs.input_ids")
        XCTAssertEqual(ids.filter { $0 < 0 }, [-201, -202])
    }

    func testRejectsTruncatedAndBadHeaders() throws {
        let tmp = TestPaths.tempDir()
        let bad: [(String, Data)] = [
            ("short", Data([1, 2, 3])),
            ("huge-len", Data([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f]) + Data("{}".utf8)),
            ("not-json", Data([4, 0, 0, 0, 0, 0, 0, 0]) + Data("abcd".utf8)),
            ("past-end", { let j = Data(#"{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}"#.utf8); var d = Data([UInt8(j.count), 0, 0, 0, 0, 0, 0, 0]); d += j; d += Data(count: 8); return d }()),
            ("bad-dtype", { let j = Data(#"{"a":{"dtype":"Q9","shape":[1],"data_offsets":[0,4]}}"#.utf8); var d = Data([UInt8(j.count), 0, 0, 0, 0, 0, 0, 0]); d += j; d += Data(count: 4); return d }()),
            ("giant-shape", { let j = Data(#"{"a":{"dtype":"F32","shape":[1152921504606846976],"data_offsets":[0,4]}}"#.utf8); var d = Data([UInt8(j.count), 0, 0, 0, 0, 0, 0, 0]); d += j; d += Data(count: 4); return d }()),
        ]
        for (name, data) in bad {
            let u = tmp.appendingPathComponent("\(name).safetensors")
            try data.write(to: u)
            XCTAssertThrowsError(try SafetensorsFile(u), name) { e in
                XCTAssertTrue("\(e)".contains(u.path), "error should name the file: \(e)")
            }
        }
    }
}

final class ShardedSafetensorsTests: XCTestCase {
    /// Writes a safetensors file holding f32 tensors.
    static func writeST(_ url: URL, _ tensors: [(String, [Int], [Float])]) throws {
        var header: [String: Any] = [:]
        var body = Data()
        for (name, shape, v) in tensors {
            header[name] = ["dtype": "F32", "shape": shape, "data_offsets": [body.count, body.count + 4 * v.count]]
            v.withUnsafeBytes { body.append(contentsOf: $0) }
        }
        var j = try JSONSerialization.data(withJSONObject: header)
        while j.count % 8 != 0 { j.append(0x20) }
        var d = withUnsafeBytes(of: UInt64(j.count).littleEndian) { Data($0) }
        d += j; d += body
        try d.write(to: url)
    }

    func makeDir(index: Any?) throws -> URL {
        let dir = TestPaths.tempDir("shards")
        try Self.writeST(dir.appendingPathComponent("model-00001-of-00002.safetensors"), [("a", [2], [1, 2]), ("b", [1, 2], [3, 4])])
        try Self.writeST(dir.appendingPathComponent("model-00002-of-00002.safetensors"), [("c", [3], [5, 6, 7])])
        if let index {
            let data = try (index as? Data) ?? JSONSerialization.data(withJSONObject: index)
            try data.write(to: dir.appendingPathComponent(ShardedSafetensors.indexName))
        }
        return dir
    }

    static let goodMap = ["a": "model-00001-of-00002.safetensors", "b": "model-00001-of-00002.safetensors",
                          "c": "model-00002-of-00002.safetensors"]

    func testShardsPresentAllTensors() throws {
        let s = try ShardedSafetensors(dir: try makeDir(index: ["metadata": ["total_size": 28], "weight_map": Self.goodMap]))
        XCTAssertEqual(s.names, ["a", "b", "c"])
        XCTAssertEqual(try s.floats("a"), [1, 2])
        XCTAssertEqual(try s.floats("c"), [5, 6, 7])
        XCTAssertEqual(s.tensors["b"]?.shape, [1, 2])
        XCTAssertEqual(s.metadata["total_size"], "28")
        XCTAssertThrowsError(try s.floats("zzz"))
        // Single-file checkpoint.
        let one = TestPaths.tempDir("shards")
        try Self.writeST(one.appendingPathComponent("model.safetensors"), [("x", [1], [9])])
        XCTAssertEqual(try ShardedSafetensors(dir: one).floats("x"), [9])
    }

    func testRejectsBadIndexes() throws {
        var m = Self.goodMap
        m["d"] = "model-00003-of-00002.safetensors"
        var noB = Self.goodMap; noB["b"] = nil
        var wrong = Self.goodMap; wrong["c"] = "model-00001-of-00002.safetensors"
        var escape = Self.goodMap; escape["c"] = "../model-00002-of-00002.safetensors"
        let cases: [(String, Any?, String)] = [
            ("missing shard", ["weight_map": m], "missing"),
            ("unlisted tensor", ["weight_map": noB], "missing from the weight_map"),
            ("wrong shard", ["weight_map": wrong], "has no tensor 'c'"),
            ("path escape", ["weight_map": escape], "not a plain file name"),
            ("no weight_map", ["metadata": [:] as [String: Any]], "weight_map"),
            ("not json", Data("{oops".utf8), "not a JSON object"),
            ("no files", nil, "neither"),
        ]
        for (tag, index, want) in cases {
            var dir = try makeDir(index: index)
            if index == nil { dir = TestPaths.tempDir("shards") }
            XCTAssertThrowsError(try ShardedSafetensors(dir: dir), tag) { e in
                XCTAssertTrue("\(e)".contains(want) && "\(e)".contains(dir.path), "\(tag): \(e)")
            }
        }
    }
}
