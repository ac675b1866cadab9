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
public final class StackedDETR: Module, ZooModel {
    public static let name = "stacked-detr"
    public static let summary = "Stacked-DETR: DETR's transformer at layer4, then a second one at layer3 refining its queries"
    public static let paper = "Sheng, QKVA grid: Attention in Image Perspective and Stacked DETR, arXiv 2207.04313"
    public typealias Loss = SoftmaxCriterionSettings

    /// The original code's arguments (sdetr main.py and `build`'s counts), with its defaults.
    public struct Config: SettingsGroup, BackboneSettings {
        /// ResNet-50 or -101 (the level-3 projection expects their layer3).
        @Setting(oneOf: ["resnet50", "resnet101"]) public var backbone = "resnet50"
        @Setting public var dilation = false
        @Setting(4...) public var hiddenDim = 256
        /// Layers of the level-4 encoder, level-4 decoder, level-3 encoder, level-3 decoder.
        @Setting public var stackLayers = "3-3-3-3"
        /// Heads of the same four, in the same order.
        @Setting public var stackHeads = "8-8-1-8"
        @Setting(1...) public var dimFeedforward = 2048
        @Setting(0..<1) public var dropout = 0.1
        @Setting(1...) public var numQueries = 100
        @Setting(1...) public var numClasses = 91
        @Setting public var preNorm = false
        @Setting public var auxLoss = true
        @Setting(0...) public var lrBackbone = 1e-5
        /// Not arguments of the original: frozen batch norm in the backbone (false trains
        /// BatchNorm2d), and the channels of its first stage (torchvision's 64).
        @Setting public var frozenBatchNorm = true
        @Setting(1...) public var backboneWidth = 64

        public init() {}

        /// The four counts of "a-b-c-d", or nil when it is not four whole numbers.
        static func counts(_ text: String) -> [Int]? {
            let parts = text.split(separator: "-", omittingEmptySubsequences: false).map { Int($0) }
            return parts.count == 4 && parts.allSatisfy({ $0 != nil }) ? parts.map { $0! } : nil
        }

        public func combinationProblem() -> String? {
            guard let layers = Self.counts(stackLayers), layers.allSatisfy({ $0 >= 0 }), layers[1] >= 1, layers[3] >= 1 else {
                return "stack_layers \"\(stackLayers)\" must be four layer counts M1-N1-M2-N2 (encoders at least 0, decoders at least 1 layer)"
            }
            guard let heads = Self.counts(stackHeads), heads.allSatisfy({ $0 >= 1 }) else {
                return "stack_heads \"\(stackHeads)\" must be four head counts, each at least 1"
            }
            if hiddenDim % 4 != 0 { return "hidden_dim \(hiddenDim) must be a multiple of 4 (the sine encoding pairs sin and cos of x and y)" }
            if let h = heads.first(where: { hiddenDim % $0 != 0 }) { return "hidden_dim \(hiddenDim) is not divisible by \(h) heads (stack_heads \(stackHeads))" }
            return nil
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
        let d = config.hiddenDim, layers = Config.counts(config.stackLayers)!, heads = Config.counts(config.stackHeads)!
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
