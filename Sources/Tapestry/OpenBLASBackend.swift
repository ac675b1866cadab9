#if OpenBLAS
import COpenBLAS

/// The OpenBLAS backend: gemm/gemv through CBLAS, solve and Cholesky through LAPACKE;
/// every other kernel is the reference one.
///
/// OpenBLAS runs on one thread per call; Tapestry threads a large gemm itself, splitting
/// it into blocks of columns (or rows) of the product, one single-threaded OpenBLAS call
/// per kernel thread (`KernelThreads`). Those threads poll between kernels, where
/// OpenBLAS's sleep: in `zoo bench model`, alternating with OpenBLAS's own threads, the
/// DETR R18 step took a median 0.91 of their time (10 pairs), DETR-R50's 0.89 (6), and gemm at
/// n = 256 ran 160–189 GFLOP/s against 76–133; at n = 1024 and above, where waking a
/// thread is small beside the work, the split costs 0–8% (each block packs the shared
/// operand again).
public struct OpenBLASBackend: Backend {
    public init() { _ = Self.oneThreadPerCall }
    public var name: String { "openblas" }

    /// OpenBLAS's own description of the kernel it picked (e.g. "Haswell", "SkylakeX").
    public var coreName: String { String(cString: openblas_get_corename()) }

    /// OpenBLAS starts its threads when it loads; with one thread per call they would only
    /// poll (calling `sched_yield`: 10% of a convolution benchmark's samples), so they stop.
    private static let oneThreadPerCall: Void = {
        openblas_set_num_threads(1)
        _ = blas_thread_shutdown_()
    }()

    /// Below this many multiply-adds a gemm runs on the calling thread alone (OpenBLAS's
    /// own threshold for threading, `SMP_THRESHOLD_MIN` · `GEMM_MULTITHREAD_THRESHOLD`).
    static let threadedGemmMultiplyAdds = 65536 * 4

    public func gemm<T: FloatElement>(transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int,
                                      a: UnsafePointer<T>, lda: Int, b: UnsafePointer<T>, ldb: Int,
                                      c: UnsafeMutablePointer<T>, ldc: Int, accumulate: Bool) {
        guard m > 0 && n > 0 else { return }
        let pieces = m * n * k > Self.threadedGemmMultiplyAdds ? Parallel.threadCount : 1
        // Split the longer side of C, in multiples of 16 (the SkylakeX and Haswell kernels' tile).
        let splitColumns = n >= m
        let side = splitColumns ? n : m, step = ((side + pieces - 1) / pieces + 15) / 16 * 16
        let operands = UnsafeSendable((a, b, c))
        Parallel.forEach(pieces, parallel: pieces > 1) { piece in
            let (a, b, c) = operands.value
            let start = Swift.min(piece * step, side), end = Swift.min(start + step, side)
            guard start < end else { return }
            if splitColumns {
                Self.gemmCall(transposeA, transposeB, m, end - start, k, a, lda, b + (transposeB ? start * ldb : start), ldb,
                              c + start, ldc, accumulate)
            } else {
                Self.gemmCall(transposeA, transposeB, end - start, n, k, a + (transposeA ? start : start * lda), lda, b, ldb,
                              c + start * ldc, ldc, accumulate)
            }
        }
    }

    /// One OpenBLAS call on the calling thread. DETR's attention runs 16 such products side
    /// by side: q·kᵀ (100 × 32 · 32 × 100) took 0.10 ms a batch against 0.24 with the blocked
    /// Swift kernel, attention·v (100 × 100 · 100 × 32) 0.05 against 0.35; the Swift kernel's
    /// 6 × 64 tiles fit a 100 × 32 product badly (half of each tile computed in vain).
    public func gemmOnThisThread<T: FloatElement>(transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int,
                                                  a: UnsafePointer<T>, lda: Int, b: UnsafePointer<T>, ldb: Int,
                                                  c: UnsafeMutablePointer<T>, ldc: Int, accumulate: Bool) {
        guard m > 0 && n > 0 else { return }
        Self.gemmCall(transposeA, transposeB, m, n, k, a, lda, b, ldb, c, ldc, accumulate)
    }

    /// One CBLAS gemm, C = A·B (+ C when accumulating), row-major.
    private static func gemmCall<T: FloatElement>(_ transposeA: Bool, _ transposeB: Bool, _ m: Int, _ n: Int, _ k: Int,
                                                  _ a: UnsafePointer<T>, _ lda: Int, _ b: UnsafePointer<T>, _ ldb: Int,
                                                  _ c: UnsafeMutablePointer<T>, _ ldc: Int, _ accumulate: Bool) {
        let ta = transposeA ? CblasTrans : CblasNoTrans, tb = transposeB ? CblasTrans : CblasNoTrans
        // CBLAS wants a leading dimension of at least 1 even for empty operands.
        let (lda, ldb) = (Int32(max(lda, 1)), Int32(max(ldb, 1)))
        if T.self == Float.self {
            cblas_sgemm(CblasRowMajor, ta, tb, Int32(m), Int32(n), Int32(k), 1, rebound(a), lda, rebound(b), ldb,
                        accumulate ? 1 : 0, rebound(c), Int32(ldc))
        } else {
            cblas_dgemm(CblasRowMajor, ta, tb, Int32(m), Int32(n), Int32(k), 1, rebound(a), lda, rebound(b), ldb,
                        accumulate ? 1 : 0, rebound(c), Int32(ldc))
        }
    }

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
