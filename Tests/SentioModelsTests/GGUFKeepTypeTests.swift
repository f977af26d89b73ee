// A GGUF's tensors whose GGML type is a Sentio dtype are taken byte for byte (GGUFCheckpoint.exactBytes): Q5_0 as
// q5, Q8_0 as q8; any other pairing gives nil (the converter then requantizes from floats).
import XCTest
import Foundation
import SentioCore
import SentioFormat
import SentioConvert
import SentioTestSupport

final class GGUFKeepTypeTests: XCTestCase {
    /// A qwen2 GGUF (1 layer, hidden 64, a 4-token vocabulary) holding blk.0.ffn_gate.weight as Q5_0 and blk.0.attn_v.weight as Q8_0.
    static func gguf(q5: [UInt8], q8: [UInt8], rows: Int, cols: Int) -> Data {
        var w = ByteWriter()
        let kv: [(String, (inout ByteWriter) -> Void)] = [
            ("general.architecture", { $0.put(UInt32(8)); $0.put("qwen2") }),
            ("qwen2.embedding_length", { $0.put(UInt32(4)); $0.put(UInt32(64)) }),
            ("qwen2.attention.head_count", { $0.put(UInt32(4)); $0.put(UInt32(2)) }),
            ("qwen2.feed_forward_length", { $0.put(UInt32(4)); $0.put(UInt32(96)) }),
            ("qwen2.block_count", { $0.put(UInt32(4)); $0.put(UInt32(1)) }),
            ("tokenizer.ggml.model", { $0.put(UInt32(8)); $0.put("gpt2") }),
            ("tokenizer.ggml.tokens", { w in w.put(UInt32(9)); w.put(UInt32(8)); w.put(UInt64(4)); for t in ["a", "b", "c", "d"] { w.put(t) } }),
        ]
        let tensors: [(String, UInt32, [UInt8])] = [("blk.0.ffn_gate.weight", 6, q5), ("blk.0.attn_v.weight", 8, q8)]
        w.put(UInt32(0x4655_4747)); w.put(UInt32(3)); w.put(UInt64(tensors.count)); w.put(UInt64(kv.count))
        for (k, f) in kv { w.put(k); f(&w) }
        var offset: UInt64 = 0
        for (name, type, bytes) in tensors {
            w.put(name); w.put(UInt32(2)); w.put(UInt64(cols)); w.put(UInt64(rows)); w.put(type); w.put(offset)
            offset += UInt64((bytes.count + 31) / 32 * 32)
        }
        while w.data.count % 32 != 0 { w.data.append(0) }
        for (_, _, bytes) in tensors {
            w.put(bytes: bytes)
            while w.data.count % 32 != 0 { w.data.append(0) }
        }
        return Data(w.data)
    }

    func testSentioTypesAreKeptByteForByte() throws {
        var rng = TestRNG(seed: 31)
        let rows = 3, cols = 64
        let x = rng.floats(rows * cols, scale: 0.1)
        var q5 = [UInt8](repeating: 0, count: DType.q5.byteCount(elements: x.count)!)
        var q8 = [UInt8](repeating: 0, count: DType.q8.byteCount(elements: x.count)!)
        x.withUnsafeBufferPointer { s in
            q5.withUnsafeMutableBytes { BlockQ5_0.quantizeRef(s, into: $0) }
            q8.withUnsafeMutableBytes { BlockQ8_0.quantizeRef(s, into: $0) }
        }
        let u = TestPaths.tempDir("gguf-keep").appendingPathComponent("keep.gguf")
        try Self.gguf(q5: q5, q8: q8, rows: rows, cols: cols).write(to: u)
        let ck = try GGUFCheckpoint(url: u)
        let gate = "model.layers.0.mlp.gate_proj.weight", v = "model.layers.0.self_attn.v_proj.weight"
        XCTAssertEqual(try ck.shape(gate), [rows, cols])
        XCTAssertEqual(try ck.exactBytes(gate, as: .q5).map(Array.init), q5)
        XCTAssertEqual(try ck.exactBytes(v, as: .q8).map(Array.init), q8)
        for other in [DType.q8, .q4, .q4_1, .f16, .f32] { XCTAssertNil(try ck.exactBytes(gate, as: other), "Q5_0 as \(other)") }
        XCTAssertNil(try ck.exactBytes(v, as: .q5))
        // the floats the converter would requantize from are the block's own values
        var deq = [Float](repeating: 0, count: x.count)
        q5.withUnsafeBytes { s in deq.withUnsafeMutableBufferPointer { BlockQ5_0.dequantizeRef(s, into: $0) } }
        XCTAssertEqual(try ck.floats(gate), deq)
    }
}
