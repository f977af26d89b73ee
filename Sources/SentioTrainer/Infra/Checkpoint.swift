// Training checkpoints: everything needed to continue a run as if it had not stopped.
//
//   OUT/checkpoints/step-000050/
//       parameters.safetensors   trainable tensors by name (f32)
//       optimizer.safetensors    AdamW moments "m.<name>", "v.<name>" (f32)
//       state.json               TrainerState: step, AdamW step, data position, seed, schedule, config
//       (+ whatever the stepper's saveArtifacts writes, e.g. a PEFT adapter folder)
//   OUT/checkpoints/latest       the name of the newest complete checkpoint
//
// A checkpoint is written into a hidden temporary folder, each file flushed, then the folder is
// renamed into place and only then `latest` is replaced (AtomicFile): a kill at any moment leaves
// either the previous checkpoint or the new one, never a partial one. Micro-batch generators are
// derived from (seed, step, slot) (DataOrder.swift), so the seed and the step are the RNG state.
import Foundation
import SentioCore
import SentioFormat

public struct TrainerState: Codable, Equatable, Sendable {
    public static let currentVersion = 1
    public var version = TrainerState.currentVersion
    /// Optimizer steps completed.
    public var step: Int
    public var optimizerStep: Int
    public var data: DataPosition
    public var seed: UInt64
    public var schedule: LRSchedule
    public var config: TrainerConfig
    public var tensorNames: [String]
    public var tensorShapes: [[Int]]
    public var worldSize: Int
    /// Free-form run settings (the CLI's merged options), kept for the record and for --resume checks.
    public var run: [String: String]
}

public struct Checkpoint {
    public let directory: URL
    public let state: TrainerState
    public let parameters: NamedTensors
    public let optimizer: AdamW

    public init(directory: URL, state: TrainerState, parameters: NamedTensors, optimizer: AdamW) {
        self.directory = directory; self.state = state; self.parameters = parameters; self.optimizer = optimizer
    }

    static let parametersFile = "parameters.safetensors"
    static let optimizerFile = "optimizer.safetensors"
    static let stateFile = "state.json"

    public static func folderName(step: Int) -> String { String(format: "step-%06d", step) }

    /// Writes a checkpoint under `root` (OUT/checkpoints) and points `latest` at it. `extra` may add
    /// files to the folder before it is renamed into place.
    @discardableResult
    public static func write(root: URL, state: TrainerState, parameters: NamedTensors, optimizer: AdamW,
                             extra: ((URL) throws -> Void)? = nil) throws -> URL {
        let fm = FileManager.default
        try fm.createDirectory(at: root, withIntermediateDirectories: true)
        let name = folderName(step: state.step)
        let tmp = root.appendingPathComponent(".tmp-\(name)-\(getpid())")
        try? fm.removeItem(at: tmp)
        try fm.createDirectory(at: tmp, withIntermediateDirectories: true)
        do {
            var p = SafetensorsWriter(metadata: ["format": "pt", "sentio.step": "\(state.step)"])
            var o = SafetensorsWriter(metadata: ["format": "pt", "sentio.adamw_step": "\(optimizer.step)"])
            let l = parameters.layout
            for i in l.names.indices {
                let r = l.range(i)
                p.add(l.names[i], floats: Array(parameters.values[r]), shape: l.shapes[i])
                o.add("m." + l.names[i], floats: Array(optimizer.m[r]), shape: l.shapes[i])
                o.add("v." + l.names[i], floats: Array(optimizer.v[r]), shape: l.shapes[i])
            }
            try AtomicFile.write(p.serialized(), to: tmp.appendingPathComponent(parametersFile))
            try AtomicFile.write(o.serialized(), to: tmp.appendingPathComponent(optimizerFile))
            try AtomicFile.write(encodeJSON(state), to: tmp.appendingPathComponent(stateFile))
            try extra?(tmp)
            let dest = root.appendingPathComponent(name)
            if fm.fileExists(atPath: dest.path) { try fm.removeItem(at: dest) }
            guard rename(tmp.path, dest.path) == 0 else {
                throw SentioError(.io, file: dest.path, "cannot rename checkpoint into place: \(String(cString: strerror(errno)))")
            }
            syncDirectory(root)
            try AtomicFile.write(Data((name + "\n").utf8), to: root.appendingPathComponent("latest"))
            return dest
        } catch {
            try? fm.removeItem(at: tmp)
            throw error
        }
    }

