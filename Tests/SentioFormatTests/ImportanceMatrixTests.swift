// ImportanceMatrix files: round trip, and every malformed file is an error naming the file and the problem.
import XCTest
import SentioCore
import SentioFormat
import SentioTestSupport

final class ImportanceMatrixTests: XCTestCase {
    func testRoundTrip() throws {
        let url = TestPaths.tempDir().appendingPathComponent("m.safetensors")
        let m = ImportanceMatrix(columns: ["a.weight": [0, 1.5, 2], "b.weight": [3, 4]], info: ["sentio.imatrix.tokens": "12"])
        try m.write(to: url)
        let r = try ImportanceMatrix(contentsOf: url)
        XCTAssertEqual(r.columns, m.columns)
        XCTAssertEqual(r.info["sentio.imatrix.tokens"], "12")
        XCTAssertEqual(try r.vector(for: "a.weight", rowLength: 3, file: "m"), [0, 1.5, 2])
        XCTAssertNil(try r.vector(for: "c.weight", rowLength: 3, file: "m"))
        XCTAssertThrowsError(try r.vector(for: "b.weight", rowLength: 3, file: "m.safetensors")) { e in
            XCTAssertTrue("\(e)".contains("b.weight") && "\(e)".contains("m.safetensors"), "\(e)")
        }
    }

    func testMalformedFilesAreRejected() throws {
        let dir = TestPaths.tempDir()
        func file(_ name: String, marked: Bool = true, _ fill: (inout SafetensorsWriter) -> Void) throws -> URL {
            var w = SafetensorsWriter(metadata: marked ? [ImportanceMatrix.marker: "1"] : [:])
            fill(&w)
            let u = dir.appendingPathComponent(name)
            try w.write(to: u)
            return u
        }
        let cases: [(URL, String)] = [
            (try file("unmarked.safetensors", marked: false) { $0.add("a", floats: [1], shape: [1]) }, "not an importance matrix"),
            (try file("nan.safetensors") { $0.add("a", floats: [1, .nan], shape: [2]) }, "finite"),
            (try file("neg.safetensors") { $0.add("a", floats: [1, -2], shape: [2]) }, "finite and >= 0"),
            (try file("matrix.safetensors") { $0.add("a", floats: [1, 2, 3, 4], shape: [2, 2]) }, "F32 vector"),
            (try file("bf16.safetensors") { $0.add("a", bf16: [1, 2], shape: [2]) }, "F32 vector"),
            (try file("empty.safetensors") { _ in }, "no entries"),
        ]
        for (url, words) in cases {
            XCTAssertThrowsError(try ImportanceMatrix(contentsOf: url)) { e in
                let s = "\(e)"
                XCTAssertTrue(s.contains(url.lastPathComponent) && s.contains(words), s)
            }
        }
    }
}
