import XCTest
@testable import SentioModels

/// config.json variants written by different transformers versions.
final class Qwen2ConfigTests: XCTestCase {
    private let base = #""hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": 100"#

    func testRopeThetaAtTopLevel() throws {
        let cfg = try Qwen2Config.parse("{\(base), \"rope_theta\": 1000000.0}", source: "config.json")
        XCTAssertEqual(cfg.ropeTheta, 1_000_000)
    }

    /// transformers 5 moves rope_theta into "rope_parameters"; it must not fall back to the 10000 default.
    func testRopeThetaInsideRopeParameters() throws {
        let text = "{\(base), \"rope_parameters\": {\"rope_type\": \"default\", \"rope_theta\": 500000.0}}"
        let cfg = try Qwen2Config.parse(text, source: "config.json")
        XCTAssertEqual(cfg.ropeTheta, 500_000)
    }

    func testRopeThetaDefault() throws {
        let cfg = try Qwen2Config.parse("{\(base)}", source: "config.json")
        XCTAssertEqual(cfg.ropeTheta, 10000)
    }
}
