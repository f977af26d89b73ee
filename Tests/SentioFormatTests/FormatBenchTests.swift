// Measurements on the real Qwen2.5-Coder-0.5B GGUF for docs/FORMAT.md (SENTIO_SLOW=1; run in release):
//
//   SENTIO_SLOW=1 swift test -c release --filter FormatBenchTests
//
// For each target dtype (f16, bf16, q8, q4) every 2-D weight is dequantized from the GGUF and converted
// (1-D norms and biases stay f32, as a converter keeps them), streamed one tensor at a time into a
// .sentio file with the default LZ4 policy (keep only if it saves > 10%). Printed: LZ4 savings per dtype
// with no shuffle, byte shuffle and bit shuffle (over all converted tensors, before the threshold), what
// the file actually stores, write throughput, peak RSS, and load time (raw mmap vs forced LZ4).
// The test also checks what it measures: every written file verifies and one tensor round-trips.
import XCTest
import Foundation
import SentioCore
import SentioFormat
import SentioTestSupport

final class FormatBenchTests: XCTestCase {
    static func convert(_ v: [Float], to dt: DType) -> [UInt8] {
        switch dt {
        case .f32: return v.withUnsafeBytes { Array($0) }
        case .f16: return v.map { floatToF16($0) }.withUnsafeBytes { Array($0) }
        case .bf16: return v.map { floatToBF16($0) }.withUnsafeBytes { Array($0) }
        case .q8, .q4:
            var out = [UInt8](repeating: 0, count: dt.byteCount(elements: v.count)!)
            v.withUnsafeBufferPointer { s in out.withUnsafeMutableBytes { d in
                if dt == .q8 { BlockQ8_0.quantizeRef(s, into: d) } else { BlockQ4_0.quantizeRef(s, into: d) } } }
            return out
        default: fatalError("not a weight dtype")
        }
    }

    static func peakRSSMiB() -> Int {
        guard let s = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
              let line = s.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM") }) else { return -1 }
        let kb = line.split(whereSeparator: { $0 == " " || $0 == "\t" }).dropFirst().first.flatMap { Int($0) }
        return (kb ?? -1024) / 1024
    }

    /// Opens a file and touches one byte per 4 KiB page of every tensor: "ready to run".
    static func loadSeconds(_ url: URL) throws -> (open: Double, ready: Double) {
        var best = (Double.infinity, Double.infinity)
        for _ in 0..<3 {
            let t0 = Date()
            let f = try SentioFile.open(url)
            let t1 = Date()
            var acc: UInt8 = 0
            for e in f.entries {
                let b = try f.tensor(e.name).bytes
                var i = 0
                while i < b.count { acc &+= b[i]; i += 4096 }
            }
            let t2 = Date()
            XCTAssertNotEqual(acc, 1)   // keeps the loop
            best = (min(best.0, t1.timeIntervalSince(t0)), min(best.1, t2.timeIntervalSince(t0)))
        }
        return best
    }

    func testMeasureRealWeights() throws {
        guard slowTestsEnabled else { throw XCTSkip("SENTIO_SLOW=1 (release) measures LZ4 on the real weights") }
        guard let url = TestPaths.cachedModel("qwen2.5-coder-0.5b-instruct-q4_k_m.gguf") else {
            throw XCTSkip("real GGUF not fetched (tools/fetch-test-models.sh qwen)")
        }
        let g = try GGUFFile(url)
        let dir = TestPaths.tempDir("sentio-bench")
        defer { try? FileManager.default.removeItem(at: dir) }
        let config = #"{"architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2", "hidden_size": 896}"#
        let sourceBytes = g.tensors.reduce(0) { $0 + $1.byteCount }
        print("BENCH source: \(g.tensors.count) tensors, \(sourceBytes) bytes of GGUF tensor data")
        // SENTIO_BENCH_DTYPES=bf16,q4 limits the run (default: all four).
        let only = ProcessInfo.processInfo.environment["SENTIO_BENCH_DTYPES"]?.split(separator: ",").compactMap { DType(name: String($0)) }
        for target in only ?? [DType.f16, .bf16, .q8, .q4] {
            let out = dir.appendingPathComponent("qwen-\(target).sentio")
            let forced = dir.appendingPathComponent("qwen-\(target)-lz4all.sentio")
            let w = try SentioFileWriter(url: out, config: config, metadata: ["sentio.quantization": target.name], files: [:])
            let wf = try SentioFileWriter(url: forced, config: config, metadata: [:], files: [:])
            var raw = 0
            var sizes: [LZ4Probe.Shuffle: Int] = [:]
            var writeTime = 0.0
            for t in g.tensors {
                let v = try g.dequantize(t.name)
                let dt: DType = t.dims.count >= 2 ? target : .f32
                let bytes = Self.convert(v, to: dt)
                let t0 = Date()
                try bytes.withUnsafeBytes { try w.add(name: t.name, dtype: dt, shape: t.shape, data: $0, codec: .lz4) }
                writeTime += Date().timeIntervalSince(t0)
                try bytes.withUnsafeBytes { try wf.add(name: t.name, dtype: dt, shape: t.shape, data: $0, codec: .lz4Auto(minSaving: 0)) }
                if dt == target {
                    raw += bytes.count
                    for sh in LZ4Probe.Shuffle.allCases {
                        sizes[sh, default: 0] += bytes.withUnsafeBytes { LZ4Probe.compressedSize(dt, $0, shuffle: sh) } ?? bytes.count
                    }
                }
            }
            let t0 = Date()
            let sum = try w.finish()
            writeTime += Date().timeIntervalSince(t0)
            try wf.finish()
            func pct(_ n: Int) -> String { String(format: "%.1f%%", 100 * (1 - Double(n) / Double(raw))) }
            let st = sum.perDType[target]!
            print("BENCH \(target): raw \(raw) B; LZ4 saving none \(pct(sizes[.none]!)), byte-shuffle \(pct(sizes[.byte]!)), bit-shuffle \(pct(sizes[.bit]!)); "
                + "stored with 10% threshold: \(st.lz4Tensors)/\(st.tensors) tensors LZ4, saving \(String(format: "%.1f%%", 100 * st.saving)); file \(sum.fileSize) B; "
                + "write (shuffle+LZ4+checksum+I/O, excluding dequant/convert) \(String(format: "%.2f", writeTime)) s")
            let f = try SentioFile.open(out, verify: true)
            let ff = try SentioFile.open(forced, verify: true)
            XCTAssertEqual(try f.floats("blk.0.attn_q.weight"), try ff.floats("blk.0.attn_q.weight"))
            let lr = try Self.loadSeconds(out), lf = try Self.loadSeconds(forced)
            let nLZ = ff.entries.filter { $0.codec == .lz4Shuffle }.count
            print("BENCH \(target) load (warm cache, best of 3): default file open \(String(format: "%.3f", lr.open)) s, ready \(String(format: "%.3f", lr.ready)) s; "
                + "forced-LZ4 file (\(nLZ) LZ4 tensors, \(ff.fileSize) B) open \(String(format: "%.3f", lf.open)) s, ready \(String(format: "%.3f", lf.ready)) s")
            try? FileManager.default.removeItem(at: out)
            try? FileManager.default.removeItem(at: forced)
        }
        print("BENCH peak RSS \(Self.peakRSSMiB()) MiB")
    }
}
