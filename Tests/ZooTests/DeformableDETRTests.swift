import Foundation
import Detection
import Tapestry
import TapestryNN
import Testing
import Training
@testable import Zoo

/// Deformable DETR's options that the shared fixture does not cover (iterative box
/// refinement, two-stage), its settings and its parameter groups.
@Suite struct DeformableDETRTests {
    /// A small model: half a ResNet-18 of width 8, d 32 (256 with two-stage), 2 heads.
    func model(_ changes: (inout DeformableDETR.Config) -> Void = { _ in }) throws -> DeformableDETR {
        var c = DeformableDETR.Config()
        (c.backbone, c.backboneWidth, c.lrBackbone, c.hiddenDim, c.nheads, c.encLayers, c.decLayers) = ("resnet18", 8, 1e-4, 32, 2, 1, 3)
        (c.dimFeedforward, c.numQueries, c.numClasses, c.encNPoints, c.decNPoints, c.dropout) = (16, 5, 3, 2, 2, 0)
        changes(&c)
        return try DefaultRandom.withGenerator(RandomGenerator(seed: 4)) {
            let m = try DeformableDETR(c)
            // The original starts offsets, attention logits and box deltas from zero weights,
            // which puts sampling points exactly on pixel boundaries, where bilinear sampling
            // has no derivative; small random weights move every point off them.
            let zeroStarted = m.namedParameters().filter { key, p in
                key.hasSuffix("sampling_offsets.weight") || key.hasSuffix("attention_weights.weight") || (key.contains("bbox_embed") && key.hasSuffix("layers.2.weight"))
            }
            for (_, p) in zeroStarted { p.value = Initialization.uniform(p.shape, bound: 0.05) }
            m.convert(to: .float64)
            return m
        }.0
    }

    func inputs() -> (images: Tensor, mask: Tensor, targets: [DetectionTarget]) {
        var rng = RandomGenerator(seed: 9)
        let images = Tensor.normal([2, 3, 64, 48], dtype: .float64, generator: &rng)
        var mask = [Bool8](repeating: false, count: 2 * 64 * 48)
        for y in 0..<64 { for x in 32..<48 { mask[64 * 48 + y * 48 + x] = true } }       // image 1 is 64×32
        let targets = [DetectionTarget(labels: Tensor([Int64(1), 2]), boxes: Tensor([0.3, 0.4, 0.2, 0.3, 0.7, 0.6, 0.3, 0.2] as [Double], shape: [2, 4])),
                       DetectionTarget(labels: Tensor([Int64(0)]), boxes: Tensor([0.5, 0.5, 0.4, 0.4] as [Double], shape: [1, 4]))]
        return (images, Tensor(mask, shape: [2, 64, 48]), targets)
    }

    @Test func namesFollowTheOriginalWithRefinementAndTwoStage() throws {
        let single = try model()
        let singleKeys = single.stateDict().map(\.0)
        #expect(singleKeys.contains("transformer.reference_points.weight") && singleKeys.contains("query_embed.weight"))
        #expect(singleKeys.contains("input_proj.3.1.weight") && !singleKeys.contains { $0.hasPrefix("transformer.decoder.bbox_embed") })
        // Without refinement one head serves every layer: three names, one parameter.
        #expect(singleKeys.filter { $0.hasPrefix("class_embed.") && $0.hasSuffix(".weight") } == ["class_embed.0.weight", "class_embed.1.weight", "class_embed.2.weight"])
        #expect(!single.namedParameters().contains { $0.0.hasPrefix("class_embed.1") })

        let both = try model { ($0.withBoxRefine, $0.twoStage, $0.hiddenDim) = (true, true, 256) }
        let keys = both.stateDict().map(\.0)
        for expected in ["transformer.decoder.bbox_embed.3.layers.2.bias", "transformer.decoder.class_embed.3.weight", "transformer.enc_output.weight",
                         "transformer.enc_output_norm.weight", "transformer.pos_trans.weight", "transformer.pos_trans_norm.bias", "class_embed.3.weight"] {
            #expect(keys.contains(expected), "\(expected)")
        }
        #expect(!keys.contains("query_embed.weight") && !keys.contains("transformer.reference_points.weight"))
        // The aliased heads are named by their first key, as named_parameters() does.
        let parameters = both.namedParameters().map(\.0)
        #expect(parameters.contains("transformer.decoder.bbox_embed.0.layers.0.weight") && !parameters.contains("bbox_embed.0.layers.0.weight"))
        #expect(Set(both.classEmbed.map { ObjectIdentifier($0) }).count == 4)
    }

