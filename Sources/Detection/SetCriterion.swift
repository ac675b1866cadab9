import Tapestry
import TapestryNN

/// One image's ground truth: class labels [n] (Int64) and boxes [n, 4] as normalized cxcywh.
public struct DetectionTarget {
    public var labels: Tensor
    public var boxes: Tensor
    public init(labels: Tensor, boxes: Tensor) { (self.labels, self.boxes) = (labels, boxes) }
    public var count: Int { labels.count }
}

/// A detector's predictions for one decoder layer: logits [B, Q, K] and boxes [B, Q, 4] (cxcywh).
public struct DetectionOutput {
    public var logits: Tensor
    public var boxes: Tensor
    public init(logits: Tensor, boxes: Tensor) { (self.logits, self.boxes) = (logits, boxes) }
}

/// Everything a set-prediction detector returns: one prediction per decoder layer (the last
/// is the final one, the others are the auxiliary outputs) and, for two-stage detectors, the
/// encoder's proposals.
public struct SetPrediction {
    public var layers: [DetectionOutput]
    public var encoder: DetectionOutput?
    public init(layers: [DetectionOutput], encoder: DetectionOutput? = nil) { (self.layers, self.encoder) = (layers, encoder) }
    /// One output per decoder layer from logits [D, B, Q, K] and boxes [D, B, Q, 4]; only
    /// the last layer's unless `auxiliary` (the auxiliary losses' outputs).
    public init(stackedLogits logits: Tensor, boxes: Tensor, auxiliary: Bool) {
        let layers = (0..<logits.shape[0]).map { DetectionOutput(logits: logits.select(axis: 0, index: $0), boxes: boxes.select(axis: 0, index: $0)) }
        self.init(layers: auxiliary ? layers : [layers.last!])
    }
    public var final: DetectionOutput { layers.last! }
    public var auxiliary: [DetectionOutput] { Array(layers.dropLast()) }
}

/// The loss of a detector's prediction: what the trainer's detection task minimizes. A new
/// detector may bring its own; `SetCriterion` is DETR's family's.
public protocol DetectionCriterion {
    func callAsFunction(_ prediction: SetPrediction, targets: [DetectionTarget]) throws -> CriterionResult
}

/// A criterion's loss terms, their weighted total, and the matchings it made.
public struct CriterionResult {
    /// Every loss term by name (unweighted), including the logging-only ones.
    public var terms: [String: Tensor]
    /// Σ weight[k]·terms[k] over the weighted terms: the loss to minimize.
    public var total: Tensor
    /// The matchings: "" for the final layer, "aux.i" for auxiliary layer i, "enc" for the encoder.
    public var assignments: [String: Assignment]
}

/// (query indices, target indices) of each image, sorted by query.
public typealias Assignment = [(queries: [Int], targets: [Int])]

/// How a detector scores classes, in its matcher, its loss and its post-processing.
public enum ClassScoring: Sendable, Equatable {
    /// Softmax over the C real classes and a last "no object" class (DETR); the no-object
    /// class weighs `noObjectWeight` in the cross-entropy.
    case softmax(noObjectWeight: Double)
    /// An independent sigmoid per class, C columns, trained with the focal loss
    /// (Deformable DETR, SMCA).
    case sigmoidFocal(alpha: Double, gamma: Double)
}

/// The Hungarian matcher (detr/models/matcher.py, Deformable-DETR's models/matcher.py): per
/// image, C[q, t] = w_bbox·‖b_q − b_t‖₁ + w_class·cost_class(q, label_t) + w_giou·(−GIoU(b_q, b_t)),
/// with cost_class = −softmax(logits_q)[label] for softmax scoring, and for focal scoring
/// α(1−p)^γ·(−log(p + 1e-8)) − (1−α)p^γ·(−log(1 − p + 1e-8)), p = σ(logit_q,label).
/// Solved exactly for the minimum-cost matching, without gradient.
public struct HungarianMatcher: Sendable {
    public var scoring: ClassScoring
    public var costClass: Double, costBbox: Double, costGiou: Double

    public init(scoring: ClassScoring, costClass: Double, costBbox: Double, costGiou: Double) {
        (self.scoring, self.costClass, self.costBbox, self.costGiou) = (scoring, costClass, costBbox, costGiou)
    }

