import Foundation
import Classification
import Tapestry
import TapestryNN
import Testing
import Training
@testable import Zoo

/// The zoo's classifiers: settings, size and cost by hand, and training by the one trainer.
@Suite(.serialized) struct ClassifierTests {
    /// The tiny network of the hand counts below: one block per stage of width 2, stem 4, 8×8 input, 3 classes.
    func tiny(_ model: String, _ extra: [String] = []) throws -> StandAloneResNet {
        let settings = try ZooRun.settings(model: model, shapes: true, assignments: ["num_blocks=[1,1,1,1]", "planes=[2,2,2,2]", "stem_width=4",
                                                                                   "kernel_size=3", "num_classes=3"] + extra)
        return try #require(try Registry.entry(named: model).buildClassifier(settings) as? StandAloneResNet)
    }

    /// Multiply-adds worked out by hand (see the comments) for both spatial layers.
    @Test func multiplyAddsByHand() throws {
        // stem 3·4·9·64 = 6912; layer1 (8×8, shortcut 4→8): 4·2·64 + 2·2·9·64 + 2·8·64 + 4·8·64 = 5888;
        // layer2 (8×8 → 4×4): 8·2·64 + 36·64 + 2·8·16 + 8·8·16 = 4608; layer3 (4×4 → 2×2): 1152;
        // layer4 (2×2 → 1×1): 288; dense 8·3 = 24.
        #expect(try tiny("resnet").multiplyAdds(height: 8, width: 8) == 18872)
        // Attention (1 head, k 3) in place of each 2·2·9 convolution: per input pixel 3·2·2
        // projections + 2·2·9 logits + 2·2·9 weighted values = 48 instead of 36.
        #expect(try tiny("sasa-resnet", ["heads=1"]).multiplyAdds(height: 8, width: 8) == 18872 + 12 * (64 + 64 + 16 + 4))
    }

    /// Parameters by hand: stem 108 + BN 8; layer1 8+4 + 36+4 + 16+16 + 32+16 = 132; layers 2–4
    /// 16+4 + 36+4 + 16+16 + 64+16 = 172 each; dense 27.
    @Test func parameterCountByHand() throws {
        #expect(try tiny("resnet").parameterCount(trainableOnly: true) == 116 + 132 + 3 * 172 + 27)
        let names = try tiny("resnet").stateDict().map(\.0)
        #expect(names.contains("layer2.0.conv2.0.weight") && names.contains("init.0.weight") && names.contains("dense.bias"))
    }

    /// Upstream's ResNet26(num_classes=1000): 10,334,952 parameters, summed from the module
    /// tree of spec §2 (the README's 10.33 M); with 3×3 convolutions in place of attention,
    /// each layer's 3·P² + P·k projections and embeddings become 9·P².
    @Test func upstreamResNet26ParameterCount() throws {
        let sasa = try Registry.entry(named: "sasa-resnet").buildModel(try ZooRun.settings(model: "sasa-resnet", shapes: false, assignments: ["num_classes=1000"]))
        #expect(sasa.parameterCount(trainableOnly: false) == 10_334_952)
        let conv = try Registry.entry(named: "resnet").buildModel(try ZooRun.settings(model: "resnet", shapes: false, assignments: ["num_classes=1000"]))
        let blocks = [(64, 1), (128, 2), (256, 4), (512, 1)]
        let difference = blocks.reduce(0) { $0 + $1.1 * (9 * $1.0 * $1.0 - 3 * $1.0 * $1.0 - 7 * $1.0) }
        #expect(conv.parameterCount(trainableOnly: false) == 10_334_952 + difference)
    }

    /// The ImageNet layout reduces by 4 in the stem: stages at strides 4, 8, 16, 32.
    @Test(arguments: ["stem=conv", "stem=attention"])
    func imageNetLayoutHasTheStridesOfABackbone(stem: String) throws {
        let network = try tiny("sasa-resnet", ["heads=1", "layout=imagenet", stem])
        network.eval()
        let features = network.features(Tensor.zeros([1, 3, 64, 96]))
        #expect(features.map { [$0.shape[2], $0.shape[3]] } == [[16, 24], [8, 12], [4, 6], [2, 3]])
    }

    @Test func settingsOutsideTheirRangesAreRefused() throws {
        for (assignment, message) in [("num_blocks=[1,2,4]", "four block counts"), ("kernel_size=4", "odd"), ("planes=[16,16,16,24]", "planes 24 must split into 8 heads"),
                                      ("stem=pooling", "one of conv, attention"), ("heads=3", "split into 3 heads")] {
            #expect { try ZooRun.settings(model: "sasa-resnet", shapes: true, assignments: [assignment]) } throws: { "\($0)".contains(message) }
        }
        #expect { try ZooRun.settings(model: "resnet", shapes: true, assignments: ["optimizer=lbfgs"]) } throws: { "\($0)".contains("one of adamw, sgd") }
        let paper = try ZooRun.settings(model: "sasa-resnet", shapes: false)
        #expect(paper.value("trainer.optimizer")?.stringValue == "sgd" && paper.value("trainer.lr")?.doubleValue == 0.1)
        #expect(paper.value("model.num_blocks") == .array([1, 2, 4, 1].map { .number("\($0)") }))
        #expect(try ZooRun.settings(model: "resnet", shapes: false).value("model.kernel_size")?.intValue == 3)
        #expect { try Registry.entry(named: "resnet").build(paper) } throws: { "\($0)" == "resnet is not a detector" }
    }

