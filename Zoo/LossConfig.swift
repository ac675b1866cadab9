import Detection

/// DETR's matcher and loss settings, with the original argument names and defaults
/// (detr/main.py): matching costs `set_cost_*`, loss weights `*_loss_coef`, and the
/// no-object class weight `eos_coef`.
public struct DETRLossConfig: Codable, Sendable, Equatable {
    public var setCostClass = 1.0
    public var setCostBbox = 5.0
    public var setCostGiou = 2.0
    public var bboxLossCoef = 5.0
    public var giouLossCoef = 2.0
    public var eosCoef = 0.1

    enum CodingKeys: String, CodingKey {
        case setCostClass = "set_cost_class", setCostBbox = "set_cost_bbox", setCostGiou = "set_cost_giou"
        case bboxLossCoef = "bbox_loss_coef", giouLossCoef = "giou_loss_coef", eosCoef = "eos_coef"
    }

    public init() {}

    public var criterion: DETRCriterion {
        DETRCriterion(matcher: DETRMatcher(costClass: setCostClass, costBbox: setCostBbox, costGiou: setCostGiou),
                      eosCoefficient: eosCoef, weights: ["loss_ce": 1, "loss_bbox": bboxLossCoef, "loss_giou": giouLossCoef])
    }
}
