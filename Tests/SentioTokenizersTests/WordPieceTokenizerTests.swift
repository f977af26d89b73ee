// BERT WordPiece against the R1-Omni fixture ids and the HF `tokenizers` BertWordPiece corpus.
import Foundation
import XCTest
import SentioCore
import SentioFormat
import SentioTestSupport
@testable import SentioTokenizers

final class WordPieceTokenizerTests: XCTestCase {
    static let bert: WordPieceTokenizer = {
        try! WordPieceTokenizer(vocab: TestPaths.fixtures.appendingPathComponent("bert-uncased-vocab/vocab.txt"))
    }()
    var tok: WordPieceTokenizer { Self.bert }

    func testSpecialIDs() {
        XCTAssertEqual(tok.vocabSize, 30_522)
        XCTAssertEqual(tok.unkID, 100)
        XCTAssertEqual(tok.clsID, 101)
        XCTAssertEqual(tok.sepID, 102)
        XCTAssertEqual(tok.padID, 0)
    }

    func testFixtureInstructionIDs() throws {
        let tiny = TestPaths.tinyA
        let info = try JSONScanner.parse(contentsOf: tiny.appendingPathComponent("run_info.json"))
        let instruct = try XCTUnwrap(info["instruct"]?.string)
        let expected = try SafetensorsFile(tiny.appendingPathComponent("inputs.safetensors")).ints("inputs.bert_input_ids").map { Int32($0) }
        XCTAssertEqual(tok.encode(instruct), expected)
        let tokens = (info["bert_tokens"]?.array ?? []).compactMap(\.string)
        XCTAssertEqual(["[CLS]"] + tok.tokenize(instruct) + ["[SEP]"], tokens)
    }

    func testHFCorpus() throws {
        let cases = try TokenizerTestData.corpus("bert-corpus.json")
        XCTAssertGreaterThan(cases.count, 90)
        for c in cases {
            XCTAssertEqual(tok.encode(c.text, maxLength: nil), c.ids, "text \(c.text.debugDescription)")
        }
    }

    func testLongWordIsUnknownAndTruncation() {
        XCTAssertEqual(tok.tokenize(String(repeating: "a", count: 101)), ["[UNK]"])
        XCTAssertNotEqual(tok.tokenize(String(repeating: "a", count: 100)), ["[UNK]"])
        let ids = tok.encode(String(repeating: "word ", count: 1000), maxLength: 16)
        XCTAssertEqual(ids.count, 16)
        XCTAssertEqual(ids.first, 101)
        XCTAssertEqual(ids.last, 102)
    }

    func testMissingSpecialTokenThrows() throws {
        let dir = TestPaths.tempDir("wp")
        defer { try? FileManager.default.removeItem(at: dir) }
        let u = dir.appendingPathComponent("vocab.txt")
        try "[PAD]\n[CLS]\n[SEP]\nhello\n".write(to: u, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try WordPieceTokenizer(vocab: u)) { XCTAssertTrue($0 is SentioError) }
    }
}
