import Foundation
import Detection
import Tapestry
import TapestryNN

/// Runners for the zoo models' reference fixtures (shared/fixtures/FORMAT.md).
public enum ZooFixtures {
    public static let runners: [String: FixtureRunner] = [
        "detr": detr,
    ]

    /// The fixture's targets: `target.{b}.labels` and `target.{b}.boxes` for b = 0, 1, …
    static func targets(_ f: Fixture, dtype: DType) -> [DetectionTarget] {
        var targets: [DetectionTarget] = []
        while let labels = f.file["target.\(targets.count).labels"], let boxes = f.file["target.\(targets.count).boxes"] {
            targets.append(DetectionTarget(labels: labels, boxes: boxes.cast(to: dtype)))
        }
        return targets
    }

    /// The final layer's matching as `match.{b}.pred` / `match.{b}.target`.
    static func matchTensors(_ assignment: Assignment) -> [String: Tensor] {
        var tensors: [String: Tensor] = [:]
        for (b, pair) in assignment.enumerated() {
            tensors["match.\(b).pred"] = Tensor(pair.queries.map(Int64.init))
            tensors["match.\(b).target"] = Tensor(pair.targets.map(Int64.init))
        }
        return tensors
    }

    static func detr(_ f: Fixture, _ dtype: DType) throws -> FixtureRun {
        let config = try JSONDecoder().decode(DETR.Config.self, from: Data((f.file.metadata["config"] ?? "{}").utf8))
        let model = try DETR(config)
        model.convert(to: dtype)
        WeightRecipe.apply(to: model, seed: f.seed, dtype: dtype)
        let images = try f.input("images", dtype: dtype), mask = try f.input("mask", dtype: dtype) .!= Tensor(scalar: 0, dtype: .uint8)
        let output = model(images: images, mask: mask)
        let c = f.config
        let criterion = DETRCriterion(
            matcher: DETRMatcher(costClass: c["set_cost_class"]?.doubleValue ?? 1, costBbox: c["set_cost_bbox"]?.doubleValue ?? 5,
                                 costGiou: c["set_cost_giou"]?.doubleValue ?? 2),
            eosCoefficient: c["eos_coef"]?.doubleValue ?? 0.1,
            weights: ["loss_ce": c["weight_dict"]?["loss_ce"]?.doubleValue ?? 1, "loss_bbox": c["bbox_loss_coef"]?.doubleValue ?? 5,
                      "loss_giou": c["giou_loss_coef"]?.doubleValue ?? 2])
        let result = try criterion(output.final, auxiliary: output.auxiliary, targets: targets(f, dtype: dtype))
        var outputs = ["pred_logits": output.final.logits, "pred_boxes": output.final.boxes]
        for (i, aux) in output.auxiliary.enumerated() {
            outputs["aux.\(i).pred_logits"] = aux.logits
            outputs["aux.\(i).pred_boxes"] = aux.boxes
        }
        return FixtureRun(outputs: outputs, losses: result.terms.mapValues { $0.reshaped([1]) }, total: result.total,
                          module: model, exact: matchTensors(result.assignment))
    }
}
