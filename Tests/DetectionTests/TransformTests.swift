import Foundation
import Testing
@testable import Detection
@testable import Tapestry

@Suite struct DETRTransforms {
    func sample() -> DetectionSample {
        var pixels = [UInt8](repeating: 0, count: 60 * 40 * 3)
        for i in 0..<pixels.count { pixels[i] = UInt8(i % 251) }
        return DetectionSample(image: RGBImage(width: 60, height: 40, pixels: pixels), boxes: [[10, 5, 30, 25], [50, 30, 60, 40]], labels: [2, 0], imageId: 7)
    }

    @Test func flipMirrorsImageAndBoxes() {
        var rng = RandomGenerator(seed: 0)
        let s = sample()
        let flipped = DetectionTransforms.randomHorizontalFlip(s, p: 1, &rng)
        #expect(flipped.boxes == [[30, 5, 50, 25], [0, 30, 10, 40]])
        #expect(flipped.image.select(axis: 2, index: 0).doubles() == s.image.select(axis: 2, index: 59).doubles())
        let twice = DetectionTransforms.randomHorizontalFlip(flipped, p: 1, &rng)
        #expect(twice.image.doubles() == s.image.doubles() && twice.boxes == s.boxes)
    }

    @Test func resizeFollowsDETRsSizeRule() {
        // Shorter side 40 → 20 keeps the 3:2 ratio; a max size caps the longer side.
        #expect(DetectionTransforms.resizedSize(height: 40, width: 60, size: 20, maxSize: nil) == (20, 30))
        #expect(DetectionTransforms.resizedSize(height: 40, width: 60, size: 40, maxSize: nil) == (40, 60))
        #expect(DetectionTransforms.resizedSize(height: 480, width: 640, size: 800, maxSize: 1000) == (750, 1000))
        #expect(DetectionTransforms.resizedSize(height: 100, width: 50, size: 30, maxSize: nil) == (60, 30))
        // Extreme aspect ratios keep every side at least one pixel (the max size would round
        // the shorter side of a 1 × 100000 image to 0; 7 × 1000 at size 128 has 128·7/1000 < 1).
        #expect(DetectionTransforms.resizedSize(height: 1, width: 100000, size: 800, maxSize: 1333) == (1, 100000))
        #expect(DetectionTransforms.resizedSize(height: 100000, width: 1, size: 800, maxSize: 1333) == (100000, 1))
        #expect(DetectionTransforms.resizedSize(height: 7, width: 1000, size: 128, maxSize: 128) == (1, 142))
        #expect(DetectionTransforms.resizedSize(height: 1, width: 129, size: 128, maxSize: 128) == (1, 129))
        var rng = RandomGenerator(seed: 1)
        let resized = DetectionTransforms.randomResize(sample(), sizes: [20], maxSize: nil, &rng)
        #expect(resized.image.shape == [3, 20, 30] && resized.boxes[0] == [5, 2.5, 15, 12.5])
    }

    @Test func cropShiftsClampsAndDropsBoxes() {
        var kept = 0, dropped = 0
        for seed in 0..<30 {
            var rng = RandomGenerator(seed: UInt64(seed))
            let c = DetectionTransforms.randomSizeCrop(sample(), minSize: 15, maxSize: 35, &rng)
            #expect(c.width >= 15 && c.width <= 35 && c.height >= 15 && c.height <= 35)
            #expect(c.boxes.count == c.labels.count)
            for b in c.boxes { #expect(b[0] >= 0 && b[1] >= 0 && b[2] <= Double(c.width) && b[3] <= Double(c.height) && b[2] > b[0] && b[3] > b[1]) }
            kept += c.boxes.count; dropped += 2 - c.boxes.count
        }
        #expect(kept > 0 && dropped > 0, "crops both keep and drop boxes")
    }

    @Test func normalizeAndBatch() {
        let (image, target) = DetectionTransforms.normalize(sample())
        let expected: [Double] = [20.0 / 60, 15.0 / 40, 20.0 / 60, 20.0 / 40, 55.0 / 60, 35.0 / 40, 10.0 / 60, 10.0 / 40]
        #expect(target.boxes.doubles() == expected.map { Double(Float($0)) })
        #expect(target.labels.scalars(as: Int64.self) == [2, 0])
        #expect(Swift.abs(image.select(axis: 0, index: 0).doubles()[0] - (0 - 0.485) / 0.229) < 1e-6)
        let small = Tensor.ones([3, 2, 3]), large = Tensor.ones([3, 4, 2])
        let (batch, mask) = DetectionTransforms.batch([small, large])
        #expect(batch.shape == [2, 3, 4, 3] && mask.shape == [2, 4, 3])
        #expect(mask.doubles() == [0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1,  0, 0, 1, 0, 0, 1, 0, 0, 1, 0, 0, 1])
        #expect(batch.select(axis: 0, index: 0).sum().item() == 18)
    }

    @Test func trainPipelineIsDeterministicFromTheSeed() {
        var config = DetectionDataConfig()
        (config.scales, config.maxSize, config.cropResize, config.cropMin, config.cropMax) = ([32, 40, 48], 80, [40], 20, 40)
        var a = RandomGenerator(seed: 5), b = RandomGenerator(seed: 5), c = RandomGenerator(seed: 6)
        let x = config.trainingExample(sample(), &a), y = config.trainingExample(sample(), &b)
        #expect(x.image.doubles() == y.image.doubles() && x.target.boxes.doubles() == y.target.boxes.doubles())
        // Over a few seeds the pipeline takes both branches and several scales.
        var shapes = Set<[Int]>()
        for _ in 0..<12 { shapes.insert(config.trainingExample(sample(), &c).image.shape) }
        #expect(shapes.count > 1)
    }
}