    @Test func headsStartAsTheOriginal() throws {
        let refined = try model { $0.withBoxRefine = true }
        #expect(refined.classEmbed[1].bias!.value.doubles().allSatisfy { Swift.abs($0 + Foundation.log(99)) < 1e-6 })
        #expect(refined.bboxEmbed[0].layers[2].bias!.value.doubles() == [0, 0, -2, -2])
        #expect(refined.bboxEmbed[1].layers[2].bias!.value.doubles() == [0, 0, 0, 0])
        #expect(try model().bboxEmbed[2].layers[2].bias!.value.doubles() == [0, 0, -2, -2])
        let twoStage = try model { ($0.withBoxRefine, $0.twoStage, $0.hiddenDim, $0.nheads) = (true, true, 256, 8) }
        #expect(twoStage.bboxEmbed.allSatisfy { $0.layers[2].bias!.value.doubles() == [0, 0, 0, 0] })
    }

    /// Refinement by hand: a 2-d reference (0.5, 0.25) and Δ = (ln 3, 0, 1, −1) give
    /// σ(ln 3 + 0) = 0.75, σ(0 + ln ⅓) = 0.25, σ(1), σ(−1); a 4-d one adds σ⁻¹ to all four.
    @Test func refinementByHand() {
        let delta = Tensor([Foundation.log(3), 0, 1, -1], shape: [1, 4], dtype: .float64)
        let point = DeformableTransformerDecoder.refine(Tensor([0.5, 0.25], shape: [1, 2], dtype: .float64), delta: delta).doubles()
        let sigmoid = { (x: Double) in 1 / (1 + Foundation.exp(-x)) }
        #expect(elementsClose(point, [0.75, 0.25, sigmoid(1), sigmoid(-1)], within: 1e-12))
        let box = DeformableTransformerDecoder.refine(Tensor([0.5, 0.25, 0.5, 0.5], shape: [1, 4], dtype: .float64), delta: delta).doubles()
        #expect(elementsClose(box, [0.75, 0.25, sigmoid(1), sigmoid(-1)], within: 1e-12))
        // σ⁻¹ clamps: 0 and 1 map to ∓ln(1e5) rather than infinities.
        #expect(Tensor([0.0, 1.0, 2.0], shape: [3], dtype: .float64).inverseSigmoid().doubles() == [-Foundation.log(1e5), Foundation.log(1e5), Foundation.log(1e5)])
        let report = gradcheck({ DeformableTransformerDecoder.refine($0[0], delta: $0[1]) },
                               inputs: [randomTensor([3, 2, 4], seed: 1, low: 0.1, high: 0.9), randomTensor([3, 2, 4], seed: 2)])
        #expect(report.passed, "\(report)")
    }

    /// One level of 2 × 2 with the right column padded: valid width 1, height 2. Token
    /// (0, 0) proposes centre (0.5, 0.25), size 0.05; padded tokens get +∞ and zero memory.
    @Test func encoderProposalsByHand() {
        let memory = Tensor([1, 2, 3, 4] as [Double], shape: [1, 4, 1])
        let padding = Tensor([false, true, false, true].map { Bool8($0) }, shape: [1, 4])
        let proposals = EncoderProposals(memory: memory, paddingMask: padding, spatialShapes: [(2, 2)])
        #expect(proposals.memory.doubles() == [1, 0, 3, 0])
        let logit = { (p: Double) in Foundation.log(p / (1 - p)) }
        let boxes = proposals.boxes.doubles()
        #expect(elementsClose(boxes[0..<4], [logit(0.5), logit(0.25), logit(0.05), logit(0.05)], within: 1e-12))
        #expect(elementsClose(boxes[8..<12], [logit(0.5), logit(0.75), logit(0.05), logit(0.05)], within: 1e-12))
        #expect(boxes[4..<8].allSatisfy { $0 == .infinity } && boxes[12..<16].allSatisfy { $0 == .infinity })
        // Level 1 boxes are 0.1 wide; a centre at 0.995 (200 columns) is dropped.
        let wide = EncoderProposals(memory: Tensor.ones([1, 1 + 200, 1], dtype: .float64), paddingMask: Tensor([Bool8](repeating: false, count: 201), shape: [1, 201]),
                                    spatialShapes: [(1, 1), (1, 200)])
        // (centres 0.5/200 and 1.5/200 of level 1 lie below 0.01: dropped; 2.5/200 is kept).
        let wideBoxes = wide.boxes.doubles()
        #expect(wideBoxes[4] == .infinity && wideBoxes[8] == .infinity && wideBoxes[200 * 4] == .infinity)
        #expect(Swift.abs(wideBoxes[12] - logit(0.0125)) < 1e-12 && Swift.abs(wideBoxes[14] - logit(0.1)) < 1e-12)
    }

