import ArgumentParser
import Classification
import Detection
import Foundation
import Tapestry
import TapestryNN
import Training
import Zoo

extension AttentionMaps {
    /// A classifier's local self-attention at each `--pixel`: for the last attention layer
    /// of every stage (one per map size), the weights of the cell under the pixel over its
    /// k×k neighbourhood, averaged over heads and laid over the image, and each head's k×k
    /// weights beside it.
    func drawNeighbourhoods(_ classifier: any Classifier, settings: Settings) throws {
        let pixels = try pixelCoordinates()
        guard !pixels.isEmpty else { throw ValidationError("a classifier's attention is drawn at pixels: add --pixel x,y") }
        let data = try settings.decode(ClassificationDataConfig.self, section: "data")
        try FileManager.default.createDirectory(atPath: output, withIntermediateDirectories: true)
        for (path, name) in zip(images, Predict.pictureNames(images)) {
            let image = try ImageIO.decode(path)
            for pixel in pixels { try Self.checkInside(pixel, image, path) }
            let input = data.evaluationImage(image)
            let recorder = AttentionRecorder(model: classifier)
            _ = recorder.record { ClassificationTask.logitsOf(classifier, [input]) }
            var stages: [AttentionRecorder.NeighbourhoodRecord] = []
            for record in recorder.neighbourhoods {
                if let same = stages.firstIndex(where: { $0.weights.shape.suffix(2) == record.weights.shape.suffix(2) }) { stages[same] = record } else { stages.append(record) }
            }
            guard !stages.isEmpty else { throw ValidationError("this model records no local self-attention to draw") }
            let scale = max(1, 256 / max(image.width, image.height))       // small images drawn larger
            let enlarged = Drawing.enlarged(image, by: scale)
            var panels: [(title: String, image: RGBImage)] = []
            for pixel in pixels {
                for stage in stages {
                    let map = try NeighbourhoodMap(weights: stage.weights, kernelSize: stage.kernelSize, inputSize: (input.shape[1], input.shape[2]))
                    let at = (x: pixel.x * scale, y: pixel.y * scale)
                    var panel = map.overlay(x: at.x, y: at.y, on: enlarged)
                    Self.mark(&panel, pixel, scale: scale)
                    panels.append((title: "\(stage.layer) (stride \(map.grid.stride)) at x=\(pixel.x) y=\(pixel.y)", image: panel))
                    panels.append((title: "its \(map.heads) heads", image: map.headGrids(x: at.x, y: at.y, of: enlarged)))
                }
            }
            let picture = (output as NSString).appendingPathComponent(name + ".png")
            try ImageIO.writePNG(Drawing.sheet(panels, columns: 2), to: picture)
            print("\(path): wrote \(picture) (\(stages.map(\.layer).joined(separator: ", ")))")
        }
    }
}
