import Foundation
import Detection
import Tapestry
import TapestryNN

/// DETR (Carion, Massa, Synnaeve, Usunier, Kirillov & Zagoruyko, "End-to-End Object
/// Detection with Transformers", ECCV 2020), as facebookresearch/detr builds it, with the
/// same parameter names (shared/spec/detr.md §2):
///
///     features = ResNet(images);  src = input_proj(features);  pos = sine encoding of the mask
///     hs = decoder(0, encoder(src + pos…), query_embed)  — one output per decoder layer
///     logits = class_embed(hs) [.., C + 1],  boxes = sigmoid(bbox_embed(hs)) as cxcywh
public final class DETR: Module {
    /// The original code's arguments (detr/main.py), with its defaults.
    public struct Config: Codable, Sendable, Equatable {
        public var backbone = "resnet50"
        public var dilation = false
        public var hiddenDim = 256
        public var nheads = 8
        public var encLayers = 6
        public var decLayers = 6
        public var dimFeedforward = 2048
        public var dropout = 0.1
        public var numQueries = 100
        public var numClasses = 91
        public var preNorm = false
        public var auxLoss = true
        /// Frozen batch norm in the backbone (DETR's choice); false trains BatchNorm2d.
        public var frozenBatchNorm = true
        public var lrBackbone = 1e-5
        /// Channels of the backbone's first stage (torchvision's 64; smaller for small images).
        /// Not an argument of the original code.
        public var backboneWidth = 64

        enum CodingKeys: String, CodingKey {
            case backbone, dilation, nheads, dropout
            case hiddenDim = "hidden_dim", encLayers = "enc_layers", decLayers = "dec_layers"
            case dimFeedforward = "dim_feedforward", numQueries = "num_queries", numClasses = "num_classes"
            case preNorm = "pre_norm", auxLoss = "aux_loss", frozenBatchNorm = "frozen_batch_norm", lrBackbone = "lr_backbone"
            case backboneWidth = "backbone_width"
        }

        public init() {}

        public func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(backbone, forKey: .backbone); try c.encode(dilation, forKey: .dilation)
            try c.encode(hiddenDim, forKey: .hiddenDim); try c.encode(nheads, forKey: .nheads)
            try c.encode(encLayers, forKey: .encLayers); try c.encode(decLayers, forKey: .decLayers)
            try c.encode(dimFeedforward, forKey: .dimFeedforward); try c.encode(dropout, forKey: .dropout)
            try c.encode(numQueries, forKey: .numQueries); try c.encode(numClasses, forKey: .numClasses)
            try c.encode(preNorm, forKey: .preNorm); try c.encode(auxLoss, forKey: .auxLoss)
            try c.encode(frozenBatchNorm, forKey: .frozenBatchNorm); try c.encode(lrBackbone, forKey: .lrBackbone)
            try c.encode(backboneWidth, forKey: .backboneWidth)
        }

        public init(from decoder: Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            let d = Config()
            backbone = try c.decodeIfPresent(String.self, forKey: .backbone) ?? d.backbone
            dilation = try c.decodeIfPresent(Bool.self, forKey: .dilation) ?? d.dilation
            hiddenDim = try c.decodeIfPresent(Int.self, forKey: .hiddenDim) ?? d.hiddenDim
            nheads = try c.decodeIfPresent(Int.self, forKey: .nheads) ?? d.nheads
            encLayers = try c.decodeIfPresent(Int.self, forKey: .encLayers) ?? d.encLayers
            decLayers = try c.decodeIfPresent(Int.self, forKey: .decLayers) ?? d.decLayers
            dimFeedforward = try c.decodeIfPresent(Int.self, forKey: .dimFeedforward) ?? d.dimFeedforward
            dropout = try c.decodeIfPresent(Double.self, forKey: .dropout) ?? d.dropout
            numQueries = try c.decodeIfPresent(Int.self, forKey: .numQueries) ?? d.numQueries
            numClasses = try c.decodeIfPresent(Int.self, forKey: .numClasses) ?? d.numClasses
            preNorm = try c.decodeIfPresent(Bool.self, forKey: .preNorm) ?? d.preNorm
            auxLoss = try c.decodeIfPresent(Bool.self, forKey: .auxLoss) ?? d.auxLoss
            frozenBatchNorm = try c.decodeIfPresent(Bool.self, forKey: .frozenBatchNorm) ?? d.frozenBatchNorm
            lrBackbone = try c.decodeIfPresent(Double.self, forKey: .lrBackbone) ?? d.lrBackbone
            backboneWidth = try c.decodeIfPresent(Int.self, forKey: .backboneWidth) ?? d.backboneWidth
        }
    }

    public let transformer: DETRTransformer
    public let classEmbed: Linear
    public let bboxEmbed: MLP
    public let queryEmbed: Embedding
    public let inputProj: Conv2d
    public let backbone: DETRBackbone
    public let config: Config

    public init(_ config: Config) throws {
        guard let depth = ResNet.Depth.allCases.first(where: { "resnet\($0.rawValue)" == config.backbone }) else {
            throw ZooError.invalidConfig("unknown backbone \"\(config.backbone)\" (resnet18, resnet34, resnet50 or resnet101)")
        }
        guard config.hiddenDim % config.nheads == 0 else {
            throw ZooError.invalidConfig("hidden_dim \(config.hiddenDim) is not divisible by nheads \(config.nheads)")
        }
        guard config.backboneWidth >= 1 else { throw ZooError.invalidConfig("backbone_width must be positive") }
        guard !config.dilation || depth.rawValue >= 50 else {
            throw ZooError.invalidConfig("dilation (DC5) needs resnet50 or resnet101: torchvision's BasicBlock has no dilation")
        }
        let d = config.hiddenDim
        transformer = DETRTransformer(config)
        classEmbed = Linear(d, config.numClasses + 1)
        bboxEmbed = MLP(inputDim: d, hiddenDim: d, outputDim: 4, layerCount: 3)
        queryEmbed = Embedding(config.numQueries, d)
        backbone = DETRBackbone(ResNet(depth, norm: config.frozenBatchNorm ? .frozenBatchNorm : .batchNorm, dilateLastStage: config.dilation, width: config.backboneWidth))
        inputProj = Conv2d(backbone.body.stageChannels[3], d, kernelSize: 1)
        self.config = config
        super.init()
        // detr/models/backbone.py: with a backbone learning rate, only layer2–4 train.
        freeze { name in name.hasPrefix("backbone.") && (config.lrBackbone <= 0 || !["layer2", "layer3", "layer4"].contains { name.contains($0) }) }
    }

    /// Predictions of every decoder layer, last one last.
    public struct Output {
        public var layers: [DetectionOutput]
        public var final: DetectionOutput { layers.last! }
        public var auxiliary: [DetectionOutput] { Array(layers.dropLast()) }
    }

    /// images [B, 3, H, W] (normalized, zero-padded), mask [B, H, W] (true on padding).
    public func callAsFunction(images: Tensor, mask: Tensor) -> Output {
        check(images.rank == 4 && mask.shape == [images.shape[0], images.shape[2], images.shape[3]],
              "DETR: images must be [B, 3, H, W] and mask [B, H, W]; got \(images.shape) and \(mask.shape)")
        let feature = backbone.body.features(images)[3]
        let (h, w) = (feature.shape[2], feature.shape[3])
        let featureMask = mask.cast(to: images.dtype).interpolateNearest(size: (h, w)) .> 0
        let position = SinePositionalEncoding(features: config.hiddenDim / 2)(mask: featureMask, dtype: images.dtype)
        let hs = transformer(inputProj(feature), mask: featureMask, queryEmbedding: queryEmbed.weight.value, position: position)
        let logits = classEmbed(hs), boxes = bboxEmbed(hs).sigmoid()                 // [D, B, Q, …]
        let layers = (0..<hs.shape[0]).map { DetectionOutput(logits: logits.select(axis: 0, index: $0), boxes: boxes.select(axis: 0, index: $0)) }
        return Output(layers: config.auxLoss ? layers : [layers.last!])
    }
}

