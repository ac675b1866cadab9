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

/// (query indices, target indices) of each image, sorted by query.
public typealias Assignment = [(queries: [Int], targets: [Int])]

/// DETR's Hungarian matcher (detr/models/matcher.py): per image,
/// C[q, t] = w_bbox·‖b_q − b_t‖₁ + w_class·(−softmax(logits_q)[label_t]) + w_giou·(−GIoU(b_q, b_t)),
/// solved exactly for the minimum-cost matching. Computed without gradient.
public struct DETRMatcher: Sendable {
    public var costClass = 1.0, costBbox = 5.0, costGiou = 2.0
    public init(costClass: Double = 1, costBbox: Double = 5, costGiou: Double = 2) {
        (self.costClass, self.costBbox, self.costGiou) = (costClass, costBbox, costGiou)
    }

    public func match(_ output: DetectionOutput, _ targets: [DetectionTarget]) throws -> Assignment {
        try noGrad {
            try targets.enumerated().map { b, target in
                let q = output.logits.shape[1]
                guard target.count > 0 else { return ([], []) }
                let probabilities = output.logits.select(axis: 0, index: b).softmax(axis: -1)             // [Q, K]
                let classCost = -probabilities.indexSelect(axis: 1, index: target.labels)               // [Q, n]
                let boxes = output.boxes.select(axis: 0, index: b)
                let l1 = (boxes.unsqueezed(axis: 1) - target.boxes.cast(to: boxes.dtype).unsqueezed(axis: 0)).abs().sum(axis: 2)
                let giou = try Boxes.generalizedIoU(Boxes.cxcywhToXyxy(boxes), Boxes.cxcywhToXyxy(target.boxes.cast(to: boxes.dtype)))
                let cost = l1 * costBbox + classCost * costClass - giou * costGiou
                let matching = try LinearAssignment.solve(cost.doubles(), rows: q, columns: target.count)
                return (matching.rows, matching.columns)
            }
        }
    }
}

/// DETR's set criterion (detr/models/detr.py `SetCriterion`): Hungarian matching, then
/// - loss_ce: cross-entropy over all queries, unmatched ones labelled "no object" (the last
///   class), weighted by [1, …, 1, eos_coef] and normalized by the sum of the weights;
/// - loss_bbox: Σ|b − b̂|₁ / num_boxes; loss_giou: Σ(1 − GIoU) / num_boxes, over matched pairs;
/// - class_error and cardinality_error for logging (no gradient).
/// num_boxes = max(total targets in the batch, 1). Auxiliary layers get the same losses with
/// their own matching, suffixed `_i`.
public struct DETRCriterion {
    public var matcher: DETRMatcher
    public var eosCoefficient: Double
    public var weights: [String: Double]

    public init(matcher: DETRMatcher = DETRMatcher(), eosCoefficient: Double = 0.1,
                weights: [String: Double] = ["loss_ce": 1, "loss_bbox": 5, "loss_giou": 2]) {
        (self.matcher, self.eosCoefficient, self.weights) = (matcher, eosCoefficient, weights)
    }

    public struct Result {
        /// Every loss term by name (unweighted), including the logging-only ones.
        public var terms: [String: Tensor]
        /// Σ weight[k]·terms[k] over the weighted terms.
        public var total: Tensor
        /// The final layer's matching.
        public var assignment: Assignment
    }

    public func callAsFunction(_ output: DetectionOutput, auxiliary: [DetectionOutput] = [], targets: [DetectionTarget]) throws -> Result {
        let numBoxes = Double(Swift.max(targets.reduce(0) { $0 + $1.count }, 1))
        let assignment = try matcher.match(output, targets)
        var terms = try losses(output, targets, assignment, numBoxes: numBoxes)
        terms["class_error"] = classError(output, targets, assignment)
        for (i, aux) in auxiliary.enumerated() {
            let auxAssignment = try matcher.match(aux, targets)
            for (key, value) in try losses(aux, targets, auxAssignment, numBoxes: numBoxes) { terms["\(key)_\(i)"] = value }
        }
        var total: Tensor?
        for (key, value) in terms.sorted(by: { $0.key < $1.key }) {
            let base = key.split(separator: "_").prefix(2).joined(separator: "_")
            guard let weight = weights[key] ?? weights[base], key.hasPrefix("loss_") else { continue }
            total = total.map { $0 + value * weight } ?? value * weight
        }
        return Result(terms: terms, total: total!, assignment: assignment)
    }

    func losses(_ output: DetectionOutput, _ targets: [DetectionTarget], _ assignment: Assignment, numBoxes: Double) throws -> [String: Tensor] {
        let (b, q, classes) = (output.logits.shape[0], output.logits.shape[1], output.logits.shape[2])
        let dtype = output.logits.dtype
        // Class targets: matched queries get their label, the rest "no object" (index K − 1).
        var targetClasses = [Int64](repeating: Int64(classes - 1), count: b * q)
        var flatQueries: [Int64] = [], matchedBoxes: [Tensor] = []
        for (image, (queries, indices)) in assignment.enumerated() {
            let labels = targets[image].labels.scalars(as: Int64.self)
            for (query, t) in zip(queries, indices) { targetClasses[image * q + query] = labels[t] }
            flatQueries += queries.map { Int64(image * q + $0) }
            if !indices.isEmpty {
                matchedBoxes.append(targets[image].boxes.cast(to: dtype).indexSelect(axis: 0, index: Tensor(indices.map(Int64.init))))
            }
        }
        var emptyWeight = [Double](repeating: 1, count: classes)
        emptyWeight[classes - 1] = eosCoefficient
        let lossCE = Losses.crossEntropy(logits: output.logits, targets: Tensor(targetClasses, shape: [b, q]),
                                         weight: Tensor(emptyWeight, shape: [classes], dtype: dtype))
        var terms: [String: Tensor] = ["loss_ce": lossCE]
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
        // Cardinality: how many queries predict an object, against the number of targets.
        noGrad {
            let predictedObjects = (output.logits.argmax(axis: -1) .!= Tensor(scalar: Double(classes - 1), dtype: .int64))
                .cast(to: .float64).sum(axis: 1).doubles()
            let error = zip(predictedObjects, targets).map { Swift.abs($0 - Double($1.count)) }.reduce(0, +) / Double(b)
            terms["cardinality_error"] = Tensor(scalar: error, dtype: dtype)
        }
        return terms
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
