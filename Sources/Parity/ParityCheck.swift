import Tapestry
import TapestryNN

/// Runs a fixture and compares every recorded tensor with what Tapestry computes.
///
/// Errors are relative: max|ours − reference| / max(max|reference|, floor) per tensor
/// (gradient samples: relative to the whole gradient's max |g| from `gradstat`). The floor
/// makes a tensor that is exactly zero in exact arithmetic compare absolutely, at the
/// rounding level of the whole computation: 10⁻⁶ for outputs, and for gradients 10⁻⁶ of
/// the largest gradient entry in the fixture (at least 10⁻⁶). DETR's and SMCA's first
/// decoder self-attention sees all-zero values, so its query/key gradients are rounding
/// noise (10⁻¹⁷ in the reference, 10⁻⁸ in Float32 next to gradients of 10²).
///
/// A gradient's statistics (L2 norm, sum, max |g|) are each judged at the scale their
/// elements' errors add up to: the norm and the max relative to themselves, the sum
/// relative to √N·‖g‖ ≥ Σ|g| (a sum of N entries of both signs cancels, so its own size
/// says nothing about its rounding). Tolerances follow FORMAT.md: Float64 1e-9 for
/// everything; Float32 1e-4 for outputs, losses and checksums, 1e-3 for gradients.
public enum ParityCheck {
    public struct Line: Sendable {
        public let name: String
        public let shape: [Int]
        public let error: Double
        public let tolerance: Double
        public let note: String?
        /// Why this line is held to a wider tolerance than FORMAT.md's (see `ParityWaiver`).
        public var waived: String? = nil
        public var passed: Bool { note == nil && error <= tolerance }
    }

    public struct Report: Sendable {
        public let fixture: String
        public let dtype: DType
        public let lines: [Line]
        public var passed: Bool { !lines.isEmpty && lines.allSatisfy(\.passed) }
        public var failures: [Line] { lines.filter { !$0.passed } }
    }

    /// Runs `fixture` with the runner registered for its model.
    public static func run(_ fixture: Fixture, dtype: DType, runners: [String: FixtureRunner], waivers: [ParityWaiver] = ParityWaiver.all) throws -> Report {
        guard let runner = runners[fixture.model] else {
            throw FixtureError(path: fixture.path, problem: "no runner for model \"\(fixture.model)\" (known: \(runners.keys.sorted().joined(separator: ", ")))")
        }
        let run = try runner(fixture, dtype)
        let report = try compare(fixture, run, dtype: dtype)
        let lines = report.lines.map { line in
            guard let waiver = waivers.first(where: { $0.covers(line.name, fixture: fixture.path, dtype: dtype) }) else { return line }
            var waived = Line(name: line.name, shape: line.shape, error: line.error, tolerance: waiver.tolerance, note: line.note)
            waived.waived = waiver.reason
            return waived
        }
        return Report(fixture: report.fixture, dtype: dtype, lines: lines)
    }

    static func compare(_ fixture: Fixture, _ run: FixtureRun, dtype: DType) throws -> Report {
        let loss = try run.total ?? cotangentLoss(fixture, run, dtype: dtype)
        let parameters = Dictionary(run.module?.namedParameters() ?? [], uniquingKeysWith: { a, _ in a })
        // Every state-dict key, a shared parameter under each of its names.
        let state = run.initialState ?? Dictionary(run.module?.stateDict() ?? [], uniquingKeysWith: { a, _ in a })
        // Gradients of the loss with respect to every recorded input and trainable parameter.
        var wrt: [(String, Tensor)] = run.inputs.filter { $0.value.requiresGrad }.map { ($0.key, $0.value) }
        wrt += parameters.filter { $0.value.requiresGrad }.map { ($0.key, $0.value.value) }
        var grads: [String: Tensor] = [:]
        if let loss, loss.requiresGrad, !wrt.isEmpty {
            for (key, g) in zip(wrt.map(\.0), gradients(of: [loss], wrt: wrt.map(\.1))) { grads[key] = g }
        }
        let outputTolerance = dtype == .float64 ? 1e-9 : 1e-4
        let gradientTolerance = dtype == .float64 ? 1e-9 : 1e-3
        let gradientFloor = 1e-6 * Swift.max(1, largestGradient(fixture))

        var lines: [Line] = []
        func line(_ name: String, _ reference: Tensor, _ ours: Tensor?, tolerance: Double, missing: String, scale: Double = 0, floor: Double = 1e-6) {
            guard let ours else { lines.append(Line(name: name, shape: reference.shape, error: .infinity, tolerance: tolerance, note: missing)); return }
            guard ours.count == reference.count else {
                lines.append(Line(name: name, shape: reference.shape, error: .infinity, tolerance: tolerance, note: "shape \(ours.shape) instead of \(reference.shape)"))
                return
            }
            lines.append(Line(name: name, shape: reference.shape, error: relativeError(ours, reference, scale: scale, floor: floor), tolerance: tolerance, note: nil))
        }
        for (name, reference) in fixture.file.tensors {
            let parts = name.split(separator: ".", maxSplits: 1).map(String.init)
            guard parts.count == 2 else { continue }
            let (kind, rest) = (parts[0], parts[1])
            switch kind {
            case "output":
                line(name, reference, run.outputs[rest], tolerance: reference.dtype.isFloatingPoint ? outputTolerance : 0, missing: "not produced")
            case "loss":
                line(name, reference, rest == "total" ? loss : run.losses[rest], tolerance: outputTolerance, missing: "not produced")
            case "grad":
                let missing = parameters[rest].map { $0.requiresGrad ? "no gradient reached it" : "frozen here, trainable in the reference" }
                    ?? (run.inputs[rest] == nil ? "no input or parameter with this name" : "no gradient reached it")
                line(name, reference, grads[rest], tolerance: gradientTolerance, missing: missing, floor: gradientFloor)
            case "gradstat":
                guard let g = grads[rest] else {
                    line(name, reference, nil, tolerance: gradientTolerance, missing: "no gradient for \(rest)")
                    continue
                }
                lines.append(Line(name: name, shape: reference.shape, error: statisticsError(g, reference, floor: gradientFloor),
                                  tolerance: gradientTolerance, note: nil))
            case "gradsample":
                guard rest.hasSuffix(".value") else { continue }
                let key = String(rest.dropLast(".value".count))
                let indices = try fixture.tensor("gradsample.\(key).index").scalars(as: Int64.self).map(Int.init)
                let sample = grads[key].map { g -> Tensor in
                    let flat = g.contiguous().doubles()
                    return Tensor(indices.map { flat[$0] }, shape: [indices.count], dtype: .float64)
                }
                // Samples are judged against the whole gradient's scale (gradstat's max |g|).
                let scale = fixture.file["gradstat.\(key)"].map { $0.doubles()[2] } ?? 0
                line(name, reference, sample, tolerance: gradientTolerance, missing: "no gradient for \(key)", scale: scale, floor: gradientFloor)
            case "param":
                guard rest.hasPrefix("checksum.") else { continue }
                let key = String(rest.dropFirst("checksum.".count))
                line(name, reference, state[key].map(checksum), tolerance: outputTolerance, missing: "no parameter or buffer with this name")
            case "match":
                line(name, reference, run.exact[name], tolerance: 0, missing: "not produced")
            default:
                if let ours = run.named[name] { line(name, reference, ours, tolerance: outputTolerance, missing: "") }
            }
        }
        for (name, failure) in run.checks {
            lines.append(Line(name: name, shape: [], error: failure == nil ? 0 : .infinity, tolerance: 0, note: failure))
        }
        return Report(fixture: fixture.path, dtype: dtype, lines: lines)
    }

