import Tapestry

/// A kernel of our own on every backend: the squared Euclidean distance between each row
/// of x [n, d] and each row of y [m, d], into out [n, m] (row-major):
///
///     out[i, j] = Σ_k (x[i, k] − y[j, k])²
///
/// (`torch.cdist(x, y) ** 2`). Written as an extension of `Backend`, so it runs on
/// whichever backend the build selected and can use that backend's other kernels.
extension Backend {
    /// The reference implementation: the formula, loop for loop. Slow (n·m·d scalar steps
    /// that no library speeds up) and easy to trust, it is what the fast kernel is checked
    /// against.
    public func squaredDistancesReference<T: FloatElement>(_ x: UnsafePointer<T>, _ y: UnsafePointer<T>, _ out: UnsafeMutablePointer<T>,
                                                           n: Int, m: Int, d: Int) {
        for i in 0..<n {
            for j in 0..<m {
                var sum: T = 0
                for k in 0..<d {
                    let difference = x[i * d + k] - y[j * d + k]
                    sum += difference * difference
                }
                out[i * m + j] = sum
            }
        }
    }

    /// The fast kernel: ‖x_i − y_j‖² = ‖x_i‖² + ‖y_j‖² − 2·x_i·y_j, so the n·m·d work is one
    /// matrix product x·yᵀ — this backend's `gemm` (OpenBLAS's sgemm/dgemm under the trait,
    /// the reference gemm without it). Rounding can leave a tiny negative where the
    /// distance is 0; it is clamped to 0, the value the reference gives.
    public func squaredDistances<T: FloatElement>(_ x: UnsafePointer<T>, _ y: UnsafePointer<T>, _ out: UnsafeMutablePointer<T>,
                                                  n: Int, m: Int, d: Int) {
        // out = x·yᵀ
        gemm(transposeA: false, transposeB: true, m: n, n: m, k: d, a: x, lda: d, b: y, ldb: d, c: out, ldc: m, accumulate: false)
        func squaredNorm(_ row: UnsafePointer<T>) -> T {
            var sum: T = 0
            for k in 0..<d { sum += row[k] * row[k] }
            return sum
        }
        let yNorms = (0..<m).map { squaredNorm(y + $0 * d) }
        for i in 0..<n {
            let xNorm = squaredNorm(x + i * d)
            for j in 0..<m { out[i * m + j] = Swift.max(0, xNorm + yNorms[j] - 2 * out[i * m + j]) }
        }
    }
}
