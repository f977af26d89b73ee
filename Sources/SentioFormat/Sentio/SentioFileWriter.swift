// SentioFileWriter: streams tensors into a .sentio file, one tensor in memory at a time.
//
// Writes go to a temporary file beside the destination (".<name>.partial-<pid>-<random>"). `finish()`
// writes the index and the fixed header, fsyncs and renames atomically onto the destination. If
// `finish()` is never called (error, early return, deinit) the temporary file is removed, so an
// interrupted conversion never leaves a partial file at the destination. (A process killed with
// SIGKILL cannot run any cleanup: then only the hidden .partial file is left behind, never `url`.)
import Foundation
import SentioCore
#if canImport(Glibc)
import Glibc
#endif

public final class SentioFileWriter {
    public let url: URL
    public let tempURL: URL
    private var fd: Int32
    private var position: Int
    private let config: String
    private let metadata: [String: String]
    private var fileEntries: [SentioFileEntry] = []
    private var entries: [SentioTensorEntry] = []
    private var names = Set<String>()
    private var stats: [DType: SentioDTypeStats] = [:]
    private var finished = false
    private var scratch: UnsafeMutableRawBufferPointer?

    /// Removes `.NAME.partial-PID-*` files beside `url` left by writers that were killed (their PID no
    /// longer runs). Returns the removed paths.
    @discardableResult
    public static func removeStalePartials(for url: URL) -> [String] {
        let dir = url.deletingLastPathComponent()
        let prefix = ".\(url.lastPathComponent).partial-"
        var removed: [String] = []
        for name in (try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? [] where name.hasPrefix(prefix) {
            let rest = name.dropFirst(prefix.count)
            guard let pid = Int32(rest.split(separator: "-").first ?? ""), pid > 0 else { continue }
            if kill(pid, 0) != 0 && errno == ESRCH {
                let p = dir.appendingPathComponent(name).path
                if (try? FileManager.default.removeItem(atPath: p)) != nil { removed.append(p) }
            }
        }
        return removed
    }

    public init(url: URL, config: String, metadata: [String: String], files: [String: Data]) throws {
        self.url = url
        if !config.isEmpty {
            guard (try? JSONSerialization.jsonObject(with: Data(config.utf8))) is [String: Any] else {
                throw SentioError(.argument, file: url.path, "config is not a JSON object")
            }
        }
        self.config = config
        self.metadata = metadata
        let dir = url.deletingLastPathComponent()
        tempURL = dir.appendingPathComponent(".\(url.lastPathComponent).partial-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        fd = Glibc.open(tempURL.path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            throw SentioError(.io, file: tempURL.path, "cannot create: \(String(cString: strerror(errno)))")
        }
        position = 0
        do {
            try writeZeros(SentioFormat.headerSize)
            for name in files.keys.sorted() {
                let d = files[name]!
                try pad()
                let off = position
                let sum = d.withUnsafeBytes { XXHash64.hash($0) }
                try d.withUnsafeBytes { try writeAll($0) }
                fileEntries.append(SentioFileEntry(name: name, offset: off, size: d.count, checksum: sum))
            }
        } catch {
            abort()
            throw error
        }
    }

    deinit { abort() }

    /// Removes the temporary file (no-op after finish()).
    public func abort() {
        if let s = scratch { s.deallocate(); scratch = nil }
        guard !finished else { return }
        finished = true
        if fd >= 0 { close(fd); fd = -1 }
        unlink(tempURL.path)
    }

    private func fail(_ msg: String) -> SentioError { SentioError(.io, file: tempURL.path, msg) }

    private func writeAll(_ b: UnsafeRawBufferPointer) throws {
        guard var p = b.baseAddress else { return }
        var left = b.count
        while left > 0 {
            let n = Glibc.write(fd, p, left)
            if n < 0 {
                if errno == EINTR { continue }
                throw fail("write failed: \(String(cString: strerror(errno)))")
            }
            p += n; left -= n; position += n
        }
    }

    private func writeZeros(_ n: Int) throws {
        if n <= 0 { return }
        let z = [UInt8](repeating: 0, count: n)
        try z.withUnsafeBytes { try writeAll($0) }
    }

    private func pad() throws { try writeZeros(SentioFormat.alignUp(position) - position) }

    private func scratchBuffer(_ n: Int) -> UnsafeMutableRawBufferPointer {
        if let s = scratch, s.count >= n { return s }
        scratch?.deallocate()
        let s = UnsafeMutableRawBufferPointer.allocate(byteCount: max(n, 1), alignment: SentioFormat.alignment)
        scratch = s
        return s
    }

    /// Adds one tensor. `shape` is row-major (last dimension contiguous); `data` holds exactly
    /// `dtype.byteCount(elements:)` bytes; quantized dtypes need a last dimension divisible by 32.
    public func add(name: String, dtype: DType, shape: [Int], data: UnsafeRawBufferPointer,
                    codec: SentioCodecPolicy = .lz4) throws {
        guard !finished else { throw SentioError(.argument, file: url.path, "add('\(name)') after finish()") }
        guard !name.isEmpty, !names.contains(name) else {
            throw SentioError(.argument, file: url.path, "tensor name '\(name)' is empty or already written")
        }
        guard shape.count <= SentioFormat.maxDims, shape.allSatisfy({ $0 >= 0 }) else {
            throw SentioError(.argument, file: url.path, "tensor '\(name)': bad shape \(shape)")
        }
        var n = 1
        for d in shape {
            let (p, o) = n.multipliedReportingOverflow(by: d)
            guard !o, p <= SentioFormat.maxElements else { throw SentioError(.argument, file: url.path, "tensor '\(name)': shape \(shape) too large") }
            n = p
        }
        if dtype.isQuantized, (shape.last ?? 1) % dtype.blockSize != 0 {
            throw SentioError(.argument, file: url.path, "tensor '\(name)': last dimension \(shape.last ?? 1) is not a multiple of \(dtype.blockSize) for \(dtype)")
        }
        guard let rawSize = dtype.byteCount(elements: n), rawSize == data.count else {
            throw SentioError(.argument, file: url.path, "tensor '\(name)': \(data.count) bytes given, shape \(shape) of \(dtype) needs \(dtype.byteCount(elements: n).map(String.init) ?? "a whole number of blocks")")
        }
        var stored = data
        var used = SentioCodec.raw
        if case .lz4Auto(let minSaving) = codec, rawSize > 0 {
            let cap = ChunkedLZ4.maxStoredSize(raw: rawSize, dtype: dtype)
            let cb = ChunkedLZ4.chunkBytes(dtype)
            let buf = scratchBuffer(cb + cap)
            let out = buf.baseAddress! + cb
            let c = ChunkedLZ4.compress(dtype, data, into: out, scratch: buf.baseAddress!)
            if Double(c) < Double(rawSize) * (1 - minSaving) {
                stored = UnsafeRawBufferPointer(start: out, count: c)
                used = .lz4Shuffle
            }
        }
        try pad()
        let off = position
        let sum = XXHash64.hash(stored)
        try writeAll(stored)
        names.insert(name)
        entries.append(SentioTensorEntry(name: name, dtype: dtype, shape: shape, codec: used, offset: off,
                                         storedSize: stored.count, rawSize: rawSize, checksum: sum))
        var s = stats[dtype, default: SentioDTypeStats()]
        s.tensors += 1; s.elements += n; s.rawBytes += rawSize; s.storedBytes += stored.count
        if used == .lz4Shuffle { s.lz4Tensors += 1 }
        stats[dtype] = s
    }

    /// Array convenience for tests and small tensors.
    public func add<T>(name: String, dtype: DType, shape: [Int], array: [T], codec: SentioCodecPolicy = .lz4) throws {
        try array.withUnsafeBytes { try add(name: name, dtype: dtype, shape: shape, data: $0, codec: codec) }
    }

    /// Writes the index and header, fsyncs and renames the file into place.
    @discardableResult
    public func finish() throws -> SentioWriteSummary {
        guard !finished else { throw SentioError(.argument, file: url.path, "finish() called twice") }
        do {
            try pad()
            let indexOffset = position
            var w = ByteWriter()
            w.put(config)
            w.put(UInt64(metadata.count))
            for k in metadata.keys.sorted() { w.put(k); w.put(metadata[k]!) }
            w.put(UInt64(fileEntries.count))
            for f in fileEntries { w.put(f.name); w.put(UInt64(f.offset)); w.put(UInt64(f.size)); w.put(f.checksum) }
            w.put(UInt64(entries.count))
            for e in entries {
                w.put(e.name); w.put(e.dtype.rawValue); w.put(e.codec.rawValue); w.put(UInt32(e.shape.count))
                for d in e.shape { w.put(Int64(d)) }
                w.put(UInt64(e.offset)); w.put(UInt64(e.storedSize)); w.put(UInt64(e.rawSize)); w.put(e.checksum)
            }
            let index = w.data
            try index.withUnsafeBytes { try writeAll($0) }
            let fileSize = position
            var h = ByteWriter()
            h.put(bytes: SentioFormat.magic)
            h.put(SentioFormat.version); h.put(UInt32(0))
            h.put(UInt64(indexOffset)); h.put(UInt64(index.count)); h.put(XXHash64.hash(index)); h.put(UInt64(fileSize))
            h.put(bytes: [UInt8](repeating: 0, count: SentioFormat.headerSize - h.data.count))
            let written = h.data.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) }
            guard written == SentioFormat.headerSize else { throw fail("header write failed: \(String(cString: strerror(errno)))") }
            guard fsync(fd) == 0 else { throw fail("fsync failed: \(String(cString: strerror(errno)))") }
            close(fd); fd = -1
            guard rename(tempURL.path, url.path) == 0 else {
                throw SentioError(.io, file: url.path, "cannot rename \(tempURL.lastPathComponent) into place: \(String(cString: strerror(errno)))")
            }
            finished = true
            let dfd = Glibc.open(url.deletingLastPathComponent().path, O_RDONLY | O_DIRECTORY)
            if dfd >= 0 { _ = fsync(dfd); close(dfd) }
            return SentioWriteSummary(url: url, fileSize: fileSize, tensorCount: entries.count,
                                      rawBytes: entries.reduce(0) { $0 + $1.rawSize },
                                      storedBytes: entries.reduce(0) { $0 + $1.storedSize }, perDType: stats)
        } catch {
            abort()
            throw error
        }
    }
}
