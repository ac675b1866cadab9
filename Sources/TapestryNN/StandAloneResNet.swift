import Tapestry

/// The residual network of "Stand-Alone Self-Attention in Vision Models" (Ramachandran,
/// Parmar, Vaswani, Bello, Levskaya & Shlens, NeurIPS 2019, §4): bottleneck blocks whose
/// spatial layer is SASA local attention (`LocalSelfAttention`) — or, for the paper's
/// convolutional baseline, a k×k convolution in the same place — with the semantics of
/// shared/spec/sasa-resnet.md and leaderj1001/Stand-Alone-Self-Attention's parameter names:
///
///     init = stem → BN → ReLU                      (`init.0`, `init.1`)
///     layerL.j = Bottleneck(planes[L], stride 2 in the first block of layers 2–4)
///     logits = dense(mean over H, W of layer4)     (`dense`, when classes are given)
///
/// The stem is a 3×3 convolution or the spatially-aware `AttentionStem`, without pooling
/// (upstream's CIFAR layout: stage strides 1/2/4/8). In the ImageNet layout (upstream's
/// commented-out lines, the paper's §4) the stem reduces by 4 — a 7×7 stride-2 convolution
/// and a 3×3 stride-2 max-pool, or the attention stem and a 4×4 max-pool — so the stages
/// have strides 4/8/16/32 like a torchvision ResNet's (`features(_:)` returns their outputs
/// for a detector's backbone).
open class StandAloneResNet: Layer, StagedBackbone {
    /// What mixes pixels inside each bottleneck.
    public enum SpatialLayer: Sendable, Equatable {
        /// SASA over a k×k neighbourhood with `heads` heads.
        case attention(kernelSize: Int, heads: Int)
        /// A k×k convolution, padding (k − 1)/2, no bias (the baseline).
        case convolution(kernelSize: Int)
    }

    /// The first layer, before its BatchNorm and ReLU.
    public enum Stem: Sendable, Equatable {
        /// 3×3 convolution, stride 1, no bias.
        case convolution
        /// `AttentionStem` (k 4, padding 2) with `heads` heads and `mixtures` value matrices.
        case attention(heads: Int, mixtures: Int)
    }

    public let stem: Sequential
    public let layer1: Sequential
    public let layer2: Sequential
    public let layer3: Sequential
    public let layer4: Sequential
    public let dense: Linear?
    /// Channels out of each stage (4 × its planes).
    public let stageChannels: [Int]
    public let stemKind: Stem
    public let imageNetLayout: Bool

    override open var keyOverrides: [String: String] { ["stem": "init"] }

    /// `blocks`: bottlenecks per stage ([1, 2, 4, 1] is ResNet-26, [2, 3, 5, 2] ResNet-38,
    /// [3, 4, 6, 3] ResNet-50); `planes`: each stage's bottleneck width (upstream's 64, 128,
    /// 256, 512); `stemWidth`: the stem's output channels (upstream's 64).
    public init(blocks: [Int], planes: [Int], stemWidth: Int, spatialLayer: SpatialLayer, stem: Stem = .convolution,
                imageNetLayout: Bool = false, classes: Int? = nil) {
        check(blocks.count == 4 && planes.count == 4, "StandAloneResNet: four stages need four block counts and four widths, got \(blocks) and \(planes)")
        let first: Layer
        switch stem {
        case .convolution:
            first = imageNetLayout ? Conv2d(3, stemWidth, kernelSize: 7, stride: 2, padding: 3, bias: false) : Conv2d(3, stemWidth, kernelSize: 3, padding: 1, bias: false)
        case let .attention(heads, mixtures): first = AttentionStem(inChannels: 3, outChannels: stemWidth, heads: heads, mixtures: mixtures)
        }
        self.stem = Sequential(first, BatchNorm2d(stemWidth), ReLU())
        var inChannels = stemWidth
        var stages: [Sequential] = []
        for (index, (width, count)) in zip(planes, blocks).enumerated() {
            stages.append(Sequential((0..<count).map { b -> Layer in
                let block = StandAloneBottleneck(inChannels, planes: width, stride: b == 0 && index > 0 ? 2 : 1, spatialLayer: spatialLayer)
                inChannels = 4 * width
                return block
            }))
        }
        (layer1, layer2, layer3, layer4) = (stages[0], stages[1], stages[2], stages[3])
        stageChannels = planes.map { 4 * $0 }
        dense = classes.map { Linear(4 * planes[3], $0) }
        (stemKind, self.imageNetLayout) = (stem, imageNetLayout)
    }

    public var stages: [Sequential] { [layer1, layer2, layer3, layer4] }

    /// The stem's output (after BN, ReLU and, in the ImageNet layout, the max-pool).
    public func stemOutput(_ input: Tensor) -> Tensor {
        check(input.rank == 4 && input.shape[1] == 3, "StandAloneResNet: input must be [N, 3, H, W], got \(input.shape)")
        let x = stem(input)
        guard imageNetLayout else { return x }
        return stemKind == .convolution ? x.maxPool2d(kernel: (3, 3), stride: (2, 2), padding: (1, 1)) : x.maxPool2d(kernel: (4, 4))
    }

    /// The outputs of layer1 … layer4.
    public func features(_ input: Tensor) -> [Tensor] {
        var x = stemOutput(input)
        return stages.map { stage in x = stage(x); return x }
    }

