// R1-Omni end to end on the r1omni-tiny-a golden set: the fixture's HumanOmni checkpoint folder (plus the
// Qwen2 tokenizer files, which the fixture keeps in ../qwen2-tokenizer) is converted to .sentio, loaded with
// EmotionRecognizer, and driven from the reference's inputs (pixels, log-mel, instruction) and from clip.mp4.
// Every expected value comes from the fixture folder (SENTIO_FIXTURES).
//
// Tolerances (fixture README section 6, "indep. f64" column: the error of the float32 reference itself):
//   assembled embeddings: 7.1e-7 -> rel <= 1e-5 (the towers' own bound; embed_tokens rows are exact copies);
//   prompt logits: 1.1e-5 -> rel <= 1e-4 (other summation orders over 2 layers and a 974-row prefill);
//   greedy ids: exact (smallest top-1/top-2 margin over the 32 steps is 0.0068, far above f32 noise).
// q8 / q4: printed per stage; loose bounds (5% / 50% of the largest reference value for the tower outputs and
// embeddings, as in ProjectorPipelineTests: Q8_0 rounds weights to ~0.5% rms per matmul, Q4_0 to ~8%), and q4
// must deviate more than q8.
import XCTest
import SentioCore
import SentioKernels
import SentioFormat
import SentioModels
import SentioConvert
import SentioMedia
import SentioTokenizers
import SentioRuntime
import SentioTestSupport

enum OmniFixture {
    static var dir: URL { TestPaths.tinyA }

    /// A HumanOmni checkpoint folder: the fixture's files (symlinked) plus the Qwen2 tokenizer files.
    static func checkpointFolder(towers: Bool = true) throws -> URL {
        let d = TestPaths.tempDir("sentio-omni-ckpt")
        let fm = FileManager.default
        var names = ["config.json", "model.safetensors", "generation_config.json"]
        if towers { names += ["siglip-tiny-patch16-224", "whisper-tiny-large-v3-shape", "bert-tiny-uncased"] }
        for n in names {
            try fm.createSymbolicLink(at: d.appendingPathComponent(n), withDestinationURL: dir.appendingPathComponent(n))
        }
        let tok = TestPaths.fixtures.appendingPathComponent("qwen2-tokenizer")
        for n in ["tokenizer.json", "tokenizer_config.json", "vocab.json", "merges.txt", "added_tokens.json", "special_tokens_map.json"] {
            try fm.copyItem(at: tok.appendingPathComponent(n), to: d.appendingPathComponent(n))
        }
        return d
    }

    nonisolated(unsafe) static var converted: [DType: (url: URL, report: ConvertReport)] = [:]
    static let lock = NSLock()

    /// The fixture converted to `dtype` (once per test process).
    static func sentio(_ dtype: DType) throws -> (url: URL, report: ConvertReport) {
        try lock.withLock {
            if let c = converted[dtype] { return c }
            let ck = try checkpointFolder()
            defer { try? FileManager.default.removeItem(at: ck) }
            let out = TestPaths.tempDir("sentio-omni").appendingPathComponent("tiny-\(dtype.name).sentio")
            let (report, _) = try Converter.convert(source: try HFCheckpoint(dir: ck), output: out,
                                                    policy: QuantPolicy(target: dtype), codec: .raw)
            converted[dtype] = (out, report)
            return (out, report)
        }
    }

    static func file(_ name: String) throws -> SafetensorsFile { try SafetensorsFile(dir.appendingPathComponent(name)) }

    static func instruction() throws -> String {
        let obj = try JSONSerialization.jsonObject(with: Data(contentsOf: dir.appendingPathComponent("run_info.json"))) as? [String: Any]
        return try XCTUnwrap(obj?["instruct"] as? String)
    }

    /// Logits [5, V] of the last five prompt rows (f32 KV cache), prefilled in maxRows chunks.
    static func lastFiveLogits(_ m: OmniModel, embeddings: [Float]) throws -> [Float] {
        let lm = m.llm, h = lm.config.hiddenSize, n = embeddings.count / h
        let cache = KVCacheLayout(config: lm.config, blockTokens: 16, dtype: .f32).makeCache()
        var logits = [Float](repeating: 0, count: 5 * lm.config.vocabSize)
        try embeddings.withUnsafeBufferPointer { e in
            var start = 0
            while start < n - 5 {
                let k = min(lm.maxRows, n - 5 - start)
                try lm.forward(input: e.baseAddress! + start * h, segments: [SequenceSegment(cache: cache, count: k)],
                               logitRows: .none, logits: nil)
                start += k
            }
            try logits.withUnsafeMutableBufferPointer { lg in
                try lm.forward(input: e.baseAddress! + (n - 5) * h, segments: [SequenceSegment(cache: cache, count: 5)],
                               logitRows: .all, logits: lg.baseAddress!)
            }
        }
        return logits
    }
}

