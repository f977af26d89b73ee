// `sentio eval`: WAR / UAR / per-class recall / confusion matrix of an R1-Omni model over a dataset, with
// per-clip results appended (fsync'd) to a JSONL file as the run goes, --resume, --shard K/N and
// `sentio eval merge`. The metric and file logic lives in SentioRuntime/Eval; this file wires it to the CLI.
import ArgumentParser
import Foundation
import SentioCore
import SentioKernels
import SentioModels
import SentioRuntime

struct Eval: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Evaluate an R1-Omni model on a dataset (WAR, UAR, per-class recall, confusion matrix).",
        subcommands: [EvalRun.self, EvalMerge.self], defaultSubcommand: EvalRun.self)
}

struct EvalRun: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run the model over a dataset (R1-Omni JSON or CSV path,label) and write results + report to --out.",
        discussion: """
        Writes DIR/results.jsonl (one line per clip, fsync'd; results-shard-K-of-N.jsonl with --shard), then
        DIR/report.json, DIR/report.md and DIR/confusion.svg. A killed run continues with --resume, skipping the
        clips already in the results file. --shard K/N (0 <= K < N) runs clips i with i mod N == K; combine the
        shards' folders with `sentio eval merge`.
        """)

    @Option(name: .shortAndLong, help: "R1-Omni model (.sentio)") var model: String
    @Argument(help: "Dataset: R1-Omni JSON (video + conversations) or CSV with a header (path,label)") var dataset: String
    @Option(help: "Output folder") var out: String = "eval-out"
    @Flag(help: "Continue an interrupted run in --out") var resume = false
    @Option(help: "Run one slice K/N of the dataset (0-based K)") var shard: String?
    @Option(name: .shortAndLong, help: "Threads (default: all cores)") var threads: Int?
    @OptionGroup var load: RecognizerLoadOptions
    @Option(help: "Maximum new tokens per clip") var maxTokens: Int = 2048
    @Option(help: "Prompt layout: inference or training") var promptMode: String = "inference"
    @Option(help: "Instruction (default: R1-Omni's)") var instruction: String?
    @Option(help: "Stop after this many clips of this run (for trying a large dataset)") var limit: Int?
    @Option(help: ArgumentHelp("Clips decoded together (multi-clip serving)",
                               discussion: "Each clip is encoded and prefilled on its own; the group's completions are then generated in one batched decode (each weight read serves every clip). Under greedy decoding the answers equal those of --batch 1."))
    var batch: Int = 1

    func run() throws {
        try runReportingErrors {
            guard let mode = PromptMode(rawValue: promptMode) else { throw SentioError(.argument, "--prompt-mode must be inference or training") }
            guard maxTokens > 0 else { throw SentioError(.argument, "--max-tokens must be positive") }
            let sh = try shard.map(EvalRunner.parseShard)
            let dsURL = URL(fileURLWithPath: dataset)
            let ds = try EmotionDataset(contentsOf: dsURL)
            for w in ds.warnings { stderr("sentio: warning: \(dataset): \(w)\n") }
            var samples = sh.map { ds.shard($0.k, of: $0.n) } ?? ds.samples
            let murl = URL(fileURLWithPath: model)
            let rec = try openRecognizer(murl, threads: threads, load: load)
            let meta = EvalMeta(model: murl.path, modelChecksum: (try? ModelIdentity.checksum(of: murl)) ?? "", dataset: dsURL.path,
                                datasetSize: ds.samples.count, shard: sh.map { "\($0.k)/\($0.n)" }, promptMode: mode.rawValue,
                                maxTokens: maxTokens)
            let outDir = URL(fileURLWithPath: out)
            do { try FileManager.default.createDirectory(at: outDir, withIntermediateDirectories: true) } catch {
                throw SentioError(.io, file: outDir.path, "cannot create the output folder: \(error.localizedDescription)")
            }
            let writer = try EvalResultsWriter(url: outDir.appendingPathComponent(EvalRunner.resultsFileName(shard: sh)), meta: meta, resume: resume)
            if writer.droppedTornLine { stderr("sentio: note: the interrupted run's last, half-written line was dropped\n") }
            let doneIDs = Set(writer.previous.map(\.id))
            if let limit {
                let pending = samples.filter { !doneIDs.contains($0.id) }.prefix(max(0, limit)).map(\.id)
                let keep = doneIDs.union(pending)
                samples = samples.filter { keep.contains($0.id) }
            }
            let todo = samples.filter { !doneIDs.contains($0.id) }.count
            stderr("sentio eval: \(samples.count) clips\(sh.map { " (shard \($0.k)/\($0.n) of \(ds.samples.count))" } ?? ""), \(samples.count - todo) already done, \(todo) to run\n")
            let progress = EvalProgress(total: todo)
            let known = Set(ds.samples.map(\.label))
            let instr = instruction ?? OmniModel.defaultInstruction
            guard batch >= 1 else { throw SentioError(.argument, "--batch must be at least 1") }
            let records = try EvalRunner.run(samples: samples, writer: writer, knownLabels: known, batchSize: batch, predictBatch: { group in
                rec.recognizeBatch(clips: group.map { URL(fileURLWithPath: $0.videoPath) }, instruction: instr, mode: mode, maxTokens: maxTokens)
                    .map { res in res.map { r, warnings in
                        EvalPrediction(output: r.text, answer: r.answer, generatedTokens: r.generatedTokens.count, warnings: warnings)
                    } }
            }, progress: { i, n, r in progress.update(i, r) })
            progress.finish()
            var warnings = ds.warnings
            if records.count < ds.samples.count {
                warnings.append("\(ds.samples.count - records.count) of \(ds.samples.count) clips not in this run (shard or --limit): merge the other runs for the full report")
            }
            let report = EvalReport(meta: meta, records: records, warnings: warnings)
            try report.write(to: outDir)
            printSummary(report, outDir)
        }
    }
}

