// Bad inputs to the Whisper / audio-projector loaders and entry points fail with SentioError naming the
// problem (no crash): bad config, missing or mis-shaped tensors, a non-float kernel, a wrong-sized mel.
import XCTest
import SentioCore
import SentioModels
import SentioTestSupport

final class WhisperErrorTests: XCTestCase {
    static let tiny = WhisperEncoderConfig(dModel: 32, encoderLayers: 1, encoderAttentionHeads: 2, encoderFfnDim: 64,
                                           numMelBins: 8, maxSourcePositions: 6)

    static func weights(_ c: WhisperEncoderConfig, skip: String? = nil, reshape: String? = nil, asInt: String? = nil) -> InMemoryWeights {
        var rng = TestRNG(seed: 3)
        let w = InMemoryWeights(name: "test-whisper")
        for s in WhisperSchema.tensors(c, prefix: WhisperSchema.hfPrefix) where s.name != skip {
            let n = s.shape.reduce(1, *)
            let shape = s.name == reshape ? [n] : s.shape
            w.add(s.name, floats: rng.floats(n), shape: shape, as: s.name == asInt ? .i32 : .f32)
        }
        return w
    }

    func assertThrows(_ needle: String, _ body: () throws -> Void, file: StaticString = #filePath, line: UInt = #line) {
        do { try body(); XCTFail("expected an error mentioning \(needle)", file: file, line: line) } catch {
            XCTAssertTrue("\(error)".contains(needle), "\(error)", file: file, line: line)
        }
    }

    func testConfigParsing() throws {
        let c = try WhisperEncoderConfig.parse(#"{"d_model":1280,"encoder_layers":32,"encoder_attention_heads":20,"encoder_ffn_dim":5120,"num_mel_bins":128,"max_source_positions":1500,"decoder_layers":32}"#, source: "cfg")
        XCTAssertEqual(c, .whisperLargeV3)
        assertThrows("not divisible") { _ = try WhisperEncoderConfig.parse(#"{"d_model":30,"encoder_layers":1,"encoder_attention_heads":4,"encoder_ffn_dim":8,"num_mel_bins":8,"max_source_positions":4}"#, source: "cfg") }
        assertThrows("out of range") { _ = try WhisperEncoderConfig.parse(#"{"d_model":32,"encoder_layers":0,"encoder_attention_heads":4,"encoder_ffn_dim":8,"num_mel_bins":8,"max_source_positions":4}"#, source: "cfg") }
        assertThrows("not a usable Whisper config") { _ = try WhisperEncoderConfig.parse(#"{"d_model":32}"#, source: "cfg") }
    }

    func testBadTensorsAreRejected() throws {
        let c = Self.tiny, p = WhisperSchema.hfPrefix
        XCTAssertNoThrow(try WhisperEncoder(config: c, source: Self.weights(c), prefix: p))
        assertThrows("missing tensor") { _ = try WhisperEncoder(config: c, source: Self.weights(c, skip: p + "layers.0.fc1.weight"), prefix: p) }
        assertThrows("has shape") { _ = try WhisperEncoder(config: c, source: Self.weights(c, reshape: p + "conv2.weight"), prefix: p) }
        assertThrows("not a float") { _ = try WhisperEncoder(config: c, source: Self.weights(c, asInt: p + "conv1.weight"), prefix: p) }
        let w = Self.weights(c)
        assertThrows("missing tensor") { _ = try AudioProjector(inputDim: 32, hidden: 16, source: w) }
    }

    func testWrongMelSizeIsRejected() throws {
        let c = Self.tiny
        let enc = try WhisperEncoder(config: c, source: Self.weights(c), prefix: WhisperSchema.hfPrefix)
        assertThrows("mel has") { _ = try enc.encode(mel: [Float](repeating: 0, count: 7)) }
        let out = try enc.encode(mel: [Float](repeating: 0.1, count: c.numMelBins * c.inputFrames))
        XCTAssertEqual(out.count, c.maxSourcePositions * c.dModel)
        XCTAssertTrue(out.allSatisfy { $0.isFinite })
    }
}
