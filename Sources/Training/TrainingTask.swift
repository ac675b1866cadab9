import Tapestry
import TapestryNN

/// What the trainer needs from a model: the model itself, how to split its parameters into
/// optimizer groups, a batch of training examples and its loss, and an evaluation.
///
/// The trainer owns the loop (order of examples, optimizer, schedule, clipping,
/// checkpoints, logs); a task owns everything specific to its data and model. A detector
/// returns its set loss and COCO AP, a classifier its cross-entropy and accuracy.
public protocol TrainingTask: AnyObject {
    /// The model being trained; its parameters and buffers go into checkpoints.
    var model: Module { get }
    /// How many training examples there are; an epoch visits each once in a seeded order.
    var exampleCount: Int { get }
    /// The optimizer's parameter groups, from the base learning rate and weight decay.
    func parameterGroups(learningRate: Double, weightDecay: Double) -> [ParameterGroup]
    /// The training examples `examples` (indices below `exampleCount`) read and augmented,
    /// ready for the model: everything of a step that needs no model. `random` is this
    /// batch's own generator for augmentation. The trainer calls this on its loader thread,
    /// one batch ahead of the step in progress and without gradients, so it must not touch
    /// the model; the returned batch's `loss` runs the model (in training mode) on the
    /// trainer's thread.
    func batch(examples: [Int], random: inout RandomGenerator) throws -> TrainingBatch
    /// Metrics on held-out data ("AP", "top1", …; details such as "confusion.2.3" with a dot
    /// in their name are logged but not printed); called with the model in eval mode and
    /// gradients off. `progress` receives (done, total).
    func evaluate(progress: (Int, Int) -> Void) throws -> [String: Double]
    /// How a user finds these examples in their data, e.g. "image ids 12, 40".
    func describe(examples: [Int]) -> String
}

/// A batch read and augmented, and how to compute its loss: `loss` captures the batch's
/// tensors and runs the model on them.
public struct TrainingBatch {
    public let loss: () throws -> TrainingLoss
    public init(loss: @escaping () throws -> TrainingLoss) { self.loss = loss }
}

/// A batch's loss: the tensor to differentiate, and every term by name for the logs.
public struct TrainingLoss {
    public var total: Tensor
    public var terms: [String: Double]
    public init(total: Tensor, terms: [String: Double]) { (self.total, self.terms) = (total, terms) }
}
