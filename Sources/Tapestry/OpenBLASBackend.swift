#if OpenBLAS
import COpenBLAS

/// The OpenBLAS backend: gemm/gemv through CBLAS, solve and Cholesky through LAPACKE;
/// every other kernel is the reference one.
///
/// OpenBLAS runs its own threads inside each call; Tapestry's reference kernels never run
/// at the same time as one, so the two pools never compete for the cores.
public struct OpenBLASBackend: Backend {
    public init() {}
    public var name: String { "openblas" }

    /// OpenBLAS's own description of the kernel it picked (e.g. "Haswell", "SkylakeX").
    public var coreName: String { String(cString: openblas_get_corename()) }
    /// Threads OpenBLAS uses per call.
    public var threadCount: Int { Int(openblas_get_num_threads()) }

    public func gemm<T: FloatElement>(transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int,
                                      a: UnsafePointer<T>, lda: Int, b: UnsafePointer<T>, ldb: Int,
                                      c: UnsafeMutablePointer<T>, ldc: Int, accumulate: Bool) {
        guard m > 0 && n > 0 else { return }
        let ta = transposeA ? CblasTrans : CblasNoTrans, tb = transposeB ? CblasTrans : CblasNoTrans
        let beta: Double = accumulate ? 1 : 0
        // CBLAS wants a leading dimension of at least 1 even for empty operands.
        let (lda, ldb) = (Int32(max(lda, 1)), Int32(max(ldb, 1)))
        let call = {
            if T.self == Float.self {
                cblas_sgemm(CblasRowMajor, ta, tb, Int32(m), Int32(n), Int32(k), 1, rebound(a), lda, rebound(b), ldb,
                            Float(beta), rebound(c), Int32(ldc))
            } else {
                cblas_dgemm(CblasRowMajor, ta, tb, Int32(m), Int32(n), Int32(k), 1, rebound(a), lda, rebound(b), ldb,
                            beta, rebound(c), Int32(ldc))
            }
        }
        if m * n * k > Self.threadedGemmMultiplyAdds && threadCount > 1 {
            KernelThreads.shared.yieldingProcessors(call)
        } else {
            call()
        }
    }

    /// Above this many multiply-adds OpenBLAS runs a gemm on its threads (its
    /// `SMP_THRESHOLD_MIN` · `GEMM_MULTITHREAD_THRESHOLD`): Tapestry's idle kernel threads
    /// then sleep instead of polling, to leave OpenBLAS the processors.
    static let threadedGemmMultiplyAdds = 65536 * 4

    public func gemv<T: FloatElement>(transpose: Bool, m: Int, n: Int, a: UnsafePointer<T>, lda: Int,
                                      x: UnsafePointer<T>, y: UnsafeMutablePointer<T>) {
        guard m > 0 && n > 0 else {
            y.initialize(repeating: 0, count: transpose ? n : m)
            return
        }
        let t = transpose ? CblasTrans : CblasNoTrans
        if T.self == Float.self {
            cblas_sgemv(CblasRowMajor, t, Int32(m), Int32(n), 1, rebound(a), Int32(lda), rebound(x), 1, 0, rebound(y), 1)
        } else {
            cblas_dgemv(CblasRowMajor, t, Int32(m), Int32(n), 1, rebound(a), Int32(lda), rebound(x), 1, 0, rebound(y), 1)
        }
    }

    public func solve<T: FloatElement>(_ a: UnsafeMutablePointer<T>, _ b: UnsafeMutablePointer<T>, n: Int, nrhs: Int) throws(LinearAlgebraError) {
        guard n > 0 else { return }
        var pivots = [Int32](repeating: 0, count: n)
        let info: Int32 = T.self == Float.self
            ? LAPACKE_sgesv(LAPACK_ROW_MAJOR, Int32(n), Int32(nrhs), rebound(a), Int32(n), &pivots, rebound(b), Int32(max(nrhs, 1)))
            : LAPACKE_dgesv(LAPACK_ROW_MAJOR, Int32(n), Int32(nrhs), rebound(a), Int32(n), &pivots, rebound(b), Int32(max(nrhs, 1)))
        check(info >= 0, "LAPACKE gesv: invalid argument \(-info)")
        if info > 0 { throw .singular(pivot: Int(info) - 1) }
    }

    public func cholesky<T: FloatElement>(_ a: UnsafeMutablePointer<T>, n: Int) throws(LinearAlgebraError) {
        guard n > 0 else { return }
        let lower = Int8(UInt8(ascii: "L"))
        let info: Int32 = T.self == Float.self
            ? LAPACKE_spotrf(LAPACK_ROW_MAJOR, lower, Int32(n), rebound(a), Int32(n))
            : LAPACKE_dpotrf(LAPACK_ROW_MAJOR, lower, Int32(n), rebound(a), Int32(n))
        check(info >= 0, "LAPACKE potrf: invalid argument \(-info)")
        if info > 0 { throw .notPositiveDefinite(order: Int(info)) }
        for i in 0..<n { for j in (i + 1)..<max(n, i + 1) { a[i * n + j] = 0 } }
    }
}

#endif
