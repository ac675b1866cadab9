import Foundation
import Detection
import Tapestry
import TapestryNN
import Training

/// Deformable DETR (Zhu, Su, Lu, Li, Wang & Dai, "Deformable DETR: Deformable Transformers
/// for End-to-End Object Detection", ICLR 2021), as fundamentalvision/Deformable-DETR builds
/// it, with the same parameter names (shared/spec/deformable-detr.md):
///
///     levels = GroupNorm(conv(ResNet stages at strides 8, 16, 32)) + extra stride-2 convs
///     hs, references = DeformableTransformer(levels, sine encodings with the −½ offset)
///     logits_k = class_embed[k](hs_k) [.., C],  boxes_k = σ(bbox_embed[k](hs_k) + σ⁻¹(reference_k))
///
/// Options: iterative box refinement (each decoder layer refines the next one's reference
/// box with its own heads) and two-stage (encoder proposals become the queries, and are
/// trained class-agnostically). Classes are scored by sigmoids and trained with the focal loss.
public final class DeformableDETR: Module, ZooDetector {
    public static let name = "deformable-detr"
    public static let summary = "Deformable DETR: multi-scale deformable attention, focal loss; box refinement and two-stage as options"
    public static let paper = "Zhu et al., Deformable DETR: Deformable Transformers for End-to-End Object Detection, ICLR 2021"
    public typealias Loss = FocalCriterionSettings

    /// The original code's arguments (Deformable-DETR main.py), with its defaults: the shared
    /// ones and these, in its order.
    public typealias Config = Extended<Arguments>
    public struct Arguments: SettingsExtension {
        public typealias Base = DetectorSettings
        /// Learning-rate factor of `reference_points` and `sampling_offsets`.
        @Setting(0...) public var lrLinearProjMult = 0.1
        @Setting public var withBoxRefine = false
        @Setting public var twoStage = false
        @Setting(1...) public var numFeatureLevels = 4
        @Setting(0...) public var encLayers = 6
        @Setting(1...) public var decLayers = 6
        @Setting(1...) public var nheads = 8
        @Setting(1...) public var decNPoints = 4
        @Setting(1...) public var encNPoints = 4

        public init() {}

        public static func adjustDefaults(_ base: inout DetectorSettings) {
            (base.lrBackbone, base.dimFeedforward, base.numQueries) = (2e-5, 1024, 300)
        }

        public func combinationProblem(with base: DetectorSettings) -> String? {
            let d = base.hiddenDim
            if d % 32 != 0 { return "hidden_dim \(d) must be a multiple of 32 (GroupNorm(32) after each input projection)" }
            if let problem = base.headsProblem(nheads) { return problem }
            if numFeatureLevels == 2 { return "num_feature_levels must be 1 (the last stage) or at least 3 (three stages and extra levels)" }
            if twoStage && !withBoxRefine { return "two_stage needs with_box_refine (its proposals are scored by the refinement heads)" }
            if twoStage && d != 256 { return "two_stage needs hidden_dim 256 (the proposal embedding has 128 features per coordinate)" }
            return nil
        }
    }

    /// 50 epochs at lr 2e-4, divided by 10 after 40.
    public static var paperTrainer: TrainerConfig {
        var c = TrainerConfig()
        (c.epochs, c.lrDrop, c.lr) = (50, 40, 2e-4)
        return c
    }

    /// The configuration of the original's convergence run on shapes (ResNet-18 with its
    /// FrozenBatchNorm, d 128, 8 heads, 3 + 3 layers, feed-forward 512, 20 queries, 4 + 4
    /// points, lr 1e-4 everywhere), with DETR's half-width backbone for a CPU.
    public static var shapesModel: Config {
        var c = Config()
        (c.backbone, c.backboneWidth, c.lrBackbone) = ("resnet18", 32, 1e-4)
        (c.hiddenDim, c.nheads, c.encLayers, c.decLayers, c.dimFeedforward, c.numQueries, c.numClasses) = (128, 8, 3, 3, 512, 20, 4)
        return c
    }

    public static var shapesTrainer: TrainerConfig { DETR.shapesTrainer }

    public let transformer: DeformableTransformer
    public let classEmbed: [Linear]
    public let bboxEmbed: [MLP]
    public let queryEmbed: Embedding?
    public let inputProj: [Sequential]
    public let backbone: DetectionBackbone
    public let config: Config

