// Shared command-line plumbing: errors as one line + exit code, JSON output, progress bars.
import ArgumentParser
import Foundation
import SentioCore

/// Exit codes shared by every subcommand.
enum ExitCodes {
    static let usage: Int32 = 2
    static let notFound: Int32 = 3
    static let badInput: Int32 = 4      // unreadable / corrupt file
    static let unsupported: Int32 = 5
    static let modelLoad: Int32 = 6
    static let noVideo: Int32 = 7
    static let internalError: Int32 = 10
}

/// Runs `body`, turning errors into a one-line message on stderr and a distinct exit code.
func runReportingErrors(_ body: () throws -> Void) throws {
    do { try body() } catch let e as SentioError {
        FileHandle.standardError.write(Data("sentio: error: \(e.description)\n".utf8))
        switch e.kind {
        case .io: throw ExitCode(ExitCodes.notFound)
        case .format, .corrupt, .data, .tokenizer, .shape: throw ExitCode(ExitCodes.badInput)
        case .unsupported: throw ExitCode(ExitCodes.unsupported)
        case .model: throw ExitCode(ExitCodes.modelLoad)
        case .media: throw ExitCode(ExitCodes.badInput)
        case .argument: throw ExitCode(ExitCodes.usage)
        }
    }
}

func printJSON(_ obj: Any) {
    if let d = try? JSONSerialization.data(withJSONObject: obj, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]) {
        FileHandle.standardOutput.write(d)
        FileHandle.standardOutput.write(Data("\n".utf8))
    }
}

func stderr(_ s: String) { FileHandle.standardError.write(Data(s.utf8)) }

/// A one-line progress bar on stderr (only when stderr is a terminal).
struct ProgressBar {
    let total: Int
    let label: String
    let start = Date()
    let enabled = isatty(2) != 0

    func update(_ done: Int, _ note: String = "") {
        guard enabled, total > 0 else { return }
        let frac = Double(done) / Double(total)
        let width = 30
        let filled = Int(frac * Double(width))
        let elapsed = Date().timeIntervalSince(start)
        let eta = frac > 0 ? elapsed / frac - elapsed : 0
        let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
        let n = note.count > 40 ? "..." + note.suffix(37) : note
        stderr("\r\(label) [\(bar)] \(done)/\(total) \(String(format: "%.0fs eta %.0fs", elapsed, eta)) \(n)\u{1B}[K")
    }

    func finish() { if enabled { stderr("\n") } }
}

func formatBytes(_ n: Int) -> String {
    let d = Double(n)
    if d >= 1073741824 { return String(format: "%.2f GiB", d / 1073741824) }
    if d >= 1048576 { return String(format: "%.1f MiB", d / 1048576) }
    if d >= 1024 { return String(format: "%.1f KiB", d / 1024) }
    return "\(n) B"
}

func formatCount(_ n: Int) -> String {
    let d = Double(n)
    if d >= 1e9 { return String(format: "%.2f B", d / 1e9) }
    if d >= 1e6 { return String(format: "%.1f M", d / 1e6) }
    if d >= 1e3 { return String(format: "%.1f K", d / 1e3) }
    return "\(n)"
}

func pad(_ s: String, _ n: Int, left: Bool = false) -> String {
    let fill = String(repeating: " ", count: max(0, n - s.count))
    return left ? fill + s : s + fill
}
