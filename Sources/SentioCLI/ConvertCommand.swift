import ArgumentParser
import Foundation
import SentioCore
import SentioFormat
import SentioModels
import SentioConvert

struct Convert: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Convert a Hugging Face checkpoint folder or a GGUF file into a .sentio weight file.")

    @Argument(help: "Checkpoint folder (config.json + safetensors) or .gguf file")
    var source: String
    @Option(name: .shortAndLong, help: "Output .sentio file")
    var output: String
    @Option(help: "Weight type for matrices: f32, f16, bf16, q8 (Q8_0; Whisper's encoder matrices q8r: one scale per row, for the int8 tiles), q8r, q4 (Q4_0), q4_1 (affine 4-bit), q5 (Q5_0, 5-bit)")
    var quant: String = "q8"
    @Option(name: .customLong("override"), help: "Per-tensor dtype override PATTERN=DTYPE (glob), repeatable, e.g. '*lm_head*=q8'")
    var overrides: [String] = []
    @Option(help: "Importance matrix from `sentio imatrix`: weights the 4- and 5-bit quantizers' (q4, q4_1, q5) error by each input column's mean squared activation")
    var imatrix: String?
    @Flag(help: "Store every tensor raw (no shuffle+LZ4)")
    var noLz4 = false
    @Option(help: "Keep LZ4 for a tensor only when it saves more than this fraction")
    var lz4MinSaving: Double = 0.10
    @Flag(help: "Print the summary as JSON")
    var json = false

    func run() throws {
        try runReportingErrors {
            guard let target = DType(name: quant), target.isFloat else {
                throw SentioError(.argument, "--quant must be one of f32, f16, bf16, q8, q8r, q4, q4_1, q5 (got '\(quant)')")
            }
            var policy = QuantPolicy(target: target, overrides: try overrides.map(QuantPolicy.parseOverride))
            if let imatrix {
                policy.importance = try ImportanceMatrix(contentsOf: URL(fileURLWithPath: imatrix))
                policy.importanceFile = imatrix
            }
            let src = try openCheckpoint(URL(fileURLWithPath: source))
            var bar: ProgressBar?
            let (report, summary) = try Converter.convert(
                source: src, output: URL(fileURLWithPath: output), policy: policy,
                codec: noLz4 ? .raw : .lz4Auto(minSaving: lz4MinSaving),
                progress: { done, total, name in
                    if bar == nil { bar = ProgressBar(total: total, label: "convert") }
                    bar?.update(done, name)
                })
            bar?.finish()
            let gbps = report.seconds > 0 ? Double(report.sourceBytesRead) / report.seconds / 1e9 : 0
            var per: [String: Any] = [:]
            for (t, s) in summary.perDType {
                per[t.name] = ["tensors": s.tensors, "elements": s.elements, "raw_bytes": s.rawBytes,
                               "stored_bytes": s.storedBytes, "lz4_tensors": s.lz4Tensors]
            }
            if json {
                printJSON(["output": summary.url.path, "parameters": report.parameters, "tensors": summary.tensorCount,
                           "file_bytes": summary.fileSize, "raw_bytes": summary.rawBytes, "stored_bytes": summary.storedBytes,
                           "lz4_saving": summary.rawBytes > 0 ? 1 - Double(summary.storedBytes) / Double(summary.rawBytes) : 0,
                           "per_dtype": per, "dropped_tensors": report.dropped, "seconds": report.seconds,
                           "source_gb_per_s": gbps, "copied_without_requantization": report.tensors.filter(\.copied).count,
                           "weighted_by_importance": report.weightedByImportance, "notes": report.notes])
            } else {
                print("wrote \(summary.url.path): \(summary.tensorCount) tensors, \(formatCount(report.parameters)) parameters, \(formatBytes(summary.fileSize))")
                for (t, s) in summary.perDType.sorted(by: { $0.value.rawBytes > $1.value.rawBytes }) {
                    let saving = s.rawBytes > 0 ? 100 * (1 - Double(s.storedBytes) / Double(s.rawBytes)) : 0
                    print("  \(pad(t.name, 5)) \(pad(String(s.tensors), 4, left: true)) tensors \(pad(formatBytes(s.rawBytes), 11, left: true)) raw -> \(pad(formatBytes(s.storedBytes), 11, left: true)) stored (LZ4 on \(s.lz4Tensors), saves \(String(format: "%.1f", saving))%)")
                }
                if !report.dropped.isEmpty { print("  dropped (unused by the model): \(report.dropped.count) tensors") }
                if policy.importance != nil { print("  quantized with importance weights: \(report.weightedByImportance) tensors") }
                for n in report.notes { print("  note: \(n)") }
                print(String(format: "  %.1f s, %.2f GB/s of source", report.seconds, gbps))
            }
        }
    }
}
