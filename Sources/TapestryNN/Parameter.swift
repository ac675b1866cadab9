import Tapestry

/// A trainable tensor owned by a module (like `torch.nn.Parameter`).
///
/// Modules hold parameters by reference, so an optimizer can update `value` in place of
/// the module's property. When `requiresGrad` is true, `value` is a leaf on the tape.
public final class Parameter {
    public var value: Tensor {
        didSet { if requiresGrad != value.requiresGrad { value = requiresGrad ? value.requiringGrad() : value.detached() } }
    }
    /// False for frozen parameters: they are used as constants and get no gradient.
    public var requiresGrad: Bool {
        didSet { value = requiresGrad ? value.requiringGrad() : value.detached() }
    }

    public init(_ value: Tensor, requiresGrad: Bool = true) {
        self.requiresGrad = requiresGrad
        self.value = requiresGrad ? value.requiringGrad() : value.detached()
    }

    public var grad: Tensor? { value.grad }
    public var shape: [Int] { value.shape }
}

/// A tensor a module keeps that is not trained (running statistics, frozen norms).
public final class Buffer {
    public var value: Tensor
    public init(_ value: Tensor) { self.value = value.detached() }
    public var shape: [Int] { value.shape }
}