final class OmniEndToEndTests: XCTestCase {
    func testConverterWritesSchemaAndEmbedsTowerFiles() throws {
        let (url, report) = try OmniFixture.sentio(.f32)
        let f = try SentioFile.open(url, verify: true)
        let cfg = try HumanOmniConfig.parse(configJSON: f.config, files: f.files, source: url.path)
        let specs = HumanOmniSchema.tensors(cfg)
        XCTAssertEqual(report.tensors.count, specs.count)
        for s in specs { XCTAssertEqual(try f.tensor(s.name).shape, s.shape, s.name) }
        // Every source tensor is written or dropped; everything dropped is a known-unused tensor.
        let st = try OmniFixture.file("model.safetensors")
        XCTAssertEqual(Set(st.names), Set(specs.map(\.name)).union(report.dropped))
        XCTAssertEqual(report.unexpected, [])
        XCTAssertEqual(report.notes, [], "all tower folders are present")
        for prefix in ["post_layernorm.", "head."] {
            XCTAssertTrue(report.dropped.contains { $0.hasPrefix(HumanOmniSchema.visionPrefix + prefix) }, prefix)
        }
        XCTAssertTrue(report.dropped.contains { $0.hasPrefix("model.audio_tower.audio_tower.classifier.") })
        XCTAssertTrue(report.dropped.contains { $0.hasPrefix("model.bert_model.pooler.") })
        // Tower configs are the folders' files; the vocabulary is the shipped uncased one.
        for (embedded, folder) in [("vision_config.json", "siglip-tiny-patch16-224"), ("audio_config.json", "whisper-tiny-large-v3-shape"),
                                   ("bert_config.json", "bert-tiny-uncased")] {
            XCTAssertEqual(f.files[embedded], try Data(contentsOf: OmniFixture.dir.appendingPathComponent(folder + "/config.json")), embedded)
        }
        XCTAssertEqual(f.files["bert_vocab.txt"],
                       try Data(contentsOf: TestPaths.fixtures.appendingPathComponent("bert-uncased-vocab/vocab.txt")))
        XCTAssertNotNil(f.files["tokenizer.json"])
        XCTAssertNotNil(f.files["generation_config.json"])
        XCTAssertEqual(f.metadata["sentio.model"], "HumanOmni_qwen2")
    }

    func testMissingTowerFoldersFallBackToPresetsAndSaySo() throws {
        let ck = try OmniFixture.checkpointFolder(towers: false)
        defer { try? FileManager.default.removeItem(at: ck) }
        let src = try HFCheckpoint(dir: ck)
        XCTAssertEqual(src.notes.count, 3, "\(src.notes)")
        XCTAssertTrue(src.notes.contains { $0.contains("siglip-base-patch16-224") })
        XCTAssertTrue(src.notes.contains { $0.contains("whisper-large-v3") })
        XCTAssertTrue(src.notes.contains { $0.contains("bert-base-uncased") })
        // The tiny checkpoint does not fit the real presets: the converter refuses, naming a tensor.
        XCTAssertThrowsError(try Converter.run(source: src, sink: InMemoryWeights(name: "x"), policy: QuantPolicy(target: .f32))) { e in
            XCTAssertTrue("\(e)".contains("mm_hidden_size") || "\(e)".contains("tensor"), "\(e)")
        }
    }

