import Foundation
import Detection
import Tapestry
import TapestryNN
import Testing
import Training
@testable import Zoo

/// SASA-ResNet as the backbone of every detector of the zoo (`backbone=sasa-resnet26`).
@Suite struct SASABackboneTests {
    /// Each detector builds on it, keeps the backbone under `backbone.0.body` with the
    /// original freezing rule, and runs on a padded batch whose sides are not multiples of 32.
    @Test(arguments: ["detr", "deformable-detr", "smca", "stacked-detr"])
    func everyDetectorRunsOnIt(model: String) throws {
        let layers = model == "stacked-detr" ? ["stack_layers=1-1-1-1", "stack_heads=2-2-1-2"] : ["nheads=2", "enc_layers=1", "dec_layers=1"]
        let settings = try ZooRun.settings(model: model, shapes: true, assignments: [
            "backbone=sasa-resnet26", "frozen_batch_norm=false", "backbone_width=16", "hidden_dim=32", "dim_feedforward=32", "num_queries=4"] + layers)
        let (detector, _) = try Registry.entry(named: model).build(settings)
        let names = detector.namedParameters().map(\.0)
        #expect(names.contains("backbone.0.body.layer3.0.conv2.0.rel_h") && names.contains("backbone.0.body.init.0.emb_mix"))
        let trainable = Set(detector.namedParameters().filter { $0.1.requiresGrad }.map(\.0))
        #expect(!trainable.contains("backbone.0.body.init.0.emb_mix") && !trainable.contains("backbone.0.body.layer1.0.conv2.0.rel_h"))
        #expect(trainable.contains("backbone.0.body.layer2.0.conv2.0.rel_h"))
        var random = RandomGenerator(seed: 1)
        let images = Tensor.uniform([2, 3, 50, 70], low: -1, high: 1, generator: &random)
        let mask = Tensor.zeros([2, 50, 70], dtype: .uint8) .!= Tensor(scalar: 0, dtype: .uint8)
        let prediction = detector(images: images, mask: mask)
        #expect(prediction.final.boxes.shape == [2, 4, 4] && prediction.final.boxes.firstNonFinite == nil)
    }

    /// An odd feature map is padded before the strided pool: ⌈H/2⌉ × ⌈W/2⌉ like the shortcut.
    @Test func stridedBlocksAcceptOddSides() throws {
        let block = StandAloneBottleneck(8, planes: 4, stride: 2, spatialLayer: .attention(kernelSize: 3, heads: 2))
        #expect(block(Tensor.ones([1, 8, 5, 7])).shape == [1, 16, 3, 4])
        let body = StandAloneResNet(blocks: [1, 1, 1, 1], planes: [16, 16, 16, 16], stemWidth: 16, spatialLayer: .attention(kernelSize: 7, heads: 8),
                                    stem: .attention(heads: 1, mixtures: 4), imageNetLayout: true)
        #expect(body.features(Tensor.ones([1, 3, 50, 70])).map { [$0.shape[2], $0.shape[3]] } == [[12, 17], [6, 9], [3, 5], [2, 3]])
    }

    @Test func unusableCombinationsAreRefused() throws {
        for (assignments, message) in [(["frozen_batch_norm=true"], "no pretrained weights to freeze"), (["backbone_width=24"], "must be a multiple of 16"),
                                       (["dilation=true"], "dilation (DC5) needs resnet50 or resnet101, not sasa-resnet26")] {
            #expect { try ZooRun.settings(model: "detr", shapes: true, assignments: ["backbone=sasa-resnet26"] + assignments) } throws: { "\($0)".contains(message) }
        }
    }
}
