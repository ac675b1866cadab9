import Foundation
import Detection

/// One split of a classification dataset: class names, and for each example its label and
/// where its image comes from (a file of an ImageFolder, or a record of a CIFAR-10 batch).
public struct ClassificationSplit: Sendable {
    public enum Images: Sendable {
        /// One image file per example.
        case files([String])
        /// CIFAR-10 records: 32×32 images as 1024 red, 1024 green, 1024 blue bytes each,
        /// with the file and record each came from.
        case records(pixels: [UInt8], origins: [(file: String, record: Int)])
    }

    public let classes: [String]
    public let labels: [Int]
    public let images: Images

    public init(classes: [String], labels: [Int], images: Images) {
        (self.classes, self.labels, self.images) = (classes, labels, images)
    }

    public var count: Int { labels.count }

    /// `limit` examples spread evenly over the split (all when 0), so that a limited split
    /// of a dataset stored class by class still holds every class.
    public func subset(_ limit: Int) -> ClassificationSplit {
        guard limit > 0 && limit < count else { return self }
        let chosen = (0..<limit).map { $0 * count / limit }
        let kept = chosen.map { labels[$0] }
        switch images {
        case .files(let files): return ClassificationSplit(classes: classes, labels: kept, images: .files(chosen.map { files[$0] }))
        case let .records(pixels, origins):
            let bytes = chosen.flatMap { pixels[($0 * CIFAR10.imageBytes)..<(($0 + 1) * CIFAR10.imageBytes)] }
            return ClassificationSplit(classes: classes, labels: kept, images: .records(pixels: bytes, origins: chosen.map { origins[$0] }))
        }
    }

    /// Example `index`'s image; a file that cannot be decoded throws an error naming it.
    public func image(_ index: Int) throws -> RGBImage {
        switch images {
        case .files(let files): return try ImageIO.decode(files[index])
        case .records(let pixels, _): return CIFAR10.image(pixels, record: index)
        }
    }

    /// Where example `index` comes from, for messages ("train/circle/000012.png",
    /// "data_batch_2.bin record 17").
    public func origin(_ index: Int) -> String {
        switch images {
        case .files(let files): return files[index]
        case .records(_, let origins): return "\((origins[index].file as NSString).lastPathComponent) record \(origins[index].record)"
        }
    }
}

/// A classification dataset that cannot be read, with the file and the problem.
public struct ClassificationDataError: Error, CustomStringConvertible, Equatable {
    public let path: String
    public let problem: String
    public init(path: String, problem: String) { (self.path, self.problem) = (path, problem) }
    public var description: String { "\(path): \(problem)" }
}

/// Finding and reading a classification dataset in either layout.
public enum ClassificationDataset {
    /// The training and validation splits under `path`: CIFAR-10 binary batches when the
    /// folder holds `data_batch_1.bin` (or a `cifar-10-batches-bin` folder that does),
    /// otherwise an ImageFolder with `train/` and `val/`.
    public static func load(_ path: String) throws(ClassificationDataError) -> (train: ClassificationSplit, validation: ClassificationSplit) {
        if let folder = try cifarFolder(path) { return try CIFAR10.load(folder) }
        let train = try ImageFolder.load((path as NSString).appendingPathComponent("train"))
        let validation = try ImageFolder.load((path as NSString).appendingPathComponent("val"), classes: train.classes)
        return (train, validation)
    }

    /// The class names of the dataset under `path`, without reading its images.
    public static func classNames(_ path: String) throws(ClassificationDataError) -> [String] {
        if let folder = try cifarFolder(path) { return CIFAR10.readClassNames(folder) }
        return try ImageFolder.classNames((path as NSString).appendingPathComponent("train"))
    }

    /// The folder holding CIFAR-10's batches (`path` or its `cifar-10-batches-bin`), or nil
    /// for an ImageFolder; an error when `path` is not a folder.
    static func cifarFolder(_ path: String) throws(ClassificationDataError) -> String? {
        let fm = FileManager.default
        var isDirectory: ObjCBool = false
        guard fm.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw ClassificationDataError(path: path, problem: "no such folder (expected an ImageFolder with train/ and val/, or CIFAR-10's data_batch_*.bin)")
        }
        return [path, (path as NSString).appendingPathComponent("cifar-10-batches-bin")]
            .first { fm.fileExists(atPath: ($0 as NSString).appendingPathComponent("data_batch_1.bin")) }
    }
}
