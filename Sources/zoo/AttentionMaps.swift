import ArgumentParser
import Detection
import Foundation
import Tapestry
import TapestryNN
import Zoo

/// Where a detector's best queries look: the last decoder layer's cross-attention over the
/// image, averaged over heads, for each of the top-scoring queries (the pictures of DETR's
/// own notebooks), beside the image with those queries' boxes.
struct AttentionMaps: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "attention",
        abstract: "Draw the decoder cross-attention of a detector's top-scoring queries over each image (PNG per image).",
        discussion: """
            For the detectors whose decoder attends with MultiheadAttention (detr, smca, stacked-detr). Each \
            picture shows the image with the top queries' boxes, then one panel per query: its attention \
            weights over the feature map (averaged over heads; a probability distribution over the image's \
            cells), brightest where it looks most, drawn over the image with its box. For SMCA a second panel \
            per query outlines each head's Gaussian prior (the cells within half its peak) in the head's colour.
            """)

    @Argument(help: "Images (PNG or JPEG).")
    var images: [String]

    @Option(help: "A checkpoint file, or a run folder (its newest checkpoint is used).")
    var checkpoint: String

    @Option(help: "Folder for the pictures.")
    var output = "attention"

    @Option(help: "How many of the best-scoring queries to draw.")
    var top = 4

    func validate() throws {
        if images.isEmpty { throw ValidationError("name at least one image") }
        if top < 1 { throw ValidationError("--top must be at least 1") }
    }

    func run() throws {
        do {
            let (detector, settings, _, _) = try ZooRun.load(checkpoint: checkpoint, warn: warn)
            let data = try settings.decode(DetectionDataConfig.self, section: "data")
            let names = try Predict.categoryNames(settings)
            try FileManager.default.createDirectory(atPath: output, withIntermediateDirectories: true)
            for (path, name) in zip(images, Predict.pictureNames(images)) {
                let image = try ImageIO.decode(path)
                let (batch, mask) = DetectionTransforms.batch([data.evaluationImage(DetectionSample(image: image, boxes: [], labels: [], imageId: 0))])
                let recorder = AttentionRecorder(model: detector)
                let prediction = noGrad { recorder.record { detector(images: batch, mask: mask) } }
                guard let cross = recorder.records.last(where: { $0.layer.hasSuffix("multihead_attn") }) else {
                    throw ValidationError("this model's decoder has no MultiheadAttention cross-attention to draw (deformable-detr samples points instead)")
                }
                let queries = detector.postProcessor.perQuery(prediction.final, imageSizes: [(image.height, image.width)])[0]
                let best = queries.indices.sorted { queries[$0].score > queries[$1].score }.prefix(top)
                let maps = try CrossAttentionMap(weights: cross.weights, priors: cross.bias, inputSize: (batch.shape[2], batch.shape[3]))
                let scale = max(1, 256 / max(image.width, image.height))       // small images drawn larger
                var panels = [(title: "detections", image: Drawing.annotated(image, best.map { (queries[$0].classIndex, queries[$0].box, queries[$0].score) },
                                                                             names: names, scale: scale))]
                for query in best {
                    let overlay = maps.overlay(query: query, on: image)
                    let boxed = Drawing.annotated(overlay, [(queries[query].classIndex, queries[query].box, queries[query].score)], names: names, scale: scale)
                    panels.append((title: "query \(query)", image: boxed))
                    if maps.priors != nil {
                        panels.append((title: "query \(query) priors", image: Drawing.enlarged(maps.priorOutlines(query: query, on: image), by: scale)))
                    }
                }
                let picture = (output as NSString).appendingPathComponent(name + ".png")
                try ImageIO.writePNG(Drawing.sheet(panels, columns: min(3, panels.count)), to: picture)
                print("\(path): wrote \(picture) (\(cross.layer), queries \(best.map(String.init).joined(separator: ", ")))")
            }
        } catch {
            fail("\(error)")
        }
    }
}
