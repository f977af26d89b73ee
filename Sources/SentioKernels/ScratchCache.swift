// Reused 64-byte-aligned scratch buffers for the kernels' per-call staging (bf16 activations of the tile
// GEMM, attention packs): a call takes a cached buffer that is large enough or allocates one, and gives it
// back when done. At most `maxKept` buffers stay cached (the largest win), so memory is bounded by the
// largest concurrent uses. Why: the staging buffers are 1-15 MB and allocated ~200 times per Whisper pass;
// through malloc, sizes like these raise glibc's dynamic mmap threshold and are then carved from the heap,
// the usual recipe for heap fragmentation (an hour of `sentio watch` before this cache saw the resident
// heap's floor creep up ~18 MB); reused buffers also skip re-faulting fresh pages on every call.
import Foundation

public enum ScratchCache {
    public static let maxKept = 4
    nonisolated(unsafe) private static var free: [(pointer: UnsafeMutableRawPointer, bytes: Int)] = []
    private static let lock = NSLock()

    /// Runs body with a buffer of at least `bytes` bytes (64-byte aligned, contents undefined).
    public static func with<R>(bytes: Int, _ body: (UnsafeMutableRawPointer) throws -> R) rethrows -> R {
        let need = max(64, (bytes + 63) / 64 * 64)
        var taken: (pointer: UnsafeMutableRawPointer, bytes: Int)?
        lock.lock()
        if let i = free.indices.filter({ free[$0].bytes >= need }).min(by: { free[$0].bytes < free[$1].bytes }) {
            taken = free.remove(at: i)
        }
        lock.unlock()
        let buf = taken ?? (UnsafeMutableRawPointer.allocate(byteCount: need, alignment: 64), need)
        defer { giveBack(buf) }
        return try body(buf.pointer)
    }

    private static func giveBack(_ buf: (pointer: UnsafeMutableRawPointer, bytes: Int)) {
        lock.lock()
        free.append(buf)
        free.sort { $0.bytes > $1.bytes }
        let dropped = free.count > maxKept ? Array(free[maxKept...]) : []
        if !dropped.isEmpty { free.removeLast(free.count - maxKept) }
        lock.unlock()
        for d in dropped { d.pointer.deallocate() }
    }

    /// Frees every cached buffer (tests, or a caller going idle for long).
    public static func drain() {
        lock.lock()
        let all = free
        free = []
        lock.unlock()
        for d in all { d.pointer.deallocate() }
    }

    /// Bytes held by cached buffers now.
    public static var cachedBytes: Int {
        lock.lock(); defer { lock.unlock() }
        return free.reduce(0) { $0 + $1.bytes }
    }
}
