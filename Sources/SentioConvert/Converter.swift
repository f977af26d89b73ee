// Converter: source checkpoint -> tensors in Sentio dtypes, streamed one tensor at a time into a sink
// (a .sentio file, or memory when a GGUF is run directly). Which tensors exist comes from the model
// schema; which dtype each gets comes from the schema's QuantPolicy.
import Foundation
import SentioCore
import SentioFormat
import SentioModels

/// Where converted tensors go.
public protocol TensorSink: AnyObject {
    func add(name: String, dtype: DType, shape: [Int], bytes: UnsafeRawBufferPointer) throws
}

extension InMemoryWeights: TensorSink {
    public func add(name: String, dtype: DType, shape: [Int], bytes: UnsafeRawBufferPointer) throws {
        add(name, dtype: dtype, shape: shape, bytes: bytes)
    }
}

/// A .sentio writer as a sink, with the chosen codec policy.
public final class SentioFileSink: TensorSink {
    public let writer: SentioFileWriter
    public let codec: SentioCodecPolicy
    public init(writer: SentioFileWriter, codec: SentioCodecPolicy) { self.writer = writer; self.codec = codec }
    public func add(name: String, dtype: DType, shape: [Int], bytes: UnsafeRawBufferPointer) throws {
        try writer.add(name: name, dtype: dtype, shape: shape, data: bytes, codec: codec)
    }
}

public struct ConvertReport: Sendable {
    public var tensors: [(name: String, dtype: DType, shape: [Int], copied: Bool)] = []
    /// Source tensors not written: known-unused ones and anything else the schema does not name.
    public var dropped: [String] = []
    /// Dropped tensors the model's schema does not know as unused (a layout surprise worth a look).
    public var unexpected: [String] = []
    /// What the converter assumed (e.g. a tower preset used because its folder was absent).
    public var notes: [String] = []
    public var parameters: Int = 0
    public var sourceBytesRead: Int = 0
    public var seconds: Double = 0
    /// Tensors quantized with importance weights (QuantPolicy.importance).
    public var weightedByImportance: Int = 0
}

/// The model a checkpoint holds, decided from config.json's model_type.
public enum ModelKind: String, Sendable {
    case qwen2
    case humanOmni = "HumanOmni_qwen2"

    public static func detect(configJSON: String, source: String) throws -> ModelKind {
        let obj = try? JSONSerialization.jsonObject(with: Data(configJSON.utf8)) as? [String: Any]
        let t = obj?["model_type"] as? String ?? ""
        switch t {
        case "qwen2", "llama": return .qwen2
        case "HumanOmni_qwen2": return .humanOmni
        default: throw SentioError(.unsupported, file: source, "model_type '\(t)' is not supported (qwen2, llama, HumanOmni_qwen2)")
        }
    }

    /// The tensors a .sentio file of this model holds. `files` are the checkpoint's embedded files (the
    /// HumanOmni tower configs come from there).
    public func schema(configJSON: String, files: [String: Data] = [:], source: String) throws -> [TensorSpec] {
        switch self {
        case .qwen2:
            return Qwen2Schema.tensors(try Qwen2Config.parse(configJSON, source: source))
        case .humanOmni:
            return HumanOmniSchema.tensors(try HumanOmniFiles.config(configJSON: configJSON, files: files, source: source))
        }
    }

    /// Whether a dropped tensor is one the model is known not to use.
    public func isKnownUnused(_ name: String, configJSON: String, files: [String: Data], source: String) throws -> Bool {
        switch self {
        case .qwen2: return false
        case .humanOmni:
            return HumanOmniSchema.isKnownUnused(name, try HumanOmniFiles.config(configJSON: configJSON, files: files, source: source))
        }
    }
}

