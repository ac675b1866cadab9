import Foundation
import Tapestry

/// Adam (Kingma & Ba, 2015) and AdamW (Loshchilov & Hutter, "Decoupled Weight Decay
/// Regularization", 2019), exactly as `torch.optim.Adam` / `torch.optim.AdamW`:
///
///     AdamW: p ← p·(1 − lr·λ)          Adam: g ← g + λ·p
///     m ← β₁m + (1 − β₁)g,   v ← β₂v + (1 − β₂)g²,   t ← t + 1
///     p ← p − (lr/(1 − β₁ᵗ))·m / (√v/√(1 − β₂ᵗ) + ε)
public class Adam: Optimizer {
    public var groups: [ParameterGroup]
    public let beta1: Double
    public let beta2: Double
    public let eps: Double
    /// True for AdamW (decoupled weight decay), false for Adam (L2 added to the gradient).
    public let decoupledWeightDecay: Bool
    private let state = OptimizerState()
    public var stepCount: Int { state.step }

    public init(_ groups: [ParameterGroup], beta1: Double = 0.9, beta2: Double = 0.999, eps: Double = 1e-8, decoupledWeightDecay: Bool = false) {
        check(beta1 >= 0 && beta1 < 1 && beta2 >= 0 && beta2 < 1 && eps >= 0, "Adam: betas must be in [0, 1) and eps non-negative")
        (self.groups, self.beta1, self.beta2, self.eps, self.decoupledWeightDecay) = (groups, beta1, beta2, eps, decoupledWeightDecay)
    }

    public func step(gradientScale: Double) {
        let t = Double(state.step + 1)
        let correction1 = 1 - Foundation.pow(beta1, t), correction2 = 1 - Foundation.pow(beta2, t)
        noGrad {
            for group in groups {
                let step = AdamStep(learningRate: group.currentLearningRate, beta1: beta1, beta2: beta2, eps: eps,
                                    weightDecay: group.weightDecay, decoupledWeightDecay: decoupledWeightDecay,
                                    correction1: correction1, correction2: correction2, gradientScale: gradientScale)
                for (name, p) in group.parameters {
                    guard let g = p.grad else { continue }
                    let (mKey, vKey) = ("\(name).exp_avg", "\(name).exp_avg_sq")
                    let updated = Tensor.adamUpdate(parameter: p.value, gradient: g, m: state.tensors[mKey], v: state.tensors[vKey], step)
                    (state.tensors[mKey], state.tensors[vKey]) = (updated.m, updated.v)
                    p.value = updated.parameter
                }
            }
        }
        state.step += 1
    }

    public func stateDict() -> [(String, Tensor)] { state.export() }

    public func load(stateDict: [String: Tensor]) throws(OptimizerStateError) {
        let names = groups.flatMap { $0.parameters.flatMap { ["\($0.name).exp_avg", "\($0.name).exp_avg_sq"] } }
        try state.restore(stateDict, expected: Set(names))
    }
}

/// AdamW (Loshchilov & Hutter, "Decoupled Weight Decay Regularization", ICLR 2019;
/// `torch.optim.AdamW`): Adam with the weight decay taken out of the gradient,
/// θ ← θ − lr·(m̂/(√v̂ + ε) + λ·θ), λ set per parameter group.
public final class AdamW: Adam {
    public init(_ groups: [ParameterGroup], beta1: Double = 0.9, beta2: Double = 0.999, eps: Double = 1e-8) {
        super.init(groups, beta1: beta1, beta2: beta2, eps: eps, decoupledWeightDecay: true)
    }
}

