/// Reference linear algebra: LU with partial pivoting (solve) and Cholesky–Banachiewicz,
/// as in Golub & Van Loan, "Matrix Computations", §3.4 and §4.2.

extension Backend {
    public func solve<T: FloatElement>(_ a: UnsafeMutablePointer<T>, _ b: UnsafeMutablePointer<T>, n: Int, nrhs: Int) throws(LinearAlgebraError) {
        for col in 0..<n {
            // Partial pivoting: bring the largest remaining entry of this column up.
            var pivot = col
            for r in (col + 1)..<max(n, col + 1) where abs(a[r * n + col]) > abs(a[pivot * n + col]) { pivot = r }
            guard a[pivot * n + col] != 0 else { throw .singular(pivot: col) }
            if pivot != col {
                for j in 0..<n { swap(&a[pivot * n + j], &a[col * n + j]) }
                for j in 0..<nrhs { swap(&b[pivot * nrhs + j], &b[col * nrhs + j]) }
            }
            let diagonal = a[col * n + col]
            for r in (col + 1)..<max(n, col + 1) {
                let factor = a[r * n + col] / diagonal
                guard factor != 0 else { continue }
                for j in col..<n { a[r * n + j] -= factor * a[col * n + j] }
                for j in 0..<nrhs { b[r * nrhs + j] -= factor * b[col * nrhs + j] }
            }
        }
        // Back substitution.
        for r in stride(from: n - 1, through: 0, by: -1) {
            for j in 0..<nrhs {
                var s = b[r * nrhs + j]
                for p in (r + 1)..<max(n, r + 1) { s -= a[r * n + p] * b[p * nrhs + j] }
                b[r * nrhs + j] = s / a[r * n + r]
            }
        }
    }

    public func cholesky<T: FloatElement>(_ a: UnsafeMutablePointer<T>, n: Int) throws(LinearAlgebraError) {
        for i in 0..<n {
            for j in 0...i {
                var s = a[i * n + j]
                for p in 0..<j { s -= a[i * n + p] * a[j * n + p] }
                if i == j {
                    guard s > 0 else { throw .notPositiveDefinite(order: i + 1) }
                    a[i * n + i] = s.squareRoot()
                } else {
                    a[i * n + j] = s / a[j * n + j]
                }
            }
            for j in (i + 1)..<max(n, i + 1) { a[i * n + j] = 0 }
        }
    }
}