    /// The proposal embedding by hand at coordinate 1, features 2 and 3 (frequency
    /// 10000^(2/128)), and its gradient by gradcheck.
    @Test func proposalEmbeddingByHand() {
        let boxes = Tensor([0.3, -0.7, 1.1, 0.2], shape: [1, 1, 4], dtype: .float64)
        let embedding = EncoderProposals.positionEmbedding(boxes).doubles()
        #expect(embedding.count == 512)
        let v = 2 * Double.pi / (1 + Foundation.exp(0.7)), t = Foundation.pow(10000, 2.0 / 128)
        #expect(Swift.abs(embedding[128 + 2] - Foundation.sin(v / t)) < 1e-12 && Swift.abs(embedding[128 + 3] - Foundation.cos(v / t)) < 1e-12)
        let report = gradcheck({ EncoderProposals.positionEmbedding($0[0]) }, inputs: [randomTensor([1, 2, 4], seed: 3)])
        #expect(report.passed, "\(report)")
    }

    func loss(_ m: DeformableDETR) throws -> Tensor {
        let (images, mask, targets) = inputs()
        return try FocalCriterionSettings().criterion(m(images: images, mask: mask), targets: targets).total
    }

    /// Gradients of the loss with respect to what lies after every detach (the last
    /// decoder layer, every class head, the last box head) are the loss's derivatives:
    /// gradcheck in Float64. (The other box heads move later references and two-stage
    /// queries in the forward pass, which the detaches hide from the gradient on purpose.)
    @Test(arguments: [false, true])
    func gradcheckAfterTheLastDetach(twoStage: Bool) throws {
        let m = try model { ($0.withBoxRefine, $0.twoStage, $0.hiddenDim, $0.nheads) = (true, twoStage, twoStage ? 256 : 32, twoStage ? 8 : 2) }
        let checked = m.namedParameters().filter { key, _ in
            key.hasPrefix("transformer.decoder.layers.2.") || key.contains("class_embed.") || key.hasPrefix("transformer.decoder.bbox_embed.2.")
        }.map(\.1)
        #expect(!checked.isEmpty)
        let report = gradcheck({ values in
            for (p, v) in zip(checked, values) { p.value = v }
            return try! self.loss(m)
        }, inputs: checked.map(\.value), mode: .randomDirections(count: 3))
        #expect(report.passed, "\(report)")
    }

    /// References are detached between layers and the two-stage proposals before they
    /// become queries: the final boxes do not depend on the first layer's box head, nor the
    /// decoder on the encoder's heads, through the tape.
    @Test func referencesAndProposalsAreDetached() throws {
        let (images, mask, _) = inputs()
        let refined = try model { $0.withBoxRefine = true }
        let final = refined(images: images, mask: mask).final.boxes.sum()
        let firstHead = refined.bboxEmbed[0].layers[0].weight.value
        #expect(gradients(of: [final], wrt: [firstHead], retainGraph: true)[0].doubles().allSatisfy { $0 == 0 })
        let secondHead = refined.bboxEmbed[2].layers[0].weight.value
        #expect(gradients(of: [final], wrt: [secondHead])[0].doubles().contains { $0 != 0 })

        let twoStage = try model { ($0.withBoxRefine, $0.twoStage, $0.hiddenDim, $0.nheads) = (true, true, 256, 8) }
        let prediction = twoStage(images: images, mask: mask)
        let decoderOutputs = (prediction.final.logits.sum() + prediction.final.boxes.sum())
        let encoderHeads = [twoStage.classEmbed[3].weight.value, twoStage.bboxEmbed[3].layers[2].bias!.value]
        #expect(gradients(of: [decoderOutputs], wrt: encoderHeads, retainGraph: true).allSatisfy { $0.doubles().allSatisfy { $0 == 0 } })
        let encoderOutputs = prediction.encoder!.logits.sum() + prediction.encoder!.boxes.sum()
        #expect(gradients(of: [encoderOutputs], wrt: encoderHeads).allSatisfy { $0.doubles().contains { $0 != 0 } })
        // One proposal per encoder token: levels 8×6, 4×3, 2×2 and 1×1 of the 64×48 batch.
        #expect(prediction.encoder!.logits.shape == [2, 48 + 12 + 4 + 1, 3] && prediction.encoder!.boxes.shape == [2, 65, 4])
    }

