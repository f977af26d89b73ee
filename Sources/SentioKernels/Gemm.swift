// Gemm: dense f32 matrix products for non-weight operands (attention scores, LoRA, gradients).
//
// Single-threaded products run in CSentioKernels' packed AVX-512 sgemm (sgemm.c) when the CPU has
// AVX-512 (OpenBLAS 0.3.21 falls back to its SSE3 "Prescott" kernel on this project's VMs: 3-5x slower),
// else in OpenBLAS (loaded by blas_loader.c with its CPU detection corrected), kept single-threaded. Parallelism comes from our ThreadPool, which splits C into
// row or column panels, so every kernel in the process shares one set of threads.
import CSentioKernels

/// OpenBLAS, loaded on first use by CSentioKernels/blas_loader.c (which fixes its CPU detection first).
public enum BLAS {
    /// The OpenBLAS kernel family in use (e.g. "SkylakeX"), or "unavailable".
    public static var coreName: String { String(cString: sentio_blas_corename()) }
    /// The shared library the functions come from.
    public static var libraryPath: String { String(cString: sentio_blas_path()) }

    /// Set to false to route every product through OpenBLAS (comparisons, debugging).
    nonisolated(unsafe) static var useOwnKernel = true

    /// Row-major sgemm on the calling thread.
    @inline(__always)
    static func sgemm(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float,
                      a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                      beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int) {
        if m == 0 || n == 0 { return }
        if useOwnKernel && sentio_sgemm_available() != 0 {
            sentio_sgemm(transA ? 1 : 0, transB ? 1 : 0, m, n, k, alpha, a, lda, b, Int32(SENTIO_F32), ldb, beta, c, ldc)
            return
        }
        sentio_blas_sgemm(transA ? 1 : 0, transB ? 1 : 0, Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda),
                          b, Int32(ldb), beta, c, Int32(ldc))
    }
}

/// Dense f32 matmul helpers for non-weight products (attention scores, LoRA, gradients): C[m,n] = alpha*op(A)·op(B) + beta*C
public enum Gemm {
    /// Row-major C[m,n] = alpha * op(A)[m,k] · op(B)[k,n] + beta * C. op(A) = Aᵀ when transA (A stored k x m).
    public static func sgemm(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float,
                             a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                             beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int) {
        sgemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda, b: b, ldb: ldb,
              beta: beta, c: c, ldc: ldc, pool: .shared)
    }

    /// As above on an explicit pool.
    public static func sgemm(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float,
                             a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                             beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int, pool: ThreadPool) {
        let threads = pool.threadCount
        if threads == 1 || m * n * k < 64 * 64 * 64 {
            BLAS.sgemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda,
                       b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
            return
        }
        nonisolated(unsafe) let (a, b, c) = (a, b, c)
        if m >= n {   // split rows of C (rows of op(A))
            pool.parallelChunks(m, align: 16, maxChunks: threads * 2) { r in
                let ap = transA ? a + r.lowerBound : a + r.lowerBound * lda
                BLAS.sgemm(transA: transA, transB: transB, m: r.count, n: n, k: k, alpha: alpha, a: ap, lda: lda,
                           b: b, ldb: ldb, beta: beta, c: c + r.lowerBound * ldc, ldc: ldc)
            }
        } else {      // split columns of C (columns of op(B))
            pool.parallelChunks(n, align: 16, maxChunks: threads * 2) { r in
                let bp = transB ? b + r.lowerBound * ldb : b + r.lowerBound
                BLAS.sgemm(transA: transA, transB: transB, m: m, n: r.count, k: k, alpha: alpha, a: a, lda: lda,
                           b: bp, ldb: ldb, beta: beta, c: c + r.lowerBound, ldc: ldc)
            }
        }
    }

    /// Plain-loop twin (Double accumulation) for tests.
    public static func sgemmRef(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float,
                                a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                                beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int) {
        for i in 0..<m {
            for j in 0..<n {
                var s = 0.0
                for p in 0..<k {
                    let av = transA ? a[p * lda + i] : a[i * lda + p]
                    let bv = transB ? b[j * ldb + p] : b[p * ldb + j]
                    s += Double(av) * Double(bv)
                }
                let prior: Float = beta == 0 ? 0 : beta * c[i * ldc + j]
                c[i * ldc + j] = Float(Double(alpha) * s) + prior
            }
        }
    }
}