    /// Σ_o sum(output_o · input.cotangent.o) over the outputs that have a cotangent.
    static func cotangentLoss(_ fixture: Fixture, _ run: FixtureRun, dtype: DType) throws -> Tensor? {
        var total: Tensor?
        for (name, output) in run.outputs.sorted(by: { $0.key < $1.key }) where output.dtype.isFloatingPoint {
            guard let cotangent = fixture.file["input.cotangent.\(name)"] else { continue }
            let term = (output * cotangent.cast(to: output.dtype).reshaped(output.shape)).sum()
            total = total.map { $0 + term } ?? term
        }
        return total
    }

    /// max|ours − reference| / max(max|reference|, scale, floor).
    static func relativeError(_ ours: Tensor, _ reference: Tensor, scale minimumScale: Double = 0, floor: Double = 1e-6) -> Double {
        let a = ours.doubles(), b = reference.doubles()
        var worst = 0.0, scale = minimumScale
        for (x, y) in zip(a, b) {
            worst = Swift.max(worst, x.isNaN != y.isNaN ? .infinity : (x.isNaN ? 0 : Swift.abs(x - y)))
            scale = Swift.max(scale, Swift.abs(y))
        }
        return worst / Swift.max(scale, floor)
    }

    /// The error of a gradient's (L2 norm, sum, max |g|): the norm and the max relative to
    /// themselves, the sum relative to √N·‖g‖; each at least at `floor`.
    static func statisticsError(_ gradient: Tensor, _ reference: Tensor, floor: Double) -> Double {
        let ours = gradientStatistics(gradient).doubles(), expected = reference.doubles()
        guard expected.count == 3 else { return .infinity }
        let scales = [expected[0], expected[0] * Double(gradient.count).squareRoot(), expected[2]]
        return (0..<3).map { i in
            ours[i].isNaN ? .infinity : Swift.abs(ours[i] - expected[i]) / Swift.max(Swift.abs(scales[i]), floor)
        }.max()!
    }

    /// The largest |entry| over every gradient the fixture records (grad.* and gradstat's max).
    static func largestGradient(_ fixture: Fixture) -> Double {
        fixture.file.tensors.reduce(0) { largest, entry in
            let (name, tensor) = entry
            if name.hasPrefix("grad.") { return Swift.max(largest, tensor.doubles().map(Swift.abs).max() ?? 0) }
            if name.hasPrefix("gradstat.") { return Swift.max(largest, tensor.doubles()[2]) }
            return largest
        }
    }

    /// (L2 norm, sum, max |g|), as the fixtures' gradstat entries.
    static func gradientStatistics(_ g: Tensor) -> Tensor {
        let v = g.doubles()
        return Tensor([v.reduce(0) { $0 + $1 * $1 }.squareRoot(), v.reduce(0, +), v.map(Swift.abs).max() ?? 0], shape: [3], dtype: .float64)
    }

    /// (sum, sum of squares), as the fixtures' param.checksum entries.
    static func checksum(_ t: Tensor) -> Tensor {
        let v = t.doubles()
        return Tensor([v.reduce(0, +), v.reduce(0) { $0 + $1 * $1 }], shape: [2], dtype: .float64)
    }
}
