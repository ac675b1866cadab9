/// The trainer's settings, with the original DETR code's argument names and defaults
/// (detr/main.py): AdamW at `lr` with `weight_decay`, the learning rate divided by 10 after
/// `lr_drop` epochs, the global gradient norm clipped to `clip_max_norm`.
public struct TrainerConfig: Codable, Sendable, Equatable {
    public var epochs = 300
    public var batchSize = 2
    public var lr = 1e-4
    public var weightDecay = 1e-4
    /// Epochs after which the learning rate is multiplied by 0.1 (PyTorch's StepLR).
    public var lrDrop = 200
    /// Maximum global L2 norm of the gradient; 0 turns clipping off.
    public var clipMaxNorm = 0.1
    /// Batches whose gradients are summed (each loss divided by this) before one step.
    public var gradientAccumulation = 1
    public var seed: UInt64 = 42
    /// Evaluate every this many epochs (0: only at the end of training).
    public var evalEvery = 1
    /// Also evaluate the untrained model before the first step.
    public var evalAtStart = false
    /// Write a checkpoint every this many steps (0: only at epoch ends and at the end).
    public var checkpointEvery = 0
    /// How many of the newest checkpoints to keep.
    public var keepCheckpoints = 3
    /// Write metrics (and a plain progress line when not on a terminal) every this many steps.
    public var logEvery = 10

    enum CodingKeys: String, CodingKey {
        case epochs, lr, seed
        case batchSize = "batch_size", weightDecay = "weight_decay", lrDrop = "lr_drop", clipMaxNorm = "clip_max_norm"
        case gradientAccumulation = "gradient_accumulation", evalEvery = "eval_every", evalAtStart = "eval_at_start"
        case checkpointEvery = "checkpoint_every", keepCheckpoints = "keep_checkpoints", logEvery = "log_every"
    }

    public init() {}

    /// The first setting that cannot work, as a sentence.
    public func validationError() -> String? {
        if epochs < 1 { return "epochs must be at least 1" }
        if batchSize < 1 { return "batch_size must be at least 1" }
        if !(lr > 0) || !lr.isFinite { return "lr must be a positive number" }
        if weightDecay < 0 { return "weight_decay must not be negative" }
        if lrDrop < 1 { return "lr_drop must be at least 1 epoch" }
        if clipMaxNorm < 0 { return "clip_max_norm must not be negative" }
        if gradientAccumulation < 1 { return "gradient_accumulation must be at least 1" }
        if evalEvery < 0 || checkpointEvery < 0 { return "eval_every and checkpoint_every must not be negative" }
        if keepCheckpoints < 1 { return "keep_checkpoints must be at least 1" }
        if logEvery < 1 { return "log_every must be at least 1" }
        return nil
    }
}
