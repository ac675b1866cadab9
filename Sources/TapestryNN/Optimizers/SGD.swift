import Tapestry

/// Stochastic gradient descent with momentum (Polyak, 1964; Sutskever et al., 2013 for
/// Nesterov), exactly as `torch.optim.SGD`:
///
///     g ← g + λ·p                                   (weight decay λ)
///     b ← g at the first step, else μ·b + (1 − τ)·g  (momentum μ, dampening τ)
///     g ← g + μ·b (Nesterov) or g ← b
///     p ← p − lr·g
public final class SGD: Optimizer {
    public var groups: [ParameterGroup]
    public let momentum: Double
    public let dampening: Double
    public let nesterov: Bool
    private let state = OptimizerState()
    public var stepCount: Int { state.step }

    public init(_ groups: [ParameterGroup], momentum: Double = 0, dampening: Double = 0, nesterov: Bool = false) {
        check(!nesterov || (momentum > 0 && dampening == 0), "SGD: Nesterov momentum needs momentum > 0 and no dampening")
        (self.groups, self.momentum, self.dampening, self.nesterov) = (groups, momentum, dampening, nesterov)
    }

    public convenience init(_ module: Module, learningRate: Double, momentum: Double = 0, weightDecay: Double = 0, nesterov: Bool = false) {
        self.init([ParameterGroup(module.namedParameters().filter { $0.1.requiresGrad }, learningRate: learningRate, weightDecay: weightDecay)],
                  momentum: momentum, nesterov: nesterov)
    }

    public func step(gradientScale: Double) {
        noGrad {
            for group in groups {
                for (name, p) in group.parameters {
                    guard var g = p.grad else { continue }
                    if gradientScale != 1 { g = g * gradientScale }
                    let value = p.value.detached()
                    if group.weightDecay != 0 { g = g + value * group.weightDecay }
                    if momentum != 0 {
                        let key = "\(name).momentum_buffer"
                        let buffer = state.tensors[key].map { $0 * momentum + g * (1 - dampening) } ?? g
                        state.tensors[key] = buffer
                        g = nesterov ? g + buffer * momentum : buffer
                    }
                    p.value = value - g * group.currentLearningRate
                }
            }
        }
        state.step += 1
    }

    public func stateDict() -> [(String, Tensor)] { state.export() }

    public func load(stateDict: [String: Tensor]) throws(OptimizerStateError) {
        let names = groups.flatMap { $0.parameters.map { "\($0.name).momentum_buffer" } }
        try state.restore(stateDict, expected: Set(names))
    }
}
