// Errors that name the file (or object) and the problem, for every parser and loader.

public struct SentioError: Error, CustomStringConvertible, Sendable {
    public enum Kind: String, Sendable {
        case io, format, unsupported, corrupt, shape, argument, model, media, tokenizer, data
    }
    public let kind: Kind
    public let file: String?
    public let message: String

    public init(_ kind: Kind, file: String? = nil, _ message: String) {
        self.kind = kind
        self.file = file
        self.message = message
    }

    public var description: String {
        if let file { return "\(file): \(message)" }
        return message
    }
}
