import Foundation
import Tapestry
import TapestryNN
import Testing
@testable import Training

/// A classification task small enough to train in a test: three Gaussian clusters in the
/// plane, an MLP with dropout, two parameter groups, accuracy as the evaluation.
final class ClustersTask: TrainingTask {
    let network = Sequential(Linear(2, 16), ReLU(), Dropout(0.2), Linear(16, 3))
    var model: Module { network }
    let points: Tensor, labels: [Int64]
    /// The loss of the call with this number (from 1) is NaN.
    var poisonedCall: Int?
    /// Evaluation throws `EvaluationFailure` (as a broken validation set would).
    var evaluationFails = false
    struct EvaluationFailure: Error {}
    private var calls = 0

    init(count: Int = 48) {
        var random = RandomGenerator(seed: 7)
        let centres: [[Double]] = [[0, 2], [2, -1], [-2, -1]]
        labels = (0..<count).map { Int64($0 % 3) }
        let noise = Tensor.normal([count, 2], std: 0.6, dtype: .float64, generator: &random).doubles()
        var coordinates: [Double] = []
        for i in 0..<count {
            coordinates.append(centres[i % 3][0] + noise[2 * i])
            coordinates.append(centres[i % 3][1] + noise[2 * i + 1])
        }
        points = Tensor(coordinates, shape: [count, 2], dtype: .float32)
    }

    var exampleCount: Int { labels.count }

    func parameterGroups(learningRate: Double, weightDecay: Double) -> [ParameterGroup] {
        ParameterGroup.split(network, matching: { $0.hasPrefix("0.") }, matchingRate: learningRate / 2, learningRate: learningRate, weightDecay: weightDecay)
    }

    func batch(examples: [Int], random: inout RandomGenerator) throws -> TrainingBatch {
        // Augmentation: a small random shift from the batch's own generator.
        let shift = Tensor.uniform([examples.count, 2], low: -0.1, high: 0.1, generator: &random)
        let x = points.indexSelect(axis: 0, index: Tensor(examples.map(Int64.init))) + shift
        let targets = Tensor(examples.map { labels[$0] })
        return TrainingBatch { [self] in
            calls += 1
            var loss = Losses.crossEntropy(logits: network(x), targets: targets)
            if calls == poisonedCall { loss = loss * Double.nan }
            return TrainingLoss(total: loss, terms: ["loss_ce": loss.cast(to: .float64).item()])
        }
    }

    func evaluate(progress: (Int, Int) -> Void) throws -> [String: Double] {
        if evaluationFails { throw EvaluationFailure() }
        let predicted = network(points).argmax(axis: -1).scalars(as: Int64.self)
        progress(1, 1)
        return ["accuracy": Double(zip(predicted, labels).filter { $0 == $1 }.count) / Double(labels.count)]
    }

    func describe(examples: [Int]) -> String { "points " + examples.map(String.init).joined(separator: ", ") }
}

