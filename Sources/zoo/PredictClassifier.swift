import Classification
import Detection
import Foundation
import Tapestry
import TapestryNN
import Training
import Zoo

extension Predict {
    /// A classifier's five most likely classes for each image, in the JSON, in a picture per
    /// image (the image enlarged, the classes and probabilities under it) and a contact sheet.
    func classify(_ opened: (model: Module, entry: Registry.Entry, settings: Settings, checkpoint: String, step: Int)) throws {
        guard let classifier = opened.model as? any Classifier else { fail("\(opened.entry.name) is neither a detector nor a classifier") }
        let data = try opened.settings.decode(ClassificationDataConfig.self, section: "data")
        let names = Self.classNames(data)
        var records: [JSONValue] = [], pictures: [(title: String, image: RGBImage)] = []
        for (path, base) in zip(images, Self.pictureNames(images)) {
            let image = try ImageIO.decode(path)
            let probabilities = ClassificationTask.logitsOf(classifier, [data.evaluationImage(image)]).softmax(axis: 1).doubles()
            let ranked = probabilities.indices.sorted { probabilities[$0] > probabilities[$1] }.prefix(5)
            func name(_ index: Int) -> String { index < names.count ? names[index] : "\(index)" }
            let picture = Self.captioned(image, ranked.map { String(format: "%@ %.2f", name($0), probabilities[$0]) })
            let file = (output as NSString).appendingPathComponent(base + ".png")
            try ImageIO.writePNG(picture, to: file)
            pictures.append((base, picture))
            let top5: [JSONValue] = ranked.map { index in
                JSONValue.object([("label", .string(name(index))), ("class_index", .number(String(index))), ("probability", .number(String(probabilities[index])))])
            }
            records.append(.object([("image", .string(path)), ("picture", .string(file)), ("top5", .array(top5))]))
            print("\(path):" + ranked.map { String(format: "  %@ %.2f", name($0), probabilities[$0]) }.joined())
        }
        let document = JSONValue.object([("checkpoint", .string(opened.checkpoint)), ("step", .number(String(opened.step))), ("images", .array(records))])
        let jsonPath = (output as NSString).appendingPathComponent("predictions.json")
        try Data((document.serialized + "\n").utf8).write(to: URL(fileURLWithPath: jsonPath), options: .atomic)
        let sheetPath = sheet ?? (output as NSString).appendingPathComponent("sheet.png")
        try ImageIO.writePNG(Drawing.sheet(pictures, columns: min(6, pictures.count)), to: sheetPath)
        print("wrote \(jsonPath), \(images.count) picture\(images.count == 1 ? "" : "s") in \(output) and the contact sheet \(sheetPath)")
    }

    /// The image enlarged to at least 96 pixels, with one caption line per entry under it.
    static func captioned(_ image: RGBImage, _ lines: [String]) -> RGBImage {
        let enlarged = Drawing.enlarged(image, by: max(1, 96 / max(image.width, image.height)))
        let width = max(enlarged.width, 6 * (lines.map(\.count).max() ?? 0) + 4)
        var out = RGBImage(width: width, height: enlarged.height + 10 * lines.count + 4, fill: (24, 24, 24))
        for y in 0..<enlarged.height {
            for x in 0..<enlarged.width {
                let (o, i) = ((y * width + x) * 3, (y * enlarged.width + x) * 3)
                (out.pixels[o], out.pixels[o + 1], out.pixels[o + 2]) = (enlarged.pixels[i], enlarged.pixels[i + 1], enlarged.pixels[i + 2])
            }
        }
        for (n, line) in lines.enumerated() {
            Drawing.text(&out, line, x: 2, y: enlarged.height + 3 + 10 * n, colour: n == 0 ? (255, 230, 120) : (210, 210, 210), background: nil)
        }
        return out
    }

    /// Class names of the dataset the classifier was trained on, or none when it is gone.
    static func classNames(_ data: ClassificationDataConfig) -> [String] {
        if let names = try? ClassificationDataset.classNames(data.path) { return names }
        return data.path == ClassificationDataConfig.shapes.path ? ShapesClassification.classes.sorted() : []
    }
}
