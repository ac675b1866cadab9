import Tapestry
import TapestryNN

/// One detection in image pixels.
public struct ScoredBox: Sendable, Equatable {
    public var classIndex: Int
    public var score: Double
    /// [x0, y0, x1, y1] in pixels of the original image.
    public var box: [Double]
}

/// How a detector's outputs become scored boxes.
public enum PostProcessor: Sendable, Equatable {
    /// DETR's `PostProcess` (detr/models/detr.py): softmax over the C + 1 classes, drop the
    /// no-object column, score and label = max and argmax over the C real classes; one
    /// detection per query.
    case softmax
    /// Deformable DETR's `PostProcess`: σ(logits) over all queries × classes, the `k` best
    /// (all of them when fewer), each with its query's box; label = index mod C. With
    /// `noObjectColumn` the logits' last column is DETR's no-object slot (SMCA keeps it as an
    /// ordinary sigmoid output that is never a target) and is left out before ranking.
    case sigmoidTopK(Int, noObjectColumn: Bool = false)

    /// Scored boxes of each image, best first for top-k, by query for softmax; boxes go from
    /// normalized cxcywh to xyxy scaled by each image's (width, height).
    public func detections(_ output: DetectionOutput, imageSizes: [(height: Int, width: Int)]) -> [[ScoredBox]] {
        switch self {
        case .softmax:
            return perQuery(output, imageSizes: imageSizes)
        case let .sigmoidTopK(count, _):
            return noGrad {
                let (b, q) = (output.logits.shape[0], output.logits.shape[1])
                let probabilities = classProbabilities(output)
                let classes = probabilities.shape[2]
                let scores = probabilities.cast(to: .float64).doubles(), box = Self.boxes(output, imageSizes: imageSizes)
                return (0..<b).map { image in
                    let offset = image * q * classes
                    // Highest score first; equal scores keep the lower index first, as a stable top-k.
                    let best = (0..<(q * classes)).sorted { (scores[offset + $0], -$0) > (scores[offset + $1], -$1) }.prefix(count)
                    return best.map { ScoredBox(classIndex: $0 % classes, score: scores[offset + $0], box: box(image, $0 / classes)) }
                }
            }
        }
    }

    /// Every query's most likely real class, its score and its box, in query order (what
    /// `softmax` reports; for the sigmoid models, the best of each query's C scores).
    public func perQuery(_ output: DetectionOutput, imageSizes: [(height: Int, width: Int)]) -> [[ScoredBox]] {
        noGrad {
            let (b, q) = (output.logits.shape[0], output.logits.shape[1])
            let probabilities = classProbabilities(output)
            let scores = probabilities.max(axis: -1).cast(to: .float64).doubles()
            let labels = probabilities.argmax(axis: -1).scalars(as: Int64.self), box = Self.boxes(output, imageSizes: imageSizes)
            return (0..<b).map { image in
                (0..<q).map { query in ScoredBox(classIndex: Int(labels[image * q + query]), score: scores[image * q + query], box: box(image, query)) }
            }
        }
    }

    /// [B, Q, C] scores of the real classes: softmax without the no-object column, or σ.
    func classProbabilities(_ output: DetectionOutput) -> Tensor {
        let k = output.logits.shape[2]
        switch self {
        case .softmax: return output.logits.softmax(axis: -1).slice(axis: -1, end: k - 1)
        case let .sigmoidTopK(_, noObjectColumn): return output.logits.slice(axis: -1, end: noObjectColumn ? k - 1 : k).sigmoid()
        }
    }

    /// (image, query) → the query's box as pixel xyxy in that image.
    static func boxes(_ output: DetectionOutput, imageSizes: [(height: Int, width: Int)]) -> (Int, Int) -> [Double] {
        let (b, q) = (output.logits.shape[0], output.logits.shape[1])
        check(imageSizes.count == b, "PostProcessing: \(imageSizes.count) image sizes for a batch of \(b)")
        let boxes = Boxes.cxcywhToXyxy(output.boxes).cast(to: .float64).doubles()
        return { image, query in
            let (h, w) = (Double(imageSizes[image].height), Double(imageSizes[image].width))
            let i = 4 * (image * q + query)
            return [boxes[i] * w, boxes[i + 1] * h, boxes[i + 2] * w, boxes[i + 3] * h]
        }
    }
}

/// Turning scored boxes into COCO results.
public enum PostProcessing {
    /// COCO results entries ([x, y, w, h] boxes), mapping class indices back to category ids.
    public static func cocoResults(_ detections: [[ScoredBox]], imageIds: [Int], categoryIds: [Int]) -> [COCOResult] {
        zip(detections, imageIds).flatMap { boxes, imageId in
            boxes.map { d in
                COCOResult(imageId: imageId, categoryId: categoryIds[d.classIndex], bbox: [d.box[0], d.box[1], d.box[2] - d.box[0], d.box[3] - d.box[1]], score: d.score)
            }
        }
    }
}
