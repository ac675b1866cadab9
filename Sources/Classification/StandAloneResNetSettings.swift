import Tapestry

/// The `model` arguments the SASA network and its convolutional baseline share, named as
/// leaderj1001/Stand-Alone-Self-Attention's model (and the reference fixtures' config), with
/// its CIFAR-10 defaults: ResNet-26 of upstream's widths. A model adds its own fields as a
/// `SettingsExtension` of this group.
public struct StandAloneResNetSettings: SettingsGroup {
    /// Bottlenecks per stage: [1, 2, 4, 1] is ResNet-26, [2, 3, 5, 2] ResNet-38, [3, 4, 6, 3] ResNet-50.
    @Setting("four block counts, each at least 1", { $0.count == 4 && $0.allSatisfy { $0 >= 1 } })
    public var numBlocks = [1, 2, 4, 1]
    /// Each stage's bottleneck width (its output has 4× as many channels).
    @Setting("four widths, each at least 1", { $0.count == 4 && $0.allSatisfy { $0 >= 1 } })
    public var planes = [64, 128, 256, 512]
    @Setting(1...) public var stemWidth = 64
    /// Side of the spatial layer's window (attention neighbourhood or convolution kernel).
    @Setting("an odd number of at least 1", { $0 >= 1 && $0 % 2 == 1 }) public var kernelSize = 7
    @Setting(1...) public var numClasses = 10
    /// "cifar": the stem keeps the resolution (upstream's model); "imagenet": the stem
    /// reduces by 4 (7×7 stride-2 convolution and max-pool, or attention stem and 4×4 max-pool).
    @Setting(oneOf: ["cifar", "imagenet"]) public var layout = "cifar"

    public init() {}

    /// The name of the depth `numBlocks` stands for ("ResNet-26"), or the counts.
    public var depthName: String {
        let named = [[1, 2, 4, 1]: "ResNet-26", [2, 3, 5, 2]: "ResNet-38", [3, 4, 6, 3]: "ResNet-50"]
        return named[numBlocks] ?? "ResNet with blocks \(numBlocks)"
    }
}
