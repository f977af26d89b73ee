// The OpenBLAS system library: Sentio loads it at run time (blas_loader.c) after correcting its CPU
// detection; this test links the COpenBLAS system-library target directly and checks that both routes
// compute the same product, and that the loader found the system library.
import XCTest
import COpenBLAS
import SentioKernels
import SentioTestSupport

final class OpenBLASTests: XCTestCase {
    func testLoaderAndDirectCBLASAgree() {
        var rng = TestRNG(seed: 11)
        let m = 37, n = 29, k = 53
        let a = rng.floats(m * k), b = rng.floats(k * n)
        var viaLoader = [Float](repeating: 0, count: m * n), direct = viaLoader
        Gemm.sgemm(transA: false, transB: false, m: m, n: n, k: k, alpha: 1, a: a, lda: k, b: b, ldb: n,
                   beta: 0, c: &viaLoader, ldc: n)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, blasint(m), blasint(n), blasint(k), 1, a, blasint(k),
                    b, blasint(n), 0, &direct, blasint(n))
        // Same library, possibly another kernel family or blocking: only the summation order differs,
        // so the difference is bounded by k rounding errors of products of magnitude <= 1.
        let d = compare(viaLoader, direct)
        XCTAssertLessThan(d.maxAbs, Float(k) * 1e-6, "\(d)")
        XCTAssertTrue(BLAS.libraryPath.contains("openblas"), "loaded from \(BLAS.libraryPath)")
        print("OpenBLAS core: \(BLAS.coreName) from \(BLAS.libraryPath)")
    }
}
