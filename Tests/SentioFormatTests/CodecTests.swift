import XCTest
import SentioCore
import SentioFormat
import SentioTestSupport

final class CodecTests: XCTestCase {
    /// Vectors from the Python `xxhash` package (xxhash.xxh64(data, seed).intdigest()), covering the
    /// short path (< 32 bytes), the 32-byte stripe path, and the 8/4/1-byte tails.
    func testXXHash64Vectors() {
        let seed: UInt64 = 0x9E37_79B9_7F4A_7C15
        let spam = Array("Nobody inspects the spammish repetition".utf8)
        let cases: [([UInt8], UInt64, UInt64)] = [
            ([], 0xEF46_DB37_51D8_E999, 0xC434_9FC9_3C01_0000),
            (Array("a".utf8), 0xD24E_C4F1_A98C_6E5B, 0x9A7C_6D2E_A455_68C9),
            (Array("abc".utf8), 0x44BC_2CF5_AD77_0999, 0x2ED0_F59D_6B43_AC8B),
            ((0..<31).map { UInt8($0) }, 0xC346_D2B5_9B4D_8EE1, 0xF3DA_6D05_709C_035D),
            ((0..<32).map { UInt8($0) }, 0xCBF5_9C51_16FF_32B4, 0xA1C8_9217_E9D5_0750),
            ((0..<100).map { UInt8($0) }, 0x6AC1_E580_3216_6597, 0x3B97_D91E_BA03_E785),
            (spam + spam + spam, 0x0367_2E8D_8944_3A6F, 0xD4EF_960F_B7D1_703C),
        ]
        for (data, h0, hs) in cases {
            XCTAssertEqual(XXHash64.hash(data), h0, "len \(data.count)")
            XCTAssertEqual(XXHash64.hash(data, seed: seed), hs, "len \(data.count) seeded")
        }
    }

    /// Shuffle then unshuffle gives the input back, for every dtype and odd element counts.
    func testShuffleRoundTrip() {
        var rng = TestRNG(seed: 3)
        for dt in DType.allCases {
            for units in [0, 1, 3, 17, 100, 1001] {
                let n = units * dt.bytesPerBlock
                let src = (0..<n).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
                var mid = [UInt8](repeating: 0, count: n), back = [UInt8](repeating: 0, count: n)
                src.withUnsafeBytes { s in mid.withUnsafeMutableBytes { ByteShuffle.shuffle(dt, s, into: $0) } }
                mid.withUnsafeBytes { s in back.withUnsafeMutableBytes { ByteShuffle.unshuffle(dt, s, into: $0) } }
                XCTAssertEqual(back, src, "\(dt) x\(units)")
                // The single-pass fast paths (2- and 4-byte planes) equal the plain reference.
                var ref = [UInt8](repeating: 0, count: n)
                src.withUnsafeBytes { s in ref.withUnsafeMutableBytes { ByteShuffle.referencePermute(dt, s, $0, forward: true) } }
                XCTAssertEqual(mid, ref, "fast vs reference shuffle \(dt) x\(units)")
                var refBack = [UInt8](repeating: 0, count: n)
                ref.withUnsafeBytes { s in refBack.withUnsafeMutableBytes { ByteShuffle.referencePermute(dt, s, $0, forward: false) } }
                XCTAssertEqual(refBack, src)
                var bmid = [UInt8](repeating: 0, count: n), bback = [UInt8](repeating: 0, count: n)
                src.withUnsafeBytes { s in bmid.withUnsafeMutableBytes { BitShuffle.shuffle(dt, s, into: $0) } }
                bmid.withUnsafeBytes { s in bback.withUnsafeMutableBytes { BitShuffle.unshuffle(dt, s, into: $0) } }
                XCTAssertEqual(bback, src, "bit \(dt) x\(units)")
                if dt == .u8, units == 17 {   // plane 0 byte 0 = bit 0 of elements 0...7
                    XCTAssertEqual(bmid[0], (0..<8).reduce(UInt8(0)) { $0 | ((src[$1] & 1) << UInt8($1)) })
                    XCTAssertEqual(bmid[16], src[16])   // the 17th element is a tail, copied
                }
                if dt == .f16, units == 3 {   // planes: low bytes first, then high bytes
                    XCTAssertEqual(mid, [src[0], src[2], src[4], src[1], src[3], src[5]])
                }
                if dt == .q8, units == 3 {    // scales' low bytes, high bytes, then the 32 quant bytes per block
                    XCTAssertEqual(Array(mid[0..<6]), [src[0], src[34], src[68], src[1], src[35], src[69]])
                    XCTAssertEqual(Array(mid[6..<38]), Array(src[2..<34]))
                }
            }
        }
    }
}
