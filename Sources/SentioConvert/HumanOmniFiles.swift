// HumanOmniFiles: what an R1-Omni / HumanOmni checkpoint folder needs beside its model.safetensors.
//
// The reference keeps the towers' configs in separate folders: config.json names them in
// `mm_vision_tower` / `mm_audio_tower` (hub ids or paths), and the BERT folder is hard-coded
// (".../bert-base-uncased"). This resolver looks for those folders (the path as given, then relative to the
// checkpoint folder, then its last component inside the checkpoint folder or beside it); for BERT, a folder
// named bert* inside the checkpoint folder, or bert-base-uncased beside it. A missing folder means the real
// tower's preset (google/siglip-base-patch16-224, openai/whisper-large-v3, bert-base-uncased), said in a note.
// The .sentio file then embeds vision_config.json, audio_config.json, bert_config.json and the BERT
// WordPiece vocabulary bert_vocab.txt (the folder's vocab.txt, else the uncased vocabulary Sentio ships).
import Foundation
import SentioCore
import SentioModels

public enum HumanOmniFiles {
    /// The bert-base-uncased WordPiece vocabulary shipped with Sentio (30522 tokens).
    public static func bundledBertVocab() throws -> Data {
        guard let u = Bundle.module.url(forResource: "bert-uncased-vocab", withExtension: "txt") else {
            throw SentioError(.io, "the bundled bert-uncased vocabulary is missing from this build")
        }
        return try Data(contentsOf: u)
    }

    /// Tower configs and the BERT vocabulary for the checkpoint folder `dir`, plus notes on what was assumed.
    public static func resolve(dir: URL, configJSON: String) throws -> (files: [String: Data], notes: [String]) {
        let obj = (try? JSONSerialization.jsonObject(with: Data(configJSON.utf8))) as? [String: Any] ?? [:]
        var files: [String: Data] = [:], notes: [String] = []
        let fm = FileManager.default
        func hasConfig(_ u: URL) -> Bool { fm.fileExists(atPath: u.appendingPathComponent("config.json").path) }
        func find(_ key: String) -> URL? {
            guard let s = obj[key] as? String, !s.isEmpty else { return nil }
            var cands: [URL] = []
            if s.hasPrefix("/") { cands.append(URL(fileURLWithPath: s)) }
            cands.append(dir.appendingPathComponent(s))
            let last = URL(fileURLWithPath: s).lastPathComponent
            cands.append(dir.appendingPathComponent(last))
            cands.append(dir.deletingLastPathComponent().appendingPathComponent(last))
            return cands.first(where: hasConfig)
        }
        func encode<T: Encodable>(_ v: T) throws -> Data {
            let e = JSONEncoder(); e.outputFormatting = [.prettyPrinted, .sortedKeys]
            return try e.encode(v)
        }

        if let u = find("mm_vision_tower") {
            files[HumanOmniConfig.visionConfigFile] = try Data(contentsOf: u.appendingPathComponent("config.json"))
        } else {
            files[HumanOmniConfig.visionConfigFile] = try encode(SigLIPConfig.siglipBasePatch16_224)
            notes.append("vision tower folder '\(obj["mm_vision_tower"] as? String ?? "?")' not found: using google/siglip-base-patch16-224's config")
        }
        if let u = find("mm_audio_tower") {
            files[HumanOmniConfig.audioConfigFile] = try Data(contentsOf: u.appendingPathComponent("config.json"))
        } else {
            files[HumanOmniConfig.audioConfigFile] = try encode(WhisperEncoderConfig.whisperLargeV3)
            notes.append("audio tower folder '\(obj["mm_audio_tower"] as? String ?? "?")' not found: using openai/whisper-large-v3's config")
        }
        var bertDir: URL? = nil
        if let items = try? fm.contentsOfDirectory(at: dir, includingPropertiesForKeys: nil) {
            let berts = items.filter { $0.lastPathComponent.lowercased().hasPrefix("bert") && hasConfig($0) }
                .sorted { $0.lastPathComponent < $1.lastPathComponent }
            bertDir = berts.first { $0.lastPathComponent == "bert-base-uncased" } ?? berts.first
        }
        if bertDir == nil {
            let sibling = dir.deletingLastPathComponent().appendingPathComponent("bert-base-uncased")
            if hasConfig(sibling) { bertDir = sibling }
        }
        if let u = bertDir {
            files[HumanOmniConfig.bertConfigFile] = try Data(contentsOf: u.appendingPathComponent("config.json"))
        } else {
            files[HumanOmniConfig.bertConfigFile] = try encode(BertConfig.bertBaseUncased)
            notes.append("no bert* folder in the checkpoint folder (nor bert-base-uncased beside it): using bert-base-uncased's config")
        }
        if let u = bertDir, fm.fileExists(atPath: u.appendingPathComponent("vocab.txt").path) {
            files[HumanOmniConfig.bertVocabFile] = try Data(contentsOf: u.appendingPathComponent("vocab.txt"))
        } else {
            files[HumanOmniConfig.bertVocabFile] = try bundledBertVocab()
        }
        return (files, notes)
    }

    /// The model configuration from config.json and embedded tower files (absent ones: presets).
    public static func config(configJSON: String, files: [String: Data], source: String) throws -> HumanOmniConfig {
        try HumanOmniConfig.parse(configJSON: configJSON, files: files, source: source)
    }
}
