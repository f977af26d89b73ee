// Qwen2 byte-level BPE against outside oracles: llama.cpp's test vectors, the HF `tokenizers` corpus
// (tools/make-tokenizer-oracle.py), the R1-Omni fixture prompt and input_ids.
import Foundation
import XCTest
import SentioCore
import SentioFormat
import SentioTestSupport
@testable import SentioTokenizers

final class Qwen2TokenizerTests: XCTestCase {
    var tok: BPETokenizer { TokenizerTestData.qwen }

    func testVocabularyShape() {
        XCTAssertEqual(tok.vocabSize, 151_657)
        XCTAssertEqual(tok.mergeCount, 151_387)
        XCTAssertEqual(tok.id(for: "<|im_end|>"), 151_645)
        XCTAssertEqual(tok.eosID, 151_645)        // tokenizer_config.json eos_token
        XCTAssertNil(tok.bosID)
        XCTAssertEqual(tok.token(for: 198), "Ċ")  // "\n"
        XCTAssertEqual(tok.id(for: "Ġthe"), 279)
        XCTAssertTrue(tok.isSpecial(151_643))
        XCTAssertFalse(tok.isSpecial(279))
        XCTAssertNil(tok.token(for: -1))
        XCTAssertNil(tok.token(for: 1_000_000))
    }

    func testLlamaCppVectors() throws {
        let vectors = try TokenizerTestData.llamaCppVectors()
        XCTAssertEqual(vectors.count, 46)
        for (text, ids) in vectors {
            XCTAssertEqual(tok.encode(text), ids, "input \(text.debugDescription)")
        }
    }

    func testHFCorpusExact() throws {
        let cases = try TokenizerTestData.corpus("qwen2-corpus.json")
        XCTAssertGreaterThan(cases.count, 90)
        for c in cases {
            XCTAssertEqual(tok.encode(c.text), c.ids, "text \(c.text.debugDescription)")
            XCTAssertEqual(tok.decode(c.ids), c.extra["decoded"]?.string, "decode of \(c.text.debugDescription)")
        }
    }

    func testRoundTrip() throws {
        for c in try TokenizerTestData.corpus("qwen2-corpus.json") {
            // The NFC normalizer makes round trips give the NFC form; for NFC input that is the input itself.
            let nfc = c.text.precomposedStringWithCanonicalMapping
            let back = tok.decode(tok.encode(c.text))
            XCTAssertTrue(back.unicodeScalars.elementsEqual(nfc.unicodeScalars), "round trip of \(c.text.debugDescription)")
        }
    }

    func testStreamingDecoderEqualsFullDecode() throws {
        var sequences = try TokenizerTestData.corpus("qwen2-corpus.json").map(\.ids)
        // Random ids: most byte-level tokens of high id are pieces of multi-byte characters, so random
        // sequences hold split and invalid UTF-8 (the U+FFFD placement must match too).
        var rng = TestRNG(seed: 7)
        for _ in 0..<200 {
            sequences.append((0..<rng.int(1..<12)).map { _ in Int32(rng.int(0..<tok.vocabSize)) })
        }
        // Byte tokens that split "é" (C3 A9) and "😀" (F0 9F 98 80), and a stray continuation byte.
        let byteIDs: [UInt8: Int32] = Dictionary(uniqueKeysWithValues: (0..<256).map { b in
            (UInt8(b), tok.id(for: String(Character(Unicode.Scalar(ByteLevel.byteToScalar[b])!)))!)
        })
        sequences.append([0xC3, 0xA9, 0xF0, 0x9F, 0x98, 0x80, 0x80, 0x41, 0xE0, 0x80].map { byteIDs[$0]! })
        sequences.append([0xF0, 0x9F, 0x98].map { byteIDs[$0]! })
        var sawReplacement = false
        for ids in sequences {
            for skip in [false, true] {
                var d = StreamingDecoder(tokenizer: tok, skipSpecial: skip)
                var text = ""
                for id in ids { text += d.append(id) }
                text += d.finish()
                let full = tok.decode(ids, skipSpecial: skip)
                XCTAssertTrue(text.unicodeScalars.elementsEqual(full.unicodeScalars), "ids \(ids)")
                if full.unicodeScalars.contains("\u{FFFD}") { sawReplacement = true }
            }
        }
        XCTAssertTrue(sawReplacement, "the sequences should include invalid UTF-8")
        // Holding back: the first two bytes of "😀" give nothing yet.
        var d = StreamingDecoder(tokenizer: tok)
        XCTAssertEqual(d.append(byteIDs[0xF0]!), "")
        XCTAssertEqual(d.append(byteIDs[0x9F]!), "")
        XCTAssertEqual(d.append(byteIDs[0x98]!), "")
        XCTAssertEqual(d.append(byteIDs[0x80]!), "😀")
    }

