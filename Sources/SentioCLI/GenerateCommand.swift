import ArgumentParser
import Foundation
import SentioCore
import SentioTokenizers
import SentioRuntime
import SentioTrainer

struct Generate: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Generate text with the language model (streams to stdout).")

    @OptionGroup var opts: ModelOptions
    @Option(name: .shortAndLong, help: "Prompt text") var prompt: String?
    @Option(help: "Read the prompt from a file") var promptFile: String?
    @Flag(help: "Wrap the prompt in the ChatML chat template (user turn + assistant prompt)") var chat = false
    @Option(help: "System prompt for --chat (default: the Qwen2 default)") var system: String?
    @Option(name: [.customShort("n"), .long], help: "Maximum new tokens") var maxTokens: Int = 128
    @Option(help: "Temperature (0 = greedy)") var temperature: Float = 0
    @Option(help: "Top-k (0 = off)") var topK: Int = 0
    @Option(help: "Top-p (1 = off)") var topP: Float = 1
    @Option(help: "Repetition penalty (1 = off)") var repeatPenalty: Float = 1
    @Option(help: "Random seed") var seed: UInt64 = 0
    @Option(help: "Stop string (repeatable)") var stop: [String] = []
    @Flag(help: "Print one JSON object (ids, text, timings) instead of streaming") var json = false
    @Option(help: "LoRA adapter folder (PEFT layout) applied to the projections without merging") var lora: String?

    func run() throws {
        try runReportingErrors {
            var text: String
            if let p = prompt { text = p }
            else if let f = promptFile {
                guard let t = try? String(contentsOfFile: f, encoding: .utf8) else { throw SentioError(.io, file: f, "cannot read prompt file") }
                text = t
            } else { throw SentioError(.argument, "give --prompt or --prompt-file") }
            let lm = try opts.load()
            if let lora { lm.model.linearHook = try loadAdapter(lora, for: lm.config) }
            let tok = lm.tokenizer
            if chat {
                var msgs: [ChatMessage] = []
                if let s = system { msgs.append(.system(s)) }
                msgs.append(.user(text))
                text = ChatMLTemplate.render(msgs, addGenerationPrompt: true)
            }
            let ids = tok.encode(text, allowSpecial: true)
            var stops = Set<Int32>()
            if let e = lm.config.eosTokenId { stops.insert(Int32(e)) }
            for s in ["<|im_end|>", "<|endoftext|>"] { if let i = tok.id(for: s) { stops.insert(i) } }
            var o = GenerationOptions(maxTokens: maxTokens,
                                      sampling: SamplingOptions(temperature: temperature, topK: topK, topP: topP,
                                                                repetitionPenalty: repeatPenalty, seed: seed),
                                      stopTokens: stops, stopStrings: stop)
            o.kvDType = try opts.kvType()
            let gen = Generator(lm, pool: opts.pool())
            let r = try gen.generate(prompt: ids, options: o, onText: json ? nil : { s in
                FileHandle.standardOutput.write(Data(s.utf8))
            })
            if json {
                printJSON(["prompt_token_ids": r.promptTokens.map(Int.init), "generated_token_ids": r.generatedTokens.map(Int.init),
                           "text": r.text, "stop_reason": r.stopReason.rawValue,
                           "timings": ["load_s": lm.loadSeconds, "tokenizer_load_s": lm.tokenizerSeconds, "prefill_s": r.prefillSeconds, "decode_s": r.decodeSeconds,
                                       "prefill_tokens_per_s": r.prefillTokensPerSecond, "decode_tokens_per_s": r.decodeTokensPerSecond]])
            } else {
                print("")
                stderr(String(format: "[prompt %d tokens, %.1f t/s | generated %d tokens, %.1f t/s | %@]\n",
                              r.promptTokens.count, r.prefillTokensPerSecond, r.generatedTokens.count, r.decodeTokensPerSecond,
                              r.stopReason.rawValue as NSString))
            }
        }
    }
}
