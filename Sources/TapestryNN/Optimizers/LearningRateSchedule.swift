import Foundation

/// Learning-rate schedules, as functions of the step (or epoch) count, with PyTorch's
/// definitions (torch.optim.lr_scheduler), in closed form.
public indirect enum LearningRateSchedule: Sendable, Equatable, Codable {
    /// The base rate throughout.
    case constant
    /// `StepLR`: base·γ^⌊t/size⌋.
    case step(size: Int, gamma: Double)
    /// `MultiStepLR`: base·γ^(number of milestones ≤ t).
    case multiStep(milestones: [Int], gamma: Double)
    /// `CosineAnnealingLR`: η_min + (base − η_min)(1 + cos(π·t/T))/2, held at η_min after T.
    case cosine(total: Int, minimum: Double)
    /// `LinearLR` warm-up for `steps` steps from startFactor·base to the rate of `then`,
    /// which counts its own steps from the end of the warm-up.
    case warmup(steps: Int, startFactor: Double, then: LearningRateSchedule)

    public func learningRate(base: Double, step t: Int) -> Double {
        switch self {
        case .constant:
            return base
        case let .step(size, gamma):
            return base * Foundation.pow(gamma, Double(t / max(size, 1)))
        case let .multiStep(milestones, gamma):
            return base * Foundation.pow(gamma, Double(milestones.filter { $0 <= t }.count))
        case let .cosine(total, minimum):
            let progress = Double(min(t, total)) / Double(max(total, 1))
            return minimum + (base - minimum) * (1 + Foundation.cos(Double.pi * progress)) / 2
        case let .warmup(steps, startFactor, then):
            if t >= steps { return then.learningRate(base: base, step: t - steps) }
            let factor = startFactor + (1 - startFactor) * Double(t) / Double(max(steps, 1))
            return factor * then.learningRate(base: base, step: 0)
        }
    }
}
