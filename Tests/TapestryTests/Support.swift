import Testing
@testable import Tapestry

/// Deterministic Float64 test inputs.
func randomTensor(_ shape: [Int], seed: UInt64, low: Double = -1, high: Double = 1, dtype: DType = .float64) -> Tensor {
    var rng = RandomGenerator(seed: seed)
    return Tensor.uniform(shape, low: low, high: high, dtype: dtype, generator: &rng)
}

/// Largest |a − b| over two equally long arrays.
func maxAbsDifference(_ a: [Double], _ b: [Double]) -> Double {
    precondition(a.count == b.count, "compared arrays differ in length: \(a.count) vs \(b.count)")
    return zip(a, b).map { Swift.abs($0 - $1) }.max() ?? 0
}

func expectClose(_ t: Tensor, _ expected: [Double], tolerance: Double = 1e-12, sourceLocation: SourceLocation = #_sourceLocation) {
    let values = t.doubles()
    #expect(values.count == expected.count, "got \(values.count) values, expected \(expected.count)", sourceLocation: sourceLocation)
    guard values.count == expected.count else { return }
    let diff = maxAbsDifference(values, expected)
    #expect(diff <= tolerance, "max difference \(diff): got \(values), expected \(expected)", sourceLocation: sourceLocation)
}

func expectGradcheck(_ inputs: [Tensor], mode: GradcheckMode = .full, eps: Double = 1e-6, sourceLocation: SourceLocation = #_sourceLocation,
                     _ function: @escaping ([Tensor]) -> Tensor) {
    let report = gradcheck(function, inputs: inputs, eps: eps, mode: mode)
    #expect(report.passed, "\(report)", sourceLocation: sourceLocation)
    #expect(report.checkedValues > 0, "gradcheck checked nothing", sourceLocation: sourceLocation)
}
