import Tapestry

/// A documented exception to FORMAT.md's Float32 tolerances: gradients of one fixture that
/// are ill-conditioned in Float32, held to a wider tolerance on the one backend where the
/// rounding order makes them move. Both `zoo parity` and the test suite apply these, so the
/// two always give the same verdict; the test also checks that each waiver is still needed.
public struct ParityWaiver: Sendable {
    /// The fixture's file name.
    public let fixture: String
    /// The parameter-name prefix whose gradients (grad., gradstat., gradsample.) are waived.
    public let parameters: String
    /// The backend (`backend.name`) it applies on.
    public let backend: String
    public let tolerance: Double
    public let reason: String

    /// Whether this waiver covers line `name` of `fixture` in `dtype` on the running backend.
    func covers(_ name: String, fixture path: String, dtype: DType) -> Bool {
        guard dtype == .float32, backend == Tapestry.backend.name, path.hasSuffix("/" + fixture) || path == fixture else { return false }
        return ["grad.", "gradstat.", "gradsample."].contains { name.hasPrefix($0 + parameters) }
    }

    public static let all = [
        ParityWaiver(
            fixture: "detr-r50-tiny.safetensors", parameters: "backbone.0.body.layer2.0.", backend: "reference", tolerance: 2e-2,
            reason: """
                in the Float64 reference some pre-ReLU activations of this block lie 2.6e-6 and 6.2e-6 from zero \
                (values are ~1), inside Float32 rounding noise: whether the ReLU passes their gradient depends on the \
                rounding order of the matrix products, which moves these gradients' sums by up to 1.7% with the plain \
                Swift gemm (OpenBLAS rounds like the reference)
                """),
    ]
}
