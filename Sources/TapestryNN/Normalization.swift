import Tapestry

/// Layer normalization over the trailing `normalizedShape` axes (Ba, Kiros & Hinton, 2016;
/// `nn.LayerNorm`): y = (x − μ)/√(σ² + ε)·weight + bias with the biased variance.
public final class LayerNorm: Layer {
    public let weight: Parameter
    public let bias: Parameter
    public let eps: Double

    public init(_ normalizedShape: [Int], eps: Double = 1e-5) {
        weight = Parameter(Tensor.ones(normalizedShape))
        bias = Parameter(Tensor.zeros(normalizedShape))
        self.eps = eps
    }
    public convenience init(_ features: Int, eps: Double = 1e-5) { self.init([features], eps: eps) }

    override public func forward(_ input: Tensor) -> Tensor {
        check(Array(input.shape.suffix(weight.shape.count)) == weight.shape, "LayerNorm\(weight.shape): input has shape \(input.shape)")
        return input.layerNorm(normalizedAxes: weight.shape.count, weight: weight.value, bias: bias.value, eps: eps)
    }
}

/// Group normalization (Wu & He, 2018; `nn.GroupNorm`): channels split into G groups; each
/// sample and group is normalized over its C/G channels and all positions, then a
/// per-channel affine: y = (x − μ_g)/√(σ_g² + ε)·weight[c] + bias[c].
public final class GroupNorm: Layer {
    public let weight: Parameter
    public let bias: Parameter
    public let groups: Int
    public let eps: Double

    public init(groups: Int, channels: Int, eps: Double = 1e-5) {
        check(channels % groups == 0, "GroupNorm: \(channels) channels do not split into \(groups) groups")
        weight = Parameter(Tensor.ones([channels]))
        bias = Parameter(Tensor.zeros([channels]))
        (self.groups, self.eps) = (groups, eps)
    }

    override public func forward(_ input: Tensor) -> Tensor {
        let channels = weight.shape[0]
        check(input.rank >= 2 && input.shape[1] == channels, "GroupNorm(\(channels)): input must be [N, \(channels), …], got \(input.shape)")
        let grouped = input.reshaped([input.shape[0], groups, -1]).layerNorm(normalizedAxes: 1, eps: eps).reshaped(input.shape)
        var channel = Array(repeating: 1, count: input.rank)
        channel[1] = channels
        return grouped * weight.value.reshaped(channel) + bias.value.reshaped(channel)
    }
}
