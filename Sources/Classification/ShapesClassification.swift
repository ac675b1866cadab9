import Foundation
import Detection
import Tapestry

/// The embedded classification set: small images holding one shape each, written as an
/// ImageFolder (`train/<shape>/NNNNNN.png`, `val/<shape>/…`). The class is the shape —
/// ten of them (`ShapesDataset.shapes`: circle, square, triangle, cross, ring, diamond,
/// frame, saltire, half-disc, arrow); its colour, size (from 40% of the image to nearly
/// all of it), position and the textured background are random, and up to three small
/// specks of clutter are scattered over the image. Classes are balanced (example i has
/// class i mod 10). Everything follows from `seed`.
public struct ShapesClassification: Sendable {
    public var imageSize = 32
    public var seed: UInt64 = 0

    public init(imageSize: Int = 32, seed: UInt64 = 0) { (self.imageSize, self.seed) = (imageSize, seed) }

    public static var classes: [String] { ShapesDataset.shapes }

    /// Image `index` of `split` and its class (deterministic).
    public func sample(_ index: Int, split: String) -> (image: RGBImage, label: Int) {
        var rng = RandomGenerator(seed: seed &+ (split == "val" ? 0xC1A5_0000_0000 : 0x7EA1_0000) &+ UInt64(index) &* 0x9E37_79B9)
        let n = imageSize, label = index % Self.classes.count
        var image = ShapesDataset.background(size: n, &rng)
        for _ in 0..<rng.nextInt(below: 4) {
            let side = 1 + rng.nextInt(below: max(1, n / 10)), x = rng.nextInt(below: n - side), y = rng.nextInt(below: n - side)
            Drawing.fill(&image, x0: x, y0: y, x1: x + side, y1: y + side, colour: ShapesDataset.randomColour(&rng))
        }
        let side = (2 * n) / 5 + rng.nextInt(below: n - (2 * n) / 5 - 2)
        let x0 = rng.nextInt(below: n - side + 1), y0 = rng.nextInt(below: n - side + 1)
        _ = ShapesDataset.draw(label, x0: x0, y0: y0, side: side, colour: ShapesDataset.randomColour(&rng), into: &image)
        return (image, label)
    }

    /// Writes both splits under `directory`, through a temporary folder renamed at the end,
    /// so an interrupted write leaves no half-written dataset. Calls `progress` with
    /// (split, images written, total).
    public func write(to directory: String, trainCount: Int, valCount: Int, progress: (String, Int, Int) -> Void = { _, _, _ in }) throws {
        let fm = FileManager.default
        let partial = directory + ".partial-\(getpid())"
        try? fm.removeItem(atPath: partial)
        for split in ["train", "val"] {
            for name in Self.classes {
                try fm.createDirectory(atPath: "\(partial)/\(split)/\(name)", withIntermediateDirectories: true)
            }
        }
        for (split, count) in [("train", trainCount), ("val", valCount)] {
            for index in 0..<count {
                let (image, label) = sample(index, split: split)
                try ImageIO.writePNG(image, to: String(format: "%@/%@/%@/%06d.png", partial, split, Self.classes[label], index))
                if (index + 1) % 500 == 0 || index + 1 == count { progress(split, index + 1, count) }
            }
        }
        try fm.moveItem(atPath: partial, toPath: directory)
    }
}
