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
