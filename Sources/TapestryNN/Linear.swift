import Tapestry

/// Fully connected layer: y = x·Wᵀ + b, with W [out, in] and b [out] (`torch.nn.Linear`).
/// Initialization as PyTorch: W ~ U(±1/√in) (Kaiming uniform, a = √5), b ~ U(±1/√in).
public final class Linear: Layer {
    public let weight: Parameter
    public let bias: Parameter?

    public init(_ inFeatures: Int, _ outFeatures: Int, bias: Bool = true) {
        weight = Parameter(Initialization.kaimingUniform([outFeatures, inFeatures]))
        self.bias = bias ? Parameter(Initialization.uniform([outFeatures], bound: 1 / Double(inFeatures).squareRoot())) : nil
    }

    public var inFeatures: Int { weight.shape[1] }
    public var outFeatures: Int { weight.shape[0] }

    override public func forward(_ input: Tensor) -> Tensor {
        check(input.shape.last == inFeatures, "Linear(\(inFeatures) → \(outFeatures)): input has shape \(input.shape)")
        let y = input.matmul(weight.value.transposed())
        return bias.map { y + $0.value } ?? y
    }
}