    func testSpecialTokens() {
        let text = "a<|im_end|>b"
        XCTAssertEqual(tok.encode(text, allowSpecial: true), [tok.encode("a")[0], 151_645, tok.encode("b")[0]])
        let plain = tok.encode(text, allowSpecial: false)
        XCTAssertFalse(plain.contains(151_645))
        XCTAssertEqual(tok.decode(plain), text)
        XCTAssertEqual(tok.decode([151_644, 872, 198, 151_645], skipSpecial: true), "user\n")
        XCTAssertEqual(tok.decode([151_644, 872, 198, 151_645]), "<|im_start|>user\n<|im_end|>")
    }

    func testChatTemplateReproducesFixturePrompt() throws {
        let tiny = TestPaths.tinyA
        let prompt = try String(contentsOf: tiny.appendingPathComponent("prompt.txt"), encoding: .utf8)
        let info = try JSONScanner.parse(contentsOf: tiny.appendingPathComponent("run_info.json"))
        let instruct = try XCTUnwrap(info["instruct"]?.string)
        let content = "<vi_start><video><vi_end>\n<au_start><audio><au_end>\n" + instruct
        let rendered = ChatMLTemplate.render([.user(content)], addGenerationPrompt: true)
        XCTAssertEqual(Array(rendered.utf8), Array(prompt.utf8))
        XCTAssertEqual(rendered, info["prompt_string"]?.string)
        // Other template features against hand-written ChatML.
        XCTAssertEqual(ChatMLTemplate.render([.system("S"), .user("hi"), .assistant("yo")], addGenerationPrompt: false),
                       "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\nyo<|im_end|>\n")
        XCTAssertEqual(ChatMLTemplate.render([ChatMessage(role: "user", parts: [.video, .text("what?"), .image])], addGenerationPrompt: false, addVisionID: true),
                       "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n"
                       + "Video 1: <|vision_start|><|video_pad|><|vision_end|>what?Picture 1: <|vision_start|><|image_pad|><|vision_end|><|im_end|>\n")
        XCTAssertEqual(ChatMLTemplate.render([], addGenerationPrompt: true), "<|im_start|>assistant\n")
    }

    func testMultimodalTokenizationMatchesFixtureInputIDs() throws {
        let tiny = TestPaths.tinyA
        let prompt = try String(contentsOf: tiny.appendingPathComponent("prompt.txt"), encoding: .utf8)
        let inputs = try SafetensorsFile(tiny.appendingPathComponent("inputs.safetensors"))
        let expected = try inputs.ints("inputs.input_ids").map { Int32($0) }
        XCTAssertEqual(expected.count, 84)
        let ids = tok.tokenizeMultimodal(prompt, sentinels: ["<video>": -201, "<audio>": -202])
        XCTAssertEqual(ids, expected)
    }

    func testGGUFArrayInitMatchesTokenizerJSON() throws {
        // tokens sorted by id from the tokenizer.json vocabulary; merges from merges.txt (the GGUF's
        // tokenizer.ggml.merges); types: 1 normal, 3 control for the added tokens.
        let tokens = (0..<tok.vocabSize).map { tok.token(for: Int32($0))! }
        let types: [Int32] = (0..<tok.vocabSize).map { tok.isSpecial(Int32($0)) ? 3 : 1 }
        let mergesText = try String(contentsOf: TokenizerTestData.qwenDir.appendingPathComponent("merges.txt"), encoding: .utf8)
        let merges = mergesText.split(separator: "\n").filter { !$0.hasPrefix("#version") }.map(String.init)
        let g = try BPETokenizer(tokens: tokens, merges: merges, tokenTypes: types, bos: nil, eos: 151_645)
        XCTAssertEqual(g.vocabSize, tok.vocabSize)
        XCTAssertEqual(g.mergeCount, tok.mergeCount)
        var texts = try TokenizerTestData.corpus("qwen2-corpus.json").map(\.text)
        texts += try TokenizerTestData.llamaCppVectors().map(\.0)
        for t in texts {
            let ids = g.encode(t)
            XCTAssertEqual(ids, tok.encode(t), t.debugDescription)
            XCTAssertEqual(g.decode(ids), tok.decode(ids))
        }
        XCTAssertEqual(g.eosID, 151_645)
        XCTAssertTrue(g.isSpecial(151_644))
    }

