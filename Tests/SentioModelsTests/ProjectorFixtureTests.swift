// The vision projector stage of the r1omni-tiny-a golden set: from the reference's SigLIP features
// (vision.selected) and gate p, Sentio's all_in_one_small projector must reproduce every intermediate of
// the video and body branches (s1, sampler incl. the dropped slice, s2, readout), the face branch (MLP,
// bilinear pooling) and the fused tokens. Fixture layouts are PyTorch's (channels-first where the reference
// uses NCHW); Sentio keeps channels-last, so the test transposes its outputs before comparing.
//
// Tolerance (fixture README section 6): an independent float64 implementation lands within 1.6e-6 (video /
// body) and 6.5e-7 (face) relative of the float32 reference; a float32 implementation with other
// summation orders must stay within 1e-5 relative.
import XCTest
import SentioCore
import SentioKernels
import SentioFormat
import SentioModels
import SentioTestSupport

final class ProjectorFixtureTests: XCTestCase {
    static func config() throws -> VisionProjectorConfig {
        let u = VisionFixture.dir.appendingPathComponent("config.json")
        let obj = try JSONSerialization.jsonObject(with: try Data(contentsOf: u)) as? [String: Any]
        XCTAssertEqual(obj?["mm_projector_type"] as? String, "all_in_one_small")
        return VisionProjectorConfig(inputSize: try XCTUnwrap(obj?["mm_hidden_size"] as? Int),
                                     hiddenSize: try XCTUnwrap(obj?["hidden_size"] as? Int))
    }

    /// Channels-last [images, pixels, C] -> the fixture's channels-first [images, C, pixels].
    static func channelsFirst(_ x: [Float], images: Int, channels: Int) -> [Float] {
        var out = [Float](repeating: 0, count: x.count)
        Conv2D.toChannelsFirst(x, images: images, channels: channels, pixels: x.count / (images * channels), out: &out)
        return out
    }

    func testEveryIntermediateMatchesReference() throws {
        let cfg = try Self.config()
        let proj = try VisionProjector(config: cfg, source: try VisionFixture.weights(VisionProjectorSchema.tensors(cfg)))
        let vis = try VisionFixture.file("vision.safetensors")
        let features = try vis.floats("vision.selected")
        let frames = try XCTUnwrap(vis.tensors["vision.selected"]).shape[0]
        let h = cfg.hiddenSize
        var checked: Set<String> = []
        let out = try proj.branches(features: features, frames: frames) { name, x in
            let ref = try! vis.floats("proj." + name)
            let got: [Float]
            switch name {
            case "video.s1_out", "body.s1_out", "video.s2_out", "body.s2_out":   // [T,H,g,g]
                got = Self.channelsFirst(x, images: frames, channels: h)
            case "video.sampler_out", "body.sampler_out":                         // [1,H,T+1,g,g]: channels first over (t,h,w)
                got = Self.channelsFirst(x, images: 1, channels: h)
            default:                                                               // token rows [.., H]
                got = x
            }
            let d = compare(got, ref)
            XCTAssertLessThanOrEqual(d.maxRel, 1e-5, "\(name): \(d)")
            print("projector \(name) f32: \(d)")
            checked.insert(name)
        }
        XCTAssertEqual(checked.count, 10, "\(checked.sorted())")
        let p = try vis.floats("gate.p")
        let fused = try VisionProjector.fuse(out, p: p)
        let d = compare(fused, try vis.floats("fused_video"))
        XCTAssertLessThanOrEqual(d.maxRel, 1e-5, "fused: \(d)")
        // The plain call (no observer: the dropped slice is never computed) gives the same tokens.
        let direct = try proj(features: features, frames: frames, gate: p)
        XCTAssertEqual(compare(direct, fused).maxAbs, 0)
    }

    func testSchemaCoversCheckpointAndRejectsBadInput() throws {
        let cfg = try Self.config()
        let specs = VisionProjectorSchema.tensors(cfg)
        let st = try VisionFixture.file("model.safetensors")
        let names = st.names.filter { $0.hasPrefix(VisionProjectorSchema.humanOmniPrefix) }
        XCTAssertEqual(Set(names), Set(specs.map(\.name)))
        for s in specs { XCTAssertEqual(st.tensors[s.name]?.shape, s.shape, s.name) }
        XCTAssertEqual(VisionProjectorConfig.r1Omni.seWidth(768), 192)
        XCTAssertEqual(VisionProjectorConfig.r1Omni.seWidth(896), 224)
        let proj = try VisionProjector(config: cfg, source: try VisionFixture.weights(specs))
        XCTAssertThrowsError(try proj.branches(features: [1, 2, 3], frames: 1)) { XCTAssertTrue($0 is SentioError) }
        // 3 tokens per frame: not a square grid
        XCTAssertThrowsError(try proj.branches(features: [Float](repeating: 0, count: 3 * cfg.inputSize), frames: 1)) {
            XCTAssertTrue($0 is SentioError)
        }
        let o = VisionProjector.Output(video: [1], body: [1], face: [1])
        XCTAssertThrowsError(try VisionProjector.fuse(o, p: [1, 0])) { XCTAssertTrue($0 is SentioError) }
    }
}
