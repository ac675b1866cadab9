import Tapestry

/// DETR's multi-layer perceptron (Carion et al., ECCV 2020; detr/models/detr.py `MLP`): `layers.0 … layers.{n−1}` are
/// Linear layers with ReLU between them and none after the last:
/// x → relu(L₀x) → relu(L₁·) → … → L_{n−1}·.
public final class MLP: Layer {
    public let layers: [Linear]

    public init(inputDim: Int, hiddenDim: Int, outputDim: Int, layerCount: Int) {
        check(layerCount >= 1, "MLP: needs at least one layer")
        let sizes = [inputDim] + Array(repeating: hiddenDim, count: layerCount - 1) + [outputDim]
        layers = (0..<layerCount).map { Linear(sizes[$0], sizes[$0 + 1]) }
    }

    override public func forward(_ input: Tensor) -> Tensor {
        var x = input
        for (i, layer) in layers.enumerated() {
            x = layer(x)
            if i < layers.count - 1 { x = x.relu() }
        }
        return x
    }
}