    /// The checkpoint `latest` names under `root`, or nil when there is none.
    public static func latest(root: URL) throws -> Checkpoint? {
        let pointer = root.appendingPathComponent("latest")
        guard FileManager.default.fileExists(atPath: pointer.path) else { return nil }
        let name = String(decoding: try Data(contentsOf: pointer), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard !name.isEmpty, !name.contains("/") else { throw SentioError(.corrupt, file: pointer.path, "bad checkpoint name \(name.debugDescription)") }
        return try read(root.appendingPathComponent(name))
    }

    public static func read(_ dir: URL) throws -> Checkpoint {
        let stateURL = dir.appendingPathComponent(stateFile)
        let state: TrainerState
        do {
            state = try JSONDecoder().decode(TrainerState.self, from: Data(contentsOf: stateURL))
        } catch {
            throw SentioError(.corrupt, file: stateURL.path, "cannot read the trainer state: \(error)")
        }
        guard state.version == TrainerState.currentVersion else {
            throw SentioError(.unsupported, file: stateURL.path, "trainer state version \(state.version), expected \(TrainerState.currentVersion)")
        }
        let layout = try TensorLayout(names: state.tensorNames, shapes: state.tensorShapes)
        let p = try SafetensorsFile(dir.appendingPathComponent(parametersFile))
        let o = try SafetensorsFile(dir.appendingPathComponent(optimizerFile))
        var params = NamedTensors(zeros: layout)
        var opt = AdamW(config: state.config.adamw, parameterCount: layout.totalCount)
        opt.step = state.optimizerStep
        for (i, name) in layout.names.enumerated() {
            let r = layout.range(i)
            for (file, key) in [(p, name), (o, "m." + name), (o, "v." + name)] {
                guard let t = file.tensors[key], t.shape == layout.shapes[i] else {
                    throw SentioError(.corrupt, file: file.url.path, "tensor \(key) is missing or not of shape \(layout.shapes[i])")
                }
            }
            params.values.replaceSubrange(r, with: try p.floats(name))
            opt.m.replaceSubrange(r, with: try o.floats("m." + name))
            opt.v.replaceSubrange(r, with: try o.floats("v." + name))
        }
        return Checkpoint(directory: dir, state: state, parameters: params, optimizer: opt)
    }

    /// Deletes all but the newest `keep` checkpoint folders (keep <= 0: keep all).
    public static func prune(root: URL, keep: Int) {
        guard keep > 0, let names = try? FileManager.default.contentsOfDirectory(atPath: root.path) else { return }
        let steps = names.filter { $0.hasPrefix("step-") }.sorted()
        for old in steps.dropLast(keep) { try? FileManager.default.removeItem(at: root.appendingPathComponent(old)) }
    }

    /// Deletes temporary folders a killed write left behind.
    public static func removeTemporaries(root: URL) {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: root.path) else { return }
        for n in names where n.hasPrefix(".tmp-") { try? FileManager.default.removeItem(at: root.appendingPathComponent(n)) }
    }

    /// The checkpoint as one byte string (for sending to other ranks): state JSON length (u64 LE), state
    /// JSON, then parameters, m and v as little-endian f32.
    public func serialized() -> [UInt8] {
        let json = [UInt8]((try? encodeJSON(state)) ?? Data())
        var out = withUnsafeBytes(of: UInt64(json.count).littleEndian) { Array($0) }
        out += json
        out += floatBytes(parameters.values) + floatBytes(optimizer.m) + floatBytes(optimizer.v)
        return out
    }

    public init(serialized b: [UInt8], directory: URL) throws {
        func bad(_ m: String) -> SentioError { SentioError(.corrupt, file: directory.path, "received checkpoint: \(m)") }
        guard b.count >= 8 else { throw bad("too short") }
        let n = Int(clamping: b.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) })
        guard n <= b.count - 8 else { throw bad("state length \(n) past the end") }
        let state: TrainerState
        do { state = try JSONDecoder().decode(TrainerState.self, from: Data(b[8 ..< 8 + n])) } catch { throw bad("state: \(error)") }
        let layout = try TensorLayout(names: state.tensorNames, shapes: state.tensorShapes)
        let total = layout.totalCount
        guard b.count - 8 - n == 3 * 4 * total else { throw bad("\(b.count - 8 - n) tensor bytes for \(total) parameters") }
        let body = Array(b[(8 + n)...])
        var opt = AdamW(config: state.config.adamw, parameterCount: total)
        opt.step = state.optimizerStep
        opt.m = floats(Array(body[(4 * total) ..< (8 * total)]))
        opt.v = floats(Array(body[(8 * total)...]))
        self.init(directory: directory.appendingPathComponent(Self.folderName(step: state.step)), state: state,
                  parameters: try NamedTensors(layout: layout, values: floats(Array(body[0 ..< 4 * total]))), optimizer: opt)
    }

    static func syncDirectory(_ url: URL) {
        let fd = open(url.path, O_RDONLY)
        if fd >= 0 { fsync(fd); close(fd) }
    }
}

func encodeJSON<T: Encodable>(_ value: T) throws -> Data {
    let e = JSONEncoder()
    e.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
    e.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
    return try e.encode(value)
}

func floatBytes(_ v: [Float]) -> [UInt8] {
    var out = [UInt8](repeating: 0, count: v.count * 4)
    for (i, x) in v.enumerated() {
        let b = x.bitPattern.littleEndian
        out[4 * i] = UInt8(truncatingIfNeeded: b); out[4 * i + 1] = UInt8(truncatingIfNeeded: b >> 8)
        out[4 * i + 2] = UInt8(truncatingIfNeeded: b >> 16); out[4 * i + 3] = UInt8(truncatingIfNeeded: b >> 24)
    }
    return out
}

func floats(_ b: [UInt8]) -> [Float] {
    (0 ..< b.count / 4).map { i in
        Float(bitPattern: UInt32(b[4 * i]) | UInt32(b[4 * i + 1]) << 8 | UInt32(b[4 * i + 2]) << 16 | UInt32(b[4 * i + 3]) << 24)
    }
}
