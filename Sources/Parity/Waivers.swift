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
        guard dtype == .float32, backend == Tapestry.backend.name,
              path.hasSuffix("/" + fixture) || path == fixture else { return false }
        return ["grad.", "gradstat.", "gradsample."].contains { name.hasPrefix($0 + parameters) }
    }

    public static let all = [
        ParityWaiver(
            fixture: "detr-r50-tiny.safetensors", parameters: "backbone.0.body.layer2.0.", backend: "reference", tolerance: 2e-3,
            reason: """
                in the Float64 reference some pre-ReLU activations of this block lie 2.6e-6 and 6.2e-6 from zero \
                (values are ~1), inside Float32 rounding noise: whether the ReLU passes their gradient depends on the \
                rounding order of the products, which moves these gradients' sums by up to 0.11% with the plain Swift \
                gemm beside the blocked convolution of layer2's 19 × 19 maps (within 10⁻³ with OpenBLAS's AVX2 and \
                AVX-512 kernels)
                """),
        ParityWaiver(
            fixture: "smca-r50-ss-type3-tiny.safetensors", parameters: "backbone.0.body.", backend: "reference", tolerance: 4e-3,
            reason: """
                in the Float64 reference 23 pre-ReLU activations of layer2–layer4 lie within 10⁻⁶ of their tensor's \
                largest value from zero (layer4.2's first one 5.0e-5 next to 84), inside Float32 rounding noise: in the \
                summation order of the plain Swift gemm and direct convolution some of them change sides, which moves \
                the backbone's gradients by up to 0.36% (OpenBLAS's kernels keep them within 10⁻³); the transformer's \
                and input_proj's stay within FORMAT.md's tolerances
                """),
    ]
}
