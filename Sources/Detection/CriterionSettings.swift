import Tapestry

/// The `loss` section of a detector's settings: its matcher costs and loss weights, with
/// the original code's argument names, and the criterion they make.
public protocol CriterionSettings: SettingsGroup {
    var criterion: any DetectionCriterion { get }
}

/// DETR's matcher and loss settings (detr/main.py): matching costs `set_cost_*`, loss
/// weights `*_loss_coef` (the class loss weighs 1), and the no-object class weight `eos_coef`.
public struct SoftmaxCriterionSettings: CriterionSettings {
    @Setting(0...) public var setCostClass = 1.0
    @Setting(0...) public var setCostBbox = 5.0
    @Setting(0...) public var setCostGiou = 2.0
    @Setting(0...) public var bboxLossCoef = 5.0
    @Setting(0...) public var giouLossCoef = 2.0
    @Setting(0...1) public var eosCoef = 0.1

    public init() {}

    public var criterion: any DetectionCriterion {
        SetCriterion(matcher: HungarianMatcher(scoring: .softmax(noObjectWeight: eosCoef), costClass: setCostClass, costBbox: setCostBbox, costGiou: setCostGiou),
                     weights: ["loss_ce": 1, "loss_bbox": bboxLossCoef, "loss_giou": giouLossCoef])
    }
}

/// The focal-loss matcher and loss settings of Deformable DETR and SMCA
/// (Deformable-DETR main.py): costs 2/5/2, weights 2/5/2, focal α 0.25 (γ is 2).
public struct FocalCriterionSettings: CriterionSettings {
    @Setting(0...) public var setCostClass = 2.0
    @Setting(0...) public var setCostBbox = 5.0
    @Setting(0...) public var setCostGiou = 2.0
    @Setting(0...) public var clsLossCoef = 2.0
    @Setting(0...) public var bboxLossCoef = 5.0
    @Setting(0...) public var giouLossCoef = 2.0
    @Setting(0...1) public var focalAlpha = 0.25

    public init() {}

    public var criterion: any DetectionCriterion {
        SetCriterion(matcher: HungarianMatcher(scoring: .sigmoidFocal(alpha: focalAlpha, gamma: 2), costClass: setCostClass, costBbox: setCostBbox, costGiou: setCostGiou),
                     weights: ["loss_ce": clsLossCoef, "loss_bbox": bboxLossCoef, "loss_giou": giouLossCoef])
    }
}
