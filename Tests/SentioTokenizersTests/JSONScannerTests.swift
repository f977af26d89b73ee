// The JSON reader against Foundation's JSONSerialization on the same documents.
import Foundation
import XCTest
import SentioCore
@testable import SentioTokenizers

final class JSONScannerTests: XCTestCase {
    func testValuesAndEscapes() throws {
        let doc = #"{"a": [1, -2.5, 3e2, true, false, null], "s": "q\"\\\/\b\f\n\r\t\u00e9\ud83d\ude00\ud800x", "e": {}, "l": []}"#
        let v = try JSONScanner.parse(Data(doc.utf8))
        let a = try XCTUnwrap(v["a"]?.array)
        XCTAssertEqual(a[0].int, 1)
        if case .number(let d) = a[1] { XCTAssertEqual(d, -2.5) } else { XCTFail() }
        XCTAssertEqual(a[2].int, 300)
        XCTAssertEqual(a[3].bool, true)
        XCTAssertEqual(a[4].bool, false)
        XCTAssertTrue(a[5].isNull)
        XCTAssertNil(a[1].int)
        XCTAssertEqual(v["s"]?.string, "q\"\\/\u{8}\u{c}\n\r\té😀\u{FFFD}x")  // lone surrogate -> U+FFFD
        XCTAssertEqual(v["e"]?.pairs?.count, 0)
        XCTAssertEqual(v["l"]?.array?.count, 0)
        // Same string as Foundation reads (without the lone surrogate, which Foundation rejects).
        let f = try JSONSerialization.jsonObject(with: Data(#"["q\"\\\/\b\f\n\r\t\u00e9\ud83d\ude00"]"#.utf8)) as! [String]
        XCTAssertEqual(try JSONScanner.parse(Data(#"["q\"\\\/\b\f\n\r\t\u00e9\ud83d\ude00"]"#.utf8)).array?[0].string, f[0])
    }

    func testRejectsBadJSON() {
        for bad in ["", "{", "[1,]", "{\"a\" 1}", "\"abc", "tru", "01x", "[1] 2", "\"a\u{1}\"", "{\"a\":1,}", "\"\\q\"", "\"\\u12\""] {
            XCTAssertThrowsError(try JSONScanner.parse(Data(bad.utf8)), bad.debugDescription) { e in
                XCTAssertTrue(e is SentioError)
            }
        }
    }
}
