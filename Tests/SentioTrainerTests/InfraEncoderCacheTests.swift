import Foundation
import XCTest
@testable import SentioTrainer
import SentioCore
import SentioTestSupport

final class InfraEncoderCacheTests: XCTestCase {
    func testStoreLoadInvalidateAndCorruption() throws {
        let dir = TestPaths.tempDir("encoder-cache")
        let clip = dir.appendingPathComponent("clip.mp4")
        try Data((0..<5000).map { UInt8(truncatingIfNeeded: $0 * 7) }).write(to: clip)
        let cache = try EncoderCache(directory: dir.appendingPathComponent("cache"))
        let key = try EncoderCacheKey(clip: clip, modelChecksum: "abc-123", promptMode: "training")
        var rng = TestRNG(seed: 5)
        let video = (0..<(6 * 4)).map { _ in rng.uniform() }, audio = (0..<(5 * 4)).map { _ in rng.normal() }
        let t = try NamedTensors([("video", [6, 4], video), ("audio", [5, 4], audio)])

        XCTAssertNil(try cache.load(key))
        var computed = 0
        let first = try cache.fetch(key) { computed += 1; return t }
        let second = try cache.fetch(key) { computed += 1; return t }
        XCTAssertEqual(computed, 1)
        XCTAssertEqual(first, t); XCTAssertEqual(second, t) // f32 round trip is exact, order kept
        XCTAssertEqual(cache.hits, 1)

        // Another model, another prompt mode, or an edited clip: a different key, a miss.
        XCTAssertNil(try cache.load(EncoderCacheKey(clipHash: key.clipHash, modelChecksum: "other", promptMode: "training")))
        XCTAssertNil(try cache.load(EncoderCacheKey(clipHash: key.clipHash, modelChecksum: "abc-123", promptMode: "inference")))
        var edited = try Data(contentsOf: clip); edited[100] ^= 1
        try edited.write(to: clip)
        let editedKey = try EncoderCacheKey(clip: clip, modelChecksum: "abc-123", promptMode: "training")
        XCTAssertNotEqual(editedKey.clipHash, key.clipHash)
        XCTAssertNil(try cache.load(editedKey))

        // A file under this key's name holding another key's metadata (a collision, or a stale file): a miss.
        try FileManager.default.copyItem(at: cache.url(for: key), to: cache.url(for: editedKey))
        XCTAssertNil(try cache.load(editedKey))

        // A damaged file: a SentioError naming it.
        let bytes = try Data(contentsOf: cache.url(for: key))
        try bytes.prefix(bytes.count - 10).write(to: cache.url(for: key))
        XCTAssertThrowsError(try cache.load(key)) { e in
            XCTAssertTrue(e is SentioError, "\(e)")
            XCTAssertTrue("\(e)".contains(cache.url(for: key).lastPathComponent), "\(e)")
        }
        try Data("garbage".utf8).write(to: cache.url(for: key))
        XCTAssertThrowsError(try cache.load(key)) { XCTAssertTrue($0 is SentioError) }
        XCTAssertThrowsError(try EncoderCacheKey(clip: dir.appendingPathComponent("missing.mp4"), modelChecksum: "", promptMode: "")) {
            XCTAssertEqual(($0 as? SentioError)?.kind, .io)
        }
    }
}
