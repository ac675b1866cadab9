import Tapestry

/// One training example as DETR's transforms see it: the image [3, H, W] (Float32, values in
/// 0…1 before normalization), boxes as pixel xyxy, and class indices.
public struct DetectionSample {
    public var image: Tensor
    public var boxes: [[Double]]
    public var labels: [Int]
    public var imageId: Int

    public init(image: RGBImage, boxes: [[Double]], labels: [Int], imageId: Int) {
        let values = image.pixels.map { Float($0) / 255 }
        self.image = Tensor(values, shape: [image.height, image.width, 3]).permuted([2, 0, 1]).contiguous()
        (self.boxes, self.labels, self.imageId) = (boxes, labels, imageId)
    }

    public var height: Int { image.shape[1] }
    public var width: Int { image.shape[2] }
}

/// DETR's data augmentation (detr/datasets/transforms.py), deterministic from a generator.
public enum DetectionTransforms {
    /// Mirrors the image left–right with probability `p`: x₀′ = W − x₁, x₁′ = W − x₀.
    public static func randomHorizontalFlip(_ s: DetectionSample, p: Double = 0.5, _ rng: inout RandomGenerator) -> DetectionSample {
        guard rng.nextUniform() < p else { return s }
        var out = s
        out.image = s.image.flipped(axes: [2]).contiguous()
        out.boxes = s.boxes.map { [Double(s.width) - $0[2], $0[1], Double(s.width) - $0[0], $0[3]] }
        return out
    }

    /// The output (height, width) when the shorter side becomes `size`, keeping the aspect
    /// ratio, with the longer side at most `maxSize` (DETR's `get_size_with_aspect_ratio`).
    public static func resizedSize(height h: Int, width w: Int, size: Int, maxSize: Int?) -> (Int, Int) {
        var size = size
        if let maxSize {
            let (small, large) = (Double(min(w, h)), Double(max(w, h)))
            if large / small * Double(size) > Double(maxSize) { size = max(1, Int((Double(maxSize) * small / large).rounded())) }
        }
        if (w <= h && w == size) || (h <= w && h == size) { return (h, w) }
        // Every side keeps at least one pixel, however extreme the aspect ratio.
        return w < h ? (max(1, Int(Double(size) * Double(h) / Double(w))), size) : (size, max(1, Int(Double(size) * Double(w) / Double(h))))
    }

    /// Resizes so the shorter side is one of `sizes` (picked at random), bilinearly; boxes scale with it.
    public static func randomResize(_ s: DetectionSample, sizes: [Int], maxSize: Int?, _ rng: inout RandomGenerator) -> DetectionSample {
        let size = sizes[rng.nextInt(below: sizes.count)]
        let (oh, ow) = resizedSize(height: s.height, width: s.width, size: size, maxSize: maxSize)
        guard (oh, ow) != (s.height, s.width) else { return s }
        var out = s
        out.image = s.image.unsqueezed(axis: 0).interpolateBilinear(size: (oh, ow)).squeezed(axis: 0)
        let (sx, sy) = (Double(ow) / Double(s.width), Double(oh) / Double(s.height))
        out.boxes = s.boxes.map { [$0[0] * sx, $0[1] * sy, $0[2] * sx, $0[3] * sy] }
        return out
    }

    /// Crops a random region with sides in [minSize, maxSize] (at most the image); boxes are
    /// shifted and clamped to it, and boxes left empty are dropped (DETR's `RandomSizeCrop`).
    public static func randomSizeCrop(_ s: DetectionSample, minSize: Int, maxSize: Int, _ rng: inout RandomGenerator) -> DetectionSample {
        let w = min(s.width, minSize + rng.nextInt(below: max(1, min(s.width, maxSize) - minSize + 1)))
        let h = min(s.height, minSize + rng.nextInt(below: max(1, min(s.height, maxSize) - minSize + 1)))
        let top = rng.nextInt(below: s.height - h + 1), left = rng.nextInt(below: s.width - w + 1)
        var out = s
        out.image = s.image.slice(axis: 1, start: top, end: top + h).slice(axis: 2, start: left, end: left + w).contiguous()
        var boxes: [[Double]] = [], labels: [Int] = []
        for (box, label) in zip(s.boxes, s.labels) {
            let c = [min(max(box[0] - Double(left), 0), Double(w)), min(max(box[1] - Double(top), 0), Double(h)),
                     min(max(box[2] - Double(left), 0), Double(w)), min(max(box[3] - Double(top), 0), Double(h))]
            if c[2] > c[0] && c[3] > c[1] { boxes.append(c); labels.append(label) }
        }
        (out.boxes, out.labels) = (boxes, labels)
        return out
    }

    /// ImageNet normalization of the image, and the target for the criterion: boxes as
    /// cxcywh divided by the image size.
    public static func normalize(_ s: DetectionSample, mean: [Double] = [0.485, 0.456, 0.406],
                                 std: [Double] = [0.229, 0.224, 0.225]) -> (image: Tensor, target: DetectionTarget) {
        let m = Tensor(mean, shape: [3, 1, 1], dtype: .float32), d = Tensor(std, shape: [3, 1, 1], dtype: .float32)
        let (w, h) = (Double(s.width), Double(s.height))
        let boxes = s.boxes.flatMap { (b: [Double]) -> [Double] in
            let (cx, cy) = ((b[0] + b[2]) / 2 / w, (b[1] + b[3]) / 2 / h)
            return [cx, cy, (b[2] - b[0]) / w, (b[3] - b[1]) / h]
        }
        return ((s.image - m) / d, DetectionTarget(labels: Tensor(s.labels.map(Int64.init), shape: [s.labels.count]),
                                                   boxes: Tensor(boxes, shape: [s.labels.count, 4], dtype: .float32)))
    }

    /// Pads images bottom/right to the largest height and width into [B, 3, H, W] with a
    /// mask [B, H, W] that is true on padding (DETR's `nested_tensor_from_tensor_list`).
    public static func batch(_ images: [Tensor]) -> (images: Tensor, mask: Tensor) {
        check(!images.isEmpty && images.allSatisfy { $0.rank == 3 && $0.shape[0] == 3 }, "batch: images must be [3, H, W]")
        let h = images.map { $0.shape[1] }.max()!, w = images.map { $0.shape[2] }.max()!
        let padded = images.map { $0.padded([(0, h - $0.shape[1]), (0, w - $0.shape[2])]) }
        var mask = [Bool8](repeating: true, count: images.count * h * w)
        for (b, image) in images.enumerated() {
            for y in 0..<image.shape[1] { for x in 0..<image.shape[2] { mask[(b * h + y) * w + x] = false } }
        }
        return (Tensor.stack(padded, axis: 0), Tensor(mask, shape: [images.count, h, w]))
    }
}
