// The whole visual path of the r1omni-tiny-a golden set, end to end from the reference inputs:
// pixels -> SigLIP -> projector branches, BERT ids -> [CLS] -> gate p, fused = p·branches, compared with the
// reference's fused_video; then the same with the weights stored as QuantPolicy decides for q8 and q4
// (linear matrices and the BERT word embeddings quantized, conv kernels f16, norms / biases / positions f32),
// printing the deviation of every stage.
//
// Bounds. f32: 1e-5 relative, as for each stage (fixture README section 6: an independent float64
// implementation is within 7.1e-7 of fused_video).
// q8 / q4: Q8_0 rounds each weight to a step of amax/127 per block of 32 (and Linear also rounds the
// activations to Q8_0), an rms error of about amax/(127*sqrt(12)) ~ 0.5% of a Gaussian weight's scale per
// rounding; Q4_0's step amax/8 gives ~7.6%. A matmul's output error is about that fraction of its scale,
// and the visual path chains ~9 rounded matmuls (SigLIP q/k/v/out/fc1/fc2, readout x2 or face MLP x2,
// gate x2), so errors of a few times the per-matmul figure are expected: we assert <= 5% (q8) and <= 50%
// (q4) relative to the largest reference value, bounds a wrong kernel or a lost tensor (errors of O(100%))
// still breaks, and that q4 deviates more than q8. The gate probabilities must stay within 0.02 (q8) /
// 0.2 (q4) of the reference.
import XCTest
import SentioCore
import SentioKernels
import SentioFormat
import SentioModels
import SentioTestSupport

final class ProjectorPipelineTests: XCTestCase {
    struct Stages { var selected, cls, p, video, body, face, fused: Diff }

    func runPipeline(_ dtype: DType) throws -> Stages {
        let scfg = try VisionFixture.siglipConfig(), sel = try VisionFixture.selectLayer()
        let bcfg = try BERTFixtureTests.bertConfig(), pcfg = try ProjectorFixtureTests.config()
        let specs = SigLIPSchema.tensors(scfg, selectLayer: sel) + BertSchema.tensors(bcfg)
            + BertGateSchema.tensors(bertHidden: bcfg.hiddenSize) + VisionProjectorSchema.tensors(pcfg)
        let w = try VisionFixture.weights(specs, dtype: dtype)
        let siglip = try SigLIPEncoder(config: scfg, source: w, selectLayer: sel)
        let bert = try BertEncoder(config: bcfg, source: w)
        let gate = try BertGate(bertHidden: bcfg.hiddenSize, source: w)
        let proj = try VisionProjector(config: pcfg, source: w)
        let vis = try VisionFixture.file("vision.safetensors")

        let (px, frames) = try VisionFixture.pixels()
        let features = try siglip.forward(pixels: px, frames: frames)
        let cls = try bert.cls(ids: try BERTFixtureTests.ids())
        let p = try gate(cls: cls).p
        let branches = try proj.branches(features: features, frames: frames)
        let fused = try VisionProjector.fuse(branches, p: p)
        let s = Stages(selected: compare(features, try vis.floats("vision.selected")),
                       cls: compare(cls, try vis.floats("bert.cls")), p: compare(p, try vis.floats("gate.p")),
                       video: compare(branches.video, try vis.floats("proj.video.out")),
                       body: compare(branches.body, try vis.floats("proj.body.out")),
                       face: compare(branches.face, try vis.floats("proj.face.out")),
                       fused: compare(fused, try vis.floats("fused_video")))
        print("visual path \(dtype): siglip \(s.selected.maxRel)  cls \(s.cls.maxRel)  gate p maxAbs \(s.p.maxAbs)  "
              + "video \(s.video.maxRel)  body \(s.body.maxRel)  face \(s.face.maxRel)  fused \(s.fused.maxRel)")
        return s
    }

    func testFusedVideoTokensF32() throws {
        let s = try runPipeline(.f32)
        for (name, d) in [("siglip", s.selected), ("cls", s.cls), ("p", s.p), ("video", s.video), ("body", s.body),
                          ("face", s.face), ("fused", s.fused)] {
            XCTAssertLessThanOrEqual(d.maxRel, 1e-5, "\(name): \(d)")
        }
    }

    func testFusedVideoTokensQuantized() throws {
        let q8 = try runPipeline(.q8), q4 = try runPipeline(.q4)
        for (name, a, b) in [("siglip", q8.selected, q4.selected), ("cls", q8.cls, q4.cls), ("video", q8.video, q4.video),
                             ("body", q8.body, q4.body), ("face", q8.face, q4.face), ("fused", q8.fused, q4.fused)] {
            XCTAssertLessThanOrEqual(a.maxRel, 0.05, "q8 \(name): \(a)")
            XCTAssertLessThanOrEqual(b.maxRel, 0.5, "q4 \(name): \(b)")
            XCTAssertGreaterThan(a.maxRel, 0, "q8 \(name) is exact: were the weights quantized?")
        }
        XCTAssertLessThanOrEqual(q8.p.maxAbs, 0.02, "q8 gate p: \(q8.p)")
        XCTAssertLessThanOrEqual(q4.p.maxAbs, 0.2, "q4 gate p: \(q4.p)")
        XCTAssertLessThan(q8.fused.maxRel, q4.fused.maxRel)
    }
}