    func testQuantPolicyQuantizesConvKernelsWithWholeBlockRows() {
        let p = QuantPolicy(target: .q8)
        XCTAssertEqual(p.dtype(for: TensorSpec("a", [896, 768, 1, 1], .conv)), .q8)          // 1x1 conv
        XCTAssertEqual(p.dtype(for: TensorSpec("b", [896, 896, 2, 2, 2], .conv)), .q8)       // Conv3d sampler
        XCTAssertEqual(p.dtype(for: TensorSpec("c", [768, 3, 16, 16], .conv)), .q8)          // patch embedding (768 per row)
        XCTAssertEqual(p.dtype(for: TensorSpec("d", [1280, 128, 3], .conv)), .q8)            // Whisper conv1 (384)
        XCTAssertEqual(p.dtype(for: TensorSpec("e", [896, 1, 3, 3], .conv)), .f16)           // depthwise: rows of 9
        XCTAssertEqual(p.dtype(for: TensorSpec("f", [64, 80, 3], .conv)), .f16)              // 240 is not whole blocks
        XCTAssertEqual(QuantPolicy(target: .f32).dtype(for: TensorSpec("g", [64, 64, 1, 1], .conv)), .f32)
        XCTAssertEqual(QuantPolicy(target: .bf16).dtype(for: TensorSpec("h", [64, 64, 1, 1], .conv)), .f16)
        XCTAssertEqual(p.dtype(for: TensorSpec("i", [64], .norm)), .f32)
        let q4 = QuantPolicy(target: .q4)   // convs never below q8; matrices take q4
        XCTAssertEqual(q4.dtype(for: TensorSpec("j", [896, 896, 2, 2, 2], .conv)), .q8)
        XCTAssertEqual(q4.dtype(for: TensorSpec("k", [896, 896], .linear)), .q4)
        // Encoder matrices that always run whole sequences (Whisper's): q8 stores them q8r (int8 tiles), other targets as is
        XCTAssertEqual(p.dtype(for: TensorSpec("n", [1280, 5120], .encoderLinear)), .q8r)
        XCTAssertEqual(q4.dtype(for: TensorSpec("o", [1280, 5120], .encoderLinear)), .q4)
        XCTAssertEqual(QuantPolicy(target: .f16).dtype(for: TensorSpec("p", [1280, 5120], .encoderLinear)), .f16)
        // command-line overrides name any stored type, q8r included; anything else is an error listing them
        XCTAssertEqual(try QuantPolicy.parseOverride("*audio_tower*.fc?.weight=q8r").dtype, .q8r)
        XCTAssertEqual(try QuantPolicy.parseOverride("*lm_head*=f16").pattern, "*lm_head*")
        for bad in ["*=i32", "*=q6", "=q8", "nothing"] {
            XCTAssertThrowsError(try QuantPolicy.parseOverride(bad)) { XCTAssertTrue("\($0)".contains("q8r"), "\($0)") }
        }
        // the documented way back to per-block scales for Whisper's matrices, leaving its norms and biases f32
        let back = QuantPolicy(target: .q8, overrides: [("*audio_tower*_proj.weight", .q8), ("*audio_tower*.fc?.weight", .q8)])
        let wp = "model.audio_tower.audio_tower.encoder.layers.3."
        XCTAssertEqual(back.dtype(for: TensorSpec(wp + "self_attn.k_proj.weight", [1280, 1280], .encoderLinear)), .q8)
        XCTAssertEqual(back.dtype(for: TensorSpec(wp + "fc2.weight", [1280, 5120], .encoderLinear)), .q8)
        XCTAssertEqual(back.dtype(for: TensorSpec(wp + "fc2.bias", [1280], .bias)), .f32)
        XCTAssertEqual(back.dtype(for: TensorSpec(wp + "final_layer_norm.weight", [1280], .norm)), .f32)
        XCTAssertEqual(QuantPolicy.storedShape(TensorSpec("l", [896, 896, 2, 2, 2], .conv), dtype: .q8), [896, 7168])
        XCTAssertEqual(QuantPolicy.storedShape(TensorSpec("m", [896, 1, 3, 3], .conv), dtype: .f16), [896, 1, 3, 3])
    }

    func testPromptAndAssemblyMatchReference() throws {
        let r = try EmotionRecognizer(url: try OmniFixture.sentio(.f32).url)
        let inputs = try OmniFixture.file("inputs.safetensors"), llm = try OmniFixture.file("llm.safetensors")
        // The rendered prompt is the fixture's prompt.txt.
        let promptTxt = try String(contentsOf: OmniFixture.dir.appendingPathComponent("prompt.txt"), encoding: .utf8)
        XCTAssertEqual(r.model.promptText(instruction: try OmniFixture.instruction(), mode: .inference), promptTxt)
        let p = try r.prepare(pixels: try inputs.floats("inputs.pixel_values_inference"), mel: try inputs.floats("inputs.log_mel"),
                              instruction: try OmniFixture.instruction(), mode: .inference)
        XCTAssertEqual(p.promptIDs.map(Int.init), try inputs.ints("inputs.input_ids"))
        XCTAssertEqual(p.bertIDs.map(Int.init), try inputs.ints("inputs.bert_input_ids"))
        let d = compare(p.embeddings, try llm.floats("llm.inputs_embeds"))
        print("omni f32: inputs_embeds \(d)")
        XCTAssertLessThanOrEqual(d.maxRel, 1e-5, "\(d)")
        XCTAssertEqual(compare(p.gate, try OmniFixture.file("vision.safetensors").floats("gate.p")).maxAbs, 0, accuracy: 1e-5)
    }

