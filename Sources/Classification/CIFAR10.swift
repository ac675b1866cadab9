import Foundation
import Detection

/// CIFAR-10's binary version (Krizhevsky, 2009; www.cs.toronto.edu/~kriz/cifar.html):
/// each batch file is a sequence of 3073-byte records, one label byte (0–9) then the 32×32
/// image as 1024 red, 1024 green and 1024 blue bytes, rows top to bottom. Training: data
/// batches 1–5 (those present); validation: `test_batch.bin`. Class names come from
/// `batches.meta.txt` when it is there.
public enum CIFAR10 {
    public static let side = 32
    public static let imageBytes = 3 * side * side
    public static let recordBytes = 1 + imageBytes
    public static let classes = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]

    public static func load(_ folder: String) throws(ClassificationDataError) -> (train: ClassificationSplit, validation: ClassificationSplit) {
        let names = readClassNames(folder)
        let trainFiles = (1...5).map { (folder as NSString).appendingPathComponent("data_batch_\($0).bin") }
            .filter { FileManager.default.fileExists(atPath: $0) }
        let train = try read(trainFiles, classes: names)
        let test = (folder as NSString).appendingPathComponent("test_batch.bin")
        guard FileManager.default.fileExists(atPath: test) else {
            throw ClassificationDataError(path: test, problem: "missing: CIFAR-10's validation split is test_batch.bin")
        }
        return (train, try read([test], classes: names))
    }

    /// The records of `files`, in order.
    public static func read(_ files: [String], classes: [String] = CIFAR10.classes) throws(ClassificationDataError) -> ClassificationSplit {
        var pixels: [UInt8] = [], labels: [Int] = [], origins: [(file: String, record: Int)] = []
        for file in files {
            guard let data = FileManager.default.contents(atPath: file) else { throw ClassificationDataError(path: file, problem: "cannot be read") }
            let batch = try parse([UInt8](data), file: file, classes: classes)
            pixels += batch.pixels
            labels += batch.labels
            origins += batch.labels.indices.map { (file, $0) }
        }
        return ClassificationSplit(classes: classes, labels: labels, images: .records(pixels: pixels, origins: origins))
    }

    /// One batch file's labels and planar pixels; `file` names it in errors.
    public static func parse(_ bytes: [UInt8], file: String, classes: [String] = CIFAR10.classes) throws(ClassificationDataError) -> (labels: [Int], pixels: [UInt8]) {
        guard !bytes.isEmpty, bytes.count % recordBytes == 0 else {
            throw ClassificationDataError(path: file, problem: "\(bytes.count) bytes is not a whole number of \(recordBytes)-byte CIFAR-10 records (a label byte and a 32×32×3 image)")
        }
        var labels: [Int] = [], pixels: [UInt8] = []
        pixels.reserveCapacity(bytes.count / recordBytes * imageBytes)
        for record in 0..<(bytes.count / recordBytes) {
            let start = record * recordBytes
            let label = Int(bytes[start])
            guard label < classes.count else {
                throw ClassificationDataError(path: file, problem: "record \(record) has label \(label), but there are \(classes.count) classes (0–\(classes.count - 1))")
            }
            labels.append(label)
            pixels += bytes[(start + 1)..<(start + recordBytes)]
        }
        return (labels, pixels)
    }

    /// Record `index` of planar `pixels` as an interleaved RGB image.
    public static func image(_ pixels: [UInt8], record index: Int) -> RGBImage {
        let plane = side * side, start = index * imageBytes
        var rgb = [UInt8](repeating: 0, count: imageBytes)
        for p in 0..<plane {
            for c in 0..<3 { rgb[p * 3 + c] = pixels[start + c * plane + p] }
        }
        return RGBImage(width: side, height: side, pixels: rgb)
    }

    /// The names in `batches.meta.txt` (one per line), or CIFAR-10's.
    static func readClassNames(_ folder: String) -> [String] {
        let path = (folder as NSString).appendingPathComponent("batches.meta.txt")
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return classes }
        let names = text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        return names.isEmpty ? classes : names
    }
}
