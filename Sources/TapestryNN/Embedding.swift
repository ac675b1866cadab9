import Tapestry

/// A lookup table (`nn.Embedding`): y = W[i], row i of weight W [count, dim] for each index i.
/// Initialization as PyTorch: N(0, 1).
public final class Embedding: Module {
    public let weight: Parameter

    public init(_ count: Int, _ dimension: Int) {
        weight = Parameter(Initialization.normal([count, dimension]))
    }

    /// Rows for an Int64 tensor of indices of any shape → shape + [dim].
    public func callAsFunction(_ indices: Tensor) -> Tensor {
        weight.value.indexSelect(axis: 0, index: indices.reshaped([-1])).reshaped(indices.shape + [weight.shape[1]])
    }
}
