import Foundation
import SentioTestSupport

/// A fresh directory for many small throwaway files: in /dev/shm (RAM) when available, so that the
/// corruption loops do not wait on a shared disk; otherwise the usual temporary directory.
func ramScratchDir(_ tag: String) -> URL {
    let shm = URL(fileURLWithPath: "/dev/shm")
    if FileManager.default.isWritableFile(atPath: shm.path) {
        let u = shm.appendingPathComponent("\(tag)-\(UUID().uuidString)")
        if (try? FileManager.default.createDirectory(at: u, withIntermediateDirectories: true)) != nil { return u }
    }
    return TestPaths.tempDir(tag)
}