    public func match(_ output: DetectionOutput, _ targets: [DetectionTarget]) throws -> Assignment {
        try noGrad {
            try targets.enumerated().map { b, target in
                let q = output.logits.shape[1]
                guard target.count > 0 else { return ([], []) }
                let classCost = self.classCost(output.logits.select(axis: 0, index: b)).indexSelect(axis: 1, index: target.labels)   // [Q, n]
                let boxes = output.boxes.select(axis: 0, index: b), targetBoxes = target.boxes.cast(to: output.boxes.dtype)
                let l1 = (boxes.unsqueezed(axis: 1) - targetBoxes.unsqueezed(axis: 0)).abs().sum(axis: 2)
                let giou = try Boxes.generalizedIoU(Boxes.cxcywhToXyxy(boxes), Boxes.cxcywhToXyxy(targetBoxes))
                let cost = l1 * costBbox + classCost * costClass - giou * costGiou
                let matching = try LinearAssignment.solve(cost.doubles(), rows: q, columns: target.count)
                return (matching.rows, matching.columns)
            }
        }
    }

    /// The class cost of every query for every class, [Q, K].
    func classCost(_ logits: Tensor) -> Tensor {
        switch scoring {
        case .softmax:
            return -logits.softmax(axis: -1)
        case let .sigmoidFocal(alpha, gamma):
            let p = logits.sigmoid()
            let positive = (1 - p).pow(gamma) * alpha * -(p + 1e-8).log()
            let negative = p.pow(gamma) * (1 - alpha) * -(1 - p + 1e-8).log()
            return positive - negative
        }
    }
}

/// The set criterion of DETR and its descendants (detr/models/detr.py and
/// Deformable-DETR's models/deformable_detr.py `SetCriterion`): Hungarian matching, then
/// - loss_ce: softmax scoring: cross-entropy over all queries, unmatched ones labelled
///   "no object" (the last class), weighted by [1, …, 1, eos_coef], normalized by the sum of
///   the weights; focal scoring: Σ_{b,q,c} FocalLoss(x, onehot) / num_boxes;
/// - loss_bbox: Σ|b − b̂|₁ / num_boxes; loss_giou: Σ(1 − GIoU) / num_boxes, over matched pairs;
/// - class_error and cardinality_error for logging (no gradient).
/// num_boxes = max(total targets in the batch, 1). Auxiliary layers get the same losses with
/// their own matching, suffixed `_i`; a two-stage encoder output gets them class-agnostically
/// (every label 0), suffixed `_enc`. total = Σ weight·term over the weighted terms.
public struct SetCriterion: DetectionCriterion {
    public var matcher: HungarianMatcher
    /// Weight of each loss term by its base name (loss_ce, loss_bbox, loss_giou).
    public var weights: [String: Double]

    public init(matcher: HungarianMatcher, weights: [String: Double]) { (self.matcher, self.weights) = (matcher, weights) }

    public func callAsFunction(_ prediction: SetPrediction, targets: [DetectionTarget]) throws -> CriterionResult {
        let numBoxes = Double(Swift.max(targets.reduce(0) { $0 + $1.count }, 1))
        var terms: [String: Tensor] = [:], assignments: [String: Assignment] = [:]
        func add(_ output: DetectionOutput, _ targets: [DetectionTarget], suffix: String, name: String) throws {
            let assignment = try matcher.match(output, targets)
            assignments[name] = assignment
            for (key, value) in try losses(output, targets, assignment, numBoxes: numBoxes) { terms[key + suffix] = value }
        }
        try add(prediction.final, targets, suffix: "", name: "")
        terms["class_error"] = classError(prediction.final, targets, assignments[""]!)
        for (i, aux) in prediction.auxiliary.enumerated() { try add(aux, targets, suffix: "_\(i)", name: "aux.\(i)") }
        if let encoder = prediction.encoder {
            let agnostic = targets.map { DetectionTarget(labels: Tensor.zeros(like: $0.labels), boxes: $0.boxes) }
            try add(encoder, agnostic, suffix: "_enc", name: "enc")
        }
        var total: Tensor?
        for (key, value) in terms.sorted(by: { $0.key < $1.key }) where key.hasPrefix("loss_") {
            guard let weight = weights[key.split(separator: "_").prefix(2).joined(separator: "_")] else { continue }
            total = total.map { $0 + value * weight } ?? value * weight
        }
        return CriterionResult(terms: terms, total: total!, assignments: assignments)
    }

