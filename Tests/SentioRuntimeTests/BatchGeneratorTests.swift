// Batched decode (BatchGenerator) equals independent decodes on the tiny fixture LLM: B sequences of one
// prompt (forks of its PromptCache) and of different prompts, greedy and sampled (temperature 1, top-k 50,
// per-sequence seeds), different maxTokens and stop tokens, so sequences drop out at different steps.
// Tokens must be identical; the per-token log-probabilities (log-softmax of each step's logits) within
// 1e-4: the batch's Linear runs B rows through the GEMM kernel, a single sequence the GEMV kernel (f32
// weights: another summation order, ~1e-6 relative on logits of magnitude ~10, i.e. ~1e-5 absolute).
import XCTest
import SentioCore
import SentioKernels
import SentioModels
import SentioTokenizers
@testable import SentioRuntime
import SentioTestSupport

final class BatchGeneratorTests: XCTestCase {
    func prefill(_ g: BatchGenerator, _ ids: [Int32], _ kv: KVCacheLayout.KVDType = .f16) throws -> PromptCache {
        let c = KVCacheLayout(config: g.model.config, dtype: kv).makeCache()
        let l = try TinyLM.feed(g.model, c, ids, chunk: 64)
        return PromptCache(tokens: ids, cache: c, logits: Array(l.suffix(g.model.config.vocabSize)), modelChecksum: "")
    }

    func testBatchedEqualsIndependent() throws {
        let (m, tok) = try TinyLM.load()
        let g = BatchGenerator(model: m, tokenizer: tok)
        let ids = tok.encode(KVCacheHandleTests.text, allowSpecial: false)
        let prompt = try prefill(g, Array(ids.prefix(21)))
        // Where the greedy continuation goes, to pick a stop token that ends one sequence early.
        var probe = GenerationOptions(maxTokens: 12)
        probe.logprobs = true
        let greedy = try g.generate(from: prompt, count: 1, options: probe)[0]
        XCTAssertEqual(greedy.generatedTokens.count, 12)
        var opts: [GenerationOptions] = []
        for i in 0..<6 {
            var o = GenerationOptions(maxTokens: [12, 5, 9, 12, 3, 12][i])
            if i % 2 == 1 { o.sampling = SamplingOptions(temperature: 1, topK: 50, seed: UInt64(100 + i)) }
            if i == 2 { o.stopTokens = [greedy.generatedTokens[6]] }      // greedy: stops by step 7
            if i == 0 { o.sampling.repetitionPenalty = 1.3 }
            o.logprobs = true
            opts.append(o)
        }
        let batched = try g.generate(from: prompt, options: opts)
        XCTAssertEqual(prompt.cache.length, 21, "the prompt cache itself is not written")
        for (i, o) in opts.enumerated() {
            let single = try g.run([BatchGenerator.Sequence(cache: prompt.cache.fork(), logits: prompt.logits, prompt: prompt.tokens, options: o)])[0]
            XCTAssertEqual(batched[i].generatedTokens, single.generatedTokens, "sequence \(i)")
            XCTAssertEqual(batched[i].stopReason, single.stopReason, "sequence \(i)")
            XCTAssertEqual(batched[i].text, single.text)
            let d = compare(batched[i].tokenLogprobs, single.tokenLogprobs)
            XCTAssertLessThanOrEqual(d.maxAbs, 1e-4, "sequence \(i) logprobs: \(d)")
            XCTAssertEqual(batched[i].tokenLogprobs.count, batched[i].generatedTokens.count)
        }
        XCTAssertEqual(batched[1].generatedTokens.count, 5)
        XCTAssertEqual(batched[2].stopReason, .stopToken)
        XCTAssertEqual(batched[2].generatedTokens.count, greedy.generatedTokens.firstIndex(of: greedy.generatedTokens[6])! + 1)
        XCTAssertEqual(batched[4].generatedTokens.count, 3)
        XCTAssertNotEqual(batched[1].generatedTokens, Array(greedy.generatedTokens.prefix(5)), "sampling at temperature 1 differs from greedy")
        // Greedy with penalty 1 reproduces the probe; logprobs are log-probabilities.
        XCTAssertEqual(batched[4].generatedTokens, Array(greedy.generatedTokens.prefix(3)))
        XCTAssertEqual(Array(batched[2].generatedTokens.dropLast()), Array(greedy.generatedTokens.prefix(batched[2].generatedTokens.count - 1)))
        for lp in batched.flatMap({ $0.tokenLogprobs }) { XCTAssertLessThanOrEqual(lp, 0) }
    }

    /// G = 8 rollouts of one prompt as the GRPO trainer asks for them (seeds seed + i), more than the
    /// GEMV row limit (8) when combined with a second prompt: 8 + 4 sequences of two prompts in one batch.
    func testGroupsAndMixedPrompts() throws {
        let (m, tok) = try TinyLM.load()
        let g = BatchGenerator(model: m, tokenizer: tok)
        let ids = tok.encode(KVCacheHandleTests.text, allowSpecial: false)
        let a = try prefill(g, Array(ids.prefix(13)), .q8), b = try prefill(g, Array(ids.suffix(17)), .q8)
        let o = GenerationOptions(maxTokens: 6, sampling: SamplingOptions(temperature: 1, topK: 50, seed: 7))
        let group = try g.generate(from: a, count: 8, options: o)
        XCTAssertEqual(group.count, 8)
        XCTAssertGreaterThan(Set(group.map { $0.generatedTokens }).count, 1, "different seeds, different samples")
        let again = try g.generate(from: a, count: 8, options: o, seeds: (0..<8).map { 7 + UInt64($0) })
        XCTAssertEqual(group.map { $0.generatedTokens }, again.map { $0.generatedTokens }, "seeds reproduce")
        // Mixed: 8 forks of a + 4 greedy forks of b, 12 rows per step (GEMM path), vs each alone (GEMV path).
        var seqs: [BatchGenerator.Sequence] = []
        for i in 0..<8 { var oi = o; oi.sampling.seed = 7 + UInt64(i); seqs.append(.init(cache: a.cache.fork(), logits: a.logits, prompt: a.tokens, options: oi)) }
        for _ in 0..<4 { seqs.append(.init(cache: b.cache.fork(), logits: b.logits, prompt: b.tokens, options: GenerationOptions(maxTokens: 6))) }
        let mixed = try g.run(seqs)
        XCTAssertEqual(Array(mixed.prefix(8)).map { $0.generatedTokens }, group.map { $0.generatedTokens })
        let alone = try g.generate(from: b, count: 1, options: GenerationOptions(maxTokens: 6))[0]
        for r in mixed.suffix(4) { XCTAssertEqual(r.generatedTokens, alone.generatedTokens) }
    }
}
