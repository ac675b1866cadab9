import Foundation
import Detection
import Tapestry
import TapestryNN
import Testing
import Training
@testable import Zoo

/// SMCA-DETR and Stacked-DETR beyond their fixtures: settings and presets with the original
/// names, what the original refuses, initial values, counts from the spec, other layer and
/// head counts, and where the gradients of the final output reach.
@Suite struct SMCAAndStackedDETRTests {
    @Test func smcaSettingsAreTheREADMEsAndRefuseWhatCannotWork() throws {
        let settings = try ZooRun.settings(model: "smca", shapes: false)
        #expect(try settings.decode(SMCADETR.Config.self, section: "model") == SMCADETR.Config())
        #expect(settings.json.contains("\"dynamic_scale\":\"type3\"") && settings.json.contains("\"smooth\":8") && settings.json.contains("\"num_queries\":300"))
        let trainer = try settings.decode(TrainerConfig.self, section: "trainer")
        #expect(trainer.lr == 1e-4 && trainer.epochs == 50 && trainer.lrDrop == 40 && trainer.clipMaxNorm == 0.1)
        let (detector, built) = try Registry.entry(named: "smca").build(try ZooRun.settings(model: "smca", shapes: true))
        let criterion = try #require(built as? SetCriterion)
        #expect(detector.postProcessor == .sigmoidTopK(20, noObjectColumn: true) && criterion.weights == ["loss_ce": 2, "loss_bbox": 5, "loss_giou": 2])
        #expect(criterion.matcher.scoring == .sigmoidFocal(alpha: 0.25, gamma: 2) && criterion.matcher.costClass == 2)
        for (assignment, message) in [("dynamic_scale=type5", "model.dynamic_scale is \"type5\""), ("smooth=0", "model.smooth is 0.0"),
                                      ("hidden_dim=130", "multiple of 4"), ("nheads=3", "not divisible by nheads 3"),
                                      ("dilation=true", "dilation (DC5) needs resnet50")] {
            #expect { try ZooRun.settings(model: "smca", shapes: true, assignments: [assignment]) } throws: { "\($0)".contains(message) }
        }
    }

    /// The original's initial values: class bias −log(99) on all C + 1 columns, scales 1.
    @Test func smcaStartsAsTheOriginal() throws {
        var c = SMCADETR.shapesModel
        (c.backboneWidth, c.hiddenDim, c.encLayers, c.decLayers, c.dimFeedforward, c.numQueries) = (8, 32, 1, 2, 16, 5)
        let m = try SMCADETR(c)
        #expect(m.classEmbed.bias!.value.doubles().allSatisfy { Swift.abs($0 + Foundation.log(99)) < 1e-6 } && m.classEmbed.outFeatures == 5)
        let layers = try #require(m.transformer as? SpatiallyModulatedTransformer).decoder.layers
        #expect(layers[0].point1 != nil && layers[1].point1 == nil && layers.allSatisfy { $0.point3!.bias!.value.doubles().allSatisfy { $0 == 1 } })
        let keys = Set(m.stateDict().map(\.0))
        #expect(keys.contains("transformer.decoder.layers.0.point1.layers.0.weight") && keys.contains("transformer.decoder.layers.1.norm4.bias"))
        #expect(!keys.contains { $0.hasPrefix("input_proj16") || $0.contains("level_embed") })
    }

