// A read-only memory map of a whole file, with bounds-checked views.
import Foundation
import SentioCore
#if canImport(Glibc)
import Glibc
#endif

public final class MappedFile: @unchecked Sendable {
    public let url: URL
    public let size: Int
    public let base: UnsafeRawPointer?

    public init(_ url: URL) throws {
        self.url = url
        let fd = Glibc.open(url.path, O_RDONLY)
        guard fd >= 0 else {
            throw SentioError(.io, file: url.path, "cannot open: \(String(cString: strerror(errno)))")
        }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw SentioError(.io, file: url.path, "cannot stat") }
        guard (st.st_mode & S_IFMT) == S_IFREG else { throw SentioError(.io, file: url.path, "not a regular file") }
        size = Int(st.st_size)
        if size == 0 { base = nil; return }
        guard let p = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), p != MAP_FAILED else {
            throw SentioError(.io, file: url.path, "mmap failed: \(String(cString: strerror(errno)))")
        }
        base = UnsafeRawPointer(p)
    }

    deinit {
        if let base { munmap(UnsafeMutableRawPointer(mutating: base), size) }
    }

    /// Unmaps the resident pages wholly inside [offset, offset + count) from this process (the map is
    /// read-only, so a later touch reads them back from the page cache unchanged): after a copy of those
    /// bytes, the process's resident memory does not count them twice.
    public func dropPages(_ offset: Int, _ count: Int) {
        #if os(Linux)
        guard let base, offset >= 0, count > 0, offset <= size, count <= size - offset else { return }
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        guard page > 0 else { return }
        let lo = (offset + page - 1) / page * page, hi = (offset + count) / page * page
        if hi > lo { _ = madvise(UnsafeMutableRawPointer(mutating: base + lo), hi - lo, MADV_DONTNEED) }
        #endif
    }

    /// The bytes [offset, offset+count), or an error naming the file when out of bounds.
    public func bytes(_ offset: Int, _ count: Int, what: String = "data") throws -> UnsafeRawBufferPointer {
        guard offset >= 0, count >= 0, offset <= size, count <= size - offset else {
            throw SentioError(.corrupt, file: url.path, "\(what) at offset \(offset) length \(count) runs past the end of the file (\(size) bytes)")
        }
        guard let base else { return UnsafeRawBufferPointer(start: nil, count: 0) }
        return UnsafeRawBufferPointer(start: base + offset, count: count)
    }
}
