// EmotionRecognizer's prefix reuse on the r1omni-tiny-a fixture: the prompt's fixed prefix (system turn
// and user-turn start, before the <video> placeholder) is prefilled once and forked by every clip. The
// greedy tokens must equal those without reuse and the reference's (gen.ids); the prompt's last logits
// from (cached prefix + the rest) within 1e-4 relative of one prefill of the whole prompt (the fixture's
// own prompt-logits tolerance: the same arithmetic chunked differently, 2 layers, ~970 rows).
import XCTest
import SentioCore
import SentioKernels
import SentioModels
@testable import SentioRuntime
import SentioTestSupport

final class PrefixReuseTests: XCTestCase {
    func testPrefixReuseEqualsRecompute() throws {
        let r = try EmotionRecognizer(url: try OmniFixture.sentio(.f32).url)
        let inputs = try OmniFixture.file("inputs.safetensors"), llm = try OmniFixture.file("llm.safetensors")
        let ref = try llm.ints("gen.ids")
        for mode in [PromptMode.inference, .training] {
            let p = try r.prepare(pixels: try inputs.floats("inputs.pixel_values_inference"), mel: try inputs.floats("inputs.log_mel"),
                                  instruction: try OmniFixture.instruction(), mode: mode)
            let prefix = EmotionRecognizer.sharedPrefix(p.promptIDs)
            XCTAssertGreaterThan(prefix.count, 5)
            XCTAssertEqual(Array(p.promptIDs.prefix(prefix.count + 1)).last, mode == .inference ? OmniModel.videoSentinel : p.promptIDs[prefix.count])
            for kv in KVCacheLayout.KVDType.allCases {
                r.kvDType = kv
                r.clearPrefixCache()
                r.reusePrefix = false
                let plain = try r.generate(embeddings: p.embeddings, promptIDs: p.promptIDs, maxTokens: ref.count)
                XCTAssertEqual(plain.prefixRowsReused, 0)
                r.reusePrefix = true
                let first = try r.generate(embeddings: p.embeddings, promptIDs: p.promptIDs, maxTokens: ref.count)
                let second = try r.generate(embeddings: p.embeddings, promptIDs: p.promptIDs, maxTokens: ref.count)
                XCTAssertEqual(first.prefixRowsReused, prefix.count)
                XCTAssertEqual(second.prefixRowsReused, prefix.count)
                XCTAssertEqual(second.rowsPrefilled, p.embeddings.count / r.config.llm.hiddenSize - prefix.count)
                XCTAssertEqual(first.tokens, plain.tokens, "\(mode) \(kv)")
                XCTAssertEqual(second.tokens, plain.tokens, "\(mode) \(kv)")
                if mode == .inference && !kv.isQuantized { XCTAssertEqual(plain.tokens.map(Int.init), ref, "\(kv)") }
                print("prefix reuse \(mode) kv \(kv): \(prefix.count) of \(p.embeddings.count / r.config.llm.hiddenSize) rows reused; "
                      + String(format: "prefill %.3f s without, %.3f s with reuse", plain.prefillSeconds, second.prefillSeconds))
                // Logits: cached prefix + rest vs one prefill.
                let lm = r.model.llm, h = lm.config.hiddenSize, n = p.embeddings.count / h, V = lm.config.vocabSize
                var a = [Float](repeating: 0, count: V), b = a
                try p.embeddings.withUnsafeBufferPointer { e in
                    let (fork, rows) = try r.prefixFork(ids: prefix, embeddings: e.baseAddress!)
                    XCTAssertEqual(rows, prefix.count)
                    try a.withUnsafeMutableBufferPointer {
                        try Generator.prefill(lm, embeddings: e.baseAddress! + rows * h, rows: n - rows, cache: fork, logits: $0.baseAddress!, pool: r.pool)
                    }
                    try b.withUnsafeMutableBufferPointer {
                        try Generator.prefill(lm, embeddings: e.baseAddress!, rows: n, cache: KVCacheLayout(config: lm.config, dtype: kv).makeCache(),
                                              logits: $0.baseAddress!, pool: r.pool)
                    }
                }
                let d = compare(a, b)
                XCTAssertLessThanOrEqual(d.maxRel, 1e-4, "\(mode) \(kv): \(d)")
            }
        }
    }

    /// recognize() uses the prefix cache and reports it.
    func testRecognizeReportsReuse() throws {
        let r = try EmotionRecognizer(url: try OmniFixture.sentio(.f32).url)
        let inputs = try OmniFixture.file("inputs.safetensors")
        let px = try inputs.floats("inputs.pixel_values_inference"), mel = try inputs.floats("inputs.log_mel")
        let a = try r.recognize(pixels: px, mel: mel, instruction: try OmniFixture.instruction(), maxTokens: 4)
        let b = try r.recognize(pixels: px, mel: mel, instruction: try OmniFixture.instruction(), maxTokens: 4)
        XCTAssertEqual(a.prefixRowsReused, EmotionRecognizer.sharedPrefix(a.promptIDs).count)
        XCTAssertEqual(a.generatedTokens, b.generatedTokens)
    }

    /// Multi-clip serving (recognizeBatch, `sentio eval --batch`): three clips decoded together give each clip the
    /// tokens of recognize(clip:) alone (greedy: batched decode equals independent decodes), a missing file fails
    /// in its own slot without stopping the others, and each clip reports its own prefill and the shared decode.
    func testRecognizeBatchEqualsOneByOne() throws {
        let r = try EmotionRecognizer(url: try OmniFixture.sentio(.f32).url)
        let clip = OmniFixture.dir.appendingPathComponent("clip.mp4")
        let other = TestPaths.repoRoot.appendingPathComponent("models/demo/clip.mp4")   // another clip: the demo's
        let missing = URL(fileURLWithPath: "/nonexistent/sentio-missing-clip.mp4")
        let clips = [clip, missing, other, clip]
        let batch = r.recognizeBatch(clips: clips, maxTokens: 6)
        XCTAssertEqual(batch.count, clips.count)
        for (i, url) in clips.enumerated() {
            if url == missing {
                guard case .failure = batch[i] else { return XCTFail("the missing clip must fail in its slot") }
                continue
            }
            let one = try r.recognize(clip: url, maxTokens: 6)
            guard case .success(let b) = batch[i] else { return XCTFail("clip \(i) failed: \(batch[i])") }
            XCTAssertEqual(b.result.generatedTokens, one.result.generatedTokens, "clip \(i)")
            XCTAssertEqual(b.result.text, one.result.text, "clip \(i)")
            XCTAssertEqual(b.result.gate, one.result.gate, "clip \(i)")
            XCTAssertEqual(b.result.prefixRowsReused, EmotionRecognizer.sharedPrefix(b.result.promptIDs).count)
            XCTAssertGreaterThan(b.result.timings.prefill, 0)
        }
    }
}
