// LoRAMerge: W' = W + scale · B·A for every adapted projection (spec section 8), into memory or into
// a new .sentio (`sentio lora merge`). Merged matrices keep the base's dtype by default (q8 / q4 are
// re-quantized from the merged f32 values, adding one rounding of the format) or are written as `dtype`.
import Foundation
import SentioCore
import SentioFormat
import SentioModels

public enum LoRAMerge {
    /// The checkpoint tensor name of a module's weight.
    public static func weightName(_ m: LoRAAdapter.Module) -> String { m.path + ".weight" }

    /// W (dequantized to f32) + scale · B·A, row-major [out, in].
    public static func mergedWeight(_ w: [Float], module m: LoRAAdapter.Module, adapter: LoRAAdapter) -> [Float] {
        let d = adapter.delta(m)
        return zip(w, d).map { $0 + $1 }
    }

    /// Copies every tensor in `names` from `source`, the adapted projections merged (stored as `dtype`,
    /// nil: the source's dtype).
    public static func merged(source: WeightSource, names: [String], adapter: LoRAAdapter, dtype: DType? = nil) throws -> InMemoryWeights {
        let out = InMemoryWeights(name: source.sourceName + " + LoRA")
        let byName = Dictionary(uniqueKeysWithValues: adapter.modules.map { (weightName($0), $0) })
        for n in names {
            let t = try source.tensor(n)
            if let m = byName[n] {
                guard t.shape == [m.outFeatures, m.inFeatures] else {
                    throw SentioError(.model, file: source.sourceName, "tensor '\(n)' has shape \(t.shape), the adapter expects [\(m.outFeatures), \(m.inFeatures)]")
                }
                out.add(n, floats: mergedWeight(try source.floats(n), module: m, adapter: adapter), shape: t.shape, as: dtype ?? t.dtype)
            } else {
                out.add(n, dtype: t.dtype, shape: t.shape, bytes: t.bytes)
            }
        }
        return out
    }

    /// Writes a copy of the .sentio at `input` with the adapter merged into the language model's
    /// projections (config, metadata and embedded files carried over). Returns the merged tensor names.
    @discardableResult
    public static func mergeSentio(input: URL, adapter: LoRAAdapter, output: URL, dtype: DType? = nil) throws -> [String] {
        let file = try SentioFile.open(input)
        let byName = Dictionary(uniqueKeysWithValues: adapter.modules.map { (weightName($0), $0) })
        for name in byName.keys where !file.has(name) {
            throw SentioError(.model, file: input.path, "the adapter targets '\(name)', which this model does not have")
        }
        var meta = file.metadata
        meta["lora.merged"] = "r=\(adapter.config.r) alpha=\(adapter.config.alpha) rslora=\(adapter.config.useRSLoRA) modules=\(adapter.modules.count)"
        let writer = try SentioFileWriter(url: output, config: file.config, metadata: meta, files: file.files)
        var merged: [String] = []
        do {
            for e in file.entries {
                let t = try file.tensor(e.name)
                if let m = byName[e.name] {
                    guard t.shape == [m.outFeatures, m.inFeatures] else {
                        throw SentioError(.model, file: input.path, "tensor '\(e.name)' has shape \(t.shape), the adapter expects [\(m.outFeatures), \(m.inFeatures)]")
                    }
                    let dt = dtype ?? t.dtype
                    let w = mergedWeight(try file.floats(e.name), module: m, adapter: adapter)
                    try encodeFloats(w, as: dt, rowLength: QuantPolicy.rowLength(t.shape)).withUnsafeBytes { try writer.add(name: e.name, dtype: dt, shape: t.shape, data: $0) }
                    merged.append(e.name)
                } else {
                    try writer.add(name: e.name, dtype: t.dtype, shape: t.shape, data: t.bytes)
                }
            }
            try writer.finish()
        } catch {
            writer.abort()
            throw error
        }
        return merged
    }
}
