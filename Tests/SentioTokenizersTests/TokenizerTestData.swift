// Shared, load-once test data: the Qwen2 tokenizer (tokenizer.json is 11 MB: loading it per test would
// dominate a debug run) and the oracle corpora written by tools/make-tokenizer-oracle.py.
import Foundation
import SentioTestSupport
@testable import SentioTokenizers

enum TokenizerTestData {
    static let qwenDir = TestPaths.fixtures.appendingPathComponent("qwen2-tokenizer")

    static let qwen: BPETokenizer = {
        do { return try BPETokenizer(tokenizerJSON: qwenDir.appendingPathComponent("tokenizer.json")) } catch {
            fatalError("cannot load the Qwen2 tokenizer fixture: \(error)")
        }
    }()

    struct Case { let text: String; let ids: [Int32]; let extra: JSONValue }

    /// Cases of an oracle file in Tests/Data/tokenizers.
    static func corpus(_ name: String) throws -> [Case] {
        let root = try JSONScanner.parse(contentsOf: TestPaths.testData.appendingPathComponent("tokenizers/\(name)"))
        return (root["cases"]?.array ?? []).map { c in
            Case(text: c["text"]?.string ?? "", ids: (c["ids"]?.array ?? []).map { Int32($0.int ?? -1) }, extra: c)
        }
    }

    /// llama.cpp's tokenizer test vectors: inputs separated by "\n__ggml_vocab_test__\n" (the file ends with
    /// the separator), expected ids one line per input, space separated (an empty line for the empty input).
    static func llamaCppVectors() throws -> [(String, [Int32])] {
        let dir = TestPaths.fixtures.appendingPathComponent("qwen2-tokenizer-tests")
        let inp = try String(contentsOf: dir.appendingPathComponent("ggml-vocab-qwen2.gguf.inp"), encoding: .utf8)
        let out = try String(contentsOf: dir.appendingPathComponent("ggml-vocab-qwen2.gguf.out"), encoding: .utf8)
        var inputs = inp.components(separatedBy: "\n__ggml_vocab_test__\n")
        if inputs.last == "" { inputs.removeLast() }
        var lines = out.components(separatedBy: "\n")
        if lines.last == "" { lines.removeLast() }
        let expected = lines.map { $0.split(separator: " ").compactMap { Int32($0) } }
        precondition(inputs.count == expected.count, "\(inputs.count) inputs vs \(expected.count) outputs")
        return Array(zip(inputs, expected))
    }
}
