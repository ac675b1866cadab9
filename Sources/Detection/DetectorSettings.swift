import Tapestry

/// The `model` arguments every DETR-family detector of the zoo shares, with the original
/// code's names (detr/main.py) and DETR's defaults. A model adds its own fields as a
/// `SettingsExtension` of this group (`Extended<Arguments>`) and sets its paper's defaults
/// in `adjustDefaults`.
public struct DetectorSettings: SettingsGroup, BackboneSettings {
    @Setting(oneOf: DetectionBackbone.names) public var backbone = "resnet50"
    /// DC5: the last stage dilated instead of strided (stride 16).
    @Setting public var dilation = false
    @Setting(4...) public var hiddenDim = 256
    @Setting(1...) public var dimFeedforward = 2048
    @Setting(0..<1) public var dropout = 0.1
    @Setting(1...) public var numQueries = 100
    @Setting(1...) public var numClasses = 91
    @Setting public var auxLoss = true
    @Setting(0...) public var lrBackbone = 1e-5
    /// Not arguments of the originals: frozen batch norm in the backbone (their choice; false
    /// trains BatchNorm2d), and the channels of its first stage (torchvision's 64; smaller
    /// for small images).
    @Setting public var frozenBatchNorm = true
    @Setting(1...) public var backboneWidth = 64

    public init() {}

    public func combinationProblem() -> String? {
        if hiddenDim % 4 != 0 { return "hidden_dim \(hiddenDim) must be a multiple of 4 (the sine encoding pairs sin and cos of x and y)" }
        return DetectionBackbone.problem(name: backbone, dilation: dilation, frozenBatchNorm: frozenBatchNorm, width: backboneWidth)
    }

    /// Why `hidden_dim` cannot be split into `heads` heads, or nil.
    public func headsProblem(_ heads: Int, name: String = "nheads") -> String? {
        hiddenDim % heads == 0 ? nil : "hidden_dim \(hiddenDim) is not divisible by \(name) \(heads)"
    }
}

/// A model's settings built on the shared ones are backbone settings too (the setters are
/// there so that presets can write `config.backbone = …` as for any other field).
extension Extended: BackboneSettings where Own.Base == DetectorSettings {
    public var backbone: String { get { base.backbone } set { base.backbone = newValue } }
    public var dilation: Bool { get { base.dilation } set { base.dilation = newValue } }
    public var lrBackbone: Double { get { base.lrBackbone } set { base.lrBackbone = newValue } }
    public var frozenBatchNorm: Bool { get { base.frozenBatchNorm } set { base.frozenBatchNorm = newValue } }
    public var backboneWidth: Int { get { base.backboneWidth } set { base.backboneWidth = newValue } }
}
