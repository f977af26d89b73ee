// recognize --explain on the tiny R1-Omni fixture. Oracle: the reference's raw logits of generation steps 1..3
// (llm.safetensors gen.step_logits_first3), from which the test computes log softmax at the reference's
// greedy tokens itself; teacher-forced log-probs from EmotionRecognizer must match them.
import XCTest
import SentioCore
import SentioFormat
import SentioMedia
import SentioModels
import SentioRuntime
import SentioTestSupport

final class ModalityExplanationTests: XCTestCase {
    func recognizer() throws -> EmotionRecognizer {
        let r = try EmotionRecognizer(url: try OmniFixture.sentio(.f32).url)
        r.kvDType = .f32
        return r
    }

    func testTeacherForcedLogProbsMatchReferenceLogits() throws {
        let rec = try recognizer()
        let inputs = try OmniFixture.file("inputs.safetensors")
        let llm = try OmniFixture.file("llm.safetensors")
        let ids = try llm.ints("gen.ids").map(Int32.init)
        let steps = try llm.floats("gen.step_logits_first3")
        let V = steps.count / 3
        let p = try rec.prepare(pixels: inputs.floats("inputs.pixel_values_inference"), mel: inputs.floats("inputs.log_mel"),
                                instruction: try OmniFixture.instruction(), mode: .inference)
        let ours = try rec.tokenLogProbs(embeddings: p.embeddings, continuation: Array(ids.prefix(5)))
        XCTAssertEqual(ours.count, 5)
        for s in 0..<3 {
            let row = steps[(s * V)..<((s + 1) * V)].map(Double.init)
            let mx = row.max()!
            let ref = row[Int(ids[s])] - mx - log(row.reduce(0) { $0 + exp($1 - mx) })
            // Our logits match the reference's within 1e-4 relative (OmniEndToEndTests: prompt logits); a log-prob
            // is one logit minus a log-sum-exp dominated by the largest logits, so its error is at most about twice
            // 1e-4 x the largest |logit|.
            let tol = 2e-4 * row.map(abs).max()!
            XCTAssertEqual(ours[s], ref, accuracy: tol, "step \(s + 1)")
        }
        // Greedy tokens are the argmax: each one's log-prob is the row's largest, so at least -log(V).
        for lp in ours { XCTAssertLessThanOrEqual(lp, 0); XCTAssertGreaterThan(lp, -log(Double(V))) }
    }

    func testExplainVariantsOnTheFixtureClip() throws {
        let rec = try recognizer()
        let clip = OmniFixture.dir.appendingPathComponent("clip.mp4")
        let ref = try OmniFixture.file("llm.safetensors").ints("gen.ids").map(Int32.init)
        let ex = try rec.explain(clip: clip, instruction: try OmniFixture.instruction(), maxTokens: 6)
        XCTAssertEqual(ex.variants.map(\.name), ["original", "silent_audio", "blank_frames"])
        let o = ex.variants[0]
        // The original variant is the plain greedy run: the reference's first tokens.
        XCTAssertEqual(o.generatedTokenIDs, Array(ref.prefix(6)))
        // The random tiny model writes no <answer> tag: the whole output is the scored span.
        XCTAssertEqual(ex.spanStart, 0); XCTAssertEqual(ex.spanEnd, 6)
        XCTAssertEqual(o.deltaLogProb, 0)
        XCTAssertFalse(o.answerChanged)
        for v in ex.variants {
            XCTAssertTrue(v.answerLogProb.isFinite && v.answerLogProb < 0, "\(v.name) \(v.answerLogProb)")
            XCTAssertEqual(v.answerProbability, exp(v.answerLogProb), accuracy: 1e-15)
            XCTAssertEqual(v.deltaLogProb, v.answerLogProb - o.answerLogProb, accuracy: 1e-12)
        }
        // Changing an input must move the score of the original tokens for at least one variant.
        XCTAssertTrue(ex.variants.dropFirst().contains { abs($0.deltaLogProb) > 1e-6 }, "\(ex.variants.map(\.deltaLogProb))")
        // Independent recomputation of the blank-frames score from its definition.
        let sampled = try VideoDecoder.sampleFrames(clip, count: rec.config.numFrames)
        let black = sampled.frames.map { RGBFrame(width: $0.width, height: $0.height, pixels: [UInt8](repeating: 0, count: $0.pixels.count)) }
        let px = try rec.pixels(frames: black, mode: .inference)
        XCTAssertTrue(px.allSatisfy { $0 == -1 }, "black through x/255 and (x-0.5)/0.5 is -1 everywhere")
        let (wave, _) = try AudioDecoder.decodeMono16k(clip)
        let mel = LogMel(mels: rec.config.audio.numMelBins).compute(wave)
        let p = try rec.prepare(pixels: px, mel: mel, instruction: try OmniFixture.instruction(), mode: .inference)
        let lp = try rec.tokenLogProbs(embeddings: p.embeddings, continuation: o.generatedTokenIDs)
        XCTAssertEqual(ex.variants[2].answerLogProb, lp.reduce(0, +), accuracy: 1e-9)
    }

    func testAnswerSpanCoversLabelAndClosingTag() throws {
        let rec = try recognizer()
        let text = "<think>the voice shakes</think>\n<answer>sad</answer>"
        let toks = rec.tokenizer.encode(text)
        let span = rec.answerSpan(toks)
        // Qwen2's BPE splits this as ...">", "s"... or merges ">s": either way the span holds the whole label and the
        // closing tag, and nothing of the label lies before it.
        let spanText = rec.tokenizer.decode(Array(toks[span]), skipSpecial: true)
        XCTAssertTrue(spanText.hasSuffix("sad</answer>"), spanText)
        XCTAssertTrue(["sad</answer>", ">sad</answer>"].contains(spanText), spanText)
        XCTAssertEqual(span.upperBound, toks.count)
        let before = rec.tokenizer.decode(Array(toks[..<span.lowerBound]), skipSpecial: true)
        XCTAssertTrue(before.hasSuffix("<answer") || before.hasSuffix("<answer>"), before)
        let none = rec.tokenizer.encode("no tags here")
        XCTAssertEqual(rec.answerSpan(none), 0..<none.count)
    }
}
