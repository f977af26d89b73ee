// A disk cache for the frozen stages' outputs (SigLIP + projector, Whisper + projector, the gate):
// training sees each clip once per epoch, but its encodings never change, so they are computed once.
//
//   key   = (clip content hash, model checksum, prompt mode)
//   file  = DIR/<xxhash64 of the key>.safetensors, f32 tensors (e.g. "video" [392, 896], "audio" [500, 896],
//           or the spliced prompt rows) with the full key in the metadata
//
// A file whose metadata key differs from the one asked for (another model, another prompt mode, an edited
// clip, a name collision) is a miss and is overwritten by the next store. Files are written atomically;
// a damaged file is a SentioError naming it (delete it, or the cache folder, to recompute).
import Foundation
import SentioCore
import SentioFormat

public struct EncoderCacheKey: Codable, Equatable, Hashable, Sendable {
    public var clipHash: String
    public var modelChecksum: String
    public var promptMode: String

    public init(clipHash: String, modelChecksum: String, promptMode: String) {
        self.clipHash = clipHash; self.modelChecksum = modelChecksum; self.promptMode = promptMode
    }

    /// The key for a clip file: its content hashed (XXHash64 over every byte, memory-mapped) with its size.
    public init(clip url: URL, modelChecksum: String, promptMode: String) throws {
        let data: Data
        do { data = try Data(contentsOf: url, options: .alwaysMapped) } catch {
            throw SentioError(.io, file: url.path, "cannot read the clip: \(error.localizedDescription)")
        }
        let h = data.withUnsafeBytes { XXHash64.hash($0) }
        self.init(clipHash: String(format: "%016llx-%d", h, data.count), modelChecksum: modelChecksum, promptMode: promptMode)
    }

    var metadata: [String: String] {
        ["sentio.cache.clip": clipHash, "sentio.cache.model": modelChecksum, "sentio.cache.prompt_mode": promptMode]
    }

    var fileName: String {
        let text = Array("\(clipHash)\u{0}\(modelChecksum)\u{0}\(promptMode)".utf8)
        return String(format: "%016llx.safetensors", XXHash64.hash(text))
    }
}

public final class EncoderCache: @unchecked Sendable {
    public let directory: URL
    public private(set) var hits = 0
    public private(set) var misses = 0

    public init(directory: URL) throws {
        do { try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true) } catch {
            throw SentioError(.io, file: directory.path, "cannot create the encoder cache folder: \(error.localizedDescription)")
        }
        self.directory = directory
    }

    public func url(for key: EncoderCacheKey) -> URL { directory.appendingPathComponent(key.fileName) }

    /// The cached tensors for `key`, or nil (absent, or made for another key).
    public func load(_ key: EncoderCacheKey) throws -> NamedTensors? {
        let url = url(for: key)
        guard FileManager.default.fileExists(atPath: url.path) else { misses += 1; return nil }
        let f = try SafetensorsFile(url)
        guard key.metadata.allSatisfy({ f.metadata[$0.key] == $0.value }) else { misses += 1; return nil }
        // Stored order (the writer may lay tensors out differently).
        let order = f.metadata["sentio.cache.names"].map { $0.split(separator: "\n").map(String.init) } ?? f.names
        guard Set(order) == Set(f.names), order.count == f.names.count else {
            throw SentioError(.corrupt, file: url.path, "encoder cache tensor list does not match its metadata")
        }
        var entries: [(name: String, shape: [Int], values: [Float])] = []
        for name in order {
            guard let t = f.tensors[name], t.dtype == .f32 else {
                throw SentioError(.corrupt, file: url.path, "encoder cache tensor \(name) is not f32")
            }
            entries.append((name, t.shape, try f.floats(name)))
        }
        hits += 1
        return try NamedTensors(entries)
    }

    /// Stores `tensors` for `key` (atomically, replacing any file of the same name).
    public func store(_ key: EncoderCacheKey, _ tensors: NamedTensors) throws {
        let l = tensors.layout
        guard l.names.allSatisfy({ !$0.contains("\n") }) else { throw SentioError(.argument, "encoder cache: tensor names must not contain newlines") }
        var w = SafetensorsWriter(metadata: key.metadata.merging(["format": "pt", "sentio.cache.names": l.names.joined(separator: "\n")]) { a, _ in a })
        for i in l.names.indices { w.add(l.names[i], floats: Array(tensors.values[l.range(i)]), shape: l.shapes[i]) }
        try AtomicFile.write(w.serialized(), to: url(for: key))
    }

    /// load, or compute + store.
    public func fetch(_ key: EncoderCacheKey, compute: () throws -> NamedTensors) throws -> NamedTensors {
        if let t = try load(key) { return t }
        let t = try compute()
        try store(key, t)
        return t
    }
}
