import Foundation
import Tapestry

/// The embedded synthetic detection dataset: coloured geometric shapes on textured
/// backgrounds, written in COCO format (PNG images, train and val annotation JSON).
///
/// It is built to be a fair detection task rather than a trivial one: the class is the
/// shape (circle, square, triangle, cross), never the colour, which is random; each image
/// holds 1–`maxObjects` objects of small, medium and large COCO sizes, and objects may
/// overlap (up to IoU 0.4); the background is a random gradient with stripes and noise.
/// Everything follows from `seed`.
public struct ShapesDataset: Sendable {
    public static let categories = Array(shapes.prefix(4))
    /// Every shape `draw` knows, by index (the detection set uses the first four).
    public static let shapes = ["circle", "square", "triangle", "cross", "ring", "diamond", "frame", "saltire", "half-disc", "arrow"]

    public var imageSize = 128
    public var maxObjects = 4
    public var seed: UInt64 = 0

    public init(imageSize: Int = 128, maxObjects: Int = 4, seed: UInt64 = 0) {
        (self.imageSize, self.maxObjects, self.seed) = (imageSize, maxObjects, seed)
    }

    /// One drawn object: class index and its tight box [x, y, w, h] in pixels.
    public struct Object: Sendable, Equatable {
        public let classIndex: Int
        public let box: [Double]
    }

    /// Image `index` of `split` and its objects (deterministic).
    public func sample(_ index: Int, split: String) -> (RGBImage, [Object]) {
        var rng = RandomGenerator(seed: seed &+ (split == "val" ? 0x5EED_0000_0000 : 0) &+ UInt64(index) &* 0x9E37_79B9)
        let n = imageSize
        var image = Self.background(size: n, &rng)
        var objects: [Object] = []
        let count = 1 + rng.nextInt(below: maxObjects)
        var attempts = 0
        while objects.count < count && attempts < 50 {
            attempts += 1
            // Sizes spread over COCO's buckets: sides 10–30 (small), 34–90 (medium), ≥ 98 (large).
            let bucket = rng.nextUniform()
            let side = bucket < 0.4 ? 10 + rng.nextInt(below: 21) : bucket < 0.9 ? 34 + rng.nextInt(below: min(57, n - 34)) : min(n - 4, 98 + rng.nextInt(below: max(1, n - 101)))
            let x0 = rng.nextInt(below: max(1, n - side)), y0 = rng.nextInt(below: max(1, n - side))
            let candidate = [Double(x0), Double(y0), Double(side), Double(side)]
            if objects.contains(where: { Self.iou($0.box, candidate) > 0.4 }) { continue }
            let classIndex = rng.nextInt(below: Self.categories.count)
            if let box = Self.draw(classIndex, x0: x0, y0: y0, side: side, colour: Self.randomColour(&rng), into: &image) {
                objects.append(Object(classIndex: classIndex, box: box))
            }
        }
        return (image, objects)
    }

