import ArgumentParser
import Classification
import Detection
import Foundation

struct MakeShapes: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "make-shapes",
        abstract: "Write a synthetic shapes dataset: for detection in COCO format, or with --classification as an ImageFolder.",
        discussion: """
            Detection (defaults: data/shapes, 2000 + 200 images of 128 pixels): 1 to --max-objects circles, squares, \
            triangles and crosses per image, with train/, val/ and annotations/{train,val}.json. \
            Classification (defaults: data/shapes-classes, 3000 + 500 images of 32 pixels): one of ten shapes per image, \
            in train/<shape>/ and val/<shape>/.
            """)

    @Flag(help: "Write the classification set (one shape per image, ImageFolder layout).")
    var classification = false

    @Option(help: "Output folder (default data/shapes, or data/shapes-classes with --classification).")
    var output: String?

    @Option(help: "Training images (default 2000, or 3000 with --classification).")
    var train: Int?

    @Option(help: "Validation images (default 200, or 500 with --classification).")
    var val: Int?

    @Option(help: "Image side in pixels (default 128, or 32 with --classification).")
    var size: Int?

    @Option(help: "Most objects per image (detection).")
    var maxObjects = 4

    @Option(help: "Random seed: the same seed writes the same dataset.")
    var seed: UInt64 = 0

    func validate() throws {
        let smallest = classification ? 16 : 64
        guard train ?? 0 >= 0, val ?? 0 >= 0, (size ?? smallest) >= smallest, (size ?? 0) <= 1024, maxObjects >= 1 else {
            throw ValidationError("need train, val ≥ 0, \(smallest) ≤ size ≤ 1024 and max-objects ≥ 1")
        }
    }

    func run() throws {
        let output = self.output ?? (classification ? ClassificationDataConfig.shapes.path : "data/shapes")
        let (train, val) = (self.train ?? (classification ? 3000 : 2000), self.val ?? (classification ? 500 : 200))
        let report: (String, Int, Int) -> Void = { split, done, total in print("  \(split): \(done)/\(total) images") }
        do {
            if classification {
                guard !FileManager.default.fileExists(atPath: output) else { fail("\(output) already exists: remove it or choose another --output") }
                try ShapesClassification(imageSize: size ?? 32, seed: seed).write(to: output, trainCount: train, valCount: val, progress: report)
                print("wrote \(train) training and \(val) validation images of \(ShapesClassification.classes.count) shapes to \(output)/{train,val}/<shape>/")
            } else {
                try ShapesDataset(imageSize: size ?? 128, maxObjects: maxObjects, seed: seed).write(to: output, trainCount: train, valCount: val, progress: report)
                print("wrote \(train) training and \(val) validation images to \(output) (annotations in \(output)/annotations)")
            }
        } catch { fail("\(error)") }
    }
}
