// Open-addressing hash tables for the tokenizer's hot lookups. Swift's String hashing normalizes
// (canonical equivalence) and Dictionary hashing goes through SipHash; loading 151k tokens and 151k merges
// through them took over a second. These tables hash raw bytes (FNV-1a) and packed id pairs (a multiply-shift
// mix), with linear probing over a power-of-two table kept at most half full.

/// Byte strings -> id, where the byte strings live in a caller-owned flat buffer (`text[starts[id]..<starts[id+1]]`).
struct ByteStringIndex {
    private(set) var slots: [Int32]
    private let mask: Int

    init(capacity n: Int) {
        var size = 16
        while size < 2 * n { size <<= 1 }
        slots = [Int32](repeating: -1, count: size)
        mask = size - 1
    }

    @inline(__always) static func hash(_ key: UnsafeBufferPointer<UInt8>) -> Int {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in key { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
        return Int(truncatingIfNeeded: h ^ (h >> 29))
    }

    /// Inserts `id` under its text; an earlier id with the same text is replaced (last one wins).
    mutating func insert(_ id: Int32, text: UnsafeBufferPointer<UInt8>, starts: UnsafeBufferPointer<Int32>) {
        let key = UnsafeBufferPointer(rebasing: text[Int(starts[Int(id)])..<Int(starts[Int(id) + 1])])
        var i = Self.hash(key) & mask
        while slots[i] >= 0 {
            let other = slots[i]
            if Self.equal(key, other, text, starts) { slots[i] = id; return }
            i = (i + 1) & mask
        }
        slots[i] = id
    }

    @inline(__always) static func equal(_ key: UnsafeBufferPointer<UInt8>, _ id: Int32, _ text: UnsafeBufferPointer<UInt8>,
                                        _ starts: UnsafeBufferPointer<Int32>) -> Bool {
        let s = Int(starts[Int(id)]), e = Int(starts[Int(id) + 1])
        guard e - s == key.count else { return false }
        for k in 0..<key.count where text[s + k] != key[k] { return false }
        return true
    }

    func find(_ key: UnsafeBufferPointer<UInt8>, text: UnsafeBufferPointer<UInt8>, starts: UnsafeBufferPointer<Int32>) -> Int32? {
        var i = Self.hash(key) & mask
        while true {
            let id = slots[i]
            if id < 0 { return nil }
            if Self.equal(key, id, text, starts) { return id }
            i = (i + 1) & mask
        }
    }
}

/// (left id, right id) -> (rank, merged id), both packed in UInt64. The first insertion of a pair wins.
struct PairTable {
    private var keys: [UInt64]
    private var values: [UInt64]
    private let mask: Int
    private(set) var count = 0
    private static let empty = UInt64.max   // ids are < 2^31, so no real key is all ones

    init(capacity n: Int) {
        var size = 16
        while size < 2 * n { size <<= 1 }
        keys = [UInt64](repeating: Self.empty, count: size)
        values = [UInt64](repeating: 0, count: size)
        mask = size - 1
    }

    @inline(__always) static func key(_ a: Int32, _ b: Int32) -> UInt64 { UInt64(UInt32(bitPattern: a)) << 32 | UInt64(UInt32(bitPattern: b)) }
    @inline(__always) func slot(_ k: UInt64) -> Int { Int(truncatingIfNeeded: (k &* 0x9E37_79B9_7F4A_7C15) >> 32) & mask }

    /// Returns false when the pair was already present (the earlier entry is kept).
    @discardableResult
    mutating func insertIfAbsent(_ a: Int32, _ b: Int32, rank: UInt32, merged: Int32) -> Bool {
        let k = Self.key(a, b)
        var i = slot(k)
        while keys[i] != Self.empty {
            if keys[i] == k { return false }
            i = (i + 1) & mask
        }
        keys[i] = k
        values[i] = UInt64(rank) << 32 | UInt64(UInt32(bitPattern: merged))
        count += 1
        return true
    }

    /// (rank << 32 | merged id) for the pair, or nil when it has no merge.
    @inline(__always) func find(_ a: Int32, _ b: Int32) -> UInt64? {
        let k = Self.key(a, b)
        var i = slot(k)
        while true {
            let x = keys[i]
            if x == k { return values[i] }
            if x == Self.empty { return nil }
            i = (i + 1) & mask
        }
    }
}
