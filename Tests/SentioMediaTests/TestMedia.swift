// Test media made on the fly with the ffmpeg command-line tool (installed with the FFmpeg libraries).
import Foundation
import XCTest

enum TestMedia {
    /// Runs ffmpeg with `args` (quiet, overwrite); returns stdout. Fails the test on a non-zero exit.
    @discardableResult
    static func ffmpeg(_ args: [String], file: StaticString = #filePath, line: UInt = #line) throws -> Data {
        try run(["ffmpeg", "-v", "error", "-nostdin", "-y"] + args, file: file, line: line)
    }

    /// Runs ffprobe quietly; returns stdout.
    static func ffprobe(_ args: [String], file: StaticString = #filePath, line: UInt = #line) throws -> Data {
        try run(["ffprobe", "-v", "error"] + args, file: file, line: line)
    }

    static func run(_ args: [String], file: StaticString, line: UInt) throws -> Data {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = args
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        // Read before waiting so a large stdout cannot block the child.
        let data = out.fileHandleForReading.readDataToEndOfFile()
        let errData = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        if p.terminationStatus != 0 {
            XCTFail("\(args.joined(separator: " ")) failed: \(String(decoding: errData, as: UTF8.self))", file: file, line: line)
            throw CocoaError(.fileWriteUnknown)
        }
        return data
    }

    /// Float32 little-endian samples from raw bytes.
    static func floats(_ d: Data) -> [Float] {
        d.withUnsafeBytes { raw in
            (0..<(raw.count / 4)).map { Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * $0, as: UInt32.self))) }
        }
    }
}