    /// Class logits when a classifier is attached, else layer4's output.
    override open func forward(_ input: Tensor) -> Tensor {
        let last = features(input).last!
        guard let dense else { return last }
        return dense(last.mean(axes: [2, 3]))
    }

    /// Multiply-adds for one image of `height`×`width`: every convolution, projection,
    /// attention logit (q·(k + r), one per channel and window position), weighted sum of
    /// values and the classifier; normalisation, activations, softmax and pooling excluded.
    public func multiplyAdds(height: Int, width: Int) -> Int {
        var (h, w) = (height, width)
        var total: Int
        switch stemKind {
        case .convolution where imageNetLayout:
            (h, w) = ((h + 1) / 2, (w + 1) / 2)
            total = 3 * stemWidth * 49 * h * w
            (h, w) = ((h + 1) / 2, (w + 1) / 2)
        case .convolution:
            total = 3 * stemWidth * 9 * h * w
        case let .attention(_, mixtures):
            total = ((2 + mixtures) * 3 * stemWidth + (mixtures + 2) * stemWidth * 16) * h * w
            if imageNetLayout { (h, w) = (h / 4, w / 4) }
        }
        var pixels = h * w
        for stage in stages {
            for case let block as StandAloneBottleneck in stage.layers {
                let (outH, outW) = ((h + block.stride - 1) / block.stride, (w + block.stride - 1) / block.stride)
                total += block.multiplyAdds(inputPixels: pixels, outputPixels: outH * outW)
                (h, w, pixels) = (outH, outW, outH * outW)
            }
        }
        return total + (dense.map { $0.weight.value.count } ?? 0)
    }

    /// The stem's output channels.
    public var stemWidth: Int { (stem.layers[1] as! BatchNorm2d).weight.shape[0] }
}

/// The bottleneck block of SASA-ResNet (Ramachandran et al., "Stand-Alone Self-Attention in
/// Vision Models", NeurIPS 2019, §4.1; spec §5, upstream `Bottleneck`, its spatial layer patched to
/// pool right after it):
///
///     h = ReLU(BN(conv1 x));  h = SpatialLayer(h);  h = avgpool₂(h) when strided
///     h = BN(conv3 ReLU(BN h));  y = ReLU(h + shortcut(x))
///
/// with the shortcut a strided 1×1 convolution and BN when the shape changes, else identity.
/// (Upstream needs even sides; here an odd side is zero-padded before the pool.)
public final class StandAloneBottleneck: Layer {
    public let conv1: Sequential
    public let conv2: Sequential
    public let conv3: Sequential
    public let shortcut: Sequential?
    public let stride: Int

    public init(_ inChannels: Int, planes: Int, stride: Int, spatialLayer: StandAloneResNet.SpatialLayer) {
        conv1 = Sequential(Conv2d(inChannels, planes, kernelSize: 1, bias: false), BatchNorm2d(planes), ReLU())
        let spatial: Layer
        switch spatialLayer {
        case let .attention(kernelSize, heads): spatial = LocalSelfAttention(inChannels: planes, outChannels: planes, kernelSize: kernelSize, heads: heads)
        case let .convolution(kernelSize): spatial = Conv2d(planes, planes, kernelSize: kernelSize, padding: (kernelSize - 1) / 2, bias: false)
        }
        conv2 = Sequential(spatial, BatchNorm2d(planes), ReLU())
        conv3 = Sequential(Conv2d(planes, 4 * planes, kernelSize: 1, bias: false), BatchNorm2d(4 * planes))
        shortcut = stride != 1 || inChannels != 4 * planes
            ? Sequential(Conv2d(inChannels, 4 * planes, kernelSize: 1, stride: stride, bias: false), BatchNorm2d(4 * planes))
            : nil
        self.stride = stride
    }

    override public func forward(_ input: Tensor) -> Tensor {
        var h = conv2.layers[0](conv1(input))
        if stride > 1 {
            // An odd side is zero-padded at the bottom or right first, so the pooled map has
            // ⌈H/s⌉ rows like the shortcut's strided 1×1 convolution (a detector's padded batch).
            let (extraRows, extraColumns) = ((stride - h.shape[2] % stride) % stride, (stride - h.shape[3] % stride) % stride)
            if extraRows + extraColumns > 0 { h = h.padded([(0, 0), (0, 0), (0, extraRows), (0, extraColumns)]) }
            h = h.avgPool2d(kernel: (stride, stride))
        }
        h = conv3(conv2.layers[2](conv2.layers[1](h)))
        return (h + (shortcut?(input) ?? input)).relu()
    }

    /// Multiply-adds of one image (see `StandAloneResNet.multiplyAdds`).
    func multiplyAdds(inputPixels: Int, outputPixels: Int) -> Int {
        let conv1 = self.conv1.layers[0] as! Conv2d, conv3 = self.conv3.layers[0] as! Conv2d
        var total = conv1.weight.value.count * inputPixels + conv3.weight.value.count * outputPixels
        if let shortcut { total += (shortcut.layers[0] as! Conv2d).weight.value.count * outputPixels }
        switch conv2.layers[0] {
        case let attention as LocalSelfAttention:
            let planes = attention.queryConv.outChannels, window = attention.kernelSize * attention.kernelSize
            let projections = 3 * attention.queryConv.weight.value.count, logitsAndSums = 2 * planes * window
            total += (projections + logitsAndSums) * inputPixels
        case let convolution as Conv2d:
            total += convolution.weight.value.count * inputPixels
        default:
            preconditionFailure("StandAloneBottleneck: unknown spatial layer")
        }
        return total
    }
}
