// Load and encode speed (SENTIO_SLOW=1; meaningful in release):
//   swift build -c release --build-tests -Xswiftc -enable-testing
//   SENTIO_SLOW=1 swift test -c release -Xswiftc -enable-testing --skip-build --filter TokenizerBenchmarkTests
// Reports thread CPU time (robust when other jobs share the cores) and wall time, best of 3.
import Foundation
import XCTest
import SentioTestSupport
@testable import SentioTokenizers
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

final class TokenizerBenchmarkTests: XCTestCase {
    func cpuSeconds() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
    }

    /// Best (cpu, wall) seconds over `runs` calls of `body`.
    func measure(_ runs: Int, _ body: () throws -> Void) rethrows -> (Double, Double) {
        var cpu = Double.infinity, wall = Double.infinity
        for _ in 0..<runs {
            let c0 = cpuSeconds(), w0 = Date()
            try body()
            cpu = min(cpu, cpuSeconds() - c0)
            wall = min(wall, Date().timeIntervalSince(w0))
        }
        return (cpu, wall)
    }

    func testLoadAndEncodeSpeed() throws {
        try XCTSkipUnless(slowTestsEnabled, "set SENTIO_SLOW=1")
        let url = TokenizerTestData.qwenDir.appendingPathComponent("tokenizer.json")
        var tok: BPETokenizer!
        let load = try measure(3) { tok = try BPETokenizer(tokenizerJSON: url) }
        let scan = try measure(3) { _ = try JSONScanner.parse(contentsOf: url) }
        print(String(format: "tokenizer.json load: cpu %.3f s, wall %.3f s (JSON scan alone: cpu %.3f s)", load.0, load.1, scan.0))

        // ~1 MB of English prose-like text (the R1-Omni instruction and chat lines), and ~1 MB of the
        // adversarial oracle corpus (long runs, emoji, CJK, whitespace runs).
        let info = try JSONScanner.parse(contentsOf: TestPaths.tinyA.appendingPathComponent("run_info.json"))
        let prose = (info["instruct"]?.string ?? "") + "\n" + (info["prompt_string"]?.string ?? "")
        let corpus = try TokenizerTestData.corpus("qwen2-corpus.json").map(\.text).joined(separator: "\n")
        for (name, unit) in [("prose", prose), ("hard corpus", corpus)] {
            var text = ""
            while text.utf8.count < 1_000_000 { text += unit }
            let mb = Double(text.utf8.count) / 1e6
            var ids: [Int32] = []
            let enc = measure(3) { ids = tok.encode(text) }
            var back = ""
            let dec = measure(3) { back = tok.decode(ids) }
            print(String(format: "encode %@ %.2f MB -> %d ids: cpu %.3f s (%.1f MB/s), wall %.3f s; decode cpu %.3f s",
                         name, mb, ids.count, enc.0, mb / enc.0, enc.1, dec.0))
            XCTAssertEqual(back, text.precomposedStringWithCanonicalMapping)
        }
    }
}
