import Tapestry

/// The rectified linear unit (`nn.ReLU`; Nair & Hinton, ICML 2010): y = max(x, 0).
public final class ReLU: Layer {
    override public init() {}
    override public func forward(_ input: Tensor) -> Tensor { input.relu() }
}

/// The Gaussian error linear unit (`nn.GELU`; Hendrycks & Gimpel, "Gaussian Error Linear
/// Units", 2016), exact form: y = x·Φ(x) = x·(1 + erf(x/√2))/2.
public final class GELU: Layer {
    override public init() {}
    override public func forward(_ input: Tensor) -> Tensor { input.gelu() }
}

/// The logistic sigmoid (`nn.Sigmoid`): y = 1 / (1 + e⁻ˣ).
public final class Sigmoid: Layer {
    override public init() {}
    override public func forward(_ input: Tensor) -> Tensor { input.sigmoid() }
}

/// The hyperbolic tangent (`nn.Tanh`): y = tanh x = (eˣ − e⁻ˣ)/(eˣ + e⁻ˣ).
public final class Tanh: Layer {
    override public init() {}
    override public func forward(_ input: Tensor) -> Tensor { input.tanh() }
}

/// The identity (`nn.Identity`): y = x, for a slot in a model that computes nothing.
public final class Identity: Layer {
    override public init() {}
    override public func forward(_ input: Tensor) -> Tensor { input }
}
