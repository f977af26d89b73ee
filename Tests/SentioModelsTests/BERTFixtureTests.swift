// The BERT gate stage of the r1omni-tiny-a golden set: from the reference's WordPiece ids of the
// instruction, Sentio's BERT must reproduce last_hidden_state and [CLS], and the gate its logits and p.
// (The tokenizer producing those ids from run_info.json's "instruct" is checked in
// Tests/SentioTokenizersTests/WordPieceTokenizerTests.testFixtureInstructionIDs.)
//
// Tolerance (fixture README section 6): an independent float64 implementation lands 3.5e-7 relative from the
// float32 reference for BERT hidden states / gate logits / p, so a float32 implementation with other
// summation orders must stay within 1e-5 relative.
import XCTest
import SentioCore
import SentioKernels
import SentioFormat
import SentioModels
import SentioTestSupport

final class BERTFixtureTests: XCTestCase {
    static func bertConfig() throws -> BertConfig {
        let u = VisionFixture.dir.appendingPathComponent("bert-tiny-uncased/config.json")
        return try BertConfig.parse(try String(contentsOf: u, encoding: .utf8), source: u.path)
    }

    static func ids() throws -> [Int32] {
        try VisionFixture.file("inputs.safetensors").ints("inputs.bert_input_ids").map { Int32($0) }
    }

    func testEncoderAndGateMatchReference() throws {
        let cfg = try Self.bertConfig()
        let specs = BertSchema.tensors(cfg) + BertGateSchema.tensors(bertHidden: cfg.hiddenSize)
        let w = try VisionFixture.weights(specs)
        let bert = try BertEncoder(config: cfg, source: w)
        let gate = try BertGate(bertHidden: cfg.hiddenSize, source: w)
        let vis = try VisionFixture.file("vision.safetensors")
        let ids = try Self.ids()

        let hidden = try bert.forward(ids: ids)
        let dh = compare(hidden, try vis.floats("bert.last_hidden_state"))
        XCTAssertLessThanOrEqual(dh.maxRel, 1e-5, "last_hidden_state: \(dh)")
        let cls = try bert.cls(ids: ids)
        let dc = compare(cls, try vis.floats("bert.cls"))
        XCTAssertLessThanOrEqual(dc.maxRel, 1e-5, "cls: \(dc)")
        let (logits, p) = try gate(cls: cls)
        let dl = compare(logits, try vis.floats("gate.logits"))
        XCTAssertLessThanOrEqual(dl.maxRel, 1e-5, "gate logits: \(dl)")
        let dp = compare(p, try vis.floats("gate.p"))
        XCTAssertLessThanOrEqual(dp.maxRel, 1e-5, "gate p: \(dp)")
        print("BERT f32: hidden \(dh)\n  cls \(dc)\n  gate logits \(dl)\n  gate p \(dp)")
    }

    func testSchemaCoversCheckpointAndRejectsBadInput() throws {
        let cfg = try Self.bertConfig()
        let specs = BertSchema.tensors(cfg) + BertGateSchema.tensors(bertHidden: cfg.hiddenSize)
        let st = try VisionFixture.file("model.safetensors")
        let unused = BertSchema.unusedPrefixes()
        for name in st.names where name.hasPrefix(BertSchema.humanOmniPrefix) || name.hasPrefix(BertGateSchema.humanOmniPrefix) {
            XCTAssertTrue(specs.contains { $0.name == name } || unused.contains { name.hasPrefix($0) }, name)
            if let s = specs.first(where: { $0.name == name }) { XCTAssertEqual(st.tensors[name]?.shape, s.shape, name) }
        }
        let bert = try BertEncoder(config: cfg, source: try VisionFixture.weights(specs))
        XCTAssertThrowsError(try bert.forward(ids: [])) { XCTAssertTrue($0 is SentioError) }
        XCTAssertThrowsError(try bert.forward(ids: [101, Int32(cfg.vocabSize)])) { XCTAssertTrue($0 is SentioError) }
        XCTAssertThrowsError(try bert.forward(ids: [Int32](repeating: 1, count: cfg.maxPositionEmbeddings + 1))) { XCTAssertTrue($0 is SentioError) }
        let gate = try BertGate(bertHidden: cfg.hiddenSize, source: try VisionFixture.weights(specs))
        XCTAssertThrowsError(try gate(cls: [1, 2])) { XCTAssertTrue($0 is SentioError) }
        var bad = cfg; bad.hiddenAct = "relu"
        XCTAssertThrowsError(try bad.validate(source: "x")) { XCTAssertTrue($0 is SentioError) }
    }
}