    func testLongRepeatedInputIsFast() {
        // 20k letters form one pre-token: BPE must not go quadratic (heap-driven merges).
        let s = String(repeating: "ab", count: 10_000)
        let t0 = Date()
        let ids = tok.encode(s)
        XCTAssertLessThan(Date().timeIntervalSince(t0), 5.0)
        XCTAssertEqual(tok.decode(ids), s)
    }

    func testBadInputThrows() throws {
        let dir = TestPaths.tempDir("tok")
        defer { try? FileManager.default.removeItem(at: dir) }
        func load(_ json: String) -> Error? {
            let u = dir.appendingPathComponent("tokenizer.json")
            try? json.write(to: u, atomically: true, encoding: .utf8)
            do { _ = try BPETokenizer(tokenizerJSON: u); return nil } catch { return error }
        }
        let pre = #"{"type":"Sequence","pretokenizers":[{"type":"Split","pattern":{"Regex":"#
            + String(decoding: try JSONSerialization.data(withJSONObject: [BPETokenizer.qwen2Pattern], options: [.withoutEscapingSlashes]), as: UTF8.self).dropFirst().dropLast()
            + #"},"behavior":"Isolated","invert":false},{"type":"ByteLevel","add_prefix_space":false,"use_regex":false}]}"#
        let bytes = (0..<256).map { b in "\"\\u\(String(format: "%04x", ByteLevel.byteToScalar[b]))\": \(b)" }.joined(separator: ",")
        let good = #"{"normalizer":{"type":"NFC"},"pre_tokenizer":"# + pre + #","model":{"type":"BPE","vocab":{"# + bytes
            + #","ab":256},"merges":["a b"]},"added_tokens":[{"id":257,"content":"<x>","special":true}]}"#
        XCTAssertNil(load(good))
        let cases: [(String, String)] = [
            ("truncated JSON", String(good.dropLast(3))),
            ("not BPE", good.replacingOccurrences(of: #""type":"BPE""#, with: #""type":"WordPiece""#)),
            ("unknown merge token", good.replacingOccurrences(of: #"["a b"]"#, with: #"["a zz"]"#)),
            ("bad merge form", good.replacingOccurrences(of: #"["a b"]"#, with: #"["ab"]"#)),
            ("other regex", good.replacingOccurrences(of: #"\\s+(?!\\S)"#, with: #"\\s+"#)),
            ("NFKC", good.replacingOccurrences(of: #""NFC""#, with: #""NFKC""#)),
            ("sparse ids", good.replacingOccurrences(of: #""ab":256"#, with: #""ab":99999999"#)),
            ("duplicate id", good.replacingOccurrences(of: #""id":257"#, with: #""id":256"#)),
            ("missing byte", good.replacingOccurrences(of: #""\u0041": 65,"#, with: "")),
            ("deep nesting", String(repeating: "[", count: 10_000)),
        ]
        for (what, json) in cases {
            let e = load(json)
            XCTAssertNotNil(e, what)
            XCTAssertTrue(e is SentioError, "\(what): \(String(describing: e))")
        }
        XCTAssertThrowsError(try BPETokenizer(tokens: ["a"], merges: [], tokenTypes: [1, 1], bos: nil, eos: nil))
        XCTAssertThrowsError(try BPETokenizer(tokens: ["a"], merges: [], tokenTypes: nil, bos: nil, eos: nil))  // bytes missing
    }
}

final class BPEMergeTwinTests: XCTestCase {
    /// The heap-driven merge loop (long pieces) and the scan loop (pieces <= 24 bytes) must agree.
    func testHeapAndScanMergeLoopsAgree() {
        let tok = TokenizerTestData.qwen
        var rng = TestRNG(seed: 11)
        let alphabet = Array("abcdeinrst Ġthe'ing😀中文\n\t.,".utf8)
        var checked = 0
        for trial in 0..<400 {
            let n = rng.int(1..<25)
            // Half: bytes drawn from common letters (many merges); half: arbitrary bytes.
            let piece: [UInt8] = (0..<n).map { _ in trial % 2 == 0 ? alphabet[rng.int(0..<alphabet.count)] : UInt8(rng.int(0..<256)) }
            var a: [Int32] = [], b: [Int32] = []
            piece.withUnsafeBufferPointer { p in
                tok.bpeHeap(p, into: &a)
                tok.bpeShort(p, into: &b)
            }
            XCTAssertEqual(a, b, "piece \(piece)")
            XCTAssertEqual(Array(a.flatMap { tok.bytes(for: $0) }), piece)
            if a.count < piece.count { checked += 1 }
        }
        XCTAssertGreaterThan(checked, 100, "most trials should merge something")
    }
}
