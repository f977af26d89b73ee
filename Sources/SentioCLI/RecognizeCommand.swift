import ArgumentParser
import Foundation
import SentioCore
import SentioFormat
import SentioKernels
import SentioMedia
import SentioModels
import SentioRuntime
import SentioTrainer

struct Recognize: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Recognize the emotion in video clips with R1-Omni: streams the reasoning and the answer.")

    @Option(name: .shortAndLong, help: "R1-Omni model (.sentio, from `sentio convert <R1-Omni folder>`)") var model: String
    @Argument(help: "Video files (any container and codec FFmpeg reads)") var clips: [String]
    @Flag(help: "One JSON object per clip instead of streamed text") var json = false
    @Option(name: .shortAndLong, help: "Threads (default: all cores)") var threads: Int?
    @OptionGroup var load: RecognizerLoadOptions
    @Option(help: "Maximum new tokens") var maxTokens: Int = 2048
    @Option(help: "Prompt layout: inference (R1-Omni's inference.py) or training (the GRPO prompt, frames padded to square)")
    var promptMode: String = "inference"
    @Option(help: "Instruction (default: R1-Omni's)") var instruction: String?
    @Option(help: "LoRA adapter folder (PEFT layout, e.g. a `sentio train` checkpoint's adapter/) applied to the language model without merging")
    var lora: String?
    @Flag(help: ArgumentHelp("Also run each clip with silent audio and with blanked (black) frames; report each variant's answer and the probability of the original answer",
                             discussion: "Blanked frames: the sampled frames replaced by black (RGB 0) frames of the same size, through the same preprocessing. Silent audio: zeros of the clip's length. The probability is the teacher-forced probability of the original answer's tokens (label + </answer>) under each variant's inputs, without repetition penalty."))
    var explain = false

    func run() throws {
        try runReportingErrors {
            guard let mode = PromptMode(rawValue: promptMode) else { throw SentioError(.argument, "--prompt-mode must be inference or training") }
            let url = URL(fileURLWithPath: model)
            let rec = try openRecognizer(url, threads: threads, load: load)
            if let lora { rec.model.llm.linearHook = try loadAdapter(lora, for: rec.config.llm) }
            let checksum = (try? ModelIdentity.checksum(of: url)) ?? ""
            var failed: Int32 = 0
            for clip in clips {
                do {
                    if !json { print("== \(clip)"); fflush(nil) }
                    let onText: ((String) -> Void)? = json ? nil : { FileHandle.standardOutput.write(Data($0.utf8)) }
                    let clipURL = URL(fileURLWithPath: clip), instr = instruction ?? OmniModel.defaultInstruction
                    let r: OmniResult, warnings: [String], ex: ModalityExplanation?
                    if explain {
                        // The plain result is the explanation's original variant: one run of the clip's own inputs.
                        (r, warnings, ex) = try rec.recognizeExplained(clip: clipURL, instruction: instr, mode: mode, maxTokens: maxTokens, onText: onText)
                    } else {
                        (r, warnings) = try rec.recognize(clip: clipURL, instruction: instr, mode: mode, maxTokens: maxTokens, onText: onText)
                        ex = nil
                    }
                    for w in warnings { stderr("sentio: warning: \(clip): \(w)\n") }
                    let label = EmotionLabels.label(for: r.answer)
                    if json {
                        let t = r.timings
                        var obj: [String: Any] = ["file": clip, "output": r.text, "think": r.think as Any, "answer": r.answer as Any,
                                   "label": label as Any,
                                   "gate": ["video": r.gate[0], "body": r.gate[1], "face": r.gate[2]],
                                   "generated_token_ids": r.generatedTokens.map(Int.init),
                                   "prompt_tokens": r.promptIDs.count, "sequence_length": r.sequenceLength,
                                   "generated_tokens": r.generatedTokens.count, "stopped_at_eos": r.stoppedAtEOS,
                                   "timings": ["decode_preprocess_s": t.preprocess, "siglip_s": t.siglip,
                                               "projector_bert_gate_s": t.projectorBertGate, "mel_s": t.mel,
                                               "whisper_s": t.whisper, "audio_projector_s": t.audioProjector,
                                               "assemble_s": t.assemble, "prefill_s": t.prefill, "decode_s": t.decode,
                                               "time_to_first_token_s": t.timeToFirstToken, "total_s": t.total],
                                   "model": url.path, "model_checksum": checksum, "prompt_mode": mode.rawValue,
                                   "warnings": warnings]
                        if let ex { obj["explain"] = explainJSON(ex) }
                        printJSON(obj)
                    } else {
                        print("")
                        print("answer: \(r.answer ?? "(none)")\(label.map { "  [label: \($0)]" } ?? "")  gate video/body/face: " +
                              r.gate.map { String(format: "%.3f", $0) }.joined(separator: "/"))
                        stderr(String(format: "[time to first token %.2f s: siglip %.2f, projector+bert+gate %.2f, whisper %.2f, prefill %.2f | decode %d tokens in %.2f s]\n",
                                      r.timings.timeToFirstToken, r.timings.siglip, r.timings.projectorBertGate, r.timings.whisper,
                                      r.timings.prefill, r.generatedTokens.count, r.timings.decode))
                        if let ex { print(explainText(ex)) }
                    }
                } catch let e as MediaError {
                    stderr("sentio: error: \(e.description)\n")
                    failed = e.reason == .notFound ? ExitCodes.notFound : (e.reason == .noVideoStream ? ExitCodes.noVideo : ExitCodes.badInput)
                }
            }
            if failed != 0 { throw ExitCode(failed) }
        }
    }
}

/// The `explain` JSON object: the scored span and one entry per variant.
func explainJSON(_ ex: ModalityExplanation) -> [String: Any] {
    ["span": ["text": ex.spanText, "start_token": ex.spanStart, "end_token": ex.spanEnd],
     "blank_frames": "black RGB frames of the clip's size through the same preprocessing",
     "silent_audio": "zeros of the clip's length",
     "seconds": ex.seconds,
     "variants": ex.variants.map { v -> [String: Any] in
        ["name": v.name, "output": v.output, "answer": v.answer as Any, "label": v.label as Any,
         "generated_token_ids": v.generatedTokenIDs.map(Int.init), "answer_logprob": v.answerLogProb,
         "answer_probability": v.answerProbability, "delta_logprob": v.deltaLogProb, "answer_changed": v.answerChanged]
     }]
}

/// Plain-text summary of an explanation, one line per variant.
func explainText(_ ex: ModalityExplanation) -> String {
    let span = ex.spanText.replacingOccurrences(of: "\n", with: " ")
    var s = "explain: probability of the original answer span \"\(span.count > 40 ? String(span.prefix(37)) + "..." : span)\" (\(ex.spanEnd - ex.spanStart) tokens)\n"
    let names = ["original": "as is", "silent_audio": "silent audio", "blank_frames": "blank frames"]
    for v in ex.variants {
        var line = "  \(pad(names[v.name] ?? v.name, 13)) answer \(pad(v.label ?? v.answer ?? "(none)", 12)) "
        line += String(format: "p %.4g  log p %.3f", v.answerProbability, v.answerLogProb)
        if v.name != "original" {
            line += String(format: "  change %+.3f", v.deltaLogProb) + (v.answerChanged ? "  (answer changed)" : "")
        }
        s += line + "\n"
    }
    return s
}
