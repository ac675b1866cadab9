import Foundation
import Testing
import Detection
import Tapestry
@testable import Classification

func temporaryFolder() -> String {
    FileManager.default.temporaryDirectory.appendingPathComponent("tapestry-classes-\(UUID().uuidString)").path
}

/// An image whose pixel (x, y) has red x, green y and blue c.
func gradientImage(width: Int, height: Int, blue: UInt8 = 7) -> RGBImage {
    RGBImage(width: width, height: height, pixels: (0..<(width * height)).flatMap { p in [UInt8(p % width), UInt8(p / width), blue] })
}

@Suite struct ImageFolderTests {
    /// train/{b,a}/ and val/a/: classes sorted by name, labels index them, files sorted.
    @Test func readsClassesInSortedOrder() throws {
        let root = temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: root) }
        for (split, folder, name) in [("train", "b", "2.png"), ("train", "b", "1.PNG"), ("train", "a", "x.jpg"), ("val", "a", "y.png")] {
            try FileManager.default.createDirectory(atPath: "\(root)/\(split)/\(folder)", withIntermediateDirectories: true)
            if name.hasSuffix(".jpg") { try Data([0xFF, 0xD8]).write(to: URL(fileURLWithPath: "\(root)/\(split)/\(folder)/\(name)")) }
            else { try ImageIO.writePNG(gradientImage(width: 4, height: 3), to: "\(root)/\(split)/\(folder)/\(name)") }
        }
        try Data("not an image".utf8).write(to: URL(fileURLWithPath: "\(root)/train/b/notes.txt"))
        let (train, validation) = try ClassificationDataset.load(root)
        #expect(train.classes == ["a", "b"] && train.labels == [0, 1, 1])
        guard case .files(let files) = train.images else { Issue.record("an ImageFolder holds files"); return }
        #expect(files.map { ($0 as NSString).lastPathComponent } == ["x.jpg", "1.PNG", "2.png"])
        #expect(validation.classes == ["a", "b"] && validation.labels == [0])
        #expect(try train.image(1) == gradientImage(width: 4, height: 3))
        // A file that is not a decodable image is named when it is read.
        #expect { try train.image(0) } throws: { "\($0)".contains("x.jpg") }
    }

    @Test func badLayoutsAreRefusedNamingTheFolder() throws {
        let root = temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: root) }
        #expect { try ClassificationDataset.load(root) } throws: { "\($0)".contains("no such folder") }
        try FileManager.default.createDirectory(atPath: "\(root)/train/cat", withIntermediateDirectories: true)
        #expect { try ClassificationDataset.load(root) } throws: { "\($0)".contains("train/cat") && "\($0)".contains("holds no images") }
        try ImageIO.writePNG(gradientImage(width: 2, height: 2), to: "\(root)/train/cat/1.png")
        #expect { try ClassificationDataset.load(root) } throws: { "\($0)".contains("/val") }
        try FileManager.default.createDirectory(atPath: "\(root)/val/dog", withIntermediateDirectories: true)
        try ImageIO.writePNG(gradientImage(width: 2, height: 2), to: "\(root)/val/dog/1.png")
        #expect { try ClassificationDataset.load(root) } throws: { "\($0)".contains("val/dog") && "\($0)".contains("not one of the training classes (cat)") }
    }
}

@Suite struct CIFAR10Tests {
    /// Two records written byte by byte: labels, planar → interleaved pixels, class names.
    @Test func readsRecords() throws {
        let root = temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: root) }
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        func record(label: UInt8, red: UInt8) -> [UInt8] {
            [label] + [UInt8](repeating: red, count: 1024) + (0..<1024).map { UInt8($0 % 256) } + [UInt8](repeating: 200, count: 1024)
        }
        try Data(record(label: 3, red: 10) + record(label: 9, red: 20)).write(to: URL(fileURLWithPath: "\(root)/data_batch_1.bin"))
        try Data(record(label: 0, red: 30)).write(to: URL(fileURLWithPath: "\(root)/test_batch.bin"))
        let (train, validation) = try ClassificationDataset.load(root)
        #expect(train.labels == [3, 9] && validation.labels == [0] && train.classes[3] == "cat")
        let image = try train.image(1)
        // Pixel 33 = row 1, column 1: red 20, green 33, blue 200.
        #expect(image.width == 32 && Array(image.pixels[99..<102]) == [20, 33, 200])
        #expect(train.origin(1) == "data_batch_1.bin record 1")
        try Data("a\nb\nc\nd\ne\nf\ng\nh\ni\nj\n".utf8).write(to: URL(fileURLWithPath: "\(root)/batches.meta.txt"))
        #expect(try ClassificationDataset.load(root).train.classes.prefix(2) == ["a", "b"])
    }

    @Test func malformedBatchesAreRefusedNamingTheFileAndRecord() throws {
        let root = temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: root) }
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        let batch = "\(root)/data_batch_1.bin"
        try Data([UInt8](repeating: 1, count: 3073 + 5)).write(to: URL(fileURLWithPath: batch))
        #expect { try ClassificationDataset.load(root) } throws: { "\($0)".contains("data_batch_1.bin: 3078 bytes is not a whole number of 3073-byte") }
        try Data([UInt8](repeating: 1, count: 3073) + [12] + [UInt8](repeating: 0, count: 3072)).write(to: URL(fileURLWithPath: batch))
        #expect { try ClassificationDataset.load(root) } throws: { "\($0)".contains("record 1 has label 12") }
        try Data([UInt8](repeating: 1, count: 3073)).write(to: URL(fileURLWithPath: batch))
        #expect { try ClassificationDataset.load(root) } throws: { "\($0)".contains("test_batch.bin: missing") }
    }
}

