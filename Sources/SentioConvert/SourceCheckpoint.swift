// SourceCheckpoint: a model to convert, whatever its on-disk layout. Tensors are addressed by their
// Hugging Face names (the names of the model schemas); each source maps its own names onto them.
import Foundation
import SentioCore
import SentioFormat

public protocol SourceCheckpoint: AnyObject {
    var path: String { get }
    /// config.json text (verbatim for HF checkpoints; synthesized from metadata for GGUF).
    var configJSON: String { get }
    /// Files to embed in the .sentio file (tokenizer files, generation config, ...).
    func embeddedFiles() throws -> [String: Data]
    /// Extra metadata to record (source format, architecture, ...).
    var metadata: [String: String] { get }
    /// Every tensor name present (HF names), for listing dropped tensors.
    var tensorNames: [String] { get }
    func has(_ name: String) -> Bool
    /// Shape of a tensor (row-major, HF order).
    func shape(_ name: String) throws -> [Int]
    /// The tensor's values as f32.
    func floats(_ name: String) throws -> [Float]
    /// The stored bytes when they are already exactly `dtype`'s layout (copied without requantization), else nil.
    func exactBytes(_ name: String, as dtype: DType) throws -> UnsafeRawBufferPointer?
    /// What the reader assumed about the checkpoint (shown in the converter's report).
    var notes: [String] { get }
}

extension SourceCheckpoint {
    public var notes: [String] { [] }
}

/// Opens a GGUF file, a safetensors file, or a Hugging Face checkpoint folder.
public func openCheckpoint(_ url: URL) throws -> SourceCheckpoint {
    var isDir: ObjCBool = false
    guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDir) else {
        throw SentioError(.io, file: url.path, "no such file or directory")
    }
    if isDir.boolValue { return try HFCheckpoint(dir: url) }
    if url.pathExtension.lowercased() == "gguf" { return try GGUFCheckpoint(url: url) }
    // Sniff the magic for files with other names.
    let fh = try FileHandle(forReadingFrom: url)
    defer { try? fh.close() }
    let head = (try? fh.read(upToCount: 4)) ?? Data()
    if head == Data("GGUF".utf8) { return try GGUFCheckpoint(url: url) }
    if url.pathExtension == "safetensors" {
        throw SentioError(.argument, file: url.path, "a bare .safetensors file has no config.json: pass the checkpoint folder instead")
    }
    throw SentioError(.format, file: url.path, "not a GGUF file or a Hugging Face checkpoint folder")
}
