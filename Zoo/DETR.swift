import Foundation
import Detection
import Tapestry
import TapestryNN
import Training

/// DETR (Carion, Massa, Synnaeve, Usunier, Kirillov & Zagoruyko, "End-to-End Object
/// Detection with Transformers", ECCV 2020), as facebookresearch/detr builds it, with the
/// same parameter names (shared/spec/detr.md §2):
///
///     features = ResNet(images);  src = input_proj(features);  pos = sine encoding of the mask
///     hs = decoder(0, encoder(src + pos…), query_embed)  — one output per decoder layer
///     logits = class_embed(hs) [.., C + 1],  boxes = sigmoid(bbox_embed(hs)) as cxcywh
public final class DETR: Module, ZooDetector {
    /// The original code's arguments (detr/main.py), with its defaults: the shared ones and
    /// the transformer's.
    public typealias Config = Extended<Arguments>
    public struct Arguments: SettingsExtension {
        public typealias Base = DetectorSettings
        @Setting(1...) public var nheads = 8
        @Setting(0...) public var encLayers = 6
        @Setting(1...) public var decLayers = 6
        @Setting public var preNorm = false

        public init() {}

        public func combinationProblem(with base: DetectorSettings) -> String? { base.headsProblem(nheads) }
    }
    public typealias Loss = SoftmaxCriterionSettings

    public static let name = "detr"
    public static let summary = "DETR: ResNet backbone, transformer encoder–decoder, set prediction with Hungarian matching"
    public static let paper = "Carion et al., End-to-End Object Detection with Transformers, ECCV 2020"

    /// A half-width ResNet-18 with trainable BatchNorm trained from scratch at the full
    /// learning rate, d = 128, 3 + 3 layers, 20 queries.
    public static var shapesModel: Config {
        var c = Config()
        (c.backbone, c.backboneWidth, c.frozenBatchNorm, c.lrBackbone) = ("resnet18", 32, false, 1e-4)
        (c.hiddenDim, c.nheads, c.encLayers, c.decLayers, c.dimFeedforward, c.numQueries, c.numClasses) = (128, 8, 3, 3, 512, 20, 4)
        return c
    }

    /// Batches of 8, evaluation every 5 epochs.
    public static var shapesTrainer: TrainerConfig {
        var c = TrainerConfig()
        (c.epochs, c.lrDrop, c.batchSize, c.evalEvery, c.logEvery) = (100, 80, 8, 5, 10)
        return c
    }

    public let transformer: DETRTransformer
    public let classEmbed: Linear
    public let bboxEmbed: MLP
    public let queryEmbed: Embedding
    public let inputProj: Conv2d
    public let backbone: DetectionBackbone
    public let config: Config

    public init(_ config: Config) throws {
        self.config = try config.validated()
        let d = config.hiddenDim
        transformer = DETRTransformer(dModel: d, heads: config.nheads, encoderLayers: config.encLayers, decoderLayers: config.decLayers,
                                      feedforward: config.dimFeedforward, dropout: config.dropout, preNorm: config.preNorm)
        classEmbed = Linear(d, config.numClasses + 1)
        bboxEmbed = MLP(inputDim: d, hiddenDim: d, outputDim: 4, layerCount: 3)
        queryEmbed = Embedding(config.numQueries, d)
        backbone = DetectionBackbone(config)
        inputProj = Conv2d(backbone.body.stageChannels[3], d, kernelSize: 1)
    }

    public func callAsFunction(images: Tensor, mask: Tensor) -> SetPrediction {
        checkInput(images: images, mask: mask)
        let feature = backbone.features(images)[3]
        let (featureMask, position) = mask.maskAndSineEncoding(for: feature, channels: config.hiddenDim)
        let hs = transformer(inputProj(feature), mask: featureMask, queryEmbedding: queryEmbed.weight.value, position: position)
        return SetPrediction(stackedLogits: classEmbed(hs), boxes: bboxEmbed(hs).sigmoid(), auxiliary: config.auxLoss)
    }

    public var postProcessor: PostProcessor { .softmax }
}
