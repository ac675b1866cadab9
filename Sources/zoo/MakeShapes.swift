import ArgumentParser
import Detection
import Foundation

struct MakeShapes: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "make-shapes",
        abstract: "Write the synthetic shapes dataset in COCO format (PNG images, train and val JSON).")

    @Option(help: "Output folder (train/, val/, annotations/ are created inside).")
    var output = "data/shapes"

    @Option(help: "Training images.")
    var train = 2000

    @Option(help: "Validation images.")
    var val = 200

    @Option(help: "Image side in pixels.")
    var size = 128

    @Option(help: "Most objects per image.")
    var maxObjects = 4

    @Option(help: "Random seed: the same seed writes the same dataset.")
    var seed: UInt64 = 0

    func validate() throws {
        guard train >= 0, val >= 0, size >= 64, size <= 1024, maxObjects >= 1 else {
            throw ValidationError("need train, val ≥ 0, 64 ≤ size ≤ 1024 and max-objects ≥ 1")
        }
    }

    func run() throws {
        let dataset = ShapesDataset(imageSize: size, maxObjects: maxObjects, seed: seed)
        do {
            try dataset.write(to: output, trainCount: train, valCount: val) { split, done, total in
                print("  \(split): \(done)/\(total) images")
            }
        } catch { fail("\(error)") }
        print("wrote \(train) training and \(val) validation images to \(output) (annotations in \(output)/annotations)")
    }
}
