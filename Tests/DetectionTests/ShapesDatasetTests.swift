import Foundation
import Testing
@testable import Detection

@Suite struct ShapesDatasetGeneration {
    @Test func writesAValidDeterministicCOCODataset() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("shapes-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let shapes = ShapesDataset(imageSize: 96, maxObjects: 4, seed: 3)
        try shapes.write(to: directory, trainCount: 12, valCount: 4)
        let train = try COCODataset.load(directory + "/annotations/train.json")
        #expect(train.images.count == 12 && train.categories.map(\.name) == ShapesDataset.categories)
        #expect(train.warnings.isEmpty, "no degenerate boxes")
        #expect(train.annotations.count >= 12)
        for annotation in train.annotations {
            let b = annotation.bbox
            #expect(b[0] >= 0 && b[1] >= 0 && b[0] + b[2] <= 96 && b[1] + b[3] <= 96 && b[2] > 0 && b[3] > 0)
        }
        let decoded = try ImageIO.decode(directory + "/train/" + train.images[0].fileName)
        let (image, objects) = shapes.sample(0, split: "train")
        #expect(decoded == image, "the PNG holds exactly the generated pixels")
        #expect(objects.map(\.box) == train.annotations.filter { $0.imageId == 1 }.map(\.bbox))
        // Same seed, same data; another seed or split, other data.
        #expect(ShapesDataset(imageSize: 96, seed: 3).sample(5, split: "train").0 == shapes.sample(5, split: "train").0)
        #expect(ShapesDataset(imageSize: 96, seed: 4).sample(5, split: "train").0 != shapes.sample(5, split: "train").0)
        #expect(shapes.sample(0, split: "val").0 != image)
    }

    @Test func coversSizesAndClassesWithColoursIndependentOfClass() {
        let shapes = ShapesDataset(imageSize: 128, seed: 1)
        let objects = (0..<200).flatMap { shapes.sample($0, split: "train").1 }
        let areas = objects.map { $0.box[2] * $0.box[3] }
        #expect(areas.contains { $0 < 1024 } && areas.contains { $0 > 1024 && $0 < 9216 } && areas.contains { $0 > 9216 })
        #expect(Set(objects.map(\.classIndex)) == [0, 1, 2, 3])
        // Some objects overlap.
        let overlapping = (0..<200).filter { i in
            let boxes = shapes.sample(i, split: "train").1.map(\.box)
            return boxes.indices.contains { a in boxes.indices.contains { b in a < b && ShapesDataset.iou(boxes[a], boxes[b]) > 0 } }
        }
        #expect(overlapping.count > 5)
    }
}