    /// With the language model's weights copied into memory (the default) and read from the file mapping
    /// (`mapWeights`): only the language model's raw tensors leave the map, and both give the reference.
    func testLogitsAndGreedyTokensMatchReference() throws {
        for mapWeights in [false, true] {
            let r = try EmotionRecognizer(url: try OmniFixture.sentio(.f32).url, mapWeights: mapWeights)
            r.kvDType = .f32
            let raw = r.file.entries.filter { $0.codec == .raw && $0.rawSize > 0 }
            XCTAssertTrue(raw.contains { Qwen2Schema.isModelTensor($0.name) } && raw.contains { !Qwen2Schema.isModelTensor($0.name) })
            for e in raw { XCTAssertEqual(try r.file.isMapped(e.name), mapWeights || !Qwen2Schema.isModelTensor(e.name), e.name) }
            let inputs = try OmniFixture.file("inputs.safetensors"), llm = try OmniFixture.file("llm.safetensors")
            let p = try r.prepare(pixels: try inputs.floats("inputs.pixel_values_inference"), mel: try inputs.floats("inputs.log_mel"),
                                  instruction: try OmniFixture.instruction(), mode: .inference)
            let d = compare(try OmniFixture.lastFiveLogits(r.model, embeddings: p.embeddings), try llm.floats("llm.logits_last5"))
            print("omni f32 (mapWeights \(mapWeights)): logits_last5 \(d)")
            XCTAssertLessThanOrEqual(d.maxRel, 1e-4, "\(d)")
            let ref = try llm.ints("gen.ids")
            let g = try r.generate(embeddings: p.embeddings, maxTokens: ref.count)
            XCTAssertEqual(g.tokens.map(Int.init), ref)
        }
    }

    /// From clip.mp4 through SentioMedia. Frames are bit-exact with decord, so the pixels must equal the
    /// reference's; the audio differs from decord's waveform (another resampler: a 17-sample shift and filter
    /// differences, see AudioDecoderTests), so the log-mel differs. What holds for the tokens is printed; the
    /// assertion is on what this fixture shows (see the report): all 32 tokens equal.
    func testFromClipFile() throws {
        let r = try EmotionRecognizer(url: try OmniFixture.sentio(.f32).url)
        r.kvDType = .f32
        let inputs = try OmniFixture.file("inputs.safetensors"), llm = try OmniFixture.file("llm.safetensors")
        let clip = OmniFixture.dir.appendingPathComponent("clip.mp4")
        let sampled = try VideoDecoder.sampleFrames(clip, count: r.config.numFrames)
        let px = try r.pixels(frames: sampled.frames, mode: .inference)
        XCTAssertEqual(compare(px, try inputs.floats("inputs.pixel_values_inference")).maxAbs, 0, "pixels from the mp4")
        let (wave, _) = try AudioDecoder.decodeMono16k(clip)
        let mel = LogMel(mels: r.config.audio.numMelBins).compute(wave)
        let melDiff = compare(mel, try inputs.floats("inputs.log_mel"))
        let ref = try llm.ints("gen.ids")
        let (res, warnings) = try r.recognize(clip: clip, instruction: try OmniFixture.instruction(), maxTokens: ref.count)
        XCTAssertEqual(warnings, [])
        let same = zip(res.generatedTokens.map(Int.init), ref).prefix { $0 == $1 }.count
        let audioRef = try OmniFixture.file("audio.safetensors").floats("audio.projected")
        let audioOurs = try r.model.encodeAudio(mel: mel).tokens
        print("omni from clip.mp4: log-mel vs reference \(melDiff); audio tokens \(compare(audioOurs, audioRef)); "
              + "greedy tokens equal for the first \(same) of \(ref.count); timings \(res.timings)")
        XCTAssertEqual(res.generatedTokens.map(Int.init), ref)
    }

