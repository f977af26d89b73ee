// A small JSON reader for tokenizer files.
//
// tokenizer.json is ~11 MB with ~300k strings; Foundation's JSONSerialization builds NSObjects for each and
// JSONDecoder adds Codable overhead. This scanner works on the raw UTF-8 bytes and builds a plain enum:
// objects keep their keys in file order as an array of pairs (no hashing on load; callers look keys up by
// linear search in small objects and iterate the big ones). Bad input throws SentioError(.format) with the
// byte offset; nesting deeper than `maxDepth` is rejected rather than overflowing the stack.
import Foundation
import SentioCore

public enum JSONValue: Sendable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([(key: String, value: JSONValue)])

    public subscript(key: String) -> JSONValue? {
        guard case .object(let pairs) = self else { return nil }
        return pairs.first(where: { $0.key == key })?.value
    }
    public var string: String? { if case .string(let s) = self { return s }; return nil }
    public var array: [JSONValue]? { if case .array(let a) = self { return a }; return nil }
    public var pairs: [(key: String, value: JSONValue)]? { if case .object(let p) = self { return p }; return nil }
    public var bool: Bool? { if case .bool(let b) = self { return b }; return nil }
    /// The number as an exact integer, nil when it is not one (fractional, out of Int range).
    public var int: Int? {
        guard case .number(let d) = self, d.rounded() == d, abs(d) < 9.0e15 else { return nil }
        return Int(d)
    }
    public var isNull: Bool { if case .null = self { return true }; return false }
}

public enum JSONScanner {
    public static let maxDepth = 256

    public static func parse(contentsOf url: URL) throws -> JSONValue {
        let data: Data
        do { data = try Data(contentsOf: url, options: .alwaysMapped) } catch {
            throw SentioError(.io, file: url.path, "cannot read: \(error.localizedDescription)")
        }
        return try parse(data, name: url.path)
    }

    public static func parse(_ data: Data, name: String = "<json>") throws -> JSONValue {
        try data.withUnsafeBytes { raw in
            var p = Parser(bytes: raw.bindMemory(to: UInt8.self), name: name)
            p.skipSpace()
            let v = try p.value(depth: 0)
            p.skipSpace()
            guard p.pos == p.bytes.count else { throw p.fail("trailing characters after the JSON value") }
            return v
        }
    }

    struct Parser {
        let bytes: UnsafeBufferPointer<UInt8>
        let name: String
        var pos = 0
        var scratch: [UInt8] = []

        init(bytes: UnsafeBufferPointer<UInt8>, name: String) { self.bytes = bytes; self.name = name }

        func fail(_ msg: String) -> SentioError { SentioError(.format, file: name, "JSON: \(msg) at byte \(pos)") }

        mutating func skipSpace() {
            while pos < bytes.count {
                switch bytes[pos] { case 0x20, 0x09, 0x0A, 0x0D: pos += 1; default: return }
            }
        }

        mutating func expect(_ literal: StaticString, _ v: JSONValue) throws -> JSONValue {
            let n = literal.utf8CodeUnitCount
            guard pos + n <= bytes.count else { throw fail("truncated literal") }
            let lit = UnsafeBufferPointer(start: literal.utf8Start, count: n)
            for i in 0..<n where bytes[pos + i] != lit[i] { throw fail("bad literal") }
            pos += n
            return v
        }

        mutating func value(depth: Int) throws -> JSONValue {
            guard depth < JSONScanner.maxDepth else { throw fail("nesting deeper than \(JSONScanner.maxDepth)") }
            guard pos < bytes.count else { throw fail("unexpected end of input") }
            switch bytes[pos] {
            case UInt8(ascii: "{"):
                pos += 1
                var pairs: [(key: String, value: JSONValue)] = []
                skipSpace()
                if pos < bytes.count, bytes[pos] == UInt8(ascii: "}") { pos += 1; return .object(pairs) }
                while true {
                    skipSpace()
                    guard pos < bytes.count, bytes[pos] == UInt8(ascii: "\"") else { throw fail("expected an object key") }
                    let k = try string()
                    skipSpace()
                    guard pos < bytes.count, bytes[pos] == UInt8(ascii: ":") else { throw fail("expected ':'") }
                    pos += 1
                    skipSpace()
                    pairs.append((k, try value(depth: depth + 1)))
                    skipSpace()
                    guard pos < bytes.count else { throw fail("unterminated object") }
                    if bytes[pos] == UInt8(ascii: ",") { pos += 1; continue }
                    if bytes[pos] == UInt8(ascii: "}") { pos += 1; return .object(pairs) }
                    throw fail("expected ',' or '}'")
                }
            case UInt8(ascii: "["):
                pos += 1
                var items: [JSONValue] = []
                skipSpace()
                if pos < bytes.count, bytes[pos] == UInt8(ascii: "]") { pos += 1; return .array(items) }
                while true {
                    skipSpace()
                    items.append(try value(depth: depth + 1))
                    skipSpace()
                    guard pos < bytes.count else { throw fail("unterminated array") }
                    if bytes[pos] == UInt8(ascii: ",") { pos += 1; continue }
                    if bytes[pos] == UInt8(ascii: "]") { pos += 1; return .array(items) }
                    throw fail("expected ',' or ']'")
                }
            case UInt8(ascii: "\""): return .string(try string())
            case UInt8(ascii: "t"): return try expect("true", .bool(true))
            case UInt8(ascii: "f"): return try expect("false", .bool(false))
            case UInt8(ascii: "n"): return try expect("null", .null)
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number(try number())
            default: throw fail("unexpected character")
            }
        }

