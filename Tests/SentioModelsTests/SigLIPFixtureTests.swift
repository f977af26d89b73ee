// The SigLIP stage of the r1omni-tiny-a golden set: from the reference's inference pixels, Sentio's
// encoder must reproduce every hidden state and the selected features (hidden_states[-2]).
// Every expected value is read from the fixture folder (SENTIO_FIXTURES).
//
// Tolerance (fixture README section 6): an independent float64 implementation lands 6.9e-7 relative to the
// largest value from the float32 reference, so a float32 implementation with other summation orders
// (OpenBLAS blocking, our softmax / GELU polynomials) must stay within 1e-5 relative.
import XCTest
import SentioCore
import SentioKernels
import SentioFormat
import SentioModels
import SentioTestSupport

/// Loading helpers shared by the vision / BERT / projector fixture tests.
enum VisionFixture {
    static var dir: URL { TestPaths.tinyA }

    static func file(_ name: String) throws -> SafetensorsFile {
        try SafetensorsFile(dir.appendingPathComponent(name))
    }

    /// The tensors of `specs` from the fixture checkpoint (bf16 on disk), stored as the quantization
    /// policy for `dtype` decides (f32: exact upcast of the bf16 values).
    static func weights(_ specs: [TensorSpec], dtype: DType = .f32) throws -> InMemoryWeights {
        let st = try file("model.safetensors")
        let w = InMemoryWeights(name: "tiny-a/model.safetensors")
        let policy = QuantPolicy(target: dtype)
        for spec in specs {
            w.add(spec.name, floats: try st.floats(spec.name), shape: spec.shape, as: policy.dtype(for: spec))
        }
        return w
    }

    static func siglipConfig() throws -> SigLIPConfig {
        let u = dir.appendingPathComponent("siglip-tiny-patch16-224/config.json")
        return try SigLIPConfig.parse(try String(contentsOf: u, encoding: .utf8), source: u.path)
    }

    static func selectLayer() throws -> Int {
        let u = dir.appendingPathComponent("config.json")
        let obj = try JSONSerialization.jsonObject(with: try Data(contentsOf: u)) as? [String: Any]
        return try XCTUnwrap(obj?["mm_vision_select_layer"] as? Int)
    }

    static func pixels() throws -> (values: [Float], frames: Int) {
        let st = try file("inputs.safetensors")
        let t = try XCTUnwrap(st.tensors["inputs.pixel_values_inference"])
        return (try st.floats("inputs.pixel_values_inference"), t.shape[0])
    }
}

final class SigLIPFixtureTests: XCTestCase {
    func testHiddenStatesMatchReference() throws {
        let cfg = try VisionFixture.siglipConfig()
        // select_layer -1 loads every layer, so each stored hidden state can be checked.
        let w = try VisionFixture.weights(SigLIPSchema.tensors(cfg, selectLayer: -1))
        let enc = try SigLIPEncoder(config: cfg, source: w, selectLayer: -1)
        XCTAssertEqual(enc.layerCount, cfg.numHiddenLayers)
        let (px, frames) = try VisionFixture.pixels()
        let vis = try VisionFixture.file("vision.safetensors")
        let ref = try vis.floats("vision.hidden_states")
        let per = ref.count / (cfg.numHiddenLayers + 1)
        var seen = 0
        _ = try enc.hiddenStates(pixels: px, frames: frames, layers: cfg.numHiddenLayers) { i, x in
            let d = compare(Array(x), ref[(i * per)..<((i + 1) * per)])
            XCTAssertLessThanOrEqual(d.maxRel, 1e-5, "hidden_states[\(i)]: \(d)")
            print("SigLIP hidden_states[\(i)] f32: \(d)")
            seen += 1
        }
        XCTAssertEqual(seen, cfg.numHiddenLayers + 1)
    }

    func testSelectedFeaturesMatchReference() throws {
        let cfg = try VisionFixture.siglipConfig()
        let sel = try VisionFixture.selectLayer()
        let specs = SigLIPSchema.tensors(cfg, selectLayer: sel)
        // Only the layers before the selected output are part of the schema; the rest is listed as unused.
        XCTAssertFalse(specs.contains { $0.name.hasPrefix(SigLIPSchema.layer(SigLIPSchema.humanOmniPrefix, cfg.numHiddenLayers - 1)) })
        let unused = SigLIPSchema.unusedPrefixes(cfg, selectLayer: sel)
        let all = try VisionFixture.file("model.safetensors").names.filter { $0.hasPrefix(SigLIPSchema.humanOmniPrefix) }
        for name in all {   // every checkpoint tensor is either read or declared unused
            let known = specs.contains { $0.name == name } || unused.contains { name.hasPrefix($0) }
            XCTAssertTrue(known, "\(name) is neither in the schema nor unused")
        }
        let enc = try SigLIPEncoder(config: cfg, source: try VisionFixture.weights(specs), selectLayer: sel)
        let (px, frames) = try VisionFixture.pixels()
        let out = try enc.forward(pixels: px, frames: frames)
        let d = compare(out, try VisionFixture.file("vision.safetensors").floats("vision.selected"))
        XCTAssertLessThanOrEqual(d.maxRel, 1e-5, "selected: \(d)")
    }

    func testRejectsBadInput() throws {
        let cfg = try VisionFixture.siglipConfig()
        let enc = try SigLIPEncoder(config: cfg, source: try VisionFixture.weights(SigLIPSchema.tensors(cfg)))
        XCTAssertThrowsError(try enc.forward(pixels: [0, 1, 2], frames: 1)) { XCTAssertTrue($0 is SentioError) }
        XCTAssertThrowsError(try enc.forward(pixels: [], frames: 0)) { XCTAssertTrue($0 is SentioError) }
        // A checkpoint missing a tensor names it.
        let w = try VisionFixture.weights(Array(SigLIPSchema.tensors(cfg).dropLast()))
        XCTAssertThrowsError(try SigLIPEncoder(config: cfg, source: w)) { XCTAssertTrue("\($0)".contains("fc2.bias"), "\($0)") }
        var bad = cfg; bad.patchSize = 15
        XCTAssertThrowsError(try bad.validate(source: "x")) { XCTAssertTrue($0 is SentioError) }
    }
}
