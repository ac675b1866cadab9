import Foundation
import Tapestry

/// How a detector's images are prepared (DETR's `make_coco_transforms`, with its numbers as
/// defaults): training images are flipped at random, then with equal chance resized so the
/// shorter side is one of `scales` (longer side at most `max_size`), or resized to one of
/// `crop_resize`, cropped to a random size in [crop_min, crop_max] and resized to `scales`.
/// Evaluation resizes the shorter side to `eval_size`.
public struct DetectionDataConfig: SettingsGroup {
    /// The dataset folder: `annotations/{train,val}.json` with `train/` and `val/`, or COCO
    /// 2017's `annotations/instances_{train,val}2017.json` with `train2017/` and `val2017/`.
    @Setting public var path = "data/coco"
    /// Training sizes of the shorter side, one drawn per image.
    @Setting("a non-empty list of sizes of at least 16 pixels", { !$0.isEmpty && $0.allSatisfy { $0 >= 16 } })
    public var scales = Array(stride(from: 480, through: 800, by: 32))
    @Setting(16...) public var maxSize = 1333
    /// Whether half of the training images go through the resize–crop–resize branch.
    @Setting public var crop = true
    @Setting("a non-empty list of sizes of at least 16 pixels", { !$0.isEmpty && $0.allSatisfy { $0 >= 16 } })
    public var cropResize = [400, 500, 600]
    @Setting(1...) public var cropMin = 384
    @Setting(1...) public var cropMax = 600
    @Setting public var flip = true
    @Setting(16...) public var evalSize = 800
    /// Use only the first this many training / validation images (0: all).
    @Setting(0...) public var trainLimit = 0
    @Setting(0...) public var valLimit = 0

    public init() {}

    public func combinationProblem() -> String? {
        if maxSize < scales.max() ?? 0 { return "max_size must be at least the largest scale" }
        if crop && cropMax < cropMin { return "crop_max must be at least crop_min" }
        return nil
    }

    /// The embedded shapes dataset's preparation: its 128-pixel images at their own size,
    /// flipped at random, no crop.
    public static let shapes: DetectionDataConfig = {
        var c = DetectionDataConfig()
        (c.path, c.scales, c.maxSize, c.crop, c.evalSize) = ("data/shapes", [128], 128, false, 128)
        return c
    }()

    /// A training example after augmentation and normalization.
    public func trainingExample(_ sample: DetectionSample, _ random: inout RandomGenerator) -> (image: Tensor, target: DetectionTarget) {
        var x = flip ? DetectionTransforms.randomHorizontalFlip(sample, &random) : sample
        if crop && random.nextUniform() < 0.5 {
            x = DetectionTransforms.randomResize(x, sizes: cropResize, maxSize: nil, &random)
            x = DetectionTransforms.randomSizeCrop(x, minSize: cropMin, maxSize: cropMax, &random)
        }
        x = DetectionTransforms.randomResize(x, sizes: scales, maxSize: maxSize, &random)
        return DetectionTransforms.normalize(x)
    }

    /// An image prepared for inference: resized to `eval_size` (longer side ≤ max_size), normalized.
    public func evaluationImage(_ sample: DetectionSample) -> Tensor {
        var random = RandomGenerator(seed: 0)
        return DetectionTransforms.normalize(DetectionTransforms.randomResize(sample, sizes: [evalSize], maxSize: maxSize, &random)).image
    }
}

/// Where a dataset's two splits are.
public struct DatasetLocation: Sendable, Equatable {
    public var trainAnnotations: String, trainImages: String
    public var valAnnotations: String, valImages: String

    /// Finds the splits in `directory` (either layout of `DetectionDataConfig.path`).
    public static func find(in directory: String) throws(ImageError) -> DatasetLocation {
        let fm = FileManager.default
        func at(_ parts: String...) -> String { parts.reduce(directory) { ($0 as NSString).appendingPathComponent($1) } }
        for (train, val, trainFolder, valFolder) in [("train.json", "val.json", "train", "val"),
                                                     ("instances_train2017.json", "instances_val2017.json", "train2017", "val2017")] {
            let location = DatasetLocation(trainAnnotations: at("annotations", train), trainImages: at(trainFolder),
                                           valAnnotations: at("annotations", val), valImages: at(valFolder))
            if fm.fileExists(atPath: location.trainAnnotations) && fm.fileExists(atPath: location.valAnnotations) { return location }
        }
        throw ImageError(file: directory, reason: "no dataset here: expected annotations/train.json and annotations/val.json with images in train/ and val/ (or COCO 2017's annotations/instances_train2017.json, train2017/, val2017/)")
    }
}

/// One split of a COCO-format dataset: the validated annotations, the image folder, and
/// decoded images kept in memory after their first use (safe to read from the trainer's
/// loader thread and another at once).
public final class DetectionSplit {
    public let dataset: COCODataset
    public let imageDirectory: String
    /// The images in use (all, or the first `limit`).
    public let images: [COCODataset.Image]
    private var cache: [Int: RGBImage] = [:]
    private let cacheLock = NSLock()
    private let classIndex: [Int: Int]

    public init(annotations: String, images directory: String, limit: Int = 0) throws {
        dataset = try COCODataset.load(annotations)
        imageDirectory = directory
        images = limit > 0 ? Array(dataset.images.prefix(limit)) : dataset.images
        classIndex = dataset.classIndex
    }

    public var categoryNames: [String] { dataset.categories.map(\.name) }
    public var categoryIds: [Int] { dataset.categories.map(\.id) }

    /// The decoded image of entry `index`, checked against the size its annotation states.
    public func image(_ index: Int) throws -> RGBImage {
        let entry = images[index]
        if let cached = cacheLock.withLock({ cache[entry.id] }) { return cached }
        let decoded = try ImageIO.decode((imageDirectory as NSString).appendingPathComponent(entry.fileName))
        guard decoded.width == entry.width, decoded.height == entry.height else {
            throw ImageError(file: entry.fileName, reason: "is \(decoded.width)×\(decoded.height) but image id \(entry.id) in \(dataset.path) says \(entry.width)×\(entry.height)")
        }
        cacheLock.withLock { cache[entry.id] = decoded }
        return decoded
    }

    /// Entry `index` with its training boxes (pixel xyxy) and class indices.
    public func sample(_ index: Int) throws -> DetectionSample {
        let entry = images[index]
        let boxes = dataset.trainingBoxes(imageId: entry.id)
        return DetectionSample(image: try image(index), boxes: boxes.map(\.box), labels: boxes.map { classIndex[$0.categoryId]! }, imageId: entry.id)
    }

    /// The ground truth restricted to the images in use, for COCO evaluation.
    public func groundTruth() -> COCOGroundTruthFile {
        let ids = Set(images.map(\.id))
        return COCOGroundTruthFile(
            images: images.map { .init(id: $0.id, fileName: $0.fileName, width: $0.width, height: $0.height) },
            annotations: dataset.annotations.filter { ids.contains($0.imageId) }.map {
                .init(id: $0.id, imageId: $0.imageId, categoryId: $0.categoryId, bbox: $0.bbox, area: $0.area, iscrowd: $0.crowd ? 1 : 0)
            },
            categories: dataset.categories.map { .init(id: $0.id, name: $0.name) })
    }
}
