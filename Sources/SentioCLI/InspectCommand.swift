import ArgumentParser
import Foundation
import SentioCore
import SentioFormat

struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show a weight file's header, config, tensor table, sizes, codecs and ratios (.sentio, .gguf, .safetensors).")

    @Argument(help: "A .sentio, .gguf or .safetensors file")
    var file: String
    @Flag(help: "Output JSON")
    var json = false
    @Flag(help: "Check every checksum (.sentio)")
    var verify = false
    @Flag(help: "List every tensor (the text output lists the first 40 otherwise)")
    var all = false

    func run() throws {
        try runReportingErrors {
            let url = URL(fileURLWithPath: file)
            guard FileManager.default.fileExists(atPath: url.path) else { throw SentioError(.io, file: url.path, "no such file") }
            let head = (try? FileHandle(forReadingFrom: url).read(upToCount: 8)) ?? Data()
            if head.starts(with: SentioFormat.magic) { try inspectSentio(url) }
            else if head.starts(with: Data("GGUF".utf8)) { try inspectGGUF(url) }
            else if url.pathExtension == "safetensors" { try inspectSafetensors(url) }
            else { throw SentioError(.format, file: url.path, "not a .sentio, GGUF or safetensors file") }
        }
    }

    func inspectSentio(_ url: URL) throws {
        let f = try SentioFile.open(url)
        var verified: Bool? = nil
        if verify { try f.verify(); verified = true }
        let params = f.entries.reduce(0) { $0 + $1.elementCount }
        let raw = f.entries.reduce(0) { $0 + $1.rawSize }, stored = f.entries.reduce(0) { $0 + $1.storedSize }
        let groups = Dictionary(grouping: f.entries, by: { componentName($0.name) })
        if json {
            printJSON([
                "format": "sentio", "version": f.version, "file_bytes": f.fileSize, "metadata": f.metadata,
                "config": (try? JSONSerialization.jsonObject(with: Data(f.config.utf8))) ?? f.config,
                "files": f.fileEntries.map { ["name": $0.name, "bytes": $0.size] },
                "parameters": params, "raw_bytes": raw, "stored_bytes": stored, "verified": verified as Any,
                "components": groups.mapValues { es in ["tensors": es.count, "parameters": es.reduce(0) { $0 + $1.elementCount },
                                                        "stored_bytes": es.reduce(0) { $0 + $1.storedSize }] },
                "tensors": f.entries.map { ["name": $0.name, "dtype": $0.dtype.name, "shape": $0.shape, "codec": "\($0.codec)",
                                            "offset": $0.offset, "stored_bytes": $0.storedSize, "raw_bytes": $0.rawSize,
                                            "checksum": String(format: "%016llx", $0.checksum)] },
            ])
            return
        }
        print("\(url.path): Sentio weight file v\(f.version), \(formatBytes(f.fileSize))")
        for k in f.metadata.keys.sorted() where k != "tokenizer.chat_template" { print("  \(k) = \(f.metadata[k]!)") }
        print("  embedded files: " + f.fileEntries.map { "\($0.name) (\(formatBytes($0.size)))" }.joined(separator: ", "))
        print("  \(f.entries.count) tensors, \(formatCount(params)) parameters, \(formatBytes(raw)) raw, \(formatBytes(stored)) stored")
        for (c, es) in groups.sorted(by: { $0.key < $1.key }) {
            print("  component \(pad(c, 14)) \(pad(String(es.count), 5, left: true)) tensors \(pad(formatCount(es.reduce(0) { $0 + $1.elementCount }), 9, left: true)) params \(pad(formatBytes(es.reduce(0) { $0 + $1.storedSize }), 11, left: true))")
        }
        let shown = all ? f.entries : Array(f.entries.prefix(40))
        for e in shown {
            let ratio = e.rawSize > 0 ? Double(e.storedSize) / Double(e.rawSize) : 1
            print("  \(pad(e.name, 52)) \(pad(e.dtype.name, 5)) \(pad("\(e.shape)", 14)) \(pad("\(e.codec)", 11)) \(pad(formatBytes(e.storedSize), 11, left: true)) \(String(format: "%.3f", ratio))")
        }
        if shown.count < f.entries.count { print("  ... \(f.entries.count - shown.count) more (--all)") }
        if verified == true { print("  verify: all \(f.entries.count) checksums match") }
    }

    func inspectGGUF(_ url: URL) throws {
        let g = try GGUFFile(url: url)
        let params = g.tensors.reduce(0) { $0 + $1.elementCount }
        if json {
            var md: [String: Any] = [:]
            for k in g.metadataKeys {
                let v = g.metadata[k]!
                if let s = v.string { md[k] = s } else if let i = v.int { md[k] = i } else if let f = v.float { md[k] = f }
                else if let b = v.bool { md[k] = b } else if case .array(let a) = v { md[k] = "[array of \(a.count)]" }
            }
            printJSON(["format": "gguf", "version": g.version, "metadata": md, "parameters": params,
                       "tensors": g.tensors.map { ["name": $0.name, "type": "\($0.ggmlType)", "shape": $0.shape, "offset": $0.offset, "bytes": $0.byteCount] }])
            return
        }
        print("\(url.path): GGUF v\(g.version), \(g.tensors.count) tensors, \(formatCount(params)) parameters")
        for k in g.metadataKeys {
            let v = g.metadata[k]!
            let s: String
            if let x = v.string { s = x.count > 80 ? String(x.prefix(77)) + "..." : x }
            else if case .array(let a) = v { s = "[array of \(a.count)]" } else { s = "\(v.int.map(String.init) ?? v.float.map { String($0) } ?? "\(v)")" }
            print("  \(k) = \(s)")
        }
        for t in (all ? g.tensors : Array(g.tensors.prefix(40))) {
            print("  \(pad(t.name, 40)) \(pad("\(t.ggmlType)", 6)) \(pad("\(t.shape)", 14)) \(formatBytes(t.byteCount))")
        }
    }

    func inspectSafetensors(_ url: URL) throws {
        let s = try SafetensorsFile(url)
        let params = s.tensors.values.reduce(0) { $0 + $1.elementCount }
        if json {
            printJSON(["format": "safetensors", "metadata": s.metadata, "parameters": params,
                       "tensors": s.names.map { n in let t = s.tensors[n]!; return ["name": n, "dtype": t.dtype.rawValue, "shape": t.shape, "bytes": t.count] as [String: Any] }])
            return
        }
        print("\(url.path): safetensors, \(s.tensors.count) tensors, \(formatCount(params)) parameters")
        for n in (all ? s.names : Array(s.names.prefix(40))) {
            let t = s.tensors[n]!
            print("  \(pad(n, 60)) \(pad(t.dtype.rawValue, 5)) \(t.shape)")
        }
    }
}

/// The model component a tensor belongs to, from its name (for per-component sums).
func componentName(_ name: String) -> String {
    if name.hasPrefix("model.vision_tower") { return "siglip" }
    if name.hasPrefix("model.audio_tower") { return "whisper" }
    if name.hasPrefix("model.bert_model") { return "bert" }
    if name.hasPrefix("model.bert_gate") { return "bert_gate" }
    if name.hasPrefix("model.mm_projector") { return "projector" }
    if name.hasPrefix("model.audio_projector") { return "audio_proj" }
    if name.hasPrefix("model.layers") || name.hasPrefix("model.norm") || name.hasPrefix("model.embed") || name.hasPrefix("lm_head") { return "llm" }
    return "other"
}
