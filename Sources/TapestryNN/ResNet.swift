import Tapestry

/// A convolutional network whose four stages (strides 4, 8, 16, 32) a detector reads:
/// `ResNet` and `StandAloneResNet`.
public protocol StagedBackbone: Module {
    /// Channels out of each stage.
    var stageChannels: [Int] { get }
    /// The outputs of the four stages.
    func features(_ input: Tensor) -> [Tensor]
}

/// Residual networks (He, Zhang, Ren & Sun, "Deep Residual Learning for Image Recognition",
/// CVPR 2016) in torchvision's v1.5 form (stride in the 3×3 conv) with torchvision's
/// parameter names: `conv1`, `bn1`, `layer1…layer4.{block}.conv{1,2,3}`, `.bn{1,2,3}`,
/// `.downsample.{0,1}`, and `fc` when a classifier is attached.
///
/// Stem: 7×7 conv stride 2 → norm → ReLU → 3×3 max-pool stride 2; stages of 64/128/256/512
/// planes with strides 1/2/2/2. `dilateLastStage` replaces layer4's stride with dilation 2
/// (DETR's DC5). `width` scales every stage (torchvision's is 64: stages of w, 2w, 4w, 8w
/// planes) for small models on small images; parameter names stay the same. `features(_:)` returns every stage's output (Stacked-DETR uses layer3,
/// Deformable DETR layers 2–4).
public final class ResNet: Layer, StagedBackbone {
    public enum Depth: Int, Sendable, CaseIterable {
        case resnet18 = 18, resnet34 = 34, resnet50 = 50, resnet101 = 101

        var blocks: [Int] {
            switch self {
            case .resnet18: return [2, 2, 2, 2]
            case .resnet34, .resnet50: return [3, 4, 6, 3]
            case .resnet101: return [3, 4, 23, 3]
            }
        }
        var bottleneck: Bool { self == .resnet50 || self == .resnet101 }
    }

    /// Which normalization follows each convolution.
    public enum Norm: Sendable {
        /// Trainable `BatchNorm2d`.
        case batchNorm
        /// DETR's `FrozenBatchNorm2d` (statistics and affine terms as buffers).
        case frozenBatchNorm

        func make(_ channels: Int) -> Layer {
            switch self {
            case .batchNorm: return BatchNorm2d(channels)
            case .frozenBatchNorm: return FrozenBatchNorm2d(channels)
            }
        }
    }

    public let conv1: Conv2d
    public let bn1: Layer
    public let layer1: Sequential
    public let layer2: Sequential
    public let layer3: Sequential
    public let layer4: Sequential
    public let fc: Linear?
    /// Channels out of each stage.
    public let stageChannels: [Int]

    public init(_ depth: Depth, norm: Norm = .batchNorm, dilateLastStage: Bool = false, classes: Int? = nil, width: Int = 64) {
        check(!dilateLastStage || depth.bottleneck, "ResNet-\(depth.rawValue): dilation needs Bottleneck blocks (torchvision's BasicBlock rejects it)")
        check(width >= 1, "ResNet: width must be positive, got \(width)")
        let expansion = depth.bottleneck ? 4 : 1
        let stagePlanes = [width, 2 * width, 4 * width, 8 * width]
        conv1 = Conv2d(3, width, kernelSize: 7, stride: 2, padding: 3, bias: false)
        bn1 = norm.make(width)
        var inChannels = width, dilation = 1
        var stages: [Sequential] = []
        for (index, (planes, blockCount)) in zip(stagePlanes, depth.blocks).enumerated() {
            var stride = index == 0 ? 1 : 2
            let previousDilation = dilation
            if index == 3 && dilateLastStage { dilation *= stride; stride = 1 }
            var blocks: [Layer] = []
            for b in 0..<blockCount {
                let needsDownsample = b == 0 && (stride != 1 || inChannels != planes * expansion)
                let downsample = needsDownsample
                    ? Sequential(Conv2d(inChannels, planes * expansion, kernelSize: 1, stride: stride, bias: false), norm.make(planes * expansion))
                    : nil
                let blockStride = b == 0 ? stride : 1, blockDilation = b == 0 ? previousDilation : dilation
                blocks.append(depth.bottleneck
                    ? Bottleneck(inChannels, planes, stride: blockStride, dilation: blockDilation, downsample: downsample, norm: norm)
                    : BasicBlock(inChannels, planes, stride: blockStride, downsample: downsample, norm: norm))
                inChannels = planes * expansion
            }
            stages.append(Sequential(blocks))
        }
        (layer1, layer2, layer3, layer4) = (stages[0], stages[1], stages[2], stages[3])
        stageChannels = stagePlanes.map { $0 * expansion }
        fc = classes.map { Linear(stagePlanes[3] * expansion, $0) }
        super.init()
        // torchvision's initialization: every convolution N(0, 2/fanOut) (`kaiming_normal_`,
        // mode fan_out, ReLU gain), norms at weight 1 and bias 0. It matters when the network
        // trains from scratch with FrozenBatchNorm2d (identity statistics): with PyTorch's
        // default convolution init, 2.4× narrower, every residual branch starts near zero.
        for case let (_, conv as Conv2d) in namedModules() {
            conv.weight.value = Initialization.kaimingNormalFanOut(conv.weight.shape)
        }
    }