    public init(_ config: Config) throws {
        self.config = try config.validated()
        let d = config.hiddenDim, levels = config.numFeatureLevels
        transformer = DeformableTransformer(dModel: d, heads: config.nheads, encoderLayers: config.encLayers, decoderLayers: config.decLayers,
                                            feedforward: config.dimFeedforward, dropout: config.dropout, levels: levels,
                                            encoderPoints: config.encNPoints, decoderPoints: config.decNPoints,
                                            twoStage: config.twoStage, queries: config.numQueries)
        // One head per prediction (decoder layers, and the encoder with two-stage): the same
        // module every time without refinement, independent copies with it.
        let heads = config.decLayers + (config.twoStage ? 1 : 0)
        let makeClass = { Linear(d, config.numClasses) }, makeBox = { MLP(inputDim: d, hiddenDim: d, outputDim: 4, layerCount: 3) }
        let (firstClass, firstBox) = (makeClass(), makeBox())
        (classEmbed, bboxEmbed) = config.withBoxRefine
            ? ([firstClass] + (1..<heads).map { _ in makeClass() }, [firstBox] + (1..<heads).map { _ in makeBox() })
            : (Array(repeating: firstClass, count: heads), Array(repeating: firstBox, count: heads))
        queryEmbed = config.twoStage ? nil : Embedding(config.numQueries, 2 * d)
        backbone = DetectionBackbone(config)
        let stages = levels == 1 ? [backbone.body.stageChannels[3]] : Array(backbone.body.stageChannels[1...3])
        inputProj = stages.map { Sequential(Conv2d($0, d, kernelSize: 1), GroupNorm(groups: 32, channels: d)) }
            + (stages.count..<levels).map { Sequential(Conv2d($0 == stages.count ? stages.last! : d, d, kernelSize: 3, stride: 2, padding: 1),
                                                       GroupNorm(groups: 32, channels: d)) }
        super.init()
        if config.withBoxRefine { transformer.decoder.bboxEmbed = bboxEmbed }
        if config.twoStage { transformer.decoder.classEmbed = classEmbed }
        initializeHeads()
    }

    /// The original initialization of the heads and projections (prior probability 0.01
    /// for every class, boxes starting small: size bias −2 on the first head, 0 with two-stage).
    func initializeHeads() {
        for head in classEmbed { head.bias!.value = Tensor.full([config.numClasses], value: -Foundation.log((1 - 0.01) / 0.01)) }
        for (k, head) in bboxEmbed.enumerated() {
            let last = head.layers.last!, size = !config.twoStage && (k == 0 || !config.withBoxRefine) ? -2.0 : 0
            last.weight.value = Tensor.zeros(last.weight.shape)
            last.bias!.value = Tensor([0, 0, size, size], shape: [4], dtype: .float32)
        }
        for projection in inputProj {
            let conv = projection.layers[0] as! Conv2d
            conv.weight.value = Initialization.xavierUniform(conv.weight.shape)
            conv.bias!.value = Tensor.zeros(conv.bias!.shape)
        }
    }

    public func callAsFunction(images: Tensor, mask: Tensor) -> SetPrediction {
        checkInput(images: images, mask: mask)
        let features = backbone.features(images)
        let stages = config.numFeatureLevels == 1 ? [features[3]] : Array(features[1...3])
        var sources = zip(stages, inputProj).map { $1($0) }
        // Extra levels: the first convolves the last stage's raw output, the next ones the level before.
        for level in stages.count..<config.numFeatureLevels { sources.append(inputProj[level](level == stages.count ? stages.last! : sources.last!)) }
        let masks = sources.map { mask.resizedMask(to: ($0.shape[2], $0.shape[3]), dtype: images.dtype) }
        let encoding = SinePositionalEncoding(features: config.hiddenDim / 2, offset: -0.5)
        let out = transformer(sources: sources, masks: masks, positions: masks.map { encoding(mask: $0, dtype: images.dtype) },
                              queryEmbedding: queryEmbed?.weight.value)
        let layers = (0..<config.decLayers).map { k -> DetectionOutput in
            let hs = out.hs.select(axis: 0, index: k)
            let reference = k == 0 ? out.initialReference : out.references.select(axis: 0, index: k - 1)
            return DetectionOutput(logits: classEmbed[k](hs), boxes: DeformableTransformerDecoder.refine(reference, delta: bboxEmbed[k](hs)))
        }
        let encoder = out.encoderLogits.map { DetectionOutput(logits: $0, boxes: out.encoderBoxes!) }
        return SetPrediction(layers: config.auxLoss ? layers : [layers.last!], encoder: encoder)
    }

    public var postProcessor: PostProcessor { .sigmoidTopK(100) }

    /// The backbone at `lr_backbone`, the sampling offsets and reference points at
    /// lr·`lr_linear_proj_mult`, everything else at `lr` (main.py's three groups).
    public func parameterGroups(learningRate: Double, weightDecay: Double) -> [ParameterGroup] {
        ParameterGroup.split(self, rates: [({ $0.contains("backbone.0") }, config.lrBackbone),
                                           ({ $0.contains("reference_points") || $0.contains("sampling_offsets") }, learningRate * config.lrLinearProjMult)],
                             learningRate: learningRate, weightDecay: weightDecay)
    }
}
