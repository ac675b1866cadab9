import Foundation
import Detection
import Tapestry
import TapestryNN
import Training

/// SMCA-DETR (Gao, Zheng, Wang, Dai & Li, "Fast Convergence of DETR with Spatially
/// Modulated Co-Attention", ICCV 2021). Single scale as gaopengcuhk/SMCA-DETR builds it, with
/// the same parameter names (shared/spec/smca.md):
///
///     features = ResNet(images) at stride 32;  pos = sine encoding of the mask
///     hs, c_logit = SpatiallyModulatedTransformer(input_proj(features), pos, query_embed, image sizes)
///     logits = class_embed(hs) [.., C + 1],  boxes = σ(bbox_embed(hs) + (c_logit, 0, 0))
///
/// The decoder's co-attention is modulated by a Gaussian-like map around a centre each query
/// predicts in the first decoder layer; that centre's logit is also the prior of every
/// layer's box centre. Classes are scored by sigmoids (the no-object column included, never
/// a target) and trained with the focal loss.
///
/// Multi-scale (`multi_scale`), as the paper's §3.3 describes it (the repository's zip is a
/// different design): layer3, layer4 and a stride-2 convolution of layer4 (strides 16, 32, 64)
/// projected to d (`input_proj16`, `input_proj`, `input_proj64`), an encoder of intra- and
/// multi-scale self-attention layers (`multi_scale_encoder`, the paper's 2-1-2), and decoder
/// layers that attend to every scale with its own keys and values and mix them by each
/// query's scale-selection weights.
public final class SMCADETR: Module, ZooDetector {
    public static let name = "smca"
    public static let summary = "SMCA-DETR: DETR whose co-attention is modulated by a Gaussian around each query's predicted centre; focal loss"
    public static let paper = "Gao et al., Fast Convergence of DETR with Spatially Modulated Co-Attention, ICCV 2021"
    public typealias Loss = FocalCriterionSettings

    /// The original code's arguments (SMCA-DETR main.py), with the defaults of its README's
    /// training command (`--dynamic_scale type3 --num_queries 300`): the shared ones and these.
    public typealias Config = Extended<Arguments>
    public struct Arguments: SettingsExtension {
        public typealias Base = DetectorSettings
        @Setting(oneOf: DynamicScale.allCases.map(\.rawValue)) public var dynamicScale = "type3"
        /// The bandwidth β of the log-Gaussian map.
        @Setting(above: 0) public var smooth = 8.0
        @Setting(1...) public var nheads = 8
        @Setting(0...) public var encLayers = 6
        @Setting(1...) public var decLayers = 6
        /// The paper's multi-scale SMCA (strides 16, 32, 64) instead of the repository's single scale.
        @Setting public var multiScale = false
        /// Multi-scale only: intra-scale, multi-scale and intra-scale encoder layers, in
        /// place of `enc_layers`.
        @Setting public var multiScaleEncoder = "2-1-2"

        public init() {}

        public static func adjustDefaults(_ base: inout DetectorSettings) { base.numQueries = 300 }

        public func combinationProblem(with base: DetectorSettings) -> String? {
            if multiScale && encoderCrossScale == nil {
                return "multi_scale_encoder \"\(multiScaleEncoder)\" must be three layer counts (intra-scale, multi-scale, intra-scale), e.g. 2-1-2"
            }
            return base.headsProblem(nheads)
        }

        /// Multi-scale: whether each encoder layer attends across scales, from `multi_scale_encoder`.
        var encoderCrossScale: [Bool]? {
            SettingsCoding.dashedCounts(multiScaleEncoder, count: 3).map { n in
                Array(repeating: false, count: n[0]) + Array(repeating: true, count: n[1]) + Array(repeating: false, count: n[2])
            }
        }
    }

    /// 50 epochs, the learning rate divided by 10 after 40 (the README's command).
    public static var paperTrainer: TrainerConfig {
        var c = TrainerConfig()
        (c.epochs, c.lrDrop) = (50, 40)
        return c
    }

