import Tapestry

/// The window geometry shared by the 2-D pooling layers.
public class WindowPooling2d: Layer {
    public let kernelSize: (Int, Int), stride: (Int, Int), padding: (Int, Int)

    /// Square window; the stride defaults to the window size, as in PyTorch.
    public init(kernelSize: Int, stride: Int? = nil, padding: Int = 0) {
        self.kernelSize = (kernelSize, kernelSize)
        self.stride = (stride ?? kernelSize, stride ?? kernelSize)
        self.padding = (padding, padding)
    }
}

/// Max pooling (`nn.MaxPool2d`): y_ij = max over the window at (s·i − p, s·j − p) of x;
/// padding counts as −∞.
public final class MaxPool2d: WindowPooling2d {
    override public func forward(_ input: Tensor) -> Tensor { input.maxPool2d(kernel: kernelSize, stride: stride, padding: padding) }
}

/// Average pooling (`nn.AvgPool2d`, count_include_pad=True): y_ij = (1/(k_h·k_w))·Σ x over
/// the window at (s·i − p, s·j − p), padding counted as zeros.
public final class AvgPool2d: WindowPooling2d {
    override public func forward(_ input: Tensor) -> Tensor { input.avgPool2d(kernel: kernelSize, stride: stride, padding: padding) }
}

/// Adaptive average pooling (`nn.AdaptiveAvgPool2d`) to a fixed output size (H′, W′): y_ij is
/// the mean of x over rows ⌊iH/H′⌋ ..< ⌈(i+1)H/H′⌉ and columns ⌊jW/W′⌋ ..< ⌈(j+1)W/W′⌉.
public final class AdaptiveAvgPool2d: Layer {
    public let outputSize: (Int, Int)
    public init(outputSize: (Int, Int)) { self.outputSize = outputSize }
    override public func forward(_ input: Tensor) -> Tensor { input.adaptiveAvgPool2d(outputSize: outputSize) }
}