    /// The outputs of layer1 … layer4.
    public func features(_ input: Tensor) -> [Tensor] {
        check(input.rank == 4 && input.shape[1] == 3, "ResNet: input must be [N, 3, H, W], got \(input.shape)")
        var x = bn1(conv1(input)).relu().maxPool2d(kernel: (3, 3), stride: (2, 2), padding: (1, 1))
        var outputs: [Tensor] = []
        for stage in [layer1, layer2, layer3, layer4] {
            x = stage(x)
            outputs.append(x)
        }
        return outputs
    }

    /// Class logits when a classifier is attached (global average pool → fc), else layer4's output.
    override public func forward(_ input: Tensor) -> Tensor {
        let last = features(input).last!
        guard let fc else { return last }
        return fc(last.mean(axes: [2, 3]))
    }
}

/// ResNet-18/34's block (He et al., CVPR 2016, Fig. 2): two 3×3 convolutions with a residual
/// connection, y = ReLU(BN(conv2 ReLU(BN(conv1 x))) + shortcut(x)).
public final class BasicBlock: Layer {
    public let conv1: Conv2d
    public let bn1: Layer
    public let conv2: Conv2d
    public let bn2: Layer
    public let downsample: Sequential?

    init(_ inChannels: Int, _ planes: Int, stride: Int, downsample: Sequential?, norm: ResNet.Norm) {
        conv1 = Conv2d(inChannels, planes, kernelSize: 3, stride: stride, padding: 1, bias: false)
        bn1 = norm.make(planes)
        conv2 = Conv2d(planes, planes, kernelSize: 3, padding: 1, bias: false)
        bn2 = norm.make(planes)
        self.downsample = downsample
    }

    override public func forward(_ input: Tensor) -> Tensor {
        let y = bn2(conv2(bn1(conv1(input)).relu()))
        return (y + (downsample?(input) ?? input)).relu()
    }
}

/// ResNet-50/101's bottleneck block (He et al., CVPR 2016, Fig. 5): 1×1 → 3×3 (stride,
/// dilation) → 1×1 ×4 with a residual connection,
/// y = ReLU(BN(conv3 ReLU(BN(conv2 ReLU(BN(conv1 x)))))  + shortcut(x)).
public final class Bottleneck: Layer {
    public let conv1: Conv2d
    public let bn1: Layer
    public let conv2: Conv2d
    public let bn2: Layer
    public let conv3: Conv2d
    public let bn3: Layer
    public let downsample: Sequential?

    init(_ inChannels: Int, _ planes: Int, stride: Int, dilation: Int, downsample: Sequential?, norm: ResNet.Norm) {
        conv1 = Conv2d(inChannels, planes, kernelSize: 1, bias: false)
        bn1 = norm.make(planes)
        conv2 = Conv2d(planes, planes, kernelSize: 3, stride: stride, padding: dilation, dilation: dilation, bias: false)
        bn2 = norm.make(planes)
        conv3 = Conv2d(planes, planes * 4, kernelSize: 1, bias: false)
        bn3 = norm.make(planes * 4)
        self.downsample = downsample
    }

    override public func forward(_ input: Tensor) -> Tensor {
        var y = bn1(conv1(input)).relu()
        y = bn2(conv2(y)).relu()
        y = bn3(conv3(y))
        return (y + (downsample?(input) ?? input)).relu()
    }
}
