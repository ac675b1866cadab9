/// User-defined operations with a hand-written backward rule, the way
/// `torch.autograd.Function` works.
///
/// ```swift
/// struct Cube: DifferentiableFunction {
///     func forward(_ inputs: [Tensor]) -> Tensor { inputs[0] * inputs[0] * inputs[0] }
///     func backward(_ gradient: Tensor, inputs: [Tensor], output: Tensor) -> [Tensor?] {
///         [gradient * 3 * inputs[0] * inputs[0]]
///     }
/// }
/// let y = Cube()(x)   // recorded on the tape; gradcheck verifies the rule
/// ```
public protocol DifferentiableFunction {
    /// Computes the output. Runs with recording off, on inputs cut from the tape.
    func forward(_ inputs: [Tensor]) -> Tensor
    /// Maps the gradient of the output to one gradient per input (nil = none). May use
    /// any tensor operation; with `createGraph` those are recorded, giving higher derivatives.
    func backward(_ gradient: Tensor, inputs: [Tensor], output: Tensor) -> [Tensor?]
}

extension DifferentiableFunction {
    /// Applies the function and records it on the tape.
    public func callAsFunction(_ inputs: [Tensor]) -> Tensor {
        let detachedInputs = inputs.map { $0.detached() }
        let output = noGrad { forward(detachedInputs) }.detached()
        return output.recorded("custom", inputs) { g in
            let grads = backward(g, inputs: inputs, output: output)
            check(grads.count == inputs.count, "\(Self.self).backward returned \(grads.count) gradients for \(inputs.count) inputs")
            for (i, (grad, input)) in zip(grads, inputs).enumerated() {
                if let grad { check(grad.shape == input.shape, "\(Self.self).backward: gradient \(i) has shape \(grad.shape), input has \(input.shape)") }
            }
            return grads
        }
    }

    public func callAsFunction(_ inputs: Tensor...) -> Tensor { callAsFunction(inputs) }
}
