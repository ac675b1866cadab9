import Foundation
import Detection
import Tapestry
import TapestryNN
import Training

/// Stacked-DETR (Sheng, "QKVA grid: Attention in Image Perspective and Stacked DETR", 2022),
/// as shengwenyuan/sdetr builds it, with the same parameter names (shared/spec/stacked-detr.md):
///
///     f3, f4 = ResNet layer3 (stride 16) and layer4 (stride 32), each with its mask and sine encoding
///     hs1 = mytransformer1(input_proj1(f4), query_embed1)                     [N1, B, Q, d]
///     hs2 = mytransformer2(input_proj2(f3), query_embed2, starting from hs1's last layer)   [N2, B, Q, d]
///     logits, boxes = class_embed, σ(bbox_embed) of every layer of [hs1, hs2] (heads shared)
///
/// The two encoders are independent; the level-3 decoder refines the level-4 decoder's
/// normed output at the finer level. Layer counts M1-N1-M2-N2 and head counts (default
/// 3-3-3-3 and 8-8-1-8: a single-head level-3 encoder) are the `stack_*` settings.
public final class StackedDETR: Module, ZooDetector {
    public static let name = "stacked-detr"
    public static let summary = "Stacked-DETR: DETR's transformer at layer4, then a second one at layer3 refining its queries"
    public static let paper = "Sheng, QKVA grid: Attention in Image Perspective and Stacked DETR, arXiv 2207.04313"
    public typealias Loss = SoftmaxCriterionSettings

    /// The original code's arguments (sdetr main.py, and `build`'s counts as `stack_*`),
    /// with its defaults: the shared ones (ResNet-50 or -101 only: the level-3 projection
    /// expects their layer3) and these.
    public typealias Config = Extended<Arguments>
    public struct Arguments: SettingsExtension {
        public typealias Base = DetectorSettings
        /// Layers of the level-4 encoder, level-4 decoder, level-3 encoder, level-3 decoder.
        @Setting public var stackLayers = "3-3-3-3"
        /// Heads of the same four, in the same order.
        @Setting public var stackHeads = "8-8-1-8"
        @Setting public var preNorm = false

        public init() {}

        public func combinationProblem(with base: DetectorSettings) -> String? {
            if !["resnet50", "resnet101"].contains(base.backbone) && !base.backbone.hasPrefix("sasa-") {
                return "backbone \(base.backbone): Stacked-DETR needs resnet50, resnet101 or a SASA-ResNet (its level-3 projection expects a bottleneck network's layer3)"
            }
            guard let layers = SettingsCoding.dashedCounts(stackLayers, count: 4), layers[1] >= 1, layers[3] >= 1 else {
                return "stack_layers \"\(stackLayers)\" must be four layer counts M1-N1-M2-N2 (encoders at least 0, decoders at least 1 layer)"
            }
            guard let heads = SettingsCoding.dashedCounts(stackHeads, count: 4), heads.allSatisfy({ $0 >= 1 }) else {
                return "stack_heads \"\(stackHeads)\" must be four head counts, each at least 1"
            }
            return heads.lazy.compactMap { base.headsProblem($0, name: "a head count of stack_heads") }.first
        }
    }

    /// 150 epochs at batch 4, the learning rate divided by 10 after 100 (the README's run).
    public static var paperTrainer: TrainerConfig {
        var c = TrainerConfig()
        (c.epochs, c.lrDrop, c.batchSize) = (150, 100, 4)
        return c
    }

    /// A quarter-width ResNet-50 with trainable BatchNorm from scratch, d 128, 3-3-3-3
    /// layers with 8-8-1-8 heads, 20 queries.
    public static var shapesModel: Config {
        var c = Config()
        (c.backboneWidth, c.frozenBatchNorm, c.lrBackbone) = (16, false, 1e-4)
        (c.hiddenDim, c.dimFeedforward, c.numQueries, c.numClasses) = (128, 512, 20, 4)
        return c
    }

    public static var shapesTrainer: TrainerConfig { DETR.shapesTrainer }

    public let mytransformer1: DETRTransformer
    public let mytransformer2: DETRTransformer
    public let classEmbed: Linear
    public let bboxEmbed: MLP
    public let queryEmbed1: Embedding
    public let queryEmbed2: Embedding
    public let inputProj1: Conv2d
    public let inputProj2: Conv2d
    public let backbone: DetectionBackbone
    public let config: Config

    public init(_ config: Config) throws {
        self.config = try config.validated()
        let d = config.hiddenDim, layers = SettingsCoding.dashedCounts(config.stackLayers, count: 4)!, heads = SettingsCoding.dashedCounts(config.stackHeads, count: 4)!
        func transformer(_ level: Int) -> DETRTransformer {
            DETRTransformer(dModel: d, encoderHeads: heads[2 * level], decoderHeads: heads[2 * level + 1], encoderLayers: layers[2 * level],
                            decoderLayers: layers[2 * level + 1], feedforward: config.dimFeedforward, dropout: config.dropout, preNorm: config.preNorm)
        }
        (mytransformer1, mytransformer2) = (transformer(0), transformer(1))
        classEmbed = Linear(d, config.numClasses + 1)
        bboxEmbed = MLP(inputDim: d, hiddenDim: d, outputDim: 4, layerCount: 3)
        (queryEmbed1, queryEmbed2) = (Embedding(config.numQueries, d), Embedding(config.numQueries, d))
        backbone = DetectionBackbone(config)
        inputProj1 = Conv2d(backbone.body.stageChannels[3], d, kernelSize: 1)
        inputProj2 = Conv2d(backbone.body.stageChannels[2], d, kernelSize: 1)
    }

    public func callAsFunction(images: Tensor, mask: Tensor) -> SetPrediction {
        checkInput(images: images, mask: mask)
        let features = backbone.features(images)
        let (mask4, position4) = mask.maskAndSineEncoding(for: features[3], channels: config.hiddenDim)
        let (mask3, position3) = mask.maskAndSineEncoding(for: features[2], channels: config.hiddenDim)
        let hs1 = mytransformer1(inputProj1(features[3]), mask: mask4, queryEmbedding: queryEmbed1.weight.value, position: position4)
        let hs2 = mytransformer2(inputProj2(features[2]), mask: mask3, queryEmbedding: queryEmbed2.weight.value, position: position3,
                                 target: hs1.select(axis: 0, index: hs1.shape[0] - 1).transposed(0, 1))
        let hs = Tensor.concat([hs1, hs2], axis: 0)                                   // [N1 + N2, B, Q, d]
        return SetPrediction(stackedLogits: classEmbed(hs), boxes: bboxEmbed(hs).sigmoid(), auxiliary: config.auxLoss)
    }

    public var postProcessor: PostProcessor { .softmax }
}
