import Tapestry
import TapestryNN

/// The trainer's settings, with the original DETR code's argument names and defaults
/// (detr/main.py): AdamW at `lr` with `weight_decay`, the learning rate divided by 10 every
/// `lr_drop` epochs, the global gradient norm clipped to `clip_max_norm`.
public struct TrainerConfig: SettingsGroup {
    @Setting(1...) public var epochs = 300
    @Setting(1...) public var batchSize = 2
    /// "adamw" (`torch.optim.AdamW`) or "sgd" (`torch.optim.SGD` with `momentum`).
    @Setting(oneOf: ["adamw", "sgd"]) public var optimizer = "adamw"
    @Setting(above: 0) public var lr = 1e-4
    /// SGD's momentum (unused by AdamW).
    @Setting(0..<1) public var momentum = 0.9
    @Setting(0...) public var weightDecay = 1e-4
    /// Epochs after which the learning rate is multiplied by 0.1 (PyTorch's StepLR).
    @Setting(1...) public var lrDrop = 200
    /// Maximum global L2 norm of the gradient; 0 turns clipping off.
    @Setting(0...) public var clipMaxNorm = 0.1
    /// Batches whose gradients are summed (each loss divided by this) before one step.
    @Setting(1...) public var gradientAccumulation = 1
    @Setting public var seed: UInt64 = 42
    /// Evaluate every this many epochs (0: only at the end of training).
    @Setting(0...) public var evalEvery = 1
    /// Also evaluate the untrained model before the first step.
    @Setting public var evalAtStart = false
    /// Write a checkpoint every this many steps (0: only at epoch ends and at the end).
    @Setting(0...) public var checkpointEvery = 0
    /// How many of the newest checkpoints to keep.
    @Setting(1...) public var keepCheckpoints = 3
    /// Write metrics (and a plain progress line when not on a terminal) every this many steps.
    @Setting(1...) public var logEvery = 10

    public init() {}
}

extension TrainerConfig {
    /// The optimizer these settings name, over `groups`: SGD with `momentum`, or AdamW.
    public func makeOptimizer(_ groups: [ParameterGroup]) -> Optimizer {
        optimizer == "sgd" ? SGD(groups, momentum: momentum) : AdamW(groups)
    }
}