    /// A small ten-shape set on disk (written once per process).
    static let dataset: String = {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("tapestry-shapes-classes-\(getpid())").path
        try! ShapesClassification(imageSize: 16, seed: 3).write(to: path, trainCount: 40, valCount: 20)
        return path
    }()

    func trainer(_ model: String, _ directory: String, _ extra: [String] = [], seed: UInt64 = 0) throws -> Trainer {
        var settings = try ZooRun.settings(model: model, shapes: true, assignments: [
            "data.path=\(Self.dataset)", "image_size=16", "crop_padding=2", "planes=[8,8,8,8]", "stem_width=8", "kernel_size=3", "heads=2",
            "batch_size=8", "epochs=100", "lr_drop=100", "eval_every=0", "log_every=20",
        ].filter { model == "sasa-resnet" || !$0.hasPrefix("heads") } + extra)
        let task = try DefaultRandom.withGenerator(RandomGenerator(seed: seed)) { try ZooRun.prepare(model: model, settings: &settings, log: { _ in }).task }.0
        return try quietTrainer(task, settings, model: model, directory: directory)
    }

    /// Both classifiers learn 16 of the training images (loss down by a third in 160 steps);
    /// the evaluation reports accuracies and a confusion matrix whose cells count the 20
    /// validation images; the reloaded checkpoint gives the trained model's logits.
    @Test(arguments: ["sasa-resnet", "resnet"])
    func lossFallsAndTheCheckpointPredictsAlike(model: String) throws {
        let directory = temporaryRunDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let t = try trainer(model, directory, ["lr=0.003", "crop_padding=0", "train_limit=16"])
        t.maxSteps = 160
        let summary = try t.run()
        let first = try #require(summary.firstLoss), last = try #require(summary.lastLoss)
        print("\(model) on 16 shapes images: mean loss of steps 1–20 \(first), of steps 141–160 \(last)")
        #expect(last < 0.67 * first, "\(model)'s loss went from \(first) to \(last)")
        let evaluation = try #require(summary.evaluation)
        #expect((0...1).contains(evaluation["top1"] ?? -1) && evaluation["top5"]! >= evaluation["top1"]!)
        #expect(evaluation.filter { $0.key.hasPrefix("confusion.") }.count == 100)
        #expect(evaluation.filter { $0.key.hasPrefix("confusion.") }.values.reduce(0, +) == 20)
        let loaded = try ZooRun.loadClassifier(checkpoint: directory)
        #expect(loaded.step == 160)
        let (_, validation, data) = try ZooRun.classificationDataset(loaded.settings)
        let images = try (0..<4).map { data.evaluationImage(try validation.image($0)) }
        t.task.model.eval()
        let a = ClassificationTask.logitsOf(loaded.classifier, images).doubles()
        let b = ClassificationTask.logitsOf(t.task.model as! any Classifier, images).doubles()
        #expect(a == b && a.count == 40)
    }

    /// With SGD and momentum, crops and flips: 5 + 5 resumed steps equal 10 straight ones.
    @Test(arguments: ["sasa-resnet", "resnet"])
    func resumesBitForBit(model: String) throws {
        let whole = temporaryRunDirectory(), split = temporaryRunDirectory()
        defer { for d in [whole, split] { try? FileManager.default.removeItem(atPath: d) } }
        let options = ["optimizer=sgd", "lr=0.05", "momentum=0.9", "train_limit=40"]
        let straight = try trainer(model, whole, options)
        straight.maxSteps = 10
        _ = try straight.run()
        let first = try trainer(model, split, options)
        first.maxSteps = 5
        _ = try first.run()
        let second = try trainer(model, split, options, seed: 12345)
        try second.resume(from: try #require(Checkpoint.latest(in: split)))
        second.maxSteps = 5
        _ = try second.run()
        #expect(second.state == straight.state && second.state.epoch == 2)
        let expected = Dictionary(uniqueKeysWithValues: straight.task.model.stateDict()), resumed = Dictionary(uniqueKeysWithValues: second.task.model.stateDict())
        for (key, tensor) in expected { #expect(resumed[key]?.doubles() == tensor.doubles(), "\(key)") }
        let momentum = Dictionary(uniqueKeysWithValues: straight.optimizer.stateDict()), resumedMomentum = Dictionary(uniqueKeysWithValues: second.optimizer.stateDict())
        #expect(momentum.keys.contains { $0.hasSuffix("momentum_buffer") })
        for (key, tensor) in momentum { #expect(resumedMomentum[key]?.doubles() == tensor.doubles(), "\(key)") }
    }
}