@Suite struct ClassificationTransformTests {
    /// Normalisation by hand: (v/255 − mean)/std per channel.
    @Test func evaluationImageIsNormalised() {
        var config = ClassificationDataConfig()
        (config.imageSize, config.mean, config.std) = (4, [0.5, 0.25, 0], [0.5, 0.25, 2])
        let x = config.evaluationImage(gradientImage(width: 4, height: 4)).doubles()
        // Red at (x 3, y 1) = 3/255; green at (x 0, y 2) = 2/255; blue everywhere 7/255.
        let red: Double = (3.0 / 255 - 0.5) / 0.5, green: Double = (2.0 / 255 - 0.25) / 0.25, blue: Double = 7.0 / 255 / 2
        #expect(Swift.abs(x[7] - red) < 1e-6)
        #expect(Swift.abs(x[24] - green) < 1e-6)
        #expect(Swift.abs(x[37] - blue) < 1e-6)
    }

    /// The crop is a window of the zero-padded image at offsets drawn from the generator,
    /// then a flip on a draw below ½ — replayed here with the same draws.
    @Test func trainingExampleCropsThePaddedImageThenFlips() {
        var config = ClassificationDataConfig()
        (config.imageSize, config.cropPadding, config.mean, config.std) = (8, 2, [0, 0, 0], [1, 1, 1])
        let image = gradientImage(width: 8, height: 8)
        var seen = Set<[Int]>()
        for seed in UInt64(0)..<40 {
            var random = RandomGenerator(seed: seed), replay = random
            let x = config.trainingExample(image, &random).doubles()
            let top = replay.nextInt(below: 5) - 2, left = replay.nextInt(below: 5) - 2, flipped = replay.nextUniform() < 0.5
            seen.insert([top, left, flipped ? 1 : 0])
            for row in 0..<8 {
                for column in 0..<8 {
                    let sourceColumn = (flipped ? 7 - column : column) + left, sourceRow = row + top
                    let inside = (0..<8).contains(sourceColumn) && (0..<8).contains(sourceRow)
                    let red: Double = inside ? Double(Float(sourceColumn) / 255) : 0
                    let green: Double = inside ? Double(Float(sourceRow) / 255) : 0
                    let (ourRed, ourGreen) = (x[row * 8 + column], x[64 + row * 8 + column])
                    #expect(ourRed == red && ourGreen == green, "seed \(seed) at \(row), \(column)")
                }
            }
        }
        #expect(seen.count > 20, "offsets and flips vary with the generator")
    }

    @Test func otherSizesAreResized() {
        var config = ClassificationDataConfig()
        config.imageSize = 8
        #expect(config.evaluationImage(gradientImage(width: 16, height: 12)).shape == [3, 8, 8])
    }
}

@Suite struct ShapesClassificationTests {
    @Test func writesABalancedImageFolderDeterministically() throws {
        let root = temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: root) }
        try ShapesClassification(seed: 5).write(to: root, trainCount: 30, valCount: 10)
        let (train, validation) = try ClassificationDataset.load(root)
        #expect(train.classes == ShapesClassification.classes.sorted())
        #expect(train.count == 30 && validation.count == 10)
        for c in 0..<10 { #expect(train.labels.filter { $0 == c }.count == 3) }
        // The folder of each file is the shape drawn: sample i is class i mod 10.
        let again = ShapesClassification(seed: 5).sample(13, split: "train")
        #expect(again.label == 3 && ShapesClassification.classes[3] == "cross")
        #expect(try ImageIO.decode("\(root)/train/cross/000013.png") == again.image)
        #expect(ShapesClassification(seed: 6).sample(13, split: "train").image != again.image)
        #expect(!FileManager.default.fileExists(atPath: root + ".partial-\(getpid())"))
    }
}
