// Runs the built `sentio` executable (it sits beside the test bundle in .build/<config>/).
import Foundation

public struct CLIResult {
    public let status: Int32
    public let stdout: String
    public let stderr: String
    public var json: Any? { try? JSONSerialization.jsonObject(with: Data(stdout.utf8)) }
}

public enum CLI {
    public static var binary: URL {
        URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("sentio")
    }

    /// Runs `sentio args...` to completion.
    public static func run(_ args: [String]) throws -> CLIResult {
        let p = try start(args)
        let out = Pipe(), err = Pipe()
        _ = out; _ = err
        p.process.waitUntilExit()
        let o = p.stdout.fileHandleForReading.readDataToEndOfFile()
        let e = p.stderr.fileHandleForReading.readDataToEndOfFile()
        return CLIResult(status: p.process.terminationStatus, stdout: String(decoding: o, as: UTF8.self),
                         stderr: String(decoding: e, as: UTF8.self))
    }

    public struct Running {
        public let process: Process
        public let stdout: Pipe
        public let stderr: Pipe
    }

    /// Starts `sentio args...` without waiting (for kill tests). Output goes to files to avoid pipe stalls.
    public static func start(_ args: [String]) throws -> Running {
        let p = Process()
        p.executableURL = binary
        p.arguments = args
        let o = Pipe(), e = Pipe()
        p.standardOutput = o
        p.standardError = e
        try p.run()
        return Running(process: p, stdout: o, stderr: e)
    }
}
