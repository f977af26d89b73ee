import ArgumentParser
import Foundation
import SentioCore
import SentioRuntime

struct Imatrix: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure an importance matrix (mean squared activation per input column of every matmul) over a calibration text, for `sentio convert --imatrix`.",
        discussion: """
        Runs the language model over the text in windows of --ctx tokens, as `sentio perplexity` does (and prints \
        its perplexity), and writes for each weight matrix the mean of x^2 per input column over every position. \
        Use a model as close to the original weights as you have (f32, f16 or q8) and text like what the model \
        will see; keep it apart from any text you evaluate on. The file is safetensors, keyed by weight name.
        """)

    @OptionGroup var opts: ModelOptions
    @OptionGroup var text: TextWindowOptions
    @Option(name: .shortAndLong, help: "Output importance matrix (.safetensors)") var output: String
    @Flag(help: "Output JSON") var json = false

    func run() throws {
        try runReportingErrors {
            let calibration = try text.readText()
            let lm = try opts.load()
            let ids = text.tokens(calibration, lm), ctx = text.ctx
            let collector = ImportanceCollector(config: lm.config)
            var bar: ProgressBar?
            let r = try SentioRuntime.Perplexity.run(lm, tokens: ids, ctx: ctx, topK: 1, kv: try opts.kvType(), importance: collector, pool: opts.pool(),
                                                     progress: { d, t in if bar == nil { bar = ProgressBar(total: t, label: "imatrix") }; bar?.update(d) })
            bar?.finish()
            let info = ["sentio.imatrix.tokens": String(collector.positions), "sentio.imatrix.windows": String(r.windows),
                        "sentio.imatrix.ctx": String(ctx), "sentio.imatrix.text": URL(fileURLWithPath: text.file).lastPathComponent,
                        "sentio.imatrix.model": URL(fileURLWithPath: opts.model).lastPathComponent]
            let m = collector.matrix(untiedHead: !lm.config.tieWordEmbeddings, info: info)
            try m.write(to: URL(fileURLWithPath: output))
            if json {
                printJSON(["output": output, "entries": m.columns.count, "positions": collector.positions, "windows": r.windows,
                           "perplexity": r.perplexity, "seconds": r.seconds])
            } else {
                print(String(format: "wrote %@: %d matrices, %d positions (%d windows of %d); perplexity %.4f, %.1f s",
                             output, m.columns.count, collector.positions, r.windows, ctx, r.perplexity, r.seconds))
            }
        }
    }
}
