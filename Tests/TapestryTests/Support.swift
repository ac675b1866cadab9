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

/// conv2d by its definition, summed in Float64: y[n, o, oy, ox] = Σ_{c,i,j} w[o, c, i, j] ·
/// x[n, g·C/G + c, oy·sh − ph + i·dh, ox·sw − pw + j·dw] (zero outside the image), g = o's group.
func directConvolution(_ x: Tensor, _ w: Tensor, stride: (Int, Int) = (1, 1), padding: (Int, Int) = (0, 0),
                       dilation: (Int, Int) = (1, 1), groups: Int = 1) -> [Double] {
    let (n, c, h, wd) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
    let (o, cg, kh, kw) = (w.shape[0], w.shape[1], w.shape[2], w.shape[3])
    let oh = (h + 2 * padding.0 - dilation.0 * (kh - 1) - 1) / stride.0 + 1
    let ow = (wd + 2 * padding.1 - dilation.1 * (kw - 1) - 1) / stride.1 + 1
    let xv = x.doubles(), wv = w.doubles()
    var out = [Double](repeating: 0, count: n * o * oh * ow)
    for b in 0..<n { for oc in 0..<o { for i in 0..<oh { for j in 0..<ow {
        var s = 0.0
        let group = oc / (o / groups)
        for ci in 0..<cg { for p in 0..<kh { for q in 0..<kw {
            let y = i * stride.0 - padding.0 + p * dilation.0, z = j * stride.1 - padding.1 + q * dilation.1
            guard y >= 0 && y < h && z >= 0 && z < wd else { continue }
            let channel = group * cg + ci
            s += xv[((b * c + channel) * h + y) * wd + z] * wv[((oc * cg + ci) * kh + p) * kw + q]
        } } }
        out[((b * o + oc) * oh + i) * ow + j] = s
    } } } }
    return out
}
