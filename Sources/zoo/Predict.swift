import ArgumentParser
import Detection
import Foundation
import Tapestry
import Training
import Zoo

struct Predict: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Detect objects in images, or classify them, with a trained model: JSON plus pictures.",
        discussion: """
            Writes <output>/predictions.json and <output>/<image>.png for each image (<image>-2.png, … when names repeat): \
            a detector's boxes drawn, or a classifier's five most likely classes under the image. --sheet FILE writes \
            one picture of them all (a classifier's contact sheet goes to <output>/sheet.png unless --sheet names another file).
            """)

    @Argument(help: "Images (PNG or JPEG).")
    var images: [String]

    @Option(help: "A checkpoint file, or a run folder (its newest checkpoint is used).")
    var checkpoint = "runs/detr"

    @Option(help: "Folder for the JSON and the pictures.")
    var output = "predictions"

    @Option(help: "Keep detections scoring at least this (detectors).")
    var threshold = 0.5

    @Option(help: "Keep at most this many detections per image, the highest-scoring (0: no limit).")
    var top = 0

    @Option(help: "Also write all pictures side by side into this PNG file.")
    var sheet: String?

    func validate() throws {
        if images.isEmpty { throw ValidationError("name at least one image") }
        if !(0...1).contains(threshold) { throw ValidationError("--threshold must be in [0, 1]") }
        if top < 0 { throw ValidationError("--top must not be negative") }
    }

    func run() throws {
        do {
            try OutputFolder.prepare(output)
            let opened = try ZooRun.open(checkpoint: checkpoint, warn: warn)
            guard let detector = opened.model as? any Detector else { return try classify(opened) }
            let (settings, file, step) = (opened.settings, opened.checkpoint, opened.step)
            let data = try settings.decode(DetectionDataConfig.self, section: "data")
            let names = try Self.categoryNames(settings)
            var records: [JSONValue] = [], pictures: [(title: String, image: RGBImage)] = []
            for (path, base) in zip(images, Self.pictureNames(images)) {
                let image = try ImageIO.decode(path)
                let sample = DetectionSample(image: image, boxes: [], labels: [], imageId: 0)
                let ranked = DetectionTask.predict(detector, [data.evaluationImage(sample)], sizes: [(image.height, image.width)])[0]
                    .filter { $0.score >= threshold }.sorted { $0.score > $1.score }
                let kept = top > 0 ? Array(ranked.prefix(top)) : ranked
                let scale = max(1, 384 / max(image.width, image.height))
                let drawn = Drawing.annotated(image, kept.map { ($0.classIndex, $0.box, $0.score) }, names: names, scale: scale)
                let picture = (output as NSString).appendingPathComponent(base + ".png")
                try ImageIO.writePNG(drawn, to: picture)
                pictures.append((base, drawn))
                records.append(.object([("image", .string(path)), ("picture", .string(picture)), ("detections", .array(kept.map { d in
                    .object([("label", .string(d.classIndex < names.count ? names[d.classIndex] : "\(d.classIndex)")),
                             ("score", .number(String(d.score))), ("box_xyxy", .array(d.box.map { .number(String($0)) }))])
                }))]))
                print("\(path): \(kept.count) detection\(kept.count == 1 ? "" : "s")" + kept.prefix(5).map { d in
                    String(format: "  %@ %.2f", d.classIndex < names.count ? names[d.classIndex] : "\(d.classIndex)", d.score)
                }.joined())
            }
            let document = JSONValue.object([("checkpoint", .string(file)), ("step", .number(String(step))), ("threshold", .number(String(threshold))),
                                              ("images", .array(records))])
            let jsonPath = (output as NSString).appendingPathComponent("predictions.json")
            try Data((document.serialized + "\n").utf8).write(to: URL(fileURLWithPath: jsonPath), options: .atomic)
            print("wrote \(jsonPath) and \(images.count) picture\(images.count == 1 ? "" : "s") in \(output)")
            if let sheet {
                try ImageIO.writePNG(Drawing.sheet(pictures, columns: min(4, pictures.count)), to: sheet)
                print("wrote \(sheet)")
            }
        } catch {
            fail("\(error)")
        }
    }

    /// One picture name per image: its base name, with -2, -3, … added when images from
    /// different folders (or with different extensions) share it.
    static func pictureNames(_ paths: [String]) -> [String] {
        var taken = Set<String>()
        return paths.map { path in
            let base = ((path as NSString).lastPathComponent as NSString).deletingPathExtension
            var name = base, n = 1
            while !taken.insert(name).inserted { n += 1; name = "\(base)-\(n)" }
            return name
        }
    }

    /// Class names from the dataset the model was trained on, or numbers when it is gone.
    static func categoryNames(_ settings: Settings) throws -> [String] {
        let data = try settings.decode(DetectionDataConfig.self, section: "data")
        if let location = try? DatasetLocation.find(in: data.path), let dataset = try? COCODataset.load(location.valAnnotations) {
            return dataset.categories.map(\.name)
        }
        return data.path == DetectionDataConfig.shapes.path ? ShapesDataset.categories : []
    }
}
