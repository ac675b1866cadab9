import Foundation
import Classification
import Detection
import Tapestry
import TapestryNN
import Training
import Zoo

/// The runner of every zoo model's reference fixtures, derived from its registry entry.
///
/// The fixture's `config` metadata holds the original code's arguments: those that name a
/// key of the model's `model` or `loss` settings are applied over the paper's defaults (the
/// rest — dataset, image sizes, optimizer — do not shape the forward pass). The detector
/// gets recipe weights, runs on `input.images` and `input.mask` in training mode, and the
/// criterion scores it against `target.{b}.*`. Compared: outputs of the final layer
/// (`pred_logits`, `pred_boxes`), of each auxiliary layer (`aux.{i}.*`) and of a two-stage
/// encoder (`enc_outputs.*`); every loss term (logging-only terms also as `log.*`); every
/// matching (`match.{b}`, `match.aux.{i}.{b}`, `match.enc.{b}`); and the gradients.
///
/// A classifier runs on `input.images` in training mode and is scored with cross-entropy
/// against `input.labels`. Compared: the logits, each stage's (sum, sum of squares, max |x|)
/// as `stat.{init,layer1…4}`, layer4's output, every buffer after the pass (BatchNorm's
/// running statistics) and the gradients.
public enum ModelFixtures {
    public static var runners: [String: FixtureRunner] {
        Dictionary(uniqueKeysWithValues: Registry.models.map { entry in
            (entry.name, { @Sendable in entry.isDetector ? try runDetector(entry, $0, $1) : try runClassifier(entry, $0, $1) })
        })
    }

    /// The paper's defaults with the fixture's arguments applied where they name a key.
    static func settings(_ entry: Registry.Entry, _ f: Fixture) throws -> Settings {
        var settings = try Settings(defaults: entry.defaults(false))
        if case .object(let arguments) = f.config {
            for (key, value) in arguments {
                for section in ["model", "loss"] where settings.value("\(section).\(key)") != nil {
                    try settings.set("\(section).\(key)=\(value.serialized)")
                }
            }
        }
        return settings
    }

    static func runClassifier(_ entry: Registry.Entry, _ f: Fixture, _ dtype: DType) throws -> FixtureRun {
        guard let network = try entry.buildClassifier(try settings(entry, f)) as? StandAloneResNet, let dense = network.dense else {
            throw FixtureError(path: f.path, problem: "\(entry.name) is not a StandAloneResNet classifier, whose stages the fixture records")
        }
        network.convert(to: dtype)
        WeightRecipe.apply(to: network, seed: f.seed, dtype: dtype)
        let initialState = Dictionary(network.stateDict(), uniquingKeysWith: { a, _ in a })
        var x = network.stemOutput(try f.input("images", dtype: dtype))
        var outputs = ["stat.init": statistics(x)]
        for (name, stage) in zip(["layer1", "layer2", "layer3", "layer4"], network.stages) {
            x = stage(x)
            outputs["stat.\(name)"] = statistics(x)
        }
        outputs["feature.layer4"] = x
        let logits = dense(x.mean(axes: [2, 3]))
        outputs["logits"] = logits
        let loss = Losses.crossEntropy(logits: logits, targets: try f.tensor("input.labels"))
        for (name, buffer) in network.namedBuffers() { outputs["buffer.\(name)"] = buffer.value }
        return FixtureRun(outputs: outputs, losses: ["cross_entropy": loss.reshaped([1])], total: loss, module: network, initialState: initialState)
    }

    /// (sum, sum of squares, max |x|), as the fixtures' `output.stat` entries.
    static func statistics(_ x: Tensor) -> Tensor {
        let v = x.doubles()
        return Tensor([v.reduce(0, +), v.reduce(0) { $0 + $1 * $1 }, v.map(Swift.abs).max() ?? 0], shape: [3], dtype: .float64)
    }

    static func runDetector(_ entry: Registry.Entry, _ f: Fixture, _ dtype: DType) throws -> FixtureRun {
        let (detector, criterion) = try entry.build(try settings(entry, f))
        detector.convert(to: dtype)
        WeightRecipe.apply(to: detector, seed: f.seed, dtype: dtype)
        let images = try f.input("images", dtype: dtype), mask = try f.input("mask", dtype: dtype) .!= Tensor(scalar: 0, dtype: .uint8)
        let prediction = detector(images: images, mask: mask)
        let result = try criterion(prediction, targets: targets(f, dtype: dtype))

        var outputs: [String: Tensor] = [:]
        func record(_ output: DetectionOutput, _ prefix: String) {
            (outputs[prefix + "pred_logits"], outputs[prefix + "pred_boxes"]) = (output.logits, output.boxes)
        }
        record(prediction.final, "")
        for (i, aux) in prediction.auxiliary.enumerated() { record(aux, "aux.\(i).") }
        if let encoder = prediction.encoder { record(encoder, "enc_outputs.") }
        var named: [String: Tensor] = [:]
        for (key, term) in result.terms where !key.hasPrefix("loss_") { named["log.\(key)"] = term.reshaped([1]) }
        var exact: [String: Tensor] = [:]
        for (name, assignment) in result.assignments {
            for (b, pair) in assignment.enumerated() {
                let prefix = name.isEmpty ? "match.\(b)" : "match.\(name).\(b)"
                exact[prefix + ".pred"] = Tensor(pair.queries.map(Int64.init))
                exact[prefix + ".target"] = Tensor(pair.targets.map(Int64.init))
            }
        }
        return FixtureRun(outputs: outputs, losses: result.terms.mapValues { $0.reshaped([1]) }, total: result.total,
                          module: detector, exact: exact, named: named)
    }

    /// The fixture's targets: `target.{b}.labels` and `target.{b}.boxes` for b = 0, 1, …
    static func targets(_ f: Fixture, dtype: DType) -> [DetectionTarget] {
        var targets: [DetectionTarget] = []
        while let labels = f.file["target.\(targets.count).labels"], let boxes = f.file["target.\(targets.count).boxes"] {
            targets.append(DetectionTarget(labels: labels, boxes: boxes.cast(to: dtype)))
        }
        return targets
    }
}
