// WeightMatrix.releaseFilePages / sentio_release_file_pages: drops pages of read-only file mappings only,
// and the bytes read afterwards are the file's.
import XCTest
import Foundation
import CSentioKernels
import SentioCore
@testable import SentioKernels
#if canImport(Glibc)
import Glibc
#endif

final class ReleaseFilePagesTests: XCTestCase {
    func testReleasesFileMappingAndKeepsItsContent() throws {
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let count = 5 * page + 123                                   // partial first/last pages stay
        var bytes = [UInt8](repeating: 0, count: count)
        for i in 0..<count { bytes[i] = UInt8(truncatingIfNeeded: i &* 31 &+ 7) }
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("sentio-release-\(getpid()).bin")
        try Data(bytes).write(to: url)
        defer { try? FileManager.default.removeItem(at: url) }
        let fd = open(url.path, O_RDONLY)
        XCTAssertGreaterThanOrEqual(fd, 0)
        defer { close(fd) }
        guard let m = mmap(nil, count, PROT_READ, MAP_PRIVATE, fd, 0), m != MAP_FAILED else { return XCTFail("mmap") }
        defer { munmap(m, count) }
        let p = UnsafeRawPointer(m)
        var sum = 0
        for i in 0..<count { sum &+= Int(p.load(fromByteOffset: i, as: UInt8.self)) }   // make it resident
        // A q8 "matrix" over bytes [100, 100 + 34*k) of the mapping: only its whole pages are released.
        let blocks = (count - 100) / 34
        let w = WeightMatrix(dtype: .q8, rows: 1, cols: 32 * blocks, data: p + 100)
        let released = w.releaseFilePages()
        let lo = (100 + page - 1) / page * page, hi = (100 + 34 * blocks) / page * page
        XCTAssertEqual(released, hi - lo)
        for i in 0..<count { XCTAssertEqual(p.load(fromByteOffset: i, as: UInt8.self), bytes[i], "byte \(i) after release") }
        XCTAssertGreaterThan(sum, 0)
    }

    func testNeverReleasesAnonymousMemory() {
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let n = 8 * page
        let buf = UnsafeMutableRawPointer.allocate(byteCount: n, alignment: page)
        defer { buf.deallocate() }
        for i in 0..<n { buf.storeBytes(of: UInt8(truncatingIfNeeded: i &+ 1), toByteOffset: i, as: UInt8.self) }
        let w = WeightMatrix(dtype: .q8, rows: 1, cols: 32 * (n / 34), data: UnsafeRawPointer(buf))
        XCTAssertEqual(w.releaseFilePages(), 0)
        for i in 0..<n { XCTAssertEqual(buf.load(fromByteOffset: i, as: UInt8.self), UInt8(truncatingIfNeeded: i &+ 1)) }
    }
}
