import Foundation
import Classification
import Tapestry
import TapestryNN
import Training

/// The convolutional baseline of "Stand-Alone Self-Attention in Vision Models"
/// (Ramachandran et al., NeurIPS 2019): SASA-ResNet's network with a k×k convolution
/// (k 3 by default) in place of each attention layer — same stem, widths, blocks,
/// average-pool downsampling and names (`layerL.j.conv2.0.weight`) — so the paper's
/// comparison is one `zoo train` each:
///
///     h = ReLU(BN(conv1 x));  h = avgpool₂(W₃ₓ₃ ⋆ h) when strided;  y = ReLU(BN(conv3 ReLU(BN h)) + shortcut(x))
public final class ConvResNet: StandAloneResNet, ZooClassifier {
    public static let name = "resnet"
    public static let summary = "ResNet: SASA-ResNet's network with 3×3 convolutions in place of the attention layers (classifier)"
    public static let paper = "the convolutional baseline of Ramachandran et al., Stand-Alone Self-Attention in Vision Models, NeurIPS 2019"

    public typealias Config = Extended<Arguments>
    /// The shared arguments, with a 3×3 kernel.
    public struct Arguments: SettingsExtension {
        public typealias Base = StandAloneResNetSettings
        public init() {}
        public static func adjustDefaults(_ base: inout StandAloneResNetSettings) { base.kernelSize = 3 }
    }

    public static var paperTrainer: TrainerConfig { SASAResNet.paperTrainer }

    /// The SASA shapes preset's widths.
    public static var shapesModel: Config {
        var c = Config()
        (c.planes, c.stemWidth) = (SASAResNet.shapesModel.planes, SASAResNet.shapesModel.stemWidth)
        return c
    }

    public static var shapesTrainer: TrainerConfig { SASAResNet.shapesTrainer }

    public let config: Config

    public init(_ config: Config) throws {
        self.config = try config.validated()
        super.init(blocks: config.numBlocks, planes: config.planes, stemWidth: config.stemWidth,
                   spatialLayer: .convolution(kernelSize: config.kernelSize), imageNetLayout: config.layout == "imagenet", classes: config.numClasses)
    }
}
