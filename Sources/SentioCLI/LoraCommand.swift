// `sentio lora merge|inspect`: PEFT LoRA adapter folders (adapter_config.json + adapter_model.safetensors,
// as `sentio train` checkpoints write them under checkpoints/step-N/adapter and peft's save_pretrained does).
import ArgumentParser
import Foundation
import SentioCore
import SentioFormat
import SentioModels
import SentioRuntime
import SentioTrainer

struct Lora: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "LoRA adapters: merge one into a model file, or inspect it.",
        subcommands: [LoraMerge.self, LoraInspect.self])
}

/// The language model configuration of a .sentio (R1-Omni: its Qwen2 LLM; else a plain Qwen2).
func languageModelConfig(_ url: URL) throws -> Qwen2Config {
    let f = try SentioFile.open(url)
    if try PolicyModel.isOmni(url) {
        return try HumanOmniConfig.parse(configJSON: f.config, files: f.files, source: url.path).llm
    }
    return try Qwen2Config.parse(f.config, source: url.path)
}

/// Loads the adapter folder for the model at `model` (its LLM config checks names and shapes).
func loadAdapter(_ dir: String, for config: Qwen2Config) throws -> LoRAAdapter {
    let u = URL(fileURLWithPath: dir)
    var isDir: ObjCBool = false
    guard FileManager.default.fileExists(atPath: u.path, isDirectory: &isDir), isDir.boolValue else {
        throw SentioError(.io, file: u.path, "LoRA adapter folder not found")
    }
    return try PEFTFormat.load(u, model: config)
}

struct LoraMerge: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "merge",
        abstract: "Write a copy of a .sentio model with a LoRA adapter merged into its language model (W + scale·B·A).",
        discussion: "Merged matrices keep the base's dtype (q8/q4 are re-quantized from the merged values) unless --dtype is given; every other tensor, the config and embedded files are copied unchanged.")
    @Option(name: .shortAndLong, help: "Base model (.sentio: R1-Omni or Qwen2)") var model: String
    @Option(help: "Adapter folder (adapter_config.json + adapter_model.safetensors)") var lora: String
    @Option(help: "Output .sentio") var out: String
    @Option(help: "Store the merged matrices as f32, f16, bf16, q8 or q4 (default: the base's dtype)") var dtype: String?

    func run() throws {
        try runReportingErrors {
            let url = URL(fileURLWithPath: model)
            guard FileManager.default.fileExists(atPath: url.path) else { throw SentioError(.io, file: url.path, "model file not found") }
            guard url.pathExtension == "sentio" else { throw SentioError(.argument, file: url.path, "lora merge takes a .sentio model") }
            var dt: DType? = nil
            if let d = dtype {
                guard let t = DType(name: d) else { throw SentioError(.argument, "--dtype must be f32, f16, bf16, q8 or q4") }
                dt = t
            }
            let outURL = URL(fileURLWithPath: out)
            guard outURL.standardizedFileURL != url.standardizedFileURL else { throw SentioError(.argument, "--out must differ from --model") }
            let adapter = try loadAdapter(lora, for: try languageModelConfig(url))
            let t0 = Date()
            let merged = try LoRAMerge.mergeSentio(input: url, adapter: adapter, output: outURL, dtype: dt)
            stderr("sentio: merged \(merged.count) projections (r \(adapter.config.r), alpha \(adapter.config.alpha)\(adapter.config.useRSLoRA ? ", rsLoRA" : "")) into \(outURL.path) in \(String(format: "%.1f", Date().timeIntervalSince(t0))) s\n")
        }
    }
}

struct LoraInspect: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "Show a LoRA adapter folder: targets, r, alpha, scale, tensors with shapes and norms, parameter count.")
    @Argument(help: "Adapter folder") var dir: String
    @Flag(help: "One JSON object") var json = false
    @Flag(help: "List every tensor (default: the first 14 and a summary)") var all = false

    func run() throws {
        try runReportingErrors {
            let u = URL(fileURLWithPath: dir)
            let cfg = try PEFTFormat.readConfig(u.appendingPathComponent(PEFTFormat.configFile))
            let wURL = u.appendingPathComponent(PEFTFormat.weightsFile)
            guard FileManager.default.fileExists(atPath: wURL.path) else { throw SentioError(.io, file: wURL.path, "adapter weights not found") }
            let st = try SafetensorsFile(wURL)
            var rows: [[String: Any]] = []
            var params = 0
            var sq = 0.0
            var layers = Set<String>(), projs = Set<String>()
            for n in st.names.sorted(by: Self.natural) {
                guard let t = st.tensors[n] else { continue }
                let v = try st.floats(n)
                let s = v.reduce(0.0) { $0 + Double($1) * Double($1) }
                sq += s
                params += v.count
                let parts = n.split(separator: ".")
                if let i = parts.firstIndex(of: "layers"), i + 1 < parts.count { layers.insert(String(parts[i + 1])) }
                if let p = parts.first(where: { $0.hasSuffix("_proj") }) { projs.insert(String(p)) }
                rows.append(["name": n, "shape": t.shape, "dtype": "\(t.dtype)", "norm": s.squareRoot(),
                             "max_abs": Double(v.map { abs($0) }.max() ?? 0)])
            }
            let targets: Any
            switch cfg.targets { case .names(let n): targets = n; case .regex(let r): targets = r }
            if json {
                printJSON(["r": cfg.r, "lora_alpha": Double(cfg.alpha), "scale": Double(cfg.scale), "use_rslora": cfg.useRSLoRA,
                           "lora_dropout": Double(cfg.dropout), "target_modules": targets, "base_model": cfg.baseModel,
                           "tensor_count": rows.count, "parameter_count": params, "global_norm": sq.squareRoot(),
                           "layers": layers.count, "projections": projs.sorted(), "tensors": rows])
                return
            }
            print("adapter     \(u.path)")
            print("base model  \(cfg.baseModel.isEmpty ? "-" : cfg.baseModel)")
            print("targets     \(targets)")
            print(String(format: "r %d, alpha %g, scale %g", cfg.r, Double(cfg.alpha), Double(cfg.scale))
                  + (cfg.useRSLoRA ? " (rsLoRA)" : "") + String(format: ", dropout %g", Double(cfg.dropout)))
            print("modules     \(rows.count / 2) (\(layers.count) layers x \(projs.sorted().joined(separator: ",")))")
            print("tensors     \(rows.count), parameters \(params) (\(String(format: "%.2f", Double(params * 4) / 1048576)) MiB f32), global norm \(String(format: "%.6g", sq.squareRoot()))")
            for (i, r) in rows.enumerated() where all || i < 14 {
                let name = (r["name"] as? String) ?? "", shape = "\((r["shape"] as? [Int]) ?? [])"
                print("  " + name.padding(toLength: max(70, name.count), withPad: " ", startingAt: 0) + " "
                      + shape.padding(toLength: max(12, shape.count), withPad: " ", startingAt: 0)
                      + String(format: " norm %.6g  max|x| %.4g", (r["norm"] as? Double) ?? 0, (r["max_abs"] as? Double) ?? 0))
            }
            if !all && rows.count > 14 { print("  ... \(rows.count - 14) more (--all)") }
        }
    }

    /// "layers.10" after "layers.9".
    static func natural(_ a: String, _ b: String) -> Bool { a.compare(b, options: .numeric) == .orderedAscending }
}
