import ArgumentParser
import Classification
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
        abstract: "Draw where a model attends: a detector's top queries, or a SASA classifier's neighbourhoods at pixels (PNG per image).",
        discussion: """
            Each picture shows the image with the top queries' boxes, then one panel per query. For the \
            detectors whose decoder attends with MultiheadAttention (detr, smca, stacked-detr): the query's \
            attention weights over the feature map (averaged over heads; a probability distribution over the \
            image's cells), brightest where it looks most, drawn over the image with its box. For SMCA a second \
            panel per query outlines each head's Gaussian prior (the cells within half its peak) in the head's \
            colour. For deformable-detr: every head's sampling points on every feature level, as discs coloured \
            by level whose area is proportional to the point's attention weight. With --pixel x,y, one more panel \
            per pixel shows the last encoder layer's self-attention of the cell under it, the same way. For a \
            classifier with local self-attention (sasa-resnet), --pixel is required: at each pixel, the last \
            attention layer of every stage shows the weights of the cell under it over its k×k neighbourhood \
            (averaged over heads, the window outlined), and beside it each head's k×k weights.
            """)

    @Argument(help: "Images (PNG or JPEG).")
    var images: [String]

    @Option(help: "A checkpoint file, or a run folder (its newest checkpoint is used).")
    var checkpoint: String

    @Option(help: "Folder for the pictures.")
    var output = "attention"

    @Option(help: "How many of the best-scoring queries to draw.")
    var top = 4

    @Option(name: .customLong("pixel"), help: ArgumentHelp("Also draw the last encoder layer's self-attention of the image cell at this pixel (repeatable).", valueName: "x,y"))
    var pixels: [String] = []

    func validate() throws {
        if images.isEmpty { throw ValidationError("name at least one image") }
        if top < 1 { throw ValidationError("--top must be at least 1") }
        _ = try pixelCoordinates()
    }

    /// `--pixel x,y` values as whole, non-negative image coordinates.
    func pixelCoordinates() throws -> [(x: Int, y: Int)] {
        try pixels.map { text in
            let parts = text.split(separator: ",", omittingEmptySubsequences: false).map { Int($0.trimmingCharacters(in: .whitespaces)) }
            guard parts.count == 2, let x = parts[0], let y = parts[1], x >= 0, y >= 0 else {
                throw ValidationError("--pixel \(text): expected two whole numbers x,y (image columns and rows from the top-left corner)")
            }
            return (x, y)
        }
    }

    func run() throws {
        do {
            let opened = try ZooRun.open(checkpoint: checkpoint, warn: warn)
            if let classifier = opened.model as? any Classifier { return try drawNeighbourhoods(classifier, settings: opened.settings) }
            guard let detector = opened.model as? any Detector else { throw ValidationError("\(opened.entry.name) is neither a detector nor a classifier") }
            let settings = opened.settings
            let data = try settings.decode(DetectionDataConfig.self, section: "data")
            let names = try Predict.categoryNames(settings)
            try FileManager.default.createDirectory(atPath: output, withIntermediateDirectories: true)
            for (path, name) in zip(images, Predict.pictureNames(images)) {
                let image = try ImageIO.decode(path)
                let (batch, mask) = DetectionTransforms.batch([data.evaluationImage(DetectionSample(image: image, boxes: [], labels: [], imageId: 0))])
                let recorder = AttentionRecorder(model: detector)
                let prediction = noGrad { recorder.record { detector(images: batch, mask: mask) } }
                let queries = detector.postProcessor.perQuery(prediction.final, imageSizes: [(image.height, image.width)])[0]
                let best = queries.indices.sorted { queries[$0].score > queries[$1].score }.prefix(top)
                let inputSize = (height: batch.shape[2], width: batch.shape[3])
                let scale = max(1, 256 / max(image.width, image.height))       // small images drawn larger
                func boxed(_ picture: RGBImage, _ query: Int) -> RGBImage {
                    Drawing.annotated(picture, [(queries[query].classIndex, queries[query].box, queries[query].score)], names: names, scale: scale)
                }
                var panels = [(title: "detections", image: Drawing.annotated(image, best.map { (queries[$0].classIndex, queries[$0].box, queries[$0].score) },
                                                                             names: names, scale: scale))]
                let layer: String
                if let cross = recorder.records.last(where: { $0.layer.hasSuffix("multihead_attn") }) {
                    let maps = try CrossAttentionMap(weights: cross.weights, priors: cross.bias, inputSize: inputSize)
                    for query in best {
                        panels.append((title: "query \(query)", image: boxed(maps.overlay(query: query, on: image), query)))
                        if maps.priors != nil {
                            panels.append((title: "query \(query) priors", image: Drawing.enlarged(maps.priorOutlines(query: query, on: image), by: scale)))
                        }
                    }
                    layer = cross.layer
                } else if let cross = recorder.samplings.last(where: { $0.layer.hasSuffix("cross_attn") }) {
                    let points = try SamplingPoints(locations: cross.locations, weights: cross.weights, spatialShapes: cross.spatialShapes,
                                                    inputSize: inputSize)
                    for query in best {
                        // The box first, so the points stay visible on top of it.
                        let sampled = points.picture(query: query, on: boxed(image, query), largest: 6 * Double(scale))
                        panels.append((title: "query \(query) points", image: sampled))
                    }
                    layer = cross.layer
                } else {
                    throw ValidationError("this model records no decoder cross-attention to draw")
                }
                var layers = [layer]
                for pixel in try pixelCoordinates() {
                    try Self.checkInside(pixel, image, path)
                    let (panel, encoderLayer) = try encoderPanel(recorder, at: pixel, image: image, inputSize: inputSize, scale: scale)
                    panels.append((title: "pixel x=\(pixel.x) y=\(pixel.y)", image: panel))
                    if !layers.contains(encoderLayer) { layers.append(encoderLayer) }
                }
                let picture = (output as NSString).appendingPathComponent(name + ".png")
                try ImageIO.writePNG(Drawing.sheet(panels, columns: min(3, panels.count)), to: picture)
                print("\(path): wrote \(picture) (\(layers.joined(separator: ", ")), queries \(best.map(String.init).joined(separator: ", ")))")
            }
        } catch {
            fail("\(error)")
        }
    }

    /// The last encoder layer's self-attention of the feature-map cell under `pixel`: its
    /// weights over the cells for MultiheadAttention encoders, its sampling points for a
    /// deformable encoder (the cell of the finest level), with the pixel marked in white.
    func encoderPanel(_ recorder: AttentionRecorder, at pixel: (x: Int, y: Int), image: RGBImage,
                      inputSize: (height: Int, width: Int), scale: Int) throws -> (panel: RGBImage, layer: String) {
        let isEncoder = { (layer: String) in layer.contains("encoder.") && layer.hasSuffix("self_attn") }
        var panel: RGBImage, layer: String
        if let attention = recorder.records.last(where: { isEncoder($0.layer) }) {
            let maps = try CrossAttentionMap(weights: attention.weights, inputSize: inputSize)
            panel = Drawing.enlarged(maps.overlay(query: maps.grid.cellIndex(x: pixel.x, y: pixel.y, of: image), on: image), by: scale)
            layer = attention.layer
        } else if let sampling = recorder.samplings.last(where: { isEncoder($0.layer) }) {
            let points = try SamplingPoints(locations: sampling.locations, weights: sampling.weights, spatialShapes: sampling.spatialShapes,
                                            inputSize: inputSize)
            panel = points.picture(query: points.finestQuery(x: pixel.x, y: pixel.y, of: image), on: Drawing.enlarged(image, by: scale),
                                   largest: 6 * Double(scale))
            layer = sampling.layer
        } else {
            throw ValidationError("this model records no encoder self-attention to draw")
        }
        Self.mark(&panel, pixel, scale: scale)
        return (panel, layer)
    }

    /// Stops with a clear message when `pixel` lies outside `image` (read from `path`).
    static func checkInside(_ pixel: (x: Int, y: Int), _ image: RGBImage, _ path: String) throws {
        guard pixel.x < image.width, pixel.y < image.height else {
            throw ValidationError("--pixel \(pixel.x),\(pixel.y) lies outside \(path) (\(image.width)×\(image.height))")
        }
    }

    /// Marks `pixel` of an image drawn `scale` times enlarged: a white dot ringed in black,
    /// at most 6 pixels across so it hides little of a small window.
    static func mark(_ panel: inout RGBImage, _ pixel: (x: Int, y: Int), scale: Int) {
        let (centreX, centreY) = ((Double(pixel.x) + 0.5) * Double(scale), (Double(pixel.y) + 0.5) * Double(scale))
        let radius = min(2.5 * Double(scale), 6)
        Drawing.disc(&panel, x: centreX, y: centreY, radius: radius, colour: (0, 0, 0))
        Drawing.disc(&panel, x: centreX, y: centreY, radius: 0.6 * radius, colour: (255, 255, 255))
    }
}
