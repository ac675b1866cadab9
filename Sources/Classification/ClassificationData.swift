import Foundation
import Detection
import Tapestry

/// The `data` section of a classifier's settings: where the images are and how training
/// examples are prepared (the SASA code's CIFAR-10 pipeline, preprocess.py):
///
///     training:   RandomCrop(image_size, padding=crop_padding) → RandomHorizontalFlip → Normalize(mean, std)
///     evaluation: Normalize(mean, std)
///
/// Images of another size are first resized (bilinear) to image_size × image_size.
public struct ClassificationDataConfig: SettingsGroup {
    /// An ImageFolder (`train/<class>/*.png|jpg`, `val/<class>/…`) or CIFAR-10's binary
    /// version (`data_batch_1.bin` … `data_batch_5.bin`, `test_batch.bin`).
    @Setting public var path = "data/cifar-10-batches-bin"
    @Setting(8...) public var imageSize = 32
    /// Zero padding around the image before the random crop (0: no crop).
    @Setting(0...) public var cropPadding = 4
    @Setting public var flip = true
    /// Per-channel normalisation (CIFAR-10's statistics, as upstream).
    @Setting("three numbers", { $0.count == 3 }) public var mean = [0.4914, 0.4822, 0.4465]
    @Setting("three positive numbers", { $0.count == 3 && $0.allSatisfy { $0 > 0 } }) public var std = [0.2470, 0.2435, 0.2616]
    /// Use only this many training / validation images, spread evenly over each split (0: all).
    @Setting(0...) public var trainLimit = 0
    @Setting(0...) public var valLimit = 0

    public init() {}

    /// The embedded shapes classification set, 32-pixel images.
    public static let shapes: ClassificationDataConfig = {
        var c = ClassificationDataConfig()
        c.path = "data/shapes-classes"
        return c
    }()

    /// A training example [3, S, S]: resized, randomly cropped from the zero-padded image,
    /// flipped with probability ½, normalised. Draws from `random` in that order.
    public func trainingExample(_ image: RGBImage, _ random: inout RandomGenerator) -> Tensor {
        var x = resized(image)
        if cropPadding > 0 {
            let p = cropPadding, s = imageSize
            let (top, left) = (random.nextInt(below: 2 * p + 1), random.nextInt(below: 2 * p + 1))
            x = x.padded([(0, 0), (p, p), (p, p)]).slice(axis: 1, start: top, end: top + s).slice(axis: 2, start: left, end: left + s)
        }
        if flip && random.nextUniform() < 0.5 { x = x.flipped(axes: [2]) }
        return normalised(x)
    }

    /// An evaluation input [3, S, S]: resized and normalised.
    public func evaluationImage(_ image: RGBImage) -> Tensor { normalised(resized(image)) }

    /// The image as [3, S, S] in 0…1.
    func resized(_ image: RGBImage) -> Tensor {
        let x = Tensor(image.pixels.map { Float($0) / 255 }, shape: [image.height, image.width, 3]).permuted([2, 0, 1])
        guard image.height != imageSize || image.width != imageSize else { return x.contiguous() }
        return x.interpolateBilinear(size: (imageSize, imageSize))
    }

    func normalised(_ x: Tensor) -> Tensor {
        let m = Tensor(mean.map { Float($0) }, shape: [3, 1, 1]), s = Tensor(std.map { Float($0) }, shape: [3, 1, 1])
        return ((x - m) / s).contiguous()
    }
}
