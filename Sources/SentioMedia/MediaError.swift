// Errors of media decoding. Each names the file and says what is wrong; `reason` lets callers (the CLI's
// exit codes) tell the cases apart without parsing the message. `sentioError` gives the same error as the
// project-wide `SentioError(.media, ...)`.
import SentioCore

public struct MediaError: Error, CustomStringConvertible, Sendable {
    public enum Reason: String, Sendable {
        /// The path does not exist.
        case notFound
        /// The path exists but is not a regular file (a directory, a device...).
        case notAFile
        /// FFmpeg cannot open or parse the file (empty, truncated, not media at all).
        case unreadable
        /// The container holds no video stream.
        case noVideoStream
        /// The video stream exists but its frames could not be decoded or converted.
        case decodeFailed
    }

    public let reason: Reason
    public let file: String
    public let message: String

    public init(_ reason: Reason, file: String, _ message: String) {
        self.reason = reason
        self.file = file
        self.message = message
    }

    public var description: String { "\(file): \(message)" }

    /// The same error in the project's common error type (kind `.media`).
    public var sentioError: SentioError { SentioError(.media, file: file, message) }
}