    func losses(_ output: DetectionOutput, _ targets: [DetectionTarget], _ assignment: Assignment, numBoxes: Double) throws -> [String: Tensor] {
        let (b, q) = (output.logits.shape[0], output.logits.shape[1])
        let dtype = output.logits.dtype
        var matchedLabels: [(index: Int, label: Int64)] = [], flatQueries: [Int64] = [], matchedBoxes: [Tensor] = []
        for (image, (queries, indices)) in assignment.enumerated() {
            let labels = targets[image].labels.scalars(as: Int64.self)
            for (query, t) in zip(queries, indices) { matchedLabels.append((image * q + query, labels[t])) }
            flatQueries += queries.map { Int64(image * q + $0) }
            if !indices.isEmpty {
                matchedBoxes.append(targets[image].boxes.cast(to: dtype).indexSelect(axis: 0, index: Tensor(indices.map(Int64.init))))
            }
        }
        var terms: [String: Tensor] = ["loss_ce": classificationLoss(output.logits, matchedLabels, numBoxes: numBoxes)]
        if flatQueries.isEmpty {
            terms["loss_bbox"] = (output.boxes * 0).sum()
            terms["loss_giou"] = (output.boxes * 0).sum()
        } else {
            let predicted = output.boxes.reshaped([b * q, 4]).indexSelect(axis: 0, index: Tensor(flatQueries))
            let target = Tensor.concat(matchedBoxes, axis: 0)
            terms["loss_bbox"] = Losses.l1(predicted, target, reduction: .sum) / numBoxes
            let giou = try Boxes.generalizedIoU(Boxes.cxcywhToXyxy(predicted), Boxes.cxcywhToXyxy(target))
            let n = predicted.shape[0]
            let diagonal = giou.gather(axis: 1, index: Tensor((0..<n).map { Int64($0) }, shape: [n, 1]))
            terms["loss_giou"] = (1 - diagonal).sum() / numBoxes
        }
        terms["cardinality_error"] = cardinalityError(output, targets)
        return terms
    }

    /// loss_ce over logits [B, Q, K] given the label of every matched (flattened) query.
    func classificationLoss(_ logits: Tensor, _ matched: [(index: Int, label: Int64)], numBoxes: Double) -> Tensor {
        let (b, q, classes) = (logits.shape[0], logits.shape[1], logits.shape[2])
        switch matcher.scoring {
        case .softmax(let noObjectWeight):
            // Matched queries get their label, the rest "no object" (index K − 1).
            var targetClasses = [Int64](repeating: Int64(classes - 1), count: b * q)
            for (index, label) in matched { targetClasses[index] = label }
            var classWeight = [Double](repeating: 1, count: classes)
            classWeight[classes - 1] = noObjectWeight
            return Losses.crossEntropy(logits: logits, targets: Tensor(targetClasses, shape: [b, q]),
                                       weight: Tensor(classWeight, shape: [classes], dtype: logits.dtype))
        case let .sigmoidFocal(alpha, gamma):
            var onehot = [Double](repeating: 0, count: b * q * classes)
            for (index, label) in matched { onehot[index * classes + Int(label)] = 1 }
            let targets = Tensor(onehot, shape: [b, q, classes], dtype: logits.dtype)
            return Losses.sigmoidFocalLoss(logits: logits, targets: targets, alpha: alpha, gamma: gamma).sum() / numBoxes
        }
    }

    /// Mean |number of queries whose argmax is not the last class − number of targets|.
    func cardinalityError(_ output: DetectionOutput, _ targets: [DetectionTarget]) -> Tensor {
        noGrad {
            let (b, classes) = (output.logits.shape[0], output.logits.shape[2])
            let predictedObjects = (output.logits.argmax(axis: -1) .!= Tensor(scalar: Double(classes - 1), dtype: .int64))
                .cast(to: .float64).sum(axis: 1).doubles()
            let error = zip(predictedObjects, targets).map { Swift.abs($0 - Double($1.count)) }.reduce(0, +) / Double(b)
            return Tensor(scalar: error, dtype: output.logits.dtype)
        }
    }

    /// 100 − top-1 accuracy (%) of the matched queries (100 when nothing is matched).
    func classError(_ output: DetectionOutput, _ targets: [DetectionTarget], _ assignment: Assignment) -> Tensor {
        noGrad {
            var correct = 0, total = 0
            for (image, (queries, indices)) in assignment.enumerated() {
                let labels = targets[image].labels.scalars(as: Int64.self)
                let predicted = output.logits.select(axis: 0, index: image).cast(to: .float32).argmax(axis: -1).scalars(as: Int64.self)
                for (query, t) in zip(queries, indices) {
                    total += 1
                    if predicted[query] == labels[t] { correct += 1 }
                }
            }
            return Tensor(scalar: 100 - (total == 0 ? 0 : 100 * Double(correct) / Double(total)), dtype: output.logits.dtype)
        }
    }
}