    /// The encoder's loss is class-agnostic: every target counts as class 0, and its terms
    /// carry `_enc`. By hand for one target matched to the better of two proposals.
    @Test func encoderLossIsClassAgnostic() throws {
        let target = DetectionTarget(labels: Tensor([Int64(1)]), boxes: Tensor([0.5, 0.5, 0.2, 0.2] as [Double], shape: [1, 4]))
        let logits = Tensor([0.0, 2.0, -1.0, 0.0], shape: [1, 2, 2], dtype: .float64)
        let boxes = Tensor([0.5, 0.5, 0.2, 0.2, 0.1, 0.1, 0.1, 0.1], shape: [1, 2, 4], dtype: .float64)
        let output = DetectionOutput(logits: logits, boxes: boxes)
        let result = try FocalCriterionSettings().criterion(SetPrediction(layers: [output], encoder: output), targets: [target])
        #expect(result.assignments["enc"]!.map(\.queries) == [[0]])
        // Focal loss of logit x with target t: α_t·BCE·(1 − p_t)², summed over all four logits, / 1 box.
        func focal(_ x: Double, _ t: Double) -> Double {
            let p = 1 / (1 + Foundation.exp(-x)), pt = p * t + (1 - p) * (1 - t)
            return (t * 0.25 + (1 - t) * 0.75) * -Foundation.log(pt) * (1 - pt) * (1 - pt)
        }
        let agnostic = focal(0, 1) + focal(2, 0) + focal(-1, 0) + focal(0, 0)
        let labelled = focal(0, 0) + focal(2, 1) + focal(-1, 0) + focal(0, 0)
        #expect(Swift.abs(result.terms["loss_ce_enc"]!.item() - agnostic) < 1e-12)
        #expect(Swift.abs(result.terms["loss_ce"]!.item() - labelled) < 1e-12)
        #expect(result.terms["loss_bbox_enc"]!.item() == 0 && result.terms.keys.contains("loss_giou_enc"))
    }

    @Test func parameterGroupsFollowMainPy() throws {
        let m = try model()
        let groups = m.parameterGroups(learningRate: 2e-4, weightDecay: 1e-4)
        #expect(groups.map(\.learningRate) == [2e-4, 1e-4, 2e-4 * 0.1])
        #expect(groups[1].parameters.allSatisfy { $0.name.hasPrefix("backbone.0.body.layer") } && !groups[1].parameters.isEmpty)
        #expect(groups[2].parameters.map(\.name).allSatisfy { $0.contains("sampling_offsets") || $0.contains("reference_points") })
        #expect(groups[2].parameters.contains { $0.name == "transformer.reference_points.weight" })
        #expect(groups.map(\.parameters.count).reduce(0, +) == m.namedParameters().filter { $0.1.requiresGrad }.count)
    }

    @Test func settingsAreThePapersAndRefuseWhatCannotWork() throws {
        let settings = try ZooRun.settings(model: "deformable-detr", shapes: false)
        #expect(try settings.decode(DeformableDETR.Config.self, section: "model") == DeformableDETR.Config())
        #expect(settings.json.contains("\"num_queries\":300") && settings.json.contains("\"lr_linear_proj_mult\":0.1") && settings.json.contains("\"enc_n_points\":4"))
        let trainer = try settings.decode(TrainerConfig.self, section: "trainer")
        #expect(trainer.lr == 2e-4 && trainer.epochs == 50 && trainer.lrDrop == 40 && trainer.clipMaxNorm == 0.1)
        let (detector, built) = try Registry.entry(named: "deformable-detr").build(try ZooRun.settings(model: "deformable-detr", shapes: true))
        let criterion = try #require(built as? SetCriterion)
        #expect(detector.postProcessor == .sigmoidTopK(100) && criterion.weights == ["loss_ce": 2, "loss_bbox": 5, "loss_giou": 2])
        #expect(criterion.matcher.scoring == .sigmoidFocal(alpha: 0.25, gamma: 2) && criterion.matcher.costClass == 2)
        for (assignment, message) in [("hidden_dim=48", "multiple of 32"), ("two_stage=true", "two_stage needs with_box_refine"),
                                      ("num_feature_levels=2", "num_feature_levels must be 1"), ("enc_n_points=0", "model.enc_n_points is 0"),
                                      ("focal_alpha=2", "loss.focal_alpha is 2.0")] {
            #expect { try ZooRun.settings(model: "deformable-detr", shapes: true, assignments: [assignment]) } throws: { "\($0)".contains(message) }
        }
        #expect { try ZooRun.settings(model: "deformable-detr", shapes: true, assignments: ["two_stage=true", "with_box_refine=true"]) }
            throws: { "\($0)".contains("two_stage needs hidden_dim 256") }
    }
}
