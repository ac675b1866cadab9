import Tapestry

/// Bounding-box arithmetic on [..., 4] tensors, differentiable throughout
/// (detr/util/box_ops.py, torchvision.ops.boxes).
/// Formats: cxcywh = (centre x, centre y, width, height); xyxy = (x0, y0, x1, y1);
/// xywh = (x0, y0, width, height), COCO's.
public enum Boxes {
    static func columns(_ boxes: Tensor) -> [Tensor] {
        check(boxes.shape.last == 4, "boxes: last axis must have 4 coordinates, got \(boxes.shape)")
        return boxes.split(sizes: [1, 1, 1, 1], axis: -1)
    }

    /// (cx, cy, w, h) → (cx − w/2, cy − h/2, cx + w/2, cy + h/2).
    public static func cxcywhToXyxy(_ boxes: Tensor) -> Tensor {
        let c = columns(boxes)
        return Tensor.concat([c[0] - c[2] * 0.5, c[1] - c[3] * 0.5, c[0] + c[2] * 0.5, c[1] + c[3] * 0.5], axis: -1)
    }

    /// (x0, y0, x1, y1) → ((x0 + x1)/2, (y0 + y1)/2, x1 − x0, y1 − y0).
    public static func xyxyToCxcywh(_ boxes: Tensor) -> Tensor {
        let c = columns(boxes)
        return Tensor.concat([(c[0] + c[2]) * 0.5, (c[1] + c[3]) * 0.5, c[2] - c[0], c[3] - c[1]], axis: -1)
    }

    /// (x0, y0, w, h) → (x0, y0, x0 + w, y0 + h).
    public static func xywhToXyxy(_ boxes: Tensor) -> Tensor {
        let c = columns(boxes)
        return Tensor.concat([c[0], c[1], c[0] + c[2], c[1] + c[3]], axis: -1)
    }

    /// (x0, y0, x1, y1) → (x0, y0, x1 − x0, y1 − y0).
    public static func xyxyToXywh(_ boxes: Tensor) -> Tensor {
        let c = columns(boxes)
        return Tensor.concat([c[0], c[1], c[2] - c[0], c[3] - c[1]], axis: -1)
    }

    /// Area of xyxy boxes: (x1 − x0)(y1 − y0), shape [...].
    public static func area(_ boxes: Tensor) -> Tensor {
        let c = columns(boxes)
        return ((c[2] - c[0]) * (c[3] - c[1])).squeezed(axis: -1)
    }

    /// Pairwise IoU of xyxy boxes a [N, 4] and b [M, 4]: (iou [N, M], union [N, M]).
    public static func iou(_ a: Tensor, _ b: Tensor) -> (iou: Tensor, union: Tensor) {
        let (areaA, areaB) = (area(a), area(b))
        let lowerRight = Tensor.minimum(a.slice(axis: 1, start: 2).unsqueezed(axis: 1), b.slice(axis: 1, start: 2).unsqueezed(axis: 0))
        let upperLeft = Tensor.maximum(a.slice(axis: 1, end: 2).unsqueezed(axis: 1), b.slice(axis: 1, end: 2).unsqueezed(axis: 0))
        let wh = (lowerRight - upperLeft).clamped(min: 0)
        let intersection = wh.select(axis: 2, index: 0) * wh.select(axis: 2, index: 1)
        let union = areaA.unsqueezed(axis: 1) + areaB.unsqueezed(axis: 0) - intersection
        return (intersection / union, union)
    }

    /// Pairwise generalized IoU (Rezatofighi et al., CVPR 2019) of xyxy boxes a [N, 4], b [M, 4]:
    /// GIoU = IoU − (|C| − |A ∪ B|)/|C|, C the smallest box enclosing both.
    /// Throws when a box has x1 < x0 or y1 < y0, where DETR asserts.
    public static func generalizedIoU(_ a: Tensor, _ b: Tensor) throws(BoxError) -> Tensor {
        try checkWellFormed(a, "first")
        try checkWellFormed(b, "second")
        let (iou, union) = iou(a, b)
        let lowerRight = Tensor.maximum(a.slice(axis: 1, start: 2).unsqueezed(axis: 1), b.slice(axis: 1, start: 2).unsqueezed(axis: 0))
        let upperLeft = Tensor.minimum(a.slice(axis: 1, end: 2).unsqueezed(axis: 1), b.slice(axis: 1, end: 2).unsqueezed(axis: 0))
        let wh = (lowerRight - upperLeft).clamped(min: 0)
        let hull = wh.select(axis: 2, index: 0) * wh.select(axis: 2, index: 1)
        return iou - (hull - union) / hull
    }

    static func checkWellFormed(_ boxes: Tensor, _ which: String) throws(BoxError) {
        let values = boxes.detached().doubles()
        for i in stride(from: 0, to: values.count, by: 4) where !(values[i + 2] >= values[i] && values[i + 3] >= values[i + 1]) {
            throw BoxError(index: i / 4, box: Array(values[i..<(i + 4)]), set: which)
        }
    }
}

/// A degenerate box (x1 < x0 or y1 < y0, or NaN) where a well-formed one is required.
public struct BoxError: Error, CustomStringConvertible, Equatable {
    public let index: Int
    public let box: [Double]
    public let set: String
    public var description: String { "degenerate box \(index) in the \(set) set: (x0, y0, x1, y1) = \(box); need x1 ≥ x0 and y1 ≥ y0" }
}