    /// Multi-scale: three projections (strides 16, 32, 64), a scale embedding, the 2-1-2
    /// encoder, per-scale keys and values and a scale selection in every decoder layer; its
    /// predictions have the single-scale shapes.
    @Test func multiScaleSMCAIsBuiltFromItsSettings() throws {
        var c = SMCADETR.shapesModel
        (c.backboneWidth, c.hiddenDim, c.decLayers, c.dimFeedforward, c.numQueries, c.multiScale) = (8, 32, 2, 16, 5, true)
        let m = try SMCADETR(c)
        let transformer = try #require(m.transformer as? MultiScaleSpatiallyModulatedTransformer)
        #expect(transformer.encoder.crossScale == [false, false, true, false, false] && transformer.levelEmbed.shape == [3, 32])
        #expect(m.inputProj16!.weight.shape == [32, 32, 1, 1] && m.inputProj64!.weight.shape == [32, 64, 3, 3] && m.inputProj.weight.shape == [32, 64, 1, 1])
        let keys = Set(m.stateDict().map(\.0))
        for key in ["transformer.decoder.layers.1.multihead_attn.k_proj.2.weight", "transformer.decoder.layers.0.point4.weight",
                    "transformer.decoder.layers.0.point1.layers.2.bias", "transformer.level_embed", "input_proj64.bias"] {
            #expect(keys.contains(key), "\(key)")
        }
        var rng = RandomGenerator(seed: 3)
        let prediction = m(images: Tensor.normal([2, 3, 96, 64], generator: &rng), mask: Tensor.zeros([2, 96, 64], dtype: .bool))
        #expect(prediction.layers.count == 2 && prediction.final.logits.shape == [2, 5, 5] && prediction.final.boxes.shape == [2, 5, 4])
        #expect { try ZooRun.settings(model: "smca", shapes: true, assignments: ["multi_scale=true", "multi_scale_encoder=2-1"]) }
            throws: { "\($0)".contains("multi_scale_encoder \"2-1\" must be three layer counts") }
    }

    /// Image sizes come from the mask: padding at the bottom and right.
    @Test func unpaddedSizesByHand() {
        var mask = [Bool8](repeating: false, count: 2 * 4 * 5)
        for y in 0..<4 { for x in 3..<5 { mask[y * 5 + x] = true } }                       // image 0: 3 wide, 4 high
        for x in 0..<5 { mask[20 + 3 * 5 + x] = true }                                     // image 1: 5 wide, 3 high
        #expect(Tensor(mask, shape: [2, 4, 5]).unpaddedSizes(dtype: .float64).doubles() == [3, 4, 5, 3])
    }

    @Test func stackedSettingsAndWhatTheOriginalRefuses() throws {
        let settings = try ZooRun.settings(model: "stacked-detr", shapes: false)
        #expect(settings.json.contains("\"stack_layers\":\"3-3-3-3\"") && settings.json.contains("\"stack_heads\":\"8-8-1-8\""))
        let trainer = try settings.decode(TrainerConfig.self, section: "trainer")
        #expect(trainer.batchSize == 4 && trainer.lrDrop == 100 && trainer.epochs == 150)
        let (detector, built) = try Registry.entry(named: "stacked-detr").build(try ZooRun.settings(model: "stacked-detr", shapes: true))
        #expect(detector.postProcessor == .softmax && (built as? SetCriterion)?.weights == ["loss_ce": 1, "loss_bbox": 5, "loss_giou": 2])
        for (assignment, message) in [("backbone=resnet18", "Stacked-DETR needs resnet50, resnet101 or a SASA-ResNet"),
                                      ("stack_layers=3-3-3", "stack_layers \"3-3-3\" must be four layer counts"),
                                      ("stack_layers=3-0-3-3", "decoders at least 1"), ("stack_heads=8-8-0-8", "each at least 1"),
                                      ("stack_heads=8-8-3-8", "hidden_dim 128 is not divisible by a head count of stack_heads 3")] {
            #expect { try ZooRun.settings(model: "stacked-detr", shapes: true, assignments: [assignment]) } throws: { "\($0)".contains(message) }
        }
    }

