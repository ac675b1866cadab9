import Tapestry

/// Parameters that share a learning rate and weight decay (PyTorch's parameter groups).
public struct ParameterGroup {
    /// (state-dict key, parameter); keys name the optimizer state of each parameter.
    public var parameters: [(name: String, parameter: Parameter)]
    /// The group's base learning rate; schedules scale it.
    public var learningRate: Double
    public var weightDecay: Double
    /// The learning rate used by the next step (base rate × schedule).
    public var currentLearningRate: Double

    public init(_ parameters: [(String, Parameter)], learningRate: Double, weightDecay: Double = 0) {
        self.parameters = parameters.map { (name: $0.0, parameter: $0.1) }
        (self.learningRate, self.weightDecay, self.currentLearningRate) = (learningRate, weightDecay, learningRate)
    }

    /// Splits a module's trainable parameters into two groups by name: those matching
    /// `predicate` (e.g. DETR's `backbone`) at `matchingRate`, the rest at `learningRate`.
    public static func split(_ module: Module, matching predicate: @escaping (String) -> Bool, matchingRate: Double,
                             learningRate: Double, weightDecay: Double = 0) -> [ParameterGroup] {
        split(module, rates: [(predicate, matchingRate)], learningRate: learningRate, weightDecay: weightDecay)
    }

    /// Groups a module's trainable parameters by name: each parameter goes to the first rule
    /// whose predicate its key satisfies, at that rule's rate, and to the first group (at
    /// `learningRate`) when none does (as Deformable DETR's main.py builds its groups).
    /// One group per rule, in order, after the first.
    public static func split(_ module: Module, rates: [(matching: (String) -> Bool, rate: Double)],
                             learningRate: Double, weightDecay: Double = 0) -> [ParameterGroup] {
        let trainable = module.namedParameters().filter { $0.1.requiresGrad }
        let rule = { (key: String) in rates.firstIndex { $0.matching(key) } }
        return [ParameterGroup(trainable.filter { rule($0.0) == nil }, learningRate: learningRate, weightDecay: weightDecay)]
            + rates.indices.map { i in ParameterGroup(trainable.filter { rule($0.0) == i }, learningRate: rates[i].rate, weightDecay: weightDecay) }
    }
}

/// A first-order optimizer over parameter groups.
///
/// `step()` reads each parameter's `.grad`, updates its value (leaving a fresh leaf with no
/// gradient, so gradients never carry over between steps) and advances `stepCount`.
/// Parameters without a gradient are skipped, as in PyTorch.
public protocol Optimizer: AnyObject {
    var groups: [ParameterGroup] { get set }
    /// Steps taken so far.
    var stepCount: Int { get }
    /// The step for the gradients multiplied by `gradientScale` (the factor of
    /// `gradientClipping`), bit for bit as after `clipGradientNorm`, without first writing
    /// every scaled gradient out. `step()` is `step(gradientScale: 1)`.
    func step(gradientScale: Double)
    /// The per-parameter state (moment estimates, momentum buffers) by
    /// "<parameter key>.<state name>", plus "step".
    func stateDict() -> [(String, Tensor)]
    /// Restores state written by `stateDict()`; throws naming any key that does not fit.
    func load(stateDict: [String: Tensor]) throws(OptimizerStateError)
}

extension Optimizer {
    public func step() { step(gradientScale: 1) }

    /// Drops every accumulated gradient.
    public func zeroGrad() {
        for group in groups { for (_, p) in group.parameters { p.value.grad = nil } }
    }

    /// Sets each group's current learning rate from `schedule` at `step`.
    public func apply(_ schedule: LearningRateSchedule, step: Int) {
        for i in groups.indices { groups[i].currentLearningRate = schedule.learningRate(base: groups[i].learningRate, step: step) }
    }
}

/// Optimizer state that does not fit the optimizer's parameters.
public struct OptimizerStateError: Error, CustomStringConvertible, Equatable {
    public let keys: [String]
    public let reason: String
    public var description: String { "optimizer state: \(reason): \(keys.prefix(10).joined(separator: ", "))\(keys.count > 10 ? ", …" : "")" }
}

/// Scales all gradients so their global L2 norm is at most `maxNorm`
/// (`torch.nn.utils.clip_grad_norm_`): g ← g·maxNorm/(‖g‖ + 10⁻⁶) when ‖g‖ > maxNorm.
/// Returns the norm before clipping.
@discardableResult
public func clipGradientNorm(_ parameters: [Parameter], maxNorm: Double) -> Double {
    let (norm, scale) = gradientClipping(parameters, maxNorm: maxNorm)
    if scale < 1 {
        noGrad { for p in parameters { if let g = p.grad { p.value.grad = g * scale } } }
    }
    return norm
}

/// The global L2 norm ‖g‖ of the gradients and the factor `clipGradientNorm` scales them
/// by, maxNorm/(‖g‖ + 10⁻⁶) when ‖g‖ > maxNorm, else 1, leaving the gradients as they
/// are: `optimizer.step(gradientScale:)` applies the factor inside its update, which spares
/// a pass that reads and writes every gradient (`zoo bench model detr --paper`, clipping and
/// AdamW: 0.117–0.140 against 0.141–0.148 s).
public func gradientClipping(_ parameters: [Parameter], maxNorm: Double) -> (norm: Double, scale: Double) {
    let norm = parameters.compactMap(\.grad).reduce(0.0) { $0 + $1.sumOfSquares() }.squareRoot()
    let coefficient = maxNorm / (norm + 1e-6)
    return (norm, coefficient < 1 ? coefficient : 1)
}

/// Shared bookkeeping: per-parameter state tensors by name.
final class OptimizerState {
    var tensors: [String: Tensor] = [:]
    var step = 0

    func export() -> [(String, Tensor)] {
        [("step", Tensor([Int64(step)], shape: []))] + tensors.sorted { $0.key < $1.key }
    }

    func restore(_ state: [String: Tensor], expected: Set<String>) throws(OptimizerStateError) {
        guard let step = state["step"], step.dtype == .int64, step.count == 1 else {
            throw OptimizerStateError(keys: ["step"], reason: "missing or malformed step counter")
        }
        let unexpected = Set(state.keys).subtracting(expected).subtracting(["step"])
        guard unexpected.isEmpty else { throw OptimizerStateError(keys: unexpected.sorted(), reason: "state for unknown parameters") }
        self.step = Int(step.item())
        tensors = state.filter { $0.key != "step" }
    }
}