    static func iou(_ a: [Double], _ b: [Double]) -> Double {
        let w = min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]), h = min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1])
        guard w > 0 && h > 0 else { return 0 }
        return w * h / (a[2] * a[3] + b[2] * b[3] - w * h)
    }

    /// A shape's colour: each channel 30–255, so it never vanishes into a dark background.
    public static func randomColour(_ rng: inout RandomGenerator) -> (UInt8, UInt8, UInt8) {
        (UInt8(30 + rng.nextInt(below: 226)), UInt8(30 + rng.nextInt(below: 226)), UInt8(30 + rng.nextInt(below: 226)))
    }

    /// A smooth colour gradient with stripes and per-pixel noise, `size` pixels square.
    public static func background(size n: Int, _ rng: inout RandomGenerator) -> RGBImage {
        let base = (0..<3).map { _ in 40 + rng.nextUniform() * 120 }, slope = (0..<3).map { _ in (rng.nextUniform() - 0.5) * 80 }
        let period = 6 + rng.nextUniform() * 14, angle = rng.nextUniform() * .pi
        var pixels = [UInt8](repeating: 0, count: n * n * 3)
        for y in 0..<n {
            for x in 0..<n {
                let t = Double(x + y) / Double(2 * n)
                let stripe = Foundation.sin((Double(x) * Foundation.cos(angle) + Double(y) * Foundation.sin(angle)) / period * 2 * .pi) * 12
                for c in 0..<3 {
                    let noise = (rng.nextUniform() - 0.5) * 24
                    pixels[(y * n + x) * 3 + c] = UInt8(max(0, min(255, base[c] + slope[c] * t + stripe + noise)))
                }
            }
        }
        return RGBImage(width: n, height: n, pixels: pixels)
    }

    /// Fills shape `shape` (an index of `shapes`) inside the square (x0, y0, side) and
    /// returns its tight box.
    public static func draw(_ shape: Int, x0: Int, y0: Int, side: Int, colour: (UInt8, UInt8, UInt8), into image: inout RGBImage) -> [Double]? {
        let s = Double(side), cx = Double(x0) + s / 2, cy = Double(y0) + s / 2
        func inside(_ px: Double, _ py: Double) -> Bool {
            let (u, v) = ((px - Double(x0)) / s, (py - Double(y0)) / s)       // 0…1 within the square
            switch shape {
            case 0: return (px - cx) * (px - cx) + (py - cy) * (py - cy) <= (s / 2) * (s / 2)
            case 1: return true
            case 2: return v >= 0 && Swift.abs(u - 0.5) <= v / 2              // apex at the top
            case 3: return Swift.abs(u - 0.5) <= 0.17 || Swift.abs(v - 0.5) <= 0.17
            case 4: let r2 = (u - 0.5) * (u - 0.5) + (v - 0.5) * (v - 0.5); return r2 <= 0.25 && r2 >= 0.09
            case 5: return Swift.abs(u - 0.5) + Swift.abs(v - 0.5) <= 0.5
            case 6: return Swift.max(Swift.abs(u - 0.5), Swift.abs(v - 0.5)) >= 0.3
            case 7: return Swift.abs(u - v) <= 0.17 || Swift.abs(u + v - 1) <= 0.17
            case 8: return v >= 0.5 && (u - 0.5) * (u - 0.5) + (v - 0.5) * (v - 0.5) <= 0.25   // flat side up
            default: return (v <= 0.5 && Swift.abs(u - 0.5) <= v) || (v > 0.5 && Swift.abs(u - 0.5) <= 0.15)   // pointing up
            }
        }
        var (minX, minY, maxX, maxY) = (Int.max, Int.max, Int.min, Int.min)
        for y in y0..<min(y0 + side, image.height) {
            for x in x0..<min(x0 + side, image.width) where inside(Double(x) + 0.5, Double(y) + 0.5) {
                let i = (y * image.width + x) * 3
                (image.pixels[i], image.pixels[i + 1], image.pixels[i + 2]) = colour
                (minX, minY, maxX, maxY) = (min(minX, x), min(minY, y), max(maxX, x), max(maxY, y))
            }
        }
        guard minX <= maxX else { return nil }
        return [Double(minX), Double(minY), Double(maxX - minX + 1), Double(maxY - minY + 1)]
    }

    /// Writes `train` and `val` splits under `directory`: images in `train/` and `val/`,
    /// annotations in `annotations/train.json` and `annotations/val.json`. Calls `progress`
    /// with (split, images written, total).
    public func write(to directory: String, trainCount: Int, valCount: Int,
                      progress: (String, Int, Int) -> Void = { _, _, _ in }) throws {
        let fm = FileManager.default
        for folder in ["train", "val", "annotations"] {
            try fm.createDirectory(atPath: (directory as NSString).appendingPathComponent(folder), withIntermediateDirectories: true)
        }
        for (split, count) in [("train", trainCount), ("val", valCount)] {
            var images: [COCOGroundTruthFile.Image] = [], annotations: [COCOGroundTruthFile.Annotation] = []
            for index in 0..<count {
                let (image, objects) = sample(index, split: split)
                let name = String(format: "%06d.png", index)
                try ImageIO.writePNG(image, to: (directory as NSString).appendingPathComponent("\(split)/\(name)"))
                images.append(.init(id: index + 1, fileName: name, width: image.width, height: image.height))
                for object in objects {
                    annotations.append(.init(id: annotations.count + 1, imageId: index + 1, categoryId: object.classIndex + 1,
                                             bbox: object.box, area: object.box[2] * object.box[3], iscrowd: 0))
                }
                if (index + 1) % 100 == 0 || index + 1 == count { progress(split, index + 1, count) }
            }
            let file = COCOGroundTruthFile(images: images, annotations: annotations,
                                           categories: Self.categories.enumerated().map { .init(id: $0.offset + 1, name: $0.element) })
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            let data = try encoder.encode(file)
            let path = (directory as NSString).appendingPathComponent("annotations/\(split).json")
            let failure: AtomicFile.WriteError? = data.withUnsafeBytes { buffer in
                do throws(AtomicFile.WriteError) { try AtomicFile.write([buffer], to: path) } catch { return error }
                return nil
            }
            if let failure { throw ImageError(file: path, reason: failure.reason) }
        }
    }
}