    /// The original's convergence run on shapes (ResNet-18 with trainable BatchNorm, d 128,
    /// 8 heads, 3 + 3 layers, feed-forward 512, 20 queries, lr 1e-4 everywhere), with DETR's
    /// half-width backbone for a CPU.
    public static var shapesModel: Config {
        var c = Config()
        (c.backbone, c.backboneWidth, c.frozenBatchNorm, c.lrBackbone) = ("resnet18", 32, false, 1e-4)
        (c.hiddenDim, c.nheads, c.encLayers, c.decLayers, c.dimFeedforward, c.numQueries, c.numClasses) = (128, 8, 3, 3, 512, 20, 4)
        return c
    }

    public static var shapesTrainer: TrainerConfig { DETR.shapesTrainer }

    public let transformer: any SpatialPriorTransformer
    public let classEmbed: Linear
    public let bboxEmbed: MLP
    public let queryEmbed: Embedding
    public let inputProj: Conv2d
    /// Multi-scale only: the stride-16 (layer3) and stride-64 (3×3, stride 2 on layer4) projections.
    public let inputProj16: Conv2d?
    public let inputProj64: Conv2d?
    public let backbone: DetectionBackbone
    public let config: Config

    public init(_ config: Config) throws {
        self.config = try config.validated()
        let d = config.hiddenDim
        let scale = DynamicScale(rawValue: config.dynamicScale)!
        transformer = config.multiScale
            ? MultiScaleSpatiallyModulatedTransformer(dModel: d, heads: config.nheads, scales: 3, encoderCrossScale: config.own.encoderCrossScale!,
                                                      decoderLayers: config.decLayers, feedforward: config.dimFeedforward, dropout: config.dropout,
                                                      dynamicScale: scale, smooth: config.smooth)
            : SpatiallyModulatedTransformer(dModel: d, heads: config.nheads, encoderLayers: config.encLayers, decoderLayers: config.decLayers,
                                            feedforward: config.dimFeedforward, dropout: config.dropout, dynamicScale: scale, smooth: config.smooth)
        classEmbed = Linear(d, config.numClasses + 1)
        classEmbed.bias!.value = Tensor.full([config.numClasses + 1], value: -Foundation.log((1 - 0.01) / 0.01))
        bboxEmbed = MLP(inputDim: d, hiddenDim: d, outputDim: 4, layerCount: 3)
        queryEmbed = Embedding(config.numQueries, d)
        backbone = DetectionBackbone(config)
        let channels = backbone.body.stageChannels
        inputProj = Conv2d(channels[3], d, kernelSize: 1)
        inputProj16 = config.multiScale ? Conv2d(channels[2], d, kernelSize: 1) : nil
        inputProj64 = config.multiScale ? Conv2d(channels[3], d, kernelSize: 3, stride: 2, padding: 1) : nil
    }

    public func callAsFunction(images: Tensor, mask: Tensor) -> SetPrediction {
        checkInput(images: images, mask: mask)
        let features = backbone.features(images), stride: Double = config.dilation ? 16 : 32
        let sources = config.multiScale ? [inputProj16!(features[2]), inputProj(features[3]), inputProj64!(features[3])] : [inputProj(features[3])]
        let levels = sources.map { mask.maskAndSineEncoding(for: $0, channels: config.hiddenDim) }
        let (hs, centreLogits) = transformer(sources: sources, masks: levels.map(\.mask), positions: levels.map(\.position),
                                             queryEmbedding: queryEmbed.weight.value, imageSize: mask.unpaddedSizes(dtype: images.dtype),
                                             strides: config.multiScale ? [16, stride, 2 * stride] : [stride], referenceStride: stride)
        let centrePrior = Tensor.concat([centreLogits, Tensor.zeros(like: centreLogits)], axis: -1)       // [B, Q, 4]
        return SetPrediction(stackedLogits: classEmbed(hs), boxes: (bboxEmbed(hs) + centrePrior).sigmoid(), auxiliary: config.auxLoss)
    }

    /// The `num_queries` best of σ(logits) over queries × classes (the original's PostProcess).
    public var postProcessor: PostProcessor { .sigmoidTopK(config.numQueries, noObjectColumn: true) }
}
