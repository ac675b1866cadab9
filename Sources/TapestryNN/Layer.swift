import Tapestry

/// A module with one tensor in and one tensor out, so it can sit in a `Sequential`.
open class Layer: Module {
    open func forward(_ input: Tensor) -> Tensor {
        fatalError("\(type(of: self)) must override forward(_:)")
    }

    public func callAsFunction(_ input: Tensor) -> Tensor { forward(input) }
}

/// Layers applied one after another, y = f_{n−1}(… f_1(f_0(x))); children are keyed `0`,
/// `1`, … like `nn.Sequential`.
public final class Sequential: Layer {
    public let layers: [Layer]

    public init(_ layers: [Layer]) { self.layers = layers }
    public convenience init(_ layers: Layer...) { self.init(layers) }

    override public func namedChildren() -> [(String, Module)] { layers.enumerated().map { ("\($0.offset)", $0.element) } }

    override public func forward(_ input: Tensor) -> Tensor { layers.reduce(input) { $1($0) } }
}
