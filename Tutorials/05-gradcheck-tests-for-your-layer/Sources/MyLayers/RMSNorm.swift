import Tapestry
import TapestryNN

/// Root-mean-square layer normalization (Zhang & Sennrich, "Root Mean Square Layer
/// Normalization", NeurIPS 2019; `torch.nn.RMSNorm`): each vector of the last axis is
/// divided by its root mean square, then scaled per feature:
///
///     y = x / √(mean(x²) + ε) ⊙ weight
///
/// Unlike LayerNorm it subtracts no mean and adds no bias. The parameter is named `weight`,
/// as in PyTorch, so a state dict from `nn.RMSNorm(features)` loads by name.
public final class RMSNorm: Layer {
    public let weight: Parameter
    public let eps: Double

    public init(_ features: Int, eps: Double = 1e-6) {
        weight = Parameter(Tensor.ones([features]))
        self.eps = eps
    }

    override public func forward(_ input: Tensor) -> Tensor {
        guard input.shape.last == weight.shape[0] else {
            fatalError("RMSNorm(\(weight.shape[0])): the input's last axis must have \(weight.shape[0]) features, got shape \(input.shape)")
        }
        let meanSquare = (input * input).mean(axis: -1, keepDim: true)
        return input * (meanSquare + eps).rsqrt() * weight.value
    }
}
