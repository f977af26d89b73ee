// PEFT adapter folders: adapter_config.json + adapter_model.safetensors (spec section 8).
// Reading validates everything against the model (names, shapes, dtypes, unsupported options) and
// names the file and the problem; writing produces what peft's save_pretrained writes for LoRA.
import Foundation
import SentioCore
import SentioFormat
import SentioModels

public enum PEFTFormat {
    public static let configFile = "adapter_config.json"
    public static let weightsFile = "adapter_model.safetensors"

    /// Reads adapter_config.json into a LoRAConfig, rejecting options Sentio does not implement.
    public static func readConfig(_ url: URL) throws -> LoRAConfig {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw SentioError(.io, file: url.path, "cannot read the adapter config: \(error.localizedDescription)")
        }
        guard let obj = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
            throw SentioError(.format, file: url.path, "not a JSON object")
        }
        func bad(_ m: String) -> SentioError { SentioError(.format, file: url.path, m) }
        if let t = obj["peft_type"] as? String, t != "LORA" { throw bad("peft_type '\(t)' is not LORA") }
        guard let r = (obj["r"] as? NSNumber)?.intValue else { throw bad("missing integer 'r'") }
        let alpha = (obj["lora_alpha"] as? NSNumber)?.floatValue ?? 8   // peft's default
        let dropout = (obj["lora_dropout"] as? NSNumber)?.floatValue ?? 0
        let targets: LoRATargets
        switch obj["target_modules"] {
        case let s as String: targets = .regex(s)
        case let a as [Any]:
            let names = a.compactMap { $0 as? String }
            guard names.count == a.count, !names.isEmpty else { throw bad("target_modules must be a regex string or a non-empty list of names") }
            targets = .names(names)
        default: throw bad("missing target_modules")
        }
        if let b = obj["bias"] as? String, b != "none" { throw bad("bias '\(b)' is not supported (only \"none\")") }
        for key in ["use_dora", "fan_in_fan_out", "lora_bias"] where (obj[key] as? Bool) == true {
            throw bad("\(key) = true is not supported")
        }
        for key in ["rank_pattern", "alpha_pattern"] {
            if let d = obj[key] as? [String: Any], !d.isEmpty { throw bad("a non-empty \(key) is not supported") }
        }
        if let l = obj["layers_to_transform"], !(l is NSNull) { throw bad("layers_to_transform is not supported") }
        if let m = obj["modules_to_save"], !(m is NSNull) { throw bad("modules_to_save is not supported") }
        let cfg = LoRAConfig(r: r, alpha: alpha, dropout: dropout, useRSLoRA: (obj["use_rslora"] as? Bool) ?? false,
                             targets: targets, baseModel: (obj["base_model_name_or_path"] as? String) ?? "")
        try cfg.validate(source: url.path)
        return cfg
    }

    /// Loads an adapter folder for a model of configuration `model`.
    public static func load(_ dir: URL, model: Qwen2Config) throws -> LoRAAdapter {
        let cfg = try readConfig(dir.appendingPathComponent(configFile))
        let wURL = dir.appendingPathComponent(weightsFile)
        guard FileManager.default.fileExists(atPath: wURL.path) else {
            throw SentioError(.io, file: wURL.path, "adapter weights not found")
        }
        let st = try SafetensorsFile(wURL)
        // The expected names and shapes come from the config's targets on this model.
        let probe = try LoRAAdapter(config: cfg, model: model, values: nil, source: wURL.path)
        let expected = Set(probe.tensors.names)
        for n in st.names where !expected.contains(n) {
            throw SentioError(.format, file: wURL.path, "tensor '\(n)' is not a LoRA tensor of a targeted decoder projection (targets \(cfg.targets), r \(cfg.r))")
        }
        var values: [String: [Float]] = [:]
        for (i, n) in probe.tensors.names.enumerated() {
            guard let t = st.tensors[n] else { throw SentioError(.format, file: wURL.path, "missing tensor '\(n)'") }
            guard t.shape == probe.tensors.shapes[i] else {
                throw SentioError(.format, file: wURL.path, "tensor '\(n)' has shape \(t.shape), expected \(probe.tensors.shapes[i])")
            }
            let v = try st.floats(n)
            guard v.allSatisfy({ $0.isFinite }) else { throw SentioError(.format, file: wURL.path, "tensor '\(n)' holds non-finite values") }
            values[n] = v
        }
        return try LoRAAdapter(config: cfg, model: model, values: values, source: wURL.path)
    }

    /// Writes adapter_config.json and adapter_model.safetensors (f32) into `dir` (created if needed).
    public static func save(_ adapter: LoRAAdapter, to dir: URL) throws {
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let c = adapter.config
        let targets: Any
        switch c.targets {
        case .names(let n): targets = n
        case .regex(let s): targets = s
        }
        let obj: [String: Any] = [
            "peft_type": "LORA", "task_type": "CAUSAL_LM", "r": c.r, "lora_alpha": c.alpha, "lora_dropout": c.dropout,
            "target_modules": targets, "bias": "none", "use_rslora": c.useRSLoRA, "use_dora": false,
            "fan_in_fan_out": false, "base_model_name_or_path": c.baseModel, "inference_mode": true,
            "init_lora_weights": true, "modules_to_save": NSNull(), "layers_to_transform": NSNull(),
            "rank_pattern": [String: Any](), "alpha_pattern": [String: Any](),
        ]
        let json = try JSONSerialization.data(withJSONObject: obj, options: [.prettyPrinted, .sortedKeys])
        var w = SafetensorsWriter(metadata: ["format": "pt"])
        for (i, n) in adapter.tensors.names.enumerated() {
            w.add(n, floats: adapter.tensors.values[i], shape: adapter.tensors.shapes[i])
        }
        try w.write(to: dir.appendingPathComponent(weightsFile))
        try AtomicFile.write(json, to: dir.appendingPathComponent(configFile))
    }
}
