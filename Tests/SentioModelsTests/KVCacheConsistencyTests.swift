// Incremental decode through the KV cache must equal a full recompute at every position: the logits of
// position i from one prefill of the whole sequence equal those from feeding the tokens one at a time
// (and in uneven chunks), with f32 and f16 caches, and with batched decode of several sequences.
//
// Tolerance: the same arithmetic in a different grouping (GEMM over many rows vs GEMV over one; f16
// cache rounding for the f16 case: half-precision keys/values carry 2^-11 relative error, which moves
// logits of this tiny model by well under 1e-2 of their range).
import XCTest
import SentioCore
import SentioKernels
import SentioFormat
import SentioModels
import SentioRuntime
import SentioTestSupport

final class KVCacheConsistencyTests: XCTestCase {
    func run(_ model: Qwen2Model, _ emb: [Float], chunks: [Int], kv: KVCacheLayout.KVDType) throws -> [Float] {
        let c = model.config
        let cache = KVCacheLayout(config: c, blockTokens: 8, dtype: kv).makeCache()
        var out: [Float] = []
        var start = 0
        for n in chunks {
            var logits = [Float](repeating: 0, count: n * c.vocabSize)
            try emb.withUnsafeBufferPointer { e in
                try logits.withUnsafeMutableBufferPointer { l in
                    try model.forward(input: e.baseAddress! + start * c.hiddenSize, segments: [SequenceSegment(cache: cache, count: n)],
                                      logitRows: .all, logits: l.baseAddress!)
                }
            }
            out += logits
            start += n
        }
        return out
    }

    func testIncrementalEqualsFullRecompute() throws {
        let model = try Qwen2FixtureTests.loadTinyLLM()
        let c = model.config
        let emb = Array(try SafetensorsFile(TestPaths.tinyA.appendingPathComponent("llm.safetensors")).floats("llm.inputs_embeds")
            .prefix(40 * c.hiddenSize))
        let full = try run(model, emb, chunks: [40], kv: .f32)
        let oneByOne = try run(model, emb, chunks: Array(repeating: 1, count: 40), kv: .f32)
        let uneven = try run(model, emb, chunks: [7, 1, 16, 3, 13], kv: .f32)
        XCTAssertLessThan(compare(oneByOne, full).maxRel, 1e-5, "\(compare(oneByOne, full))")
        XCTAssertLessThan(compare(uneven, full).maxRel, 1e-5, "\(compare(uneven, full))")
        let f16 = try run(model, emb, chunks: Array(repeating: 1, count: 40), kv: .f16)
        XCTAssertLessThan(compare(f16, full).maxRel, 1e-2, "\(compare(f16, full))")
    }

    /// B sequences decoded together (one row each per forward) equal B separate decodes.
    func testBatchedDecodeEqualsSeparateDecodes() throws {
        let model = try Qwen2FixtureTests.loadTinyLLM()
        let c = model.config
        let all = try SafetensorsFile(TestPaths.tinyA.appendingPathComponent("llm.safetensors")).floats("llm.inputs_embeds")
        let B = 3, steps = 6
        // Sequence b starts at row 100*b of the fixture's embeddings (different prompts of different lengths).
        let lengths = [5, 9, 2]
        var separate: [[Float]] = []
        for b in 0..<B {
            let emb = Array(all[(100 * b * c.hiddenSize)..<((100 * b + lengths[b] + steps) * c.hiddenSize)])
            let l = try run(model, emb, chunks: [lengths[b]] + Array(repeating: 1, count: steps), kv: .f32)
            separate.append(Array(l.suffix(steps * c.vocabSize)))
        }
        let caches = (0..<B).map { _ in KVCacheLayout(config: c, blockTokens: 8, dtype: .f32).makeCache() }
        for b in 0..<B {   // prefill each prompt
            let emb = Array(all[(100 * b * c.hiddenSize)..<((100 * b + lengths[b]) * c.hiddenSize)])
            try emb.withUnsafeBufferPointer { e in
                try model.forward(input: e.baseAddress!, segments: [SequenceSegment(cache: caches[b], count: lengths[b])],
                                  logitRows: .none, logits: nil)
            }
        }
        var batched = [[Float]](repeating: [], count: B)
        for s in 0..<steps {
            var x: [Float] = []
            for b in 0..<B { let r = 100 * b + lengths[b] + s; x += all[(r * c.hiddenSize)..<((r + 1) * c.hiddenSize)] }
            var logits = [Float](repeating: 0, count: B * c.vocabSize)
            try x.withUnsafeBufferPointer { xb in
                try logits.withUnsafeMutableBufferPointer { l in
                    try model.forward(input: xb.baseAddress!, segments: caches.map { SequenceSegment(cache: $0, count: 1) },
                                      logitRows: .lastOfEachSegment, logits: l.baseAddress!)
                }
            }
            for b in 0..<B { batched[b] += logits[(b * c.vocabSize)..<((b + 1) * c.vocabSize)] }
        }
        for b in 0..<B {
            let d = compare(batched[b], separate[b])
            XCTAssertLessThan(d.maxRel, 1e-5, "sequence \(b): \(d)")
        }
    }
}
