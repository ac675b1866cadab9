import ArgumentParser
import Detection
import Foundation

struct CheckData: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check-data",
        abstract: "Validate a COCO-format dataset and print its summary.",
        discussion: "Exits non-zero on the first error, naming the file, the entry and the field. With --images every image is decoded too.")

    @Option(help: "COCO annotation JSON (instances_*.json style).")
    var annotations: String

    @Option(help: "Folder holding the images named by file_name; every image is decoded.")
    var images: String?

    func run() throws {
        let dataset: COCODataset
        do { dataset = try COCODataset.load(annotations) } catch { fail(error.description) }
        let boxes = dataset.annotations.filter { !$0.crowd }
        print("\(annotations): \(dataset.images.count) images, \(boxes.count) boxes (\(dataset.annotations.count - boxes.count) crowd), \(dataset.categories.count) categories")
        let perCategory = Dictionary(grouping: boxes, by: \.categoryId)
        for category in dataset.categories {
            print("  \(category.name) (id \(category.id)): \(perCategory[category.id]?.count ?? 0) boxes")
        }
        let small = boxes.filter { $0.area < 32 * 32 }.count, large = boxes.filter { $0.area > 96 * 96 }.count
        print("  sizes by area: \(small) small (< 32²), \(boxes.count - small - large) medium, \(large) large (> 96²)")
        let empty = dataset.images.filter { dataset.trainingBoxes(imageId: $0.id).isEmpty }.count
        if empty > 0 { print("  \(empty) images have no training boxes") }
        if let folder = images {
            var failures = 0
            for (index, image) in dataset.images.enumerated() {
                do {
                    let decoded = try ImageIO.decode((folder as NSString).appendingPathComponent(image.fileName))
                    if decoded.width != image.width || decoded.height != image.height {
                        print("  error: image id \(image.id) (\(image.fileName)) is \(decoded.width)×\(decoded.height), the annotations say \(image.width)×\(image.height)")
                        failures += 1
                    }
                } catch {
                    print("  error: image id \(image.id): \(error)")
                    failures += 1
                }
                if (index + 1) % 500 == 0 { print("  decoded \(index + 1)/\(dataset.images.count) images") }
            }
            print("  images decoded: \(dataset.images.count - failures) ok, \(failures) failed")
            if failures > 0 { throw ExitCode(1) }
        }
        for warning in dataset.warnings { print("warning: \(warning)") }
    }
}