        mutating func number() throws -> Double {
            let start = pos
            var isInt = true
            var neg = false
            if bytes[pos] == UInt8(ascii: "-") { neg = true; pos += 1 }
            var mag: UInt64 = 0
            var digits = 0
            while pos < bytes.count, bytes[pos] >= 0x30, bytes[pos] <= 0x39 {
                if digits < 18 { mag = mag * 10 + UInt64(bytes[pos] - 0x30) } else { isInt = false }
                digits += 1; pos += 1
            }
            guard digits > 0 else { throw fail("bad number") }
            while pos < bytes.count {
                let c = bytes[pos]
                if (c >= 0x30 && c <= 0x39) || c == UInt8(ascii: ".") || c == UInt8(ascii: "e") || c == UInt8(ascii: "E")
                    || c == UInt8(ascii: "+") || c == UInt8(ascii: "-") { isInt = false; pos += 1 } else { break }
            }
            if isInt { return neg ? -Double(mag) : Double(mag) }
            let text = String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<pos]), as: UTF8.self)
            guard let d = Double(text) else { throw fail("bad number '\(text)'") }
            return d
        }

        mutating func hex4() throws -> UInt32 {
            guard pos + 4 <= bytes.count else { throw fail("truncated \\u escape") }
            var v: UInt32 = 0
            for _ in 0..<4 {
                let c = bytes[pos]
                let d: UInt32
                switch c {
                case 0x30...0x39: d = UInt32(c - 0x30)
                case 0x41...0x46: d = UInt32(c - 0x41 + 10)
                case 0x61...0x66: d = UInt32(c - 0x61 + 10)
                default: throw fail("bad hex digit in \\u escape")
                }
                v = v << 4 | d
                pos += 1
            }
            return v
        }

        /// Parses a string starting at the opening quote.
        mutating func string() throws -> String {
            pos += 1
            let start = pos
            // Fast path: no escapes.
            while pos < bytes.count {
                let c = bytes[pos]
                if c == UInt8(ascii: "\"") {
                    let s = String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<pos]), as: UTF8.self)
                    pos += 1
                    return s
                }
                if c == UInt8(ascii: "\\") { break }
                if c < 0x20 { throw fail("control character in string") }
                pos += 1
            }
            scratch.removeAll(keepingCapacity: true)
            scratch.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[start..<pos]))
            while pos < bytes.count {
                let c = bytes[pos]
                if c == UInt8(ascii: "\"") {
                    pos += 1
                    return String(decoding: scratch, as: UTF8.self)
                }
                if c < 0x20 { throw fail("control character in string") }
                if c != UInt8(ascii: "\\") { scratch.append(c); pos += 1; continue }
                pos += 1
                guard pos < bytes.count else { break }
                let e = bytes[pos]
                pos += 1
                switch e {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): scratch.append(e)
                case UInt8(ascii: "b"): scratch.append(0x08)
                case UInt8(ascii: "f"): scratch.append(0x0C)
                case UInt8(ascii: "n"): scratch.append(0x0A)
                case UInt8(ascii: "r"): scratch.append(0x0D)
                case UInt8(ascii: "t"): scratch.append(0x09)
                case UInt8(ascii: "u"):
                    var cp = try hex4()
                    if cp >= 0xD800 && cp < 0xDC00 {
                        // High surrogate: combine with a following \uDC00-\uDFFF, else U+FFFD.
                        if pos + 6 <= bytes.count, bytes[pos] == UInt8(ascii: "\\"), bytes[pos + 1] == UInt8(ascii: "u") {
                            let save = pos
                            pos += 2
                            let lo = try hex4()
                            if lo >= 0xDC00 && lo < 0xE000 { cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00) } else { pos = save; cp = 0xFFFD }
                        } else { cp = 0xFFFD }
                    } else if cp >= 0xDC00 && cp < 0xE000 { cp = 0xFFFD }
                    let scalar = Unicode.Scalar(cp) ?? "\u{FFFD}"
                    scratch.append(contentsOf: Array(String(Character(scalar)).utf8))
                default: throw fail("bad escape")
                }
            }
            throw fail("unterminated string")
        }
    }
}
