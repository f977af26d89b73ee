// EmotionDataset: R1-Omni JSON and CSV loading, path resolution, label normalization, sharding, and errors
// that name the file and the entry / line.
import XCTest
import SentioCore
import SentioRuntime
import SentioTestSupport

final class EmotionDatasetTests: XCTestCase {
    var dir: URL!
    override func setUp() { dir = TestPaths.tempDir("sentio-dataset") }
    override func tearDown() { try? FileManager.default.removeItem(at: dir) }

    func write(_ name: String, _ text: String) throws -> URL {
        let u = dir.appendingPathComponent(name)
        try Data(text.utf8).write(to: u)
        return u
    }

    func testR1OmniJSON() throws {
        let u = try write("train.json", """
        [{"video": "clips/a.mp4", "conversations": [{"from": "human", "value": "<video>\\n<audio>\\nWhich emotion?"},
                                                    {"from": "gpt", "value": "sad"}]},
         {"video": "/data/b.mp4", "conversations": [{"from": "human", "value": "q"},
                                                    {"from": "gpt", "value": "<think>smiles</think>\\n<answer> Happiness </answer>"}]},
         {"video": "clips/a.mp4", "conversations": [{"from": "human", "value": "q"}, {"from": "gpt", "value": "Fearful"}]},
         {"video": "c.mp4", "conversations": [{"from": "gpt", "value": "bored"}]}]
        """)
        let d = try EmotionDataset(contentsOf: u)
        XCTAssertEqual(d.samples.count, 4)
        XCTAssertEqual(d.samples.map(\.label), ["sad", "happy", "fear", "bored"])
        XCTAssertEqual(d.samples[1].rawLabel, "Happiness")
        XCTAssertEqual(d.samples[0].videoPath, dir.appendingPathComponent("clips/a.mp4").standardizedFileURL.path)
        XCTAssertEqual(d.samples[1].videoPath, "/data/b.mp4")
        XCTAssertEqual(d.samples.map(\.id), ["clips/a.mp4", "/data/b.mp4", "clips/a.mp4#2", "c.mp4"])
        XCTAssertEqual(d.samples.map(\.index), [0, 1, 2, 3])
        XCTAssertEqual(d.samples[0].instruction, "<video>\n<audio>\nWhich emotion?")
        XCTAssertEqual(d.warnings.count, 1)
        XCTAssertTrue(d.warnings[0].contains("bored"))
        XCTAssertEqual(d.labels, ["happy", "sad", "fear", "bored"])
    }

    func testCSVWithQuotesAndHeaderOrder() throws {
        let u = try write("set.csv", "Label,extra,Path\r\nangry,x,\"dir, with comma/a.mp4\"\r\n\r\n\"sad\",\"multi\nline\",b.mp4\nSurprised,,\"q\"\"uote.mp4\"\n")
        let d = try EmotionDataset(contentsOf: u)
        XCTAssertEqual(d.samples.map(\.label), ["angry", "sad", "surprise"])
        XCTAssertEqual(d.samples.map(\.id), ["dir, with comma/a.mp4", "b.mp4", "q\"uote.mp4"])
        XCTAssertTrue(d.samples[2].videoPath.hasPrefix(dir.standardizedFileURL.path))
        XCTAssertTrue(d.warnings.isEmpty)
    }

    func testShardsPartitionTheDataset() throws {
        let rows = (0..<11).map { "c\($0).mp4,\(EmotionLabels.dfew[$0 % 7])" }.joined(separator: "\n")
        let d = try EmotionDataset(contentsOf: write("s.csv", "path,label\n" + rows))
        let shards = (0..<3).map { d.shard($0, of: 3) }
        XCTAssertEqual(shards.map(\.count), [4, 4, 3])
        XCTAssertEqual(Set(shards.flatMap { $0.map(\.id) }), Set(d.samples.map(\.id)))
        XCTAssertEqual(shards.flatMap { $0 }.count, 11)
        XCTAssertEqual(d.shard(0, of: 1), d.samples)
        XCTAssertTrue(d.shard(3, of: 3).isEmpty)
        XCTAssertTrue(d.shard(0, of: 0).isEmpty)
    }

    func expectError(_ name: String, _ text: String, _ needle: String, line: UInt = #line) throws {
        let u = try write(name, text)
        do {
            _ = try EmotionDataset(contentsOf: u)
            XCTFail("expected an error for \(name)", line: line)
        } catch let e as SentioError {
            XCTAssertEqual(e.file, u.path, line: line)
            XCTAssertTrue(e.message.contains(needle), "\(e.message) lacks \(needle)", line: line)
        }
    }

    func testBadInputNamesFileAndPlace() throws {
        try expectError("a.json", "{\"video\": 1}", "JSON list")
        try expectError("b.json", "[{\"video\": \"x.mp4\", \"conversations\": [{\"from\": \"gpt\", \"value\": \"sad\"}]}, {\"conversations\": []}]", "entry 1")
        try expectError("c.json", "[{\"video\": \"x.mp4\", \"conversations\": [{\"from\": \"human\", \"value\": \"q\"}]}]", "entry 0: no label")
        try expectError("d.json", "[{\"video\": \"x.mp4\"", "not valid JSON")
        try expectError("e.csv", "path,label\na.mp4,sad\nb.mp4\n", "line 3")
        try expectError("f.csv", "file,mood\na.mp4,sad\n", "header")
        try expectError("g.csv", "path,label\n\"a.mp4,sad\n", "not closed")
        try expectError("h.csv", "path,label\na.mp4,\n", "line 2: empty label")
        try expectError("i.csv", "path,label\na\"b.mp4,sad\n", "line 2: stray quote")
        XCTAssertThrowsError(try EmotionDataset(contentsOf: dir.appendingPathComponent("none.json")))
        XCTAssertThrowsError(try EmotionDataset(contentsOf: dir))
    }
}
