// HFCheckpoint: a Hugging Face checkpoint folder: config.json, model.safetensors (or shards listed in
// model.safetensors.index.json), tokenizer and generation files, which are embedded verbatim.
import Foundation
import SentioCore
import SentioFormat

public final class HFCheckpoint: SourceCheckpoint {
    public let dir: URL
    public let path: String
    public let configJSON: String
    public let metadata: [String: String]
    private var shards: [SafetensorsFile] = []
    private var where_: [String: Int] = [:]
    /// Files synthesized for the model kind (HumanOmni: tower configs and the BERT vocabulary).
    private var extraFiles: [String: Data] = [:]
    public private(set) var notes: [String] = []

    /// Files copied into the .sentio file when present.
    public static let embeddable = ["tokenizer.json", "tokenizer_config.json", "vocab.json", "merges.txt",
                                    "added_tokens.json", "special_tokens_map.json", "chat_template.json",
                                    "generation_config.json", "preprocessor_config.json"]

    public init(dir: URL) throws {
        self.dir = dir
        path = dir.path
        let cfgURL = dir.appendingPathComponent("config.json")
        guard let cfg = try? String(contentsOf: cfgURL, encoding: .utf8) else {
            throw SentioError(.io, file: cfgURL.path, "missing or unreadable config.json")
        }
        configJSON = cfg
        let fm = FileManager.default
        let single = dir.appendingPathComponent("model.safetensors")
        let index = dir.appendingPathComponent("model.safetensors.index.json")
        if fm.fileExists(atPath: index.path) {
            let obj = try? JSONSerialization.jsonObject(with: Data(contentsOf: index))
            guard let map = (obj as? [String: Any])?["weight_map"] as? [String: String] else {
                throw SentioError(.format, file: index.path, "no weight_map object")
            }
            var shardIndex: [String: Int] = [:]
            for (name, shard) in map {
                guard !shard.contains("/"), !shard.contains("..") else {
                    throw SentioError(.format, file: index.path, "shard name '\(shard)' leaves the folder")
                }
                if shardIndex[shard] == nil {
                    let u = dir.appendingPathComponent(shard)
                    guard fm.fileExists(atPath: u.path) else { throw SentioError(.io, file: index.path, "shard '\(shard)' is missing") }
                    shardIndex[shard] = shards.count
                    shards.append(try SafetensorsFile(u))
                }
                let s = shardIndex[shard]!
                guard shards[s].tensors[name] != nil else {
                    throw SentioError(.format, file: index.path, "tensor '\(name)' is not in shard '\(shard)'")
                }
                where_[name] = s
            }
        } else if fm.fileExists(atPath: single.path) {
            shards = [try SafetensorsFile(single)]
            for n in shards[0].names { where_[n] = 0 }
        } else {
            throw SentioError(.io, file: path, "no model.safetensors or model.safetensors.index.json")
        }
        metadata = ["sentio.source.format": "safetensors"]
        if (try? ModelKind.detect(configJSON: cfg, source: path)) == .humanOmni {
            (extraFiles, notes) = try HumanOmniFiles.resolve(dir: dir, configJSON: cfg)
        }
    }

    public var tensorNames: [String] { where_.keys.sorted() }
    public func has(_ name: String) -> Bool { where_[name] != nil }

    private func shard(_ name: String) throws -> SafetensorsFile {
        guard let i = where_[name] else { throw SentioError(.model, file: path, "checkpoint has no tensor '\(name)'") }
        return shards[i]
    }

    public func shape(_ name: String) throws -> [Int] { try shard(name).tensors[name]!.shape }
    public func floats(_ name: String) throws -> [Float] { try shard(name).floats(name) }

    public func exactBytes(_ name: String, as dtype: DType) throws -> UnsafeRawBufferPointer? {
        let s = try shard(name)
        let t = s.tensors[name]!
        switch (t.dtype, dtype) {
        case (.f32, .f32), (.f16, .f16), (.bf16, .bf16): return try s.rawBytes(name)
        default: return nil
        }
    }

    public func embeddedFiles() throws -> [String: Data] {
        var out: [String: Data] = [:]
        for f in Self.embeddable {
            let u = dir.appendingPathComponent(f)
            if FileManager.default.fileExists(atPath: u.path) { out[f] = try Data(contentsOf: u) }
        }
        out.merge(extraFiles) { a, _ in a }
        return out
    }
}
