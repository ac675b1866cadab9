import Testing
import Tapestry
import MyKernels

/// A new kernel is checked against its reference, by hand, and through its gradient; and
/// the build is checked to run the backend its trait names.
@Suite struct SquaredDistancesTests {
    /// The fast kernel against the reference, element by element, on sizes that are not
    /// multiples of any block size. The fast form subtracts large terms, so its rounding
    /// error scales with ‖x_i‖² + ‖y_j‖², not with the distance: the bound is that scale
    /// times a few units in the last place. Fails when the gemm call is wrong (a transpose
    /// flag, a leading dimension, a norm of the wrong row).
    @Test(arguments: [DType.float64, .float32])
    func fastKernelMatchesTheReference(dtype: DType) {
        var generator = RandomGenerator(seed: 7)
        let (n, m, d) = (37, 29, 70)
        let x = Tensor.normal([n, d], dtype: .float64, generator: &generator).doubles()
        let y = Tensor.normal([m, d], dtype: .float64, generator: &generator).doubles()
        let (fast, reference) = dtype == .float64 ? bothKernels(Double.self, x, y, n: n, m: m, d: d)
                                                  : bothKernels(Float.self, x, y, n: n, m: m, d: d)
        let unit = dtype == .float64 ? Double.ulpOfOne : Double(Float.ulpOfOne)
        var worst = 0.0
        for i in 0..<n {
            for j in 0..<m {
                let scale = (0..<d).reduce(0.0) { $0 + x[i * d + $1] * x[i * d + $1] + y[j * d + $1] * y[j * d + $1] }
                worst = Swift.max(worst, Swift.abs(fast[i * m + j] - reference[i * m + j]) / (scale * unit))
            }
        }
        // Measured: about 5 units in either dtype.
        #expect(worst < 16, "the fast kernel differs from the reference by \(worst) units of ‖x_i‖² + ‖y_j‖²")
    }

    func bothKernels<T: FloatElement>(_ type: T.Type, _ x: [Double], _ y: [Double], n: Int, m: Int, d: Int) -> ([Double], [Double]) {
        let (xs, ys) = (x.map { T(fromDouble: $0) }, y.map { T(fromDouble: $0) })
        var fast = [T](repeating: 0, count: n * m), reference = fast
        backend.squaredDistances(xs, ys, &fast, n: n, m: m, d: d)
        backend.squaredDistancesReference(xs, ys, &reference, n: n, m: m, d: d)
        return (fast.map(\.asDouble), reference.map(\.asDouble))
    }

    /// By hand: x = (0, 0), (1, 2), (3, 4); y = (3, 4), (0, 0):
    /// (0−3)² + (0−4)² = 25, 0; (1−3)² + (2−4)² = 8, 1 + 4 = 5; 0, 25.
    /// Fails when the operation itself is wrong (distances instead of their squares, x and
    /// y swapped), which checking one kernel against the other cannot see.
    @Test func threePointsByHand() {
        let x = Tensor([0.0, 0, 1, 2, 3, 4], shape: [3, 2]), y = Tensor([3.0, 4, 0, 0], shape: [2, 2])
        #expect(squaredDistances(x, y).doubles() == [25, 0, 8, 5, 0, 25])
    }

    /// The hand-written backward rule against central differences, in Float64. Fails when a
    /// term of the derivative is missing or has the wrong sign.
    @Test func gradientsMatchCentralDifferences() {
        var generator = RandomGenerator(seed: 3)
        let x = Tensor.normal([4, 3], dtype: .float64, generator: &generator)
        let y = Tensor.normal([5, 3], dtype: .float64, generator: &generator)
        let report = gradcheck({ squaredDistances($0[0], $0[1]) }, inputs: [x, y])
        #expect(report.passed, "\(report)")
    }

    /// The trait reaches Tapestry: built with `OpenBLAS` (the default), `backend` is
    /// OpenBLAS; built with `--disable-default-traits`, the reference. Fails when the trait is
    /// not forwarded and both builds run the same backend.
    @Test func theTraitPicksTheBackend() {
        #if OpenBLAS
        #expect(backend.name == "openblas")
        #else
        #expect(backend.name == "reference")
        #endif
    }
}
