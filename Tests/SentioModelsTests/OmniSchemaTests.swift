// HumanOmniConfig / HumanOmniSchema / SchemaShapedWeights: configuration parsing (fixture config.json and tower
// configs), rejection of inconsistent configs with a message naming the problem, the schema against the fixture
// checkpoint's tensor list, and the flattened-conv shape view.
import XCTest
import SentioCore
import SentioFormat
import SentioModels
import SentioTestSupport

final class OmniSchemaTests: XCTestCase {
    func fixtureConfig(_ edit: ((inout [String: Any]) -> Void)? = nil) throws -> HumanOmniConfig {
        let d = TestPaths.tinyA
        var obj = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: d.appendingPathComponent("config.json"))) as? [String: Any])
        edit?(&obj)
        let cfg = String(decoding: try JSONSerialization.data(withJSONObject: obj), as: UTF8.self)
        func text(_ p: String) throws -> String { try String(contentsOf: d.appendingPathComponent(p), encoding: .utf8) }
        return try HumanOmniConfig.parse(configJSON: cfg, vision: try text("siglip-tiny-patch16-224/config.json"),
                                         audio: try text("whisper-tiny-large-v3-shape/config.json"),
                                         bert: try text("bert-tiny-uncased/config.json"), source: "config.json")
    }

    func testFixtureSchemaCoversCheckpoint() throws {
        let c = try fixtureConfig()
        let st = try SafetensorsFile(TestPaths.tinyA.appendingPathComponent("model.safetensors"))
        let specs = HumanOmniSchema.tensors(c)
        XCTAssertEqual(Set(specs.map(\.name)).count, specs.count, "names are unique")
        for s in specs { XCTAssertEqual(st.tensors[s.name]?.shape, s.shape, s.name) }
        let unused = Set(st.names).subtracting(specs.map(\.name))
        XCTAssertFalse(unused.isEmpty)
        for n in unused { XCTAssertTrue(HumanOmniSchema.isKnownUnused(n, c), n) }
        for s in specs { XCTAssertFalse(HumanOmniSchema.isKnownUnused(s.name, c), s.name) }
        for s in specs { XCTAssertNotNil(HumanOmniSchema.component(of: s.name), s.name) }
        XCTAssertEqual(c.videoTokens, 392)   // 8 frames x 7 x 7 (224 / 16 = 14, halved)
        XCTAssertEqual(c.audioTokens, 500)   // 1500 / 3
    }

    func testRejectsInconsistentConfigs() throws {
        XCTAssertThrowsError(try fixtureConfig { $0["mm_hidden_size"] = 48 }) { XCTAssertTrue("\($0)".contains("mm_hidden_size"), "\($0)") }
        XCTAssertThrowsError(try fixtureConfig { $0["audio_hidden_size"] = 48 }) { XCTAssertTrue("\($0)".contains("audio_hidden_size"), "\($0)") }
        XCTAssertThrowsError(try fixtureConfig { $0["mm_projector_type"] = "mlp2x_gelu" }) { XCTAssertTrue("\($0)".contains("mm_projector_type"), "\($0)") }
        XCTAssertThrowsError(try fixtureConfig { $0["mm_vision_select_layer"] = 7 }) { XCTAssertTrue("\($0)".contains("select_layer"), "\($0)") }
        XCTAssertThrowsError(try fixtureConfig { $0["num_frames"] = 0 }) { XCTAssertTrue("\($0)".contains("num_frames"), "\($0)") }
        XCTAssertThrowsError(try HumanOmniConfig.parse(configJSON: "[1]", vision: nil, audio: nil, bert: nil, source: "x.json"))
    }

    func testPresetsWhenTowerConfigsAreAbsentAndNestedSiglipConfig() throws {
        var obj = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: TestPaths.tinyA.appendingPathComponent("config.json"))) as? [String: Any])
        obj["mm_hidden_size"] = 768; obj["audio_hidden_size"] = 1280
        let cfg = String(decoding: try JSONSerialization.data(withJSONObject: obj), as: UTF8.self)
        let c = try HumanOmniConfig.parse(configJSON: cfg, vision: nil, audio: nil, bert: nil, source: "config.json")
        XCTAssertEqual(c.vision, .siglipBasePatch16_224)
        XCTAssertEqual(c.audio, .whisperLargeV3)
        XCTAssertEqual(c.bert, .bertBaseUncased)
        // A full SiglipConfig (text + vision) folder: the vision_config part is used.
        let nested = #"{"model_type":"siglip","text_config":{"hidden_size":5},"vision_config":{"hidden_size":768,"num_hidden_layers":3}}"#
        let c2 = try HumanOmniConfig.parse(configJSON: cfg, vision: nested, audio: nil, bert: nil, source: "config.json")
        XCTAssertEqual(c2.vision.numHiddenLayers, 3)
    }

    func testSchemaShapedWeightsRestoresOnlyFlattenedConvs() throws {
        let w = InMemoryWeights(name: "mem")
        w.add("conv", floats: [Float](repeating: 1, count: 64 * 32), shape: [64, 32], as: .q8)
        w.add("lin", floats: [Float](repeating: 1, count: 64 * 32), shape: [64, 32], as: .f32)
        w.add("conv2", floats: [Float](repeating: 1, count: 64 * 32), shape: [32, 64], as: .f32)
        let specs = [TensorSpec("conv", [64, 2, 4, 4], .conv), TensorSpec("lin", [64, 2, 16], .linear),
                     TensorSpec("conv2", [64, 2, 4, 4], .conv)]
        let v = SchemaShapedWeights(w, specs: specs)
        XCTAssertEqual(try v.tensor(specs[0]).shape, [64, 2, 4, 4])
        XCTAssertThrowsError(try v.tensor(specs[1]), "only conv specs are reshaped")
        XCTAssertThrowsError(try v.tensor(specs[2]), "[32, 64] is not the flattening of [64, 2, 4, 4]")
    }
}