    func testQuantizedFilesPerStage() throws {
        let inputs = try OmniFixture.file("inputs.safetensors"), llm = try OmniFixture.file("llm.safetensors")
        let vis = try OmniFixture.file("vision.safetensors"), aud = try OmniFixture.file("audio.safetensors")
        let px = try inputs.floats("inputs.pixel_values_inference"), mel = try inputs.floats("inputs.log_mel")
        let ref = try llm.ints("gen.ids")
        var fusedRel: [DType: Float] = [:]
        for dt in [DType.q8, .q4] {
            let (url, report) = try OmniFixture.sentio(dt)
            // What the policy stored: at q8 Whisper's q/k/out/fc1/fc2 q8r (int8 tiles), its v_proj and the LLM Q8_0.
            let stored = Dictionary(report.tensors.map { ($0.name, $0.dtype) }, uniquingKeysWith: { a, _ in a })
            let wl = WhisperSchema.layer(WhisperSchema.r1OmniPrefix, 0)
            XCTAssertEqual(stored[wl + "fc1.weight"], dt == .q8 ? .q8r : dt)
            XCTAssertEqual(stored[wl + "self_attn.k_proj.weight"], dt == .q8 ? .q8r : dt)
            XCTAssertEqual(stored[wl + "self_attn.v_proj.weight"], dt)
            XCTAssertEqual(stored["model.layers.0.mlp.up_proj.weight"], dt)
            let r = try EmotionRecognizer(url: url)
            r.kvDType = .f32
            let bert = try inputs.ints("inputs.bert_input_ids").map { Int32($0) }
            let v = try r.model.encodeVideo(pixels: px, bertIDs: bert)
            let a = try r.model.encodeAudio(mel: mel)
            let p = try r.prepare(pixels: px, mel: mel, instruction: try OmniFixture.instruction(), mode: .inference)
            let dv = compare(v.tokens, try vis.floats("fused_video")), dp = compare(v.gate, try vis.floats("gate.p"))
            let da = compare(a.tokens, try aud.floats("audio.projected"))
            let de = compare(p.embeddings, try llm.floats("llm.inputs_embeds"))
            let dl = compare(try OmniFixture.lastFiveLogits(r.model, embeddings: p.embeddings), try llm.floats("llm.logits_last5"))
            let g = try r.generate(embeddings: p.embeddings, maxTokens: ref.count)
            let agree = zip(g.tokens.map(Int.init), ref).filter { $0 == $1 }.count
            let prefix = zip(g.tokens.map(Int.init), ref).prefix { $0 == $1 }.count
            print("omni \(dt.name): fused video \(dv.maxRel)  gate p maxAbs \(dp.maxAbs)  audio tokens \(da.maxRel)  "
                  + "inputs_embeds \(de.maxRel)  logits_last5 \(dl.maxRel)  greedy tokens equal \(agree)/\(ref.count) (prefix \(prefix))")
            let bound: Float = dt == .q8 ? 0.05 : 0.5
            for (name, d) in [("fused video", dv), ("audio tokens", da), ("inputs_embeds", de)] {
                XCTAssertLessThanOrEqual(d.maxRel, bound, "\(dt.name) \(name): \(d)")
                XCTAssertGreaterThan(d.maxRel, 0, "\(dt.name) \(name) is exact: were the weights quantized?")
            }
            fusedRel[dt] = dv.maxRel
        }
        XCTAssertLessThan(fusedRel[.q8]!, fusedRel[.q4]!)
    }

    func testAnswerParsing() {
        let (t, a) = EmotionRecognizer.parse("<think>The face\nfrowns.</think>\n<answer> sad </answer>")
        XCTAssertEqual(t, "The face\nfrowns.")
        XCTAssertEqual(a, "sad")
        // No DOTALL for the answer: a tag pair spanning lines does not match; the next one does.
        XCTAssertEqual(EmotionRecognizer.parse("<answer>a\nb</answer><answer>angry</answer>").answer, "angry")
        XCTAssertNil(EmotionRecognizer.parse("happy").answer)
    }

    func testTrainingPromptHasQwen2VLPrefixAndNewlines() throws {
        let r = try EmotionRecognizer(url: try OmniFixture.sentio(.f32).url)
        let s = r.model.promptText(instruction: OmniModel.defaultQuestion, mode: .training)
        XCTAssertTrue(s.contains("<|im_start|>user\n<|vision_start|><|video_pad|><|vision_end|><vi_start><video><vi_end>\n<au_start><audio><au_end>\n"
                                 + OmniModel.defaultQuestion + "\n" + OmniModel.formatSentence + "<|im_end|>\n<|im_start|>assistant\n"), s)
        let ids = r.model.promptIDs(tokenizer: r.tokenizer, instruction: OmniModel.defaultQuestion, mode: .training)
        XCTAssertEqual(ids.filter { $0 == OmniModel.videoSentinel }.count, 1)
        XCTAssertEqual(ids.filter { $0 == OmniModel.audioSentinel }.count, 1)
        for t in ["<|vision_start|>", "<|video_pad|>", "<|vision_end|>"] {
            XCTAssertTrue(ids.contains(try XCTUnwrap(r.tokenizer.id(for: t))), t)
        }
        XCTAssertEqual(r.model.sequenceLength(ids), ids.count - 2 + r.config.videoTokens + r.config.audioTokens)
    }
}