public enum Converter {
    /// Converts every schema tensor of `source` into `sink`. `progress(done, total, name)` is called per tensor.
    public static func run(source: SourceCheckpoint, sink: TensorSink, policy: QuantPolicy,
                           progress: ((Int, Int, String) -> Void)? = nil) throws -> ConvertReport {
        let t0 = Date()
        let kind = try ModelKind.detect(configJSON: source.configJSON, source: source.path)
        let files = try source.embeddedFiles()
        let specs = try kind.schema(configJSON: source.configJSON, files: files, source: source.path)
        var report = ConvertReport()
        report.notes = source.notes
        let wanted = Set(specs.map(\.name))
        report.dropped = source.tensorNames.filter { !wanted.contains($0) }
        if kind == .humanOmni {
            let cfg = try HumanOmniFiles.config(configJSON: source.configJSON, files: files, source: source.path)
            report.unexpected = report.dropped.filter { !HumanOmniSchema.isKnownUnused($0, cfg) }
            if !report.unexpected.isEmpty {
                report.notes.append("\(report.unexpected.count) tensor(s) are not part of the R1-Omni model and were dropped: "
                                    + report.unexpected.prefix(5).joined(separator: ", ") + (report.unexpected.count > 5 ? ", ..." : ""))
            }
        }
        if let im = policy.importance {   // every entry checked before any work: a bad file fails at once
            for spec in specs {
                _ = try im.vector(for: spec.name, rowLength: QuantPolicy.rowLength(QuantPolicy.storedShape(spec, dtype: policy.dtype(for: spec))),
                                  file: policy.importanceFile)
            }
        }
        for (i, spec) in specs.enumerated() {
            progress?(i, specs.count, spec.name)
            guard source.has(spec.name) else {
                // An untied head may be absent when the config says it is tied; the schema decides.
                throw SentioError(.model, file: source.path, "missing tensor '\(spec.name)'")
            }
            let shape = try source.shape(spec.name)
            guard shape == spec.shape else {
                throw SentioError(.model, file: source.path, "tensor '\(spec.name)' has shape \(shape), the config implies \(spec.shape)")
            }
            let dtype = policy.dtype(for: spec)
            let n = shape.reduce(1, *)
            let stored = QuantPolicy.storedShape(spec, dtype: dtype)   // quantized conv kernels: as [O, C*k...]
            if let raw = try source.exactBytes(spec.name, as: dtype) {
                try sink.add(name: spec.name, dtype: dtype, shape: stored, bytes: raw)
                report.sourceBytesRead += raw.count
                report.tensors.append((spec.name, dtype, stored, true))
            } else {
                let x = try source.floats(spec.name)
                report.sourceBytesRead += n * 4
                var imp: [Float]? = nil
                if let im = policy.importance, dtype == .q4 || dtype == .q4_1 || dtype == .q5 {
                    imp = im.columns[spec.name]   // lengths checked above, before any work
                    if imp != nil { report.weightedByImportance += 1 }
                }
                let bytes = encodeFloats(x, as: dtype, importance: imp, rowLength: QuantPolicy.rowLength(stored))
                try bytes.withUnsafeBytes { try sink.add(name: spec.name, dtype: dtype, shape: stored, bytes: $0) }
                report.tensors.append((spec.name, dtype, stored, false))
            }
            report.parameters += n
        }
        if let im = policy.importance {
            if report.weightedByImportance == 0 {
                report.notes.append("the importance matrix was not used: it weights only q4 / q4_1 / q5 matrices quantized here from floats")
            }
            let unknown = im.columns.keys.filter { !wanted.contains($0) }
            if !unknown.isEmpty {
                report.notes.append("\(unknown.count) importance entr\(unknown.count == 1 ? "y names no" : "ies name no") tensor of this model (e.g. \(unknown.sorted()[0])); they were not used")
            }
        }
        progress?(specs.count, specs.count, "")
        report.seconds = Date().timeIntervalSince(t0)
        return report
    }

    /// Converts `source` into a .sentio file at `output` (written to a temporary file, renamed at the end).
    public static func convert(source: SourceCheckpoint, output: URL, policy: QuantPolicy, codec: SentioCodecPolicy,
                               progress: ((Int, Int, String) -> Void)? = nil) throws -> (ConvertReport, SentioWriteSummary) {
        var meta = source.metadata
        meta["sentio.quant"] = policy.target.name
        meta["sentio.model"] = try ModelKind.detect(configJSON: source.configJSON, source: source.path).rawValue
        meta["sentio.converter"] = "sentio convert 1"
        SentioFileWriter.removeStalePartials(for: output)
        let writer = try SentioFileWriter(url: output, config: source.configJSON, metadata: meta, files: try source.embeddedFiles())
        let sink = SentioFileSink(writer: writer, codec: codec)
        do {
            let report = try run(source: source, sink: sink, policy: policy, progress: progress)
            let summary = try writer.finish()
            return (report, summary)
        } catch {
            writer.abort()
            throw error
        }
    }
}