@Suite(.serialized) struct TrainerTests {
    func temporaryDirectory() -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("tapestry-trainer-\(UUID().uuidString)").path
    }

    /// The task with its initial weights drawn from `seed`.
    func task(seed: UInt64 = 0) -> ClustersTask {
        DefaultRandom.withGenerator(RandomGenerator(seed: seed)) { ClustersTask() }.0
    }

    func config() -> TrainerConfig {
        var c = TrainerConfig()
        (c.epochs, c.batchSize, c.lr, c.lrDrop, c.gradientAccumulation, c.evalEvery, c.logEvery, c.checkpointEvery) = (6, 4, 1e-2, 3, 2, 2, 5, 4)
        return c
    }

    func trainer(_ task: ClustersTask, _ directory: String, _ config: TrainerConfig? = nil, settings: String = "{}") throws -> Trainer {
        let t = try Trainer(task: task, config: config ?? self.config(), modelName: "clusters", settings: settings, directory: directory)
        t.interactiveProgress = false
        return t
    }

    /// Parameters, buffers and optimizer state as exact values.
    func snapshot(_ t: Trainer) -> [String: [Double]] {
        var values: [String: [Double]] = [:]
        for (name, tensor) in t.task.model.stateDict() { values["model.\(name)"] = tensor.cast(to: .float64).doubles() }
        for (name, tensor) in t.optimizer.stateDict() { values["optimizer.\(name)"] = tensor.cast(to: .float64).doubles() }
        return values
    }

    @Test func resumingContinuesBitForBit() throws {
        // 6 epochs × 6 steps; the halves cross epoch boundaries, the learning-rate drop,
        // gradient accumulation, dropout and per-batch augmentation.
        let whole = temporaryDirectory(), split = temporaryDirectory()
        defer { for d in [whole, split] { try? FileManager.default.removeItem(atPath: d) } }
        let straight = try trainer(task(seed: 1), whole)
        straight.maxSteps = 22
        _ = try straight.run()

        let first = try trainer(task(seed: 1), split)
        first.maxSteps = 11
        _ = try first.run()
        #expect(first.state.step == 11 && first.state.epoch == 1 && first.state.position == 5)

        let second = try trainer(task(seed: 99), split)    // a fresh process: other initial weights
        let latest = try #require(Checkpoint.latest(in: split))
        try second.resume(from: latest)
        #expect(second.state.step == 11)
        second.maxSteps = 11
        _ = try second.run()
        #expect(second.state == straight.state)
        let expected = snapshot(straight), resumed = snapshot(second)
        #expect(expected.keys.sorted() == resumed.keys.sorted() && expected.count > 8)
        for (key, values) in expected { #expect(resumed[key] == values, "\(key) differs after resuming") }
        // The checkpoint names the schedule and the groups' rates for the next step.
        let newest = try #require(Checkpoint.latest(in: split))
        let schedule = try #require(try Checkpoint.read(newest).schedule)
        let parsed = try #require(try JSONSerialization.jsonObject(with: Data(schedule.utf8)) as? [String: Any])
        let rates = try #require(parsed["learning_rates"] as? [Double])
        #expect(schedule.contains("\"size\":18") && rates.count == 2 && Swift.abs(rates[0] - 1e-3) < 1e-15 && Swift.abs(rates[1] - 5e-4) < 1e-15)
        // The learning rate dropped after lr_drop = 3 epochs (18 steps).
        #expect(Swift.abs(second.optimizer.groups[0].currentLearningRate - 1e-3) < 1e-15)
    }

    @Test func lossFallsAndAccuracyRises() throws {
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var c = config()
        (c.epochs, c.evalAtStart, c.gradientAccumulation, c.lrDrop) = (20, true, 1, 100)
        let t = try trainer(task(seed: 3), directory, c)
        let summary = try t.run()
        let before = try #require(summary.initialEvaluation?["accuracy"]), after = try #require(summary.evaluation?["accuracy"])
        #expect(after > 0.9 && after > before)
        #expect(try #require(summary.lastLoss) < 0.5 * (try #require(summary.firstLoss)))
        // Metrics reached both logs, the newest checkpoints were kept, and nothing else.
        let lines = try String(contentsOfFile: directory + "/metrics.jsonl", encoding: .utf8).split(separator: "\n")
        #expect(lines.contains { $0.contains("\"train/loss\"") } && lines.contains { $0.contains("\"eval/accuracy\"") })
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory + "/tensorboard").count == 1)
        #expect(Checkpoint.list(in: directory).map { ($0 as NSString).lastPathComponent } ==
                ["checkpoint-00000232.safetensors", "checkpoint-00000236.safetensors", "checkpoint-00000240.safetensors"])
    }

    @Test func aNonFiniteLossStopsWithoutACheckpoint() throws {
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let poisoned = task()
        poisoned.poisonedCall = 5                // step 3 (two batches per step)
        let t = try trainer(poisoned, directory)
        do {
            _ = try t.run()
            Issue.record("training went on past a NaN loss")
        } catch let TrainingError.nonFiniteLoss(step, total, terms, examples) {
            #expect(step == 3 && total.isNaN && terms["loss_ce"]!.isNaN)
            #expect(examples == "points " + t.batchExamples(epoch: 0, batch: 4).map(String.init).joined(separator: ", "))
        }
        #expect(Checkpoint.list(in: directory).isEmpty)
        #expect(t.state.step == 2)
    }

    @Test func ctrlCFinishesTheStepAndSaves() throws {
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let t = try trainer(task(), directory)
        t.stopRequested = { true }      // as after Ctrl-C, without touching the process-wide flag other tests see
        #expect(throws: TrainingError.self) { _ = try t.run() }
        #expect(t.state.step == 1)
        #expect(Checkpoint.list(in: directory).map { ($0 as NSString).lastPathComponent } == ["checkpoint-00000001.safetensors"])
    }

    @Test func mismatchedOrCorruptCheckpointsAreRefused() throws {
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let t = try trainer(task(), directory, settings: "{\"width\":16}")
        t.maxSteps = 1
        _ = try t.run()
        let file = try #require(Checkpoint.latest(in: directory))

        // Other settings: refused, showing both.
        let other = try trainer(task(), temporaryDirectory(), settings: "{\"width\":32}")
        #expect { try other.resume(from: file) } throws: { "\($0)".contains("other settings") && "\($0)".contains("\"width\":32") }

        // A model whose parameters do not fit: the keys are named.
        var checkpoint = try Checkpoint.read(file)
        checkpoint.model["3.weight"] = Tensor.zeros([5, 16])
        checkpoint.model["9.weight"] = Tensor.zeros([1])
        checkpoint.model["0.bias"] = nil
        try checkpoint.write(to: file)
        #expect { try t.resume(from: file) } throws: {
            let text = "\($0)"
            return text.contains("3.weight") && text.contains("9.weight") && text.contains("0.bias")
        }

        // Truncated files and plain weight files are not checkpoints.
        let bytes = try Data(contentsOf: URL(fileURLWithPath: file))
        try bytes.prefix(bytes.count / 2).write(to: URL(fileURLWithPath: file))
        #expect(throws: SafetensorsError.self) { try t.resume(from: file) }
        try t.task.model.save(to: file)
        #expect { try t.resume(from: file) } throws: { "\($0)".contains("tapestry.trainer") }
    }

    @Test func invalidSettingsAreRefusedUpFront() {
        var c = config()
        c.batchSize = 0
        #expect(throws: TrainingError.self) { try trainer(task(), temporaryDirectory(), c) }
        c = config()
        c.batchSize = 40          // 48 examples: one batch, fewer than the 2 accumulated per step
        #expect(throws: TrainingError.self) { try trainer(task(), temporaryDirectory(), c) }
    }
}