    /// The spec's counts for the defaults (d 256, F 2048, Q 100, C 91): 463 state-dict
    /// entries, 41,813,280 parameter values of which 41,590,880 trainable, 106,240 buffer
    /// values; registration order mytransformer1, mytransformer2, heads, embeddings,
    /// projections, backbone.
    @Test func stackedDefaultsHaveTheOriginalsCounts() throws {
        let m = try StackedDETR(StackedDETR.Config())
        let state = m.stateDict()
        #expect(state.count == 463)
        #expect(m.parameterCount() == 41_813_280 && m.parameterCount(trainableOnly: true) == 41_590_880)
        #expect(m.namedBuffers().reduce(0) { $0 + $1.1.value.count } == 106_240)
        let roots = state.map { String($0.0.split(separator: ".")[0]) }.reduce(into: [String]()) { if $0.last != $1 { $0.append($1) } }
        #expect(roots == ["mytransformer1", "mytransformer2", "class_embed", "bbox_embed", "query_embed1", "query_embed2", "input_proj1", "input_proj2", "backbone"])
        #expect(m.mytransformer2.encoder.layers.allSatisfy { $0.selfAttn.heads == 1 } && m.mytransformer1.encoder.layers.allSatisfy { $0.selfAttn.heads == 8 })
    }

    /// 2-2-1-3 layers with 4-8-1-5 heads, DC5 (both levels at stride 16): built from the
    /// settings, five outputs (two level-4 and three level-3 decoder layers).
    @Test func stackedOtherCountsWithDC5() throws {
        var c = StackedDETR.shapesModel
        (c.stackLayers, c.stackHeads, c.hiddenDim, c.dilation, c.backboneWidth, c.dimFeedforward, c.numQueries, c.dropout) = ("2-2-1-3", "4-8-1-5", 40, true, 4, 16, 3, 0)
        let m = try StackedDETR(c)
        #expect(m.mytransformer1.encoder.layers.count == 2 && m.mytransformer1.decoder.layers.count == 2)
        #expect(m.mytransformer2.encoder.layers.count == 1 && m.mytransformer2.decoder.layers.count == 3)
        #expect(m.mytransformer1.encoder.layers[0].selfAttn.heads == 4 && m.mytransformer1.decoder.layers[0].multiheadAttn.heads == 8)
        #expect(m.mytransformer2.encoder.layers[0].selfAttn.heads == 1 && m.mytransformer2.decoder.layers[2].selfAttn.heads == 5)
        #expect(m.inputProj2.weight.shape == [40, 64, 1, 1] && m.inputProj1.weight.shape == [40, 128, 1, 1])
        var rng = RandomGenerator(seed: 1)
        let images = Tensor.normal([2, 3, 64, 48], generator: &rng), mask = Tensor.zeros([2, 64, 48], dtype: .bool)
        let features = m.backbone.features(images)
        #expect(features[2].shape[2...] == features[3].shape[2...])
        let prediction = m(images: images, mask: mask)
        #expect(prediction.layers.count == 5 && prediction.final.logits.shape == [2, 3, 5] && prediction.final.boxes.shape == [2, 3, 4])
    }

    /// The level-3 decoder starts from the level-4 decoder's normed output: without auxiliary
    /// losses the final output alone trains both decoders, the level-4 decoder's norm and both
    /// query embeddings.
    @Test func theFinalOutputTrainsBothLevels() throws {
        var c = StackedDETR.shapesModel
        (c.backboneWidth, c.hiddenDim, c.stackLayers, c.dimFeedforward, c.numQueries, c.auxLoss, c.dropout) = (4, 16, "1-1-1-1", 16, 3, false, 0)
        let m = try StackedDETR(c)
        var rng = RandomGenerator(seed: 2)
        let prediction = m(images: Tensor.normal([1, 3, 64, 64], generator: &rng), mask: Tensor.zeros([1, 64, 64], dtype: .bool))
        #expect(prediction.layers.count == 1)
        let loss = (prediction.final.logits.sum() + prediction.final.boxes.sum())
        let names = ["mytransformer1.decoder.norm.weight", "mytransformer1.decoder.layers.0.linear2.weight", "query_embed1.weight",
                     "query_embed2.weight", "mytransformer1.encoder.layers.0.linear1.weight", "input_proj1.weight"]
        let parameters = Dictionary(uniqueKeysWithValues: m.namedParameters())
        let grads = gradients(of: [loss], wrt: names.map { parameters[$0]!.value })
        for (name, g) in zip(names, grads) { #expect(g.doubles().contains { $0 != 0 }, "\(name) gets no gradient") }
    }
}