struct EvalMerge: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "merge",
        abstract: "Combine the results of several eval runs (e.g. shards on several machines) into one report.")

    @Argument(help: "Output folders (or results .jsonl files) of `sentio eval` runs") var inputs: [String]
    @Option(help: "Folder for the merged results.jsonl and report") var out: String

    func run() throws {
        try runReportingErrors {
            let (meta, records, warnings) = try EvalRunner.merge(inputs.map { URL(fileURLWithPath: $0) })
            for w in warnings { stderr("sentio: warning: \(w)\n") }
            let outDir = URL(fileURLWithPath: out)
            do { try FileManager.default.createDirectory(at: outDir, withIntermediateDirectories: true) } catch {
                throw SentioError(.io, file: outDir.path, "cannot create the output folder: \(error.localizedDescription)")
            }
            // The merged records, as one results file (header first), so the merge can itself be merged or inspected.
            var data = try EvalResultsFile.line(meta)
            for r in records { data += try EvalResultsFile.line(r) }
            let res = outDir.appendingPathComponent(EvalRunner.resultsName)
            if inputs.map({ URL(fileURLWithPath: $0).standardizedFileURL.path }).contains(outDir.standardizedFileURL.path) {
                throw SentioError(.argument, file: outDir.path, "--out must differ from the merged folders")
            }
            do { try data.write(to: res, options: .atomic) } catch {
                throw SentioError(.io, file: res.path, "cannot write: \(error.localizedDescription)")
            }
            let report = EvalReport(meta: meta, records: records, warnings: warnings)
            try report.write(to: outDir)
            printSummary(report, outDir)
        }
    }
}

private func printSummary(_ r: EvalReport, _ dir: URL) {
    let m = r.metrics
    print(String(format: "WAR %.2f%%  UAR %.2f%%  (%d clips, %d correct, %d without a label, %d failed)",
                 m.war * 100, m.uar * 100, m.total, m.correct, m.unlabeled, m.failed))
    for c in m.perClass {
        print("  \(pad(c.label, 14)) recall \(String(format: "%6.2f%%", c.recall * 100))  (\(c.correct)/\(c.support))")
    }
    print("report: \(dir.appendingPathComponent("report.md").path), \(dir.appendingPathComponent("report.json").path), \(dir.appendingPathComponent("confusion.svg").path)")
}

/// Progress on stderr: a bar redrawn in place on a terminal, one plain line per clip otherwise. The ETA uses the
/// mean time of the clips run so far in this run.
final class EvalProgress {
    let total: Int
    let start = Date()
    let tty = isatty(2) != 0
    var correct = 0

    init(total: Int) { self.total = total }

    func update(_ done: Int, _ r: EvalRecord) {
        if r.correct { correct += 1 }
        let elapsed = Date().timeIntervalSince(start)
        let eta = done > 0 ? elapsed / Double(done) * Double(total - done) : 0
        let acc = String(format: "%.1f%%", 100 * Double(correct) / Double(max(1, done)))
        let what = "\(r.label) -> \(r.prediction ?? (r.error != nil ? "error" : "(none)"))"
        if tty {
            let width = 30, filled = total > 0 ? done * width / total : width
            let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
            stderr("\r[\(bar)] \(done)/\(total) acc \(acc) \(formatDuration(elapsed)) eta \(formatDuration(eta)) \(what)\u{1B}[K")
        } else {
            stderr("[\(done)/\(total)] \(r.id): \(what) (\(String(format: "%.1f", r.seconds)) s) acc \(acc) elapsed \(formatDuration(elapsed)) eta \(formatDuration(eta))\(r.error.map { " error: \($0)" } ?? "")\n")
        }
    }

    func finish() { if tty && total > 0 { stderr("\n") } }
}

func formatDuration(_ s: Double) -> String {
    guard s.isFinite, s >= 0 else { return "?" }
    let t = Int(s.rounded())
    if t >= 3600 { return String(format: "%dh%02dm", t / 3600, (t % 3600) / 60) }
    if t >= 60 { return String(format: "%dm%02ds", t / 60, t % 60) }
    return "\(t)s"
}
