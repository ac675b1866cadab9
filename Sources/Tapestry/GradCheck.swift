/// Gradient checking: compares the tape's gradients with central finite differences,
/// (f(x + ε) − f(x − ε)) / 2ε, in Float64 — the same test as `torch.autograd.gradcheck`.

/// The outcome of a gradient check, with the worst disagreement.
public struct GradcheckReport: CustomStringConvertible, Sendable {
    public var passed: Bool
    /// Largest |analytical − numerical| − (atol + rtol·|numerical|) seen (≤ 0 when passed).
    public var worstExcess: Double
    public var worstInput: Int
    /// Multi-index of the worst element within its input (empty in direction mode).
    public var worstIndex: [Int]
    public var analytical: Double
    public var numerical: Double
    public var checkedValues: Int
    public var mode: String

    public var description: String {
        let verdict = passed ? "passed" : "FAILED"
        let place = worstIndex.isEmpty ? "input \(worstInput)" : "input \(worstInput) at \(worstIndex)"
        return "gradcheck \(verdict) (\(mode), \(checkedValues) values): worst at \(place): analytical \(analytical), numerical \(numerical), |diff| \(Swift.abs(analytical - numerical))"
    }
}

public enum GradcheckMode: Sendable {
    /// Every element of every input, against the gradient of ⟨v, f(x)⟩ for a fixed random v.
    case full
    /// `count` random directions u: compares ∇⟨v, f⟩·u with the directional difference.
    /// Cheap for large inputs (PyTorch's fast mode).
    case randomDirections(count: Int)
}

/// Checks the gradients of `function` at `inputs` (converted to Float64). Inputs that are
/// not floating point are passed through unchanged and not checked.
///
/// The scalar checked is ⟨v, f(x)⟩ with v a fixed random cotangent, so every output
/// element takes part. Defaults match PyTorch: eps 1e-6, atol 1e-5, rtol 1e-3.
public func gradcheck(_ function: ([Tensor]) -> Tensor, inputs: [Tensor], eps: Double = 1e-6, atol: Double = 1e-5,
                      rtol: Double = 1e-3, mode: GradcheckMode = .full, seed: UInt64 = 0) -> GradcheckReport {
    var rng = RandomGenerator(seed: seed)
    let checked = inputs.map { $0.dtype.isFloatingPoint }
    let base = inputs.map { $0.dtype.isFloatingPoint ? $0.detached().cast(to: .float64).contiguous() : $0 }
    let probe = noGrad { function(base) }
    check(probe.dtype == .float64, "gradcheck: the function must return Float64 for Float64 inputs, got \(probe.dtype)")
    let cotangent = Tensor.normal(probe.shape, dtype: .float64, generator: &rng)

    func objective(_ values: [Tensor]) -> Double { noGrad { (function(values) * cotangent).sum().item() } }

    // Analytical gradient of ⟨v, f⟩ for each checked input.
    let leaves = zip(base, checked).map { $1 ? $0.requiringGrad() : $0 }
    let output = function(leaves)
    let wrt = leaves.enumerated().filter { checked[$0.offset] }
    let analytical: [Int: [Double]]
    if output.requiresGrad && !wrt.isEmpty {
        let grads = gradients(of: [output], wrt: wrt.map(\.element), cotangents: [cotangent])
        analytical = Dictionary(uniqueKeysWithValues: zip(wrt.map(\.offset), grads.map { $0.cast(to: .float64).doubles() }))
    } else {
        analytical = Dictionary(uniqueKeysWithValues: wrt.map { ($0.offset, [Double](repeating: 0, count: $0.element.count)) })
    }

    var report = GradcheckReport(passed: true, worstExcess: -.infinity, worstInput: 0, worstIndex: [], analytical: 0,
                                 numerical: 0, checkedValues: 0, mode: "\(mode)")
    func record(_ a: Double, _ n: Double, input: Int, index: [Int]) {
        let excess = Swift.abs(a - n) - (atol + rtol * Swift.abs(n))
        report.checkedValues += 1
        if excess > report.worstExcess || !excess.isFinite && report.worstExcess.isFinite {
            report.worstExcess = excess.isNaN ? .infinity : excess
            (report.worstInput, report.worstIndex, report.analytical, report.numerical) = (input, index, a, n)
        }
        if !(excess <= 0) { report.passed = false }
    }

    switch mode {
    case .full:
        for (i, input) in base.enumerated() where checked[i] {
            var values = input.doubles()
            let strides = contiguousStrides(input.shape)
            for e in 0..<values.count {
                let original = values[e]
                var shifted = base
                values[e] = original + eps
                shifted[i] = Tensor(values, shape: input.shape)
                let plus = objective(shifted)
                values[e] = original - eps
                shifted[i] = Tensor(values, shape: input.shape)
                let minus = objective(shifted)
                values[e] = original
                let index = strides.enumerated().map { axis, s in (e / s) % Swift.max(input.shape[axis], 1) }
                record(analytical[i]![e], (plus - minus) / (2 * eps), input: i, index: index)
            }
        }
    case .randomDirections(let count):
        for _ in 0..<count {
            let directions = base.enumerated().map { i, t in checked[i] ? Tensor.normal(t.shape, dtype: .float64, generator: &rng) : t }
            var predicted = 0.0
            for (i, d) in directions.enumerated() where checked[i] {
                predicted += zip(analytical[i]!, d.doubles()).reduce(0) { $0 + $1.0 * $1.1 }
            }
            let plus = objective(base.enumerated().map { i, t in checked[i] ? t + directions[i] * eps : t })
            let minus = objective(base.enumerated().map { i, t in checked[i] ? t - directions[i] * eps : t })
            record(predicted, (plus - minus) / (2 * eps), input: 0, index: [])
        }
    }
    if report.checkedValues == 0 { report.worstExcess = 0 }
    return report
}
