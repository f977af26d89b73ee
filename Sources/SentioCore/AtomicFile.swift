// Whole-file writes that never leave a partial file behind: the bytes go to a temporary file in the
// same folder (same file system), which is flushed and then renamed over the target.
import Foundation

public enum AtomicFile {
    public static func write(_ data: Data, to url: URL) throws {
        let tmp = url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        do {
            try data.write(to: tmp)
            let fd = open(tmp.path, O_RDONLY)
            if fd >= 0 { fsync(fd); close(fd) }
            guard rename(tmp.path, url.path) == 0 else {
                throw SentioError(.io, file: url.path, "cannot rename temporary file into place: \(String(cString: strerror(errno)))")
            }
        } catch let e as SentioError {
            try? FileManager.default.removeItem(at: tmp)
            throw e
        } catch {
            try? FileManager.default.removeItem(at: tmp)
            throw SentioError(.io, file: url.path, "cannot write: \(error.localizedDescription)")
        }
    }
}
