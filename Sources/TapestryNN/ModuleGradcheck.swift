import Tapestry

/// Gradient check of a module: compares the tape's gradients with central differences
/// (in Float64) with respect to `inputs` and every trainable parameter of `module`.
///
/// The module's floating-point parameters and buffers are converted to Float64 for the
/// check and stay so afterwards; the parameters' values are restored.
public func gradcheck(_ module: Module, inputs: [Tensor], eps: Double = 1e-6, atol: Double = 1e-5, rtol: Double = 1e-3,
                      mode: GradcheckMode = .full, _ forward: @escaping ([Tensor]) -> Tensor) -> GradcheckReport {
    module.convert(to: .float64)
    let parameters = module.parameters.filter(\.requiresGrad)
    let originals = parameters.map(\.value)
    defer { for (p, v) in zip(parameters, originals) { p.value = v } }
    return gradcheck({ values in
        for (p, v) in zip(parameters, values.dropFirst(inputs.count)) { p.value = v }
        return forward(Array(values.prefix(inputs.count)))
    }, inputs: inputs + originals, eps: eps, atol: atol, rtol: rtol, mode: mode)
}
