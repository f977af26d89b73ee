import ArgumentParser
import Foundation
import SentioCore
import SentioRuntime

struct Perplexity: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Perplexity of a text file (llama-perplexity's windows), with records to compare two runs (KL, top-1).")

    @OptionGroup var opts: ModelOptions
    @OptionGroup var text: TextWindowOptions
    @Option(help: "Write per-position records (target, top-K ids and log-probs) to this file") var dumpLogits: String?
    @Option(help: "Compare against records written by an earlier run (--dump-logits): KL and top-1 agreement") var klBase: String?
    @Option(help: "Top-K kept per position in records") var topK: Int = 32
    @Flag(help: "Output JSON") var json = false

    func run() throws {
        try runReportingErrors {
            let body = try text.readText()
            let lm = try opts.load()
            let ids = text.tokens(body, lm), ctx = text.ctx
            let base = try klBase.map { try SentioRuntime.Perplexity.read(URL(fileURLWithPath: $0)) }
            var bar: ProgressBar?
            let r = try SentioRuntime.Perplexity.run(lm, tokens: ids, ctx: ctx, topK: topK, base: base, kv: try opts.kvType(), pool: opts.pool(),
                                                     progress: { d, t in if bar == nil { bar = ProgressBar(total: t, label: "perplexity") }; bar?.update(d) })
            bar?.finish()
            if let out = dumpLogits { try SentioRuntime.Perplexity.write(r.records, to: URL(fileURLWithPath: out)) }
            if json {
                var o: [String: Any] = ["perplexity": r.perplexity, "mean_nll": r.meanNLL, "scored_positions": r.scored,
                                        "windows": r.windows, "ctx": ctx, "tokens": ids.count, "seconds": r.seconds,
                                        "top1_ids": r.records.map { Int($0.ids.first ?? -1) },
                                        "target_logprobs": r.records.map { Double($0.targetLogprob) }]
                if let kl = r.klToBase { o["kl_to_base"] = kl }
                if let a = r.top1AgreementWithBase { o["top1_agreement_with_base"] = a }
                printJSON(o)
            } else {
                print(String(format: "perplexity %.4f over %d positions (%d windows of %d), %.1f s", r.perplexity, r.scored, r.windows, ctx, r.seconds))
                if let kl = r.klToBase, let a = r.top1AgreementWithBase {
                    print(String(format: "vs base: KL %.6f nats/token, top-1 agreement %.2f%%", kl, 100 * a))
                }
            }
        }
    }
}
