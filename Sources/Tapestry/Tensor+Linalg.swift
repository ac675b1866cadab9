/// Linear algebra on (batches of) square matrices: solve, inverse and Cholesky, through
/// the backend (LAPACKE on the OpenBLAS backend, plain Swift on the reference one).
///
/// Derivatives (Giles, "An extended collection of matrix derivative results", 2008):
/// X = A⁻¹B: dB = A⁻ᵀ·dX, dA = −dB·Xᵀ.  Y = A⁻¹: dA = −Yᵀ·dY·Yᵀ.
/// A = LLᵀ: dA = L⁻ᵀ · Φ(Lᵀ·dL) · L⁻¹ with Φ(X) = ½(tril(X) + tril(X, −1)ᵀ)
/// (the symmetric form PyTorch uses).

extension Tensor {
    /// X with A·X = B for A [..., n, n] and B [..., n, k].
    public static func solve(_ a: Tensor, _ b: Tensor) throws(LinearAlgebraError) -> Tensor {
        check(a.rank >= 2 && a.shape[a.rank - 1] == a.shape[a.rank - 2], "solve: A must be [..., n, n], got \(a.shape)")
        check(b.rank == a.rank && b.shape[b.rank - 2] == a.shape[a.rank - 1] && Array(b.shape.dropLast(2)) == Array(a.shape.dropLast(2)),
                     "solve: B must be [..., n, k] matching A \(a.shape), got \(b.shape)")
        check(a.dtype == b.dtype, "solve: dtypes differ (\(a.dtype), \(b.dtype))")
        let n = a.shape[a.rank - 1], k = b.shape[b.rank - 1]
        let factors = a.detached().copied(), x = b.detached().copied()
        let batches = a.count / Swift.max(n * n, 1)
        var failure: LinearAlgebraError?
        struct Solve: FloatKernel {
            let a: Tensor, x: Tensor, n: Int, k: Int, batches: Int
            let report: (LinearAlgebraError) -> Void
            func run<T: FloatElement>(_: T.Type) {
                for i in 0..<batches {
                    do throws(LinearAlgebraError) {
                        try backend.solve(a.pointer(T.self) + i * n * n, x.pointer(T.self) + i * n * k, n: n, nrhs: k)
                    } catch { report(error); return }
                }
            }
        }
        a.dtype.dispatchFloat(Solve(a: factors, x: x, n: n, k: k, batches: batches, report: { failure = $0 }), operation: "solve")
        if let failure { throw failure }
        return x.recorded("solve", [a, b]) { g in
            let x = Tensor.output(x) { try! solve(a, b) }
            let db = try! solve(a.transposed(), g)
            return [-db.matmul(x.transposed()), db]
        }
    }

    /// The inverse of a square matrix (or batch of them).
    public func inverse() throws(LinearAlgebraError) -> Tensor {
        check(rank >= 2 && shape[rank - 1] == shape[rank - 2], "inverse: needs [..., n, n], got \(shape)")
        let n = shape[rank - 1]
        let identity = Tensor.eye(n, dtype: dtype).expanded(to: shape).contiguous()
        let y = try Tensor.solve(detached(), identity)
        return y.recorded("inverse", [self]) { g in
            let y = Tensor.output(y) { try! self.inverse() }
            return [-(y.transposed().matmul(g).matmul(y.transposed()))]
        }
    }

    /// The lower-triangular Cholesky factor L of a symmetric positive-definite matrix,
    /// A = L·Lᵀ. Only the lower triangle of A is read.
    public func cholesky() throws(LinearAlgebraError) -> Tensor {
        check(rank >= 2 && shape[rank - 1] == shape[rank - 2], "cholesky: needs [..., n, n], got \(shape)")
        let n = shape[rank - 1]
        let l = detached().copied()
        let batches = count / Swift.max(n * n, 1)
        var failure: LinearAlgebraError?
        struct Factor: FloatKernel {
            let l: Tensor, n: Int, batches: Int
            let report: (LinearAlgebraError) -> Void
            func run<T: FloatElement>(_: T.Type) {
                for i in 0..<batches {
                    do throws(LinearAlgebraError) { try backend.cholesky(l.pointer(T.self) + i * n * n, n: n) }
                    catch { report(error); return }
                }
            }
        }
        dtype.dispatchFloat(Factor(l: l, n: n, batches: batches, report: { failure = $0 }), operation: "cholesky")
        if let failure { throw failure }
        return l.recorded("cholesky", [self]) { g in
            let l = Tensor.output(l) { try! self.cholesky() }
            let phi = l.transposed().matmul(g).lowerTriangle()
            let sym = (phi + phi.lowerTriangle(diagonal: -1).transposed()) * 0.5
            let lInverse = try! l.inverse()
            return [lInverse.transposed().matmul(sym).matmul(lInverse)]
        }
    }

    /// Entries on and below diagonal `diagonal` of the last two axes; zeros elsewhere.
    public func lowerTriangle(diagonal: Int = 0) -> Tensor {
        let (rows, columns) = (shape[rank - 2], shape[rank - 1])
        var mask = [Bool8](repeating: false, count: rows * columns)
        for i in 0..<rows { for j in 0..<columns where j - i <= diagonal { mask[i * columns + j] = true } }
        return Tensor.where(Tensor(mask, shape: [rows, columns]), self, Tensor.zeros([], dtype: dtype))
    }
}
