// ShardedSafetensors: a Hugging Face checkpoint directory presented as one set of tensors.
//
// With `model.safetensors.index.json` ({"metadata": {...}, "weight_map": {tensor: shard file}}) every
// listed shard is opened and each tensor is looked up in the shard the map names; without it a single
// `model.safetensors` is used. Shard names must be plain file names inside the directory.
import Foundation
import SentioCore

public final class ShardedSafetensors: @unchecked Sendable {
    public let directory: URL
    /// Shards by file name.
    public let shards: [String: SafetensorsFile]
    /// Every tensor, by name, with the shard holding it.
    public let tensors: [String: SafetensorsTensor]
    /// Tensor names sorted.
    public let names: [String]
    public let metadata: [String: String]
    let shardOf: [String: String]

    public static let indexName = "model.safetensors.index.json"

    public init(dir: URL) throws {
        directory = dir
        let indexURL = dir.appendingPathComponent(Self.indexName)
        var map: [String: String] = [:]
        var meta: [String: String] = [:]
        if FileManager.default.fileExists(atPath: indexURL.path) {
            let path = indexURL.path
            let data: Data
            do { data = try Data(contentsOf: indexURL) } catch {
                throw SentioError(.io, file: path, "cannot read: \(error.localizedDescription)")
            }
            guard data.count < 64 << 20 else { throw SentioError(.corrupt, file: path, "index is \(data.count) bytes, over the 64 MiB limit") }
            guard let obj = try? JSONSerialization.jsonObject(with: data), let dict = obj as? [String: Any] else {
                throw SentioError(.corrupt, file: path, "not a JSON object")
            }
            guard let wm = dict["weight_map"] as? [String: Any] else { throw SentioError(.corrupt, file: path, "missing \"weight_map\" object") }
            for (name, v) in wm {
                guard let shard = v as? String else { throw SentioError(.corrupt, file: path, "weight_map entry '\(name)' is not a file name") }
                guard !shard.isEmpty, !shard.contains("/"), shard != ".", shard != ".." else {
                    throw SentioError(.corrupt, file: path, "weight_map entry '\(name)' names '\(shard)', not a plain file name in the directory")
                }
                map[name] = shard
            }
            if let m = dict["metadata"] as? [String: Any] { for (k, v) in m { meta[k] = (v as? String) ?? "\(v)" } }
        } else {
            let single = dir.appendingPathComponent("model.safetensors")
            guard FileManager.default.fileExists(atPath: single.path) else {
                throw SentioError(.io, file: dir.path, "neither \(Self.indexName) nor model.safetensors found")
            }
            let f = try SafetensorsFile(single)
            for n in f.names { map[n] = "model.safetensors" }
            meta = f.metadata
        }
        var opened: [String: SafetensorsFile] = [:]
        for shard in Set(map.values).sorted() {
            let u = dir.appendingPathComponent(shard)
            guard FileManager.default.fileExists(atPath: u.path) else {
                throw SentioError(.io, file: indexURL.path, "names shard '\(shard)', which is missing from \(dir.path)")
            }
            opened[shard] = try SafetensorsFile(u)
        }
        var all: [String: SafetensorsTensor] = [:]
        for (name, shard) in map {
            guard let t = opened[shard]!.tensors[name] else {
                throw SentioError(.corrupt, file: dir.appendingPathComponent(shard).path, "has no tensor '\(name)', which the index places there")
            }
            all[name] = t
        }
        // A tensor present in a shard but missing from the map would be silently lost: reject.
        for (shard, f) in opened {
            for n in f.names where map[n] == nil {
                throw SentioError(.corrupt, file: indexURL.path, "tensor '\(n)' of shard '\(shard)' is missing from the weight_map")
            }
        }
        shards = opened
        tensors = all
        names = all.keys.sorted()
        metadata = meta
        shardOf = map
    }

    public func file(for name: String) throws -> SafetensorsFile {
        guard let s = shardOf[name], let f = shards[s] else {
            throw SentioError(.argument, file: directory.path, "no tensor named '\(name)'")
        }
        return f
    }

    public func rawBytes(_ name: String) throws -> UnsafeRawBufferPointer { try file(for: name).rawBytes(name) }
    public func floats(_ name: String) throws -> [Float] { try file(for: name).floats(name) }
    public func ints(_ name: String) throws -> [Int] { try file(for: name).ints(name) }
}
