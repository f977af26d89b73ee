// The tokenizer.json that GGUFCheckpoint synthesizes from a GGUF's vocabulary (tokenizer.ggml.*): it must
// tokenize exactly as the Hugging Face tokenizer.json the vocabulary came from, and its hand-written vocab
// object must be valid JSON for any token text.
import XCTest
import Foundation
import SentioFormat
import SentioConvert
import SentioTokenizers
import SentioTestSupport

final class GGUFTokenizerTests: XCTestCase {
    /// A GGUF with a qwen2 config, the given vocabulary and no tensors.
    static func gguf(tokens: [String], types: [Int32], merges: [String]) -> Data {
        var w = ByteWriter()
        var kv: [(String, (inout ByteWriter) -> Void)] = [
            ("general.architecture", { $0.put(UInt32(8)); $0.put("qwen2") }),
            ("qwen2.embedding_length", { $0.put(UInt32(4)); $0.put(UInt32(8)) }),
            ("qwen2.attention.head_count", { $0.put(UInt32(4)); $0.put(UInt32(2)) }),
            ("qwen2.feed_forward_length", { $0.put(UInt32(4)); $0.put(UInt32(16)) }),
            ("qwen2.block_count", { $0.put(UInt32(4)); $0.put(UInt32(1)) }),
            ("tokenizer.ggml.model", { $0.put(UInt32(8)); $0.put("gpt2") }),
        ]
        kv.append(("tokenizer.ggml.tokens", { w in w.put(UInt32(9)); w.put(UInt32(8)); w.put(UInt64(tokens.count)); for t in tokens { w.put(t) } }))
        kv.append(("tokenizer.ggml.token_type", { w in w.put(UInt32(9)); w.put(UInt32(5)); w.put(UInt64(types.count)); for t in types { w.put(t) } }))
        kv.append(("tokenizer.ggml.merges", { w in w.put(UInt32(9)); w.put(UInt32(8)); w.put(UInt64(merges.count)); for m in merges { w.put(m) } }))
        w.put(UInt32(0x4655_4747)); w.put(UInt32(3)); w.put(UInt64(0)); w.put(UInt64(kv.count))
        for (k, f) in kv { w.put(k); f(&w) }
        while w.data.count % 32 != 0 { w.data.append(0) }
        return Data(w.data)
    }

    static func synthesized(_ data: Data, _ tag: String) throws -> Data {
        let u = TestPaths.tempDir("gguf-tok").appendingPathComponent("\(tag).gguf")
        try data.write(to: u)
        let files = try GGUFCheckpoint(url: u).embeddedFiles()
        return try XCTUnwrap(files["tokenizer.json"])
    }

    /// The Qwen2 vocabulary (fixture tokenizer.json: 151,643 tokens, 151,387 merges, 14 added tokens) put into
    /// a GGUF as llama.cpp's converter does, and the tokenizer.json made from it, give the same ids as the
    /// fixture tokenizer.json on hard strings, and decode back to them.
    func testQwen2VocabularyRoundTripsThroughGGUF() throws {
        let hf = try Data(contentsOf: TestPaths.fixtures.appendingPathComponent("qwen2-tokenizer/tokenizer.json"))
        let obj = try XCTUnwrap(JSONSerialization.jsonObject(with: hf) as? [String: Any])
        let model = try XCTUnwrap(obj["model"] as? [String: Any])
        let vocab = try XCTUnwrap(model["vocab"] as? [String: Int])
        let merges = try XCTUnwrap(model["merges"] as? [[String]]).map { $0.joined(separator: " ") }
        let added = try XCTUnwrap(obj["added_tokens"] as? [[String: Any]])
        let n = max(vocab.values.max()!, added.map { $0["id"] as! Int }.max()!) + 1
        var tokens = [String](repeating: "", count: n), types = [Int32](repeating: 1, count: n)
        for (t, i) in vocab { tokens[i] = t }
        for a in added {
            let i = a["id"] as! Int
            tokens[i] = a["content"] as! String
            types[i] = (a["special"] as! Bool) ? 3 : 4
        }
        let json = try Self.synthesized(Self.gguf(tokens: tokens, types: types, merges: merges), "qwen2")
        let fromGGUF = try BPETokenizer(tokenizerJSONData: json, name: "gguf")
        let reference = try BPETokenizer(tokenizerJSONData: hf, name: "hf")
        let texts = [
            "Hello, world! It's 2026-12-07 and we've 1234567 tokens.",
            "  leading spaces\n\n\ttabs and\r\nCRLF   runs    ",
            "def f(x):\n    return {\"a\": x ** 2}  # comment",
            "日本語のテキストと中文混合 한국어 😀👍🏽 café naïve Ωμέγα",
            "<|im_start|>user\nhi<|im_end|>\n<|endoftext|>",
            "\\ \" ' ` ~ \u{7f} \u{1} end",
        ]
        for t in texts {
            XCTAssertEqual(fromGGUF.encode(t, allowSpecial: true), reference.encode(t, allowSpecial: true), t)
            XCTAssertEqual(fromGGUF.decode(fromGGUF.encode(t, allowSpecial: true)), t)
        }
    }

    /// Token texts that need JSON escapes (quote, backslash, newline, control characters) come back exactly
    /// in the vocab object, in id order; control/user-defined tokens go to added_tokens; a token listed
    /// twice keeps its last id, as a JSON object with a repeated key would.
    func testVocabObjectEscapesAndDuplicates() throws {
        let tokens = ["a", "\"", "\\", "x\ny", "\u{1}\u{1f}", "tab\there", "b", "<|s|>", "a", "é😀"]
        let types: [Int32] = [1, 1, 1, 1, 1, 1, 1, 3, 1, 1]
        let json = try Self.synthesized(Self.gguf(tokens: tokens, types: types, merges: ["a b"]), "escapes")
        let obj = try XCTUnwrap(JSONSerialization.jsonObject(with: json) as? [String: Any])
        let model = try XCTUnwrap(obj["model"] as? [String: Any])
        let vocab = try XCTUnwrap(model["vocab"] as? [String: Int])
        XCTAssertEqual(vocab, ["\"": 1, "\\": 2, "x\ny": 3, "\u{1}\u{1f}": 4, "tab\there": 5, "b": 6, "a": 8, "é😀": 9])
        XCTAssertEqual(model["merges"] as? [String], ["a b"])
        let added = try XCTUnwrap(obj["added_tokens"] as? [[String: Any]])
        XCTAssertEqual(added.map { $0["content"] as? String }, ["<|s|>"])
        XCTAssertEqual(added.first?["id"] as? Int, 7)
        // ids in increasing order in the text (as Hugging Face writes vocab objects)
        let text = String(decoding: json, as: UTF8.self)
        let order = ["\"b\":6", "\"a\":8", "\"é😀\":9"].map { text.range(of: $0)!.lowerBound }
        XCTAssertEqual(order, order.sorted())
        // the bytes are the same each time (reproducible .sentio files)
        XCTAssertEqual(json, try Self.synthesized(Self.gguf(tokens: tokens, types: types, merges: ["a b"]), "escapes2"))
    }
}
