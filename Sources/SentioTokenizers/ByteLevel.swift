// GPT-2 byte-level alphabet: every byte 0...255 is shown as one printable Unicode scalar, so that BPE
// vocabularies can be stored as text. Printable Latin-1 bytes ('!'...'~', '¡'...'¬', '®'...'ÿ') stand for
// themselves; the other 68 bytes (controls, space, DEL, NBSP, soft hyphen) are given U+0100, U+0101, ... in
// byte order. So space 0x20 is 'Ġ' (U+0120) and '\n' 0x0A is 'Ċ' (U+010A).

enum ByteLevel {
    /// byte -> scalar value of its stand-in character.
    static let byteToScalar: [UInt32] = {
        var table = [UInt32](repeating: 0, count: 256)
        var next: UInt32 = 256
        for b in 0..<256 {
            let printable = (0x21...0x7E).contains(b) || (0xA1...0xAC).contains(b) || (0xAE...0xFF).contains(b)
            if printable { table[b] = UInt32(b) } else { table[b] = next; next += 1 }
        }
        return table
    }()

    /// Inverse of byteToScalar over scalars 0..<324 (the largest stand-in is U+0143); -1 = not a stand-in.
    static let scalarToByte: [Int16] = {
        var table = [Int16](repeating: -1, count: 324)
        for (b, s) in byteToScalar.enumerated() { table[Int(s)] = Int16(b) }
        return table
    }()

    /// The byte-level text of raw bytes ("Hello world" -> "HelloĠworld").
    static func encode<C: Collection>(_ bytes: C) -> String where C.Element == UInt8 {
        var s = String.UnicodeScalarView()
        for b in bytes { s.append(Unicode.Scalar(byteToScalar[Int(b)])!) }
        return String(s)
    }

    /// Appends the raw bytes of a byte-level token; false (and nothing appended) when it holds a scalar
    /// outside the alphabet.
    static func appendDecoded(_ token: String, to out: inout [UInt8]) -> Bool {
        let start = out.count
        for u in token.unicodeScalars {
            let v = Int(u.value)
            guard v < scalarToByte.count, scalarToByte[v] >= 0 else { out.removeSubrange(start...); return false }
            out.append(UInt8(scalarToByte[v]))
        }
        return true
    }
}
