import Tapestry
import TapestryNN

/// A set-prediction detector: padded images and their mask in, one prediction per decoder
/// layer (and a two-stage detector's encoder proposals) out; how its outputs become boxes;
/// and its optimizer parameter groups. The trainer's detection task runs any of them.
public protocol Detector: Module {
    /// images [B, 3, H, W] (normalized, zero-padded at the bottom and right), mask [B, H, W]
    /// (true on padding).
    func callAsFunction(images: Tensor, mask: Tensor) -> SetPrediction
    var postProcessor: PostProcessor { get }
    func parameterGroups(learningRate: Double, weightDecay: Double) -> [ParameterGroup]
}

/// The backbone settings every DETR-family model has: the original's `backbone`,
/// `dilation` and `lr_backbone`, and two of ours (`frozen_batch_norm`, `backbone_width`).
public protocol BackboneSettings {
    var backbone: String { get }
    var dilation: Bool { get }
    var lrBackbone: Double { get }
    /// Frozen batch norm in the backbone (the originals' choice); false trains BatchNorm2d.
    var frozenBatchNorm: Bool { get }
    /// Channels of the first stage (torchvision's 64; smaller for small images).
    var backboneWidth: Int { get }
}

/// The backbone of DETR and its descendants (detr/models/backbone.py): a torchvision ResNet
/// — or SASA-ResNet in its ImageNet layout (`sasa-resnet26/38/50`: attention stem and 4×4
/// max-pool, 8 heads of k 7 in every bottleneck, trainable BatchNorm) — whose keys sit under
/// the Joiner's `backbone.0.body`, with the original freezing rule: with a positive backbone
/// rate only layer2–layer4 train, otherwise nothing does.
public final class DetectionBackbone: Module {
    public let body: any StagedBackbone

    /// The torchvision ResNets and the SASA-ResNets the `backbone` setting accepts.
    public static let resNetNames = ResNet.Depth.allCases.map { "resnet\($0.rawValue)" }
    public static let sasaNames = ["sasa-resnet26": [1, 2, 4, 1], "sasa-resnet38": [2, 3, 5, 2], "sasa-resnet50": [3, 4, 6, 3]]
    public static let names = resNetNames + sasaNames.keys.sorted()

    /// `name` is one of `names`; `dilation` (DC5) needs a bottleneck ResNet (50 or 101).
    public init(name: String, frozenBatchNorm: Bool, dilation: Bool, width: Int, learningRate: Double) {
        if let blocks = Self.sasaNames[name] {
            body = StandAloneResNet(blocks: blocks, planes: [width, 2 * width, 4 * width, 8 * width], stemWidth: width,
                                    spatialLayer: .attention(kernelSize: 7, heads: 8), stem: .attention(heads: 1, mixtures: 4), imageNetLayout: true)
        } else {
            let depth = ResNet.Depth.allCases.first { "resnet\($0.rawValue)" == name }
            check(depth != nil, "DetectionBackbone: unknown backbone \(name) (\(Self.names.joined(separator: ", ")))")
            body = ResNet(depth!, norm: frozenBatchNorm ? .frozenBatchNorm : .batchNorm, dilateLastStage: dilation, width: width)
        }
        super.init()
        freeze { name in learningRate <= 0 || !["layer2", "layer3", "layer4"].contains { name.contains($0) } }
    }

    public convenience init(_ settings: some BackboneSettings) {
        self.init(name: settings.backbone, frozenBatchNorm: settings.frozenBatchNorm, dilation: settings.dilation,
                  width: settings.backboneWidth, learningRate: settings.lrBackbone)
    }

    override public var keyOverrides: [String: String] { ["body": "0.body"] }

    /// The four stages' feature maps, strides 4, 8, 16, 32 (the last 16 with dilation).
    public func features(_ images: Tensor) -> [Tensor] { body.features(images) }

    /// Why the backbone settings cannot work together, or nil.
    public static func problem(name: String, dilation: Bool, frozenBatchNorm: Bool, width: Int) -> String? {
        if sasaNames[name] != nil {
            if dilation { return "dilation (DC5) needs resnet50 or resnet101, not \(name)" }
            if frozenBatchNorm { return "\(name) has no pretrained weights to freeze: set frozen_batch_norm=false" }
            if width % 16 != 0 { return "backbone_width \(width) must be a multiple of 16 for \(name) (8 heads of an even number of channels)" }
        }
        return dilation && ["resnet18", "resnet34"].contains(name) ? "dilation (DC5) needs resnet50 or resnet101: torchvision's BasicBlock has no dilation" : nil
    }
}

extension Detector {
    /// Stops with a clear message unless images are [B, 3, H, W] and the mask [B, H, W].
    public func checkInput(images: Tensor, mask: Tensor) {
        check(images.rank == 4 && images.shape[1] == 3 && mask.shape == [images.shape[0], images.shape[2], images.shape[3]],
              "\(type(of: self)): images must be [B, 3, H, W] and mask [B, H, W]; got \(images.shape) and \(mask.shape)")
    }
}

extension Tensor {
    /// Each image's unpadded (width, height) in pixels, [B, 2], from its padding mask
    /// [B, H, W] (true on padding, which lies at the bottom and right).
    public func unpaddedSizes(dtype: DType) -> Tensor {
        let kept = 1 - cast(to: dtype)
        return Tensor.stack([kept.select(axis: 1, index: 0).sum(axis: 1), kept.select(axis: 2, index: 0).sum(axis: 1)], axis: 1)
    }

    /// The padding mask [B, H, W] resized to `feature`'s [B, C, h, w] grid, and DETR's sine
    /// encoding of it with `channels` channels (`PositionEmbeddingSine`, normalized, no offset).
    public func maskAndSineEncoding(for feature: Tensor, channels: Int) -> (mask: Tensor, position: Tensor) {
        let resized = resizedMask(to: (feature.shape[2], feature.shape[3]), dtype: feature.dtype)
        return (resized, SinePositionalEncoding(features: channels / 2)(mask: resized, dtype: feature.dtype))
    }

    /// A padding mask [B, H, W] resized to (h, w) as `F.interpolate(mask.float(), size)`
    /// does (nearest), true on padding.
    public func resizedMask(to size: (Int, Int), dtype: DType) -> Tensor {
        cast(to: dtype).interpolateNearest(size: size) .> 0
    }
}
