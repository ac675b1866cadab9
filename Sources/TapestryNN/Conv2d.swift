import Tapestry

/// 2-D convolution (`torch.nn.Conv2d`): y[n,o] = b[o] + Σ_c W[o,c] ⋆ x[n,c], cross-correlation
/// with stride, zero padding, dilation and groups. W [out, in/groups, kh, kw].
/// Initialization as PyTorch: W ~ U(±1/√fanIn), b ~ U(±1/√fanIn).
public final class Conv2d: Layer {
    public let weight: Parameter
    public let bias: Parameter?
    public let stride: (Int, Int)
    public let padding: (Int, Int)
    public let dilation: (Int, Int)
    public let groups: Int

    public init(_ inChannels: Int, _ outChannels: Int, kernelSize: (Int, Int), stride: (Int, Int) = (1, 1),
                padding: (Int, Int) = (0, 0), dilation: (Int, Int) = (1, 1), groups: Int = 1, bias: Bool = true) {
        check(inChannels % groups == 0 && outChannels % groups == 0, "Conv2d: channels \(inChannels) → \(outChannels) not divisible by groups \(groups)")
        let shape = [outChannels, inChannels / groups, kernelSize.0, kernelSize.1]
        weight = Parameter(Initialization.kaimingUniform(shape))
        let fanIn = Initialization.fans(shape).fanIn
        self.bias = bias ? Parameter(Initialization.uniform([outChannels], bound: 1 / Double(fanIn).squareRoot())) : nil
        (self.stride, self.padding, self.dilation, self.groups) = (stride, padding, dilation, groups)
    }

    /// Square kernel, stride, padding and dilation.
    public convenience init(_ inChannels: Int, _ outChannels: Int, kernelSize: Int, stride: Int = 1, padding: Int = 0,
                            dilation: Int = 1, groups: Int = 1, bias: Bool = true) {
        self.init(inChannels, outChannels, kernelSize: (kernelSize, kernelSize), stride: (stride, stride),
                  padding: (padding, padding), dilation: (dilation, dilation), groups: groups, bias: bias)
    }

    public var inChannels: Int { weight.shape[1] * groups }
    public var outChannels: Int { weight.shape[0] }

    override public func forward(_ input: Tensor) -> Tensor {
        input.conv2d(weight: weight.value, bias: bias?.value, stride: stride, padding: padding, dilation: dilation, groups: groups)
    }
}