/// `backbone.0.body`: the ResNet under DETR's Joiner/Backbone names.
public final class DETRBackbone: Module {
    public let body: ResNet
    public init(_ body: ResNet) { self.body = body }
    override public var keyOverrides: [String: String] { ["body": "0.body"] }
}

/// DETR's transformer (detr/models/transformer.py `Transformer`): the feature map becomes
/// H·W tokens (row-major), the decoder starts from zeros with the learned query embeddings
/// as query positions, and returns the normalized output of every layer, [D, B, Q, d].
public final class DETRTransformer: Module {
    public let encoder: TransformerEncoder
    public let decoder: TransformerDecoder

    init(_ config: DETR.Config) {
        let d = config.hiddenDim
        encoder = TransformerEncoder(layers: (0..<config.encLayers).map { _ in
            TransformerEncoderLayer(dModel: d, heads: config.nheads, feedforward: config.dimFeedforward, dropout: config.dropout, preNorm: config.preNorm)
        }, norm: config.preNorm ? LayerNorm(d) : nil)
        decoder = TransformerDecoder(layers: (0..<config.decLayers).map { _ in
            TransformerDecoderLayer(dModel: d, heads: config.nheads, feedforward: config.dimFeedforward, dropout: config.dropout, preNorm: config.preNorm)
        }, norm: LayerNorm(d))
        super.init()
        // Xavier-uniform on every matrix of the transformer, as the original resets them.
        for (_, p) in namedParameters() where p.shape.count > 1 { p.value = Initialization.xavierUniform(p.shape) }
    }

    public func callAsFunction(_ source: Tensor, mask: Tensor, queryEmbedding: Tensor, position: Tensor) -> Tensor {
        let (b, d, h, w) = (source.shape[0], source.shape[1], source.shape[2], source.shape[3])
        let tokens = source.reshaped([b, d, h * w]).permuted([2, 0, 1])                // [HW, B, d]
        let pos = position.reshaped([b, d, h * w]).permuted([2, 0, 1])
        let queryPosition = queryEmbedding.unsqueezed(axis: 1).expanded(to: [queryEmbedding.shape[0], b, d])
        let padding = mask.reshaped([b, h * w])
        let memory = encoder(tokens, position: pos, keyPaddingMask: padding)
        let hs = decoder(Tensor.zeros(like: queryPosition), memory: memory, position: pos, queryPosition: queryPosition,
                         memoryKeyPaddingMask: padding)                                  // [D, Q, B, d]
        return hs.transposed(1, 2)
    }
}

/// A zoo model or its configuration could not be built.
public enum ZooError: Error, CustomStringConvertible, Equatable {
    case invalidConfig(String)
    case unknownModel(String, known: [String])

    public var description: String {
        switch self {
        case .invalidConfig(let why): return "invalid configuration: \(why)"
        case let .unknownModel(name, known): return "unknown model \"\(name)\" (known: \(known.joined(separator: ", ")))"
        }
    }
}
