import Tapestry

/// max(x, 0).
public final class ReLU: Layer {
    override public init() {}
    override public func forward(_ input: Tensor) -> Tensor { input.relu() }
}

/// x·Φ(x), the exact (erf) form.
public final class GELU: Layer {
    override public init() {}
    override public func forward(_ input: Tensor) -> Tensor { input.gelu() }
}

/// 1 / (1 + e⁻ˣ).
public final class Sigmoid: Layer {
    override public init() {}
    override public func forward(_ input: Tensor) -> Tensor { input.sigmoid() }
}

/// tanh x.
public final class Tanh: Layer {
    override public init() {}
    override public func forward(_ input: Tensor) -> Tensor { input.tanh() }
}

/// Passes its input through unchanged.
public final class Identity: Layer {
    override public init() {}
    override public func forward(_ input: Tensor) -> Tensor { input }
}
