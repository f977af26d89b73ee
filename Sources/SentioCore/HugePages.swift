// Memory for weights that decode streams every token, backed by transparent huge pages where the kernel
// allows it.
//
// Decode reads every matrix once per token. With 4 KiB pages that is ~250,000 page translations per
// token for a 1 GB model; with 2 MiB pages it is ~500. Measured on the Zen 4 machine (KernelBench decode,
// 169 Qwen2-0.5B matrices, 2 threads, 3 alternating rounds): q8 20.0-21.1 -> 16.7-18.4 ms per step,
// f16 34.1-37.4 -> 31.1-35.1 ms (docs/BENCHMARKS.md). Linux only (madvise MADV_HUGEPAGE, which works when
// /sys/kernel/mm/transparent_hugepage/enabled is "always" or "madvise"); elsewhere, or with
// SENTIO_HUGEPAGES=0 in the environment, these are plain 64-byte aligned allocations.
import Foundation
#if canImport(Glibc)
import Glibc
#endif

public enum HugePages {
    /// The huge page size on x86-64 and most aarch64 kernels.
    public static let size = 2 << 20

    /// False when SENTIO_HUGEPAGES=0 or the platform has no madvise(MADV_HUGEPAGE).
    public static let enabled: Bool = {
        #if os(Linux)
        return ProcessInfo.processInfo.environment["SENTIO_HUGEPAGES"] != "0"
        #else
        return false
        #endif
    }()

    /// `byteCount` bytes (at least 1), aligned to 2 MiB and advised for huge pages when huge pages are
    /// enabled and the buffer holds at least one whole huge page; 64-byte aligned otherwise. Free with
    /// `deallocate()`. Only whole 2 MiB extents inside the buffer can get huge pages, so the partial
    /// last one costs no extra memory.
    public static func allocate(byteCount: Int) -> UnsafeMutableRawBufferPointer {
        let n = max(byteCount, 1)
        guard enabled, n >= size else { return .allocate(byteCount: n, alignment: 64) }
        let b = UnsafeMutableRawBufferPointer.allocate(byteCount: n, alignment: size)
        advise(b.baseAddress!, n)
        return b
    }

    /// Asks for huge pages on [p, p + n) (whole 4 KiB pages of it; the kernel backs only whole aligned
    /// 2 MiB extents). A no-op when disabled; failure (e.g. THP "never") is not an error.
    public static func advise(_ p: UnsafeMutableRawPointer, _ n: Int) {
        #if os(Linux)
        guard enabled, n > 0 else { return }
        let page = 4096
        let lo = (Int(bitPattern: p) + page - 1) & ~(page - 1)
        let hi = (Int(bitPattern: p) + n) & ~(page - 1)
        guard hi > lo, let start = UnsafeMutableRawPointer(bitPattern: lo) else { return }
        _ = madvise(start, hi - lo, 14 /* MADV_HUGEPAGE */)
        #endif
    }
}

/// A bump allocator over huge-page slabs for many tensors of unknown total size (weights converted in
/// memory): 64-byte aligned pieces, freed together when the arena goes. Pieces of at least half a slab
/// get their own huge-page allocation. Thread safe.
public final class HugePageArena: @unchecked Sendable {
    public let slabSize: Int
    private var blocks: [UnsafeMutableRawBufferPointer] = []
    private var current: UnsafeMutableRawBufferPointer?
    private var used = 0
    private let lock = NSLock()

    public init(slabSize: Int = 32 << 20) { self.slabSize = max(slabSize, HugePages.size) }

    deinit { for b in blocks { b.deallocate() } }

    /// Bytes reserved from the system (slabs and large pieces).
    public var reservedBytes: Int { lock.withLock { blocks.reduce(0) { $0 + $1.count } } }

    /// `byteCount` bytes (at least 1), 64-byte aligned, valid until the arena is freed.
    public func allocate(byteCount: Int) -> UnsafeMutableRawBufferPointer {
        let n = (max(byteCount, 1) + 63) & ~63
        return lock.withLock {
            if n >= slabSize / 2 {
                let b = HugePages.allocate(byteCount: n)
                blocks.append(b)
                return UnsafeMutableRawBufferPointer(rebasing: b[0..<byteCount])
            }
            if current == nil || used + n > current!.count {
                let b = HugePages.allocate(byteCount: slabSize)
                blocks.append(b)
                current = b
                used = 0
            }
            let p = UnsafeMutableRawBufferPointer(rebasing: current![used..<(used + byteCount)])
            used += n
            return p
        }
    }
}
