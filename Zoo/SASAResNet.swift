import Foundation
import Classification
import Tapestry
import TapestryNN
import Training

/// SASA-ResNet (Ramachandran, Parmar, Vaswani, Bello, Levskaya & Shlens, "Stand-Alone
/// Self-Attention in Vision Models", NeurIPS 2019): a bottleneck ResNet whose every
/// spatial convolution is replaced by local self-attention over a k×k neighbourhood with
/// relative row/column embeddings, optionally with the spatially-aware attention stem
/// (shared/spec/sasa-resnet.md; parameter names of leaderj1001/Stand-Alone-Self-Attention):
///
///     y_ij = Σ_{ab ∈ N_k(ij)} softmax_ab( q_ij · (k_ab + r_{a−i, b−j}) ) v_ab,  per head
///
/// The network is `StandAloneResNet`; this file holds the model's settings and presets.
public final class SASAResNet: StandAloneResNet, ZooClassifier {
    public static let name = "sasa-resnet"
    public static let summary = "SASA-ResNet: a bottleneck ResNet with local self-attention in place of every 3×3 convolution (classifier)"
    public static let paper = "Ramachandran et al., Stand-Alone Self-Attention in Vision Models, NeurIPS 2019"

    /// Upstream's arguments: the shared ones and the attention's heads and stem.
    public typealias Config = Extended<Arguments>
    public struct Arguments: SettingsExtension {
        public typealias Base = StandAloneResNetSettings
        @Setting(1...) public var heads = 8
        /// "conv" (3×3 convolution) or "attention" (the spatially-aware attention stem).
        @Setting(oneOf: ["conv", "attention"]) public var stem = "conv"
        @Setting(1...) public var stemHeads = 1
        /// Value matrices mixed by the attention stem.
        @Setting(1...) public var stemM = 4

        public init() {}

        public func combinationProblem(with base: StandAloneResNetSettings) -> String? {
            if let width = base.planes.first(where: { $0 % heads != 0 || ($0 / heads) % 2 != 0 }) {
                return "planes \(width) must split into \(heads) heads of an even number of channels (row and column embedding halves)"
            }
            return stem == "attention" && base.stemWidth % stemHeads != 0 ? "stem_width \(base.stemWidth) is not divisible by stem_heads \(stemHeads)" : nil
        }
    }

    /// Upstream's CIFAR-10 run (main.py, config.py): 100 epochs of batch 25, SGD with
    /// momentum 0.9 at 0.1, weight decay 1e-4, the rate divided by 10 every 30 epochs.
    public static var paperTrainer: TrainerConfig {
        var c = TrainerConfig()
        (c.optimizer, c.lr, c.momentum, c.weightDecay, c.clipMaxNorm) = ("sgd", 0.1, 0.9, 1e-4, 0)
        (c.epochs, c.batchSize, c.lrDrop) = (100, 25, 30)
        return c
    }

    /// ResNet-26 at a quarter of upstream's widths, 8 heads of k 7.
    public static var shapesModel: Config {
        var c = Config()
        (c.planes, c.stemWidth) = ([16, 32, 64, 128], 16)
        return c
    }

    /// 30 epochs of batch 32 with AdamW at 1e-3, divided by 10 after 20; evaluation every epoch.
    public static var shapesTrainer: TrainerConfig {
        var c = TrainerConfig()
        (c.lr, c.clipMaxNorm, c.epochs, c.lrDrop, c.batchSize, c.evalEvery, c.logEvery) = (1e-3, 0, 30, 20, 32, 1, 10)
        return c
    }

    public let config: Config

    public init(_ config: Config) throws {
        self.config = try config.validated()
        super.init(blocks: config.numBlocks, planes: config.planes, stemWidth: config.stemWidth,
                   spatialLayer: .attention(kernelSize: config.kernelSize, heads: config.heads),
                   stem: config.stem == "conv" ? .convolution : .attention(heads: config.stemHeads, mixtures: config.stemM),
                   imageNetLayout: config.layout == "imagenet", classes: config.numClasses)
    }
}
