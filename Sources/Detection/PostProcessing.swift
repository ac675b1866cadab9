import Tapestry
import TapestryNN

/// One detection in image pixels.
public struct ScoredBox: Sendable, Equatable {
    public var classIndex: Int
    public var score: Double
    /// [x0, y0, x1, y1] in pixels of the original image.
    public var box: [Double]
}

/// Turning a detector's outputs into scored boxes and COCO results.
public enum PostProcessing {
    /// DETR's `PostProcess` (detr/models/detr.py): softmax over the C + 1 classes, drop the
    /// no-object column, score and label = max and argmax over the C real classes; boxes from
    /// normalized cxcywh to xyxy scaled by each image's (width, height). One list per image,
    /// one entry per query.
    public static func softmaxDetections(_ output: DetectionOutput, imageSizes: [(height: Int, width: Int)]) -> [[ScoredBox]] {
        noGrad {
            let (b, q, k) = (output.logits.shape[0], output.logits.shape[1], output.logits.shape[2])
            check(imageSizes.count == b, "PostProcessing: \(imageSizes.count) image sizes for a batch of \(b)")
            let probabilities = output.logits.softmax(axis: -1).slice(axis: -1, end: k - 1)
            let scores = probabilities.max(axis: -1).cast(to: .float64).doubles()
            let labels = probabilities.argmax(axis: -1).scalars(as: Int64.self)
            let boxes = Boxes.cxcywhToXyxy(output.boxes).cast(to: .float64).doubles()
            return (0..<b).map { image in
                let (h, w) = (Double(imageSizes[image].height), Double(imageSizes[image].width))
                return (0..<q).map { query in
                    let i = image * q + query
                    let raw = Array(boxes[(4 * i)..<(4 * i + 4)])
                    return ScoredBox(classIndex: Int(labels[i]), score: scores[i], box: [raw[0] * w, raw[1] * h, raw[2] * w, raw[3] * h])
                }
            }
        }
    }

    /// COCO results entries ([x, y, w, h] boxes), mapping class indices back to category ids.
    public static func cocoResults(_ detections: [[ScoredBox]], imageIds: [Int], categoryIds: [Int]) -> [COCOResult] {
        zip(detections, imageIds).flatMap { boxes, imageId in
            boxes.map { d in
                COCOResult(imageId: imageId, categoryId: categoryIds[d.classIndex], bbox: [d.box[0], d.box[1], d.box[2] - d.box[0], d.box[3] - d.box[1]], score: d.score)
            }
        }
    }
}
