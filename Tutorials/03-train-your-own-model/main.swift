// Tutorial 03: training your own model with the one trainer, and resuming it exactly.
// Run with: swift run Tutorial03TrainYourOwnModel   (README.md beside this file explains each step)
import Foundation
import Tapestry
import TapestryNN
import Training

/// 1. A task: three interleaved spiral arms in the plane, classified by a small MLP.
///    The trainer asks a task for its model, its parameter groups, a batch of example
///    indices with the loss on it, and an evaluation; it does everything else.
final class SpiralsTask: TrainingTask {
    let network = Sequential(Linear(2, 64), ReLU(), Linear(64, 64), ReLU(), Dropout(0.1), Linear(64, 3))
    var model: Module { network }
    let points: Tensor
    let labels: [Int64]

    init(pointsPerArm: Int = 100) {
        var random = RandomGenerator(seed: 11)
        var coordinates: [Double] = [], labels: [Int64] = []
        for arm in 0..<3 {
            for i in 0..<pointsPerArm {
                let radius = Double(i) / Double(pointsPerArm)
                let angle = Double(arm) * 2 * .pi / 3 + radius * 4 + (random.nextUniform() - 0.5) * 0.3
                coordinates += [radius * cos(angle), radius * sin(angle)]
                labels.append(Int64(arm))
            }
        }
        points = Tensor(coordinates, shape: [labels.count, 2], dtype: .float32)
        self.labels = labels
    }

    var exampleCount: Int { labels.count }

    func parameterGroups(learningRate: Double, weightDecay: Double) -> [ParameterGroup] {
        [ParameterGroup(network.namedParameters(), learningRate: learningRate, weightDecay: weightDecay)]
    }

    /// The batch's inputs and labels; its loss runs the network on them.
    func batch(examples: [Int], random: inout RandomGenerator) throws -> TrainingBatch {
        let x = points.indexSelect(axis: 0, index: Tensor(examples.map(Int64.init)))
        let targets = Tensor(examples.map { labels[$0] })
        return TrainingBatch { [self] in
            let loss = Losses.crossEntropy(logits: network(x), targets: targets)
            return TrainingLoss(total: loss, terms: ["loss_ce": loss.item()])
        }
    }

    func evaluate(progress: (Int, Int) -> Void) throws -> [String: Double] {
        let predicted = network(points).argmax(axis: -1).scalars(as: Int64.self)
        return ["accuracy": Double(zip(predicted, labels).filter { $0 == $1 }.count) / Double(labels.count)]
    }

    func describe(examples: [Int]) -> String { "points " + examples.map(String.init).joined(separator: ", ") }
}

// 2. Train it: AdamW, 30 epochs of batches of 30, evaluated before and after.
let config: TrainerConfig = {
    var c = TrainerConfig()
    (c.epochs, c.batchSize, c.lr, c.lrDrop, c.evalEvery, c.evalAtStart, c.logEvery) = (30, 30, 1e-2, 20, 0, true, 100)
    return c
}()
let directory = FileManager.default.temporaryDirectory.appendingPathComponent("tutorial-03-\(getpid())").path
defer { try? FileManager.default.removeItem(atPath: directory) }
/// A trainer whose model starts from weights drawn with `initialization`.
func makeTrainer(_ folder: String, config: TrainerConfig, initialization: UInt64 = 1) throws -> Trainer {
    let task = DefaultRandom.withGenerator(RandomGenerator(seed: initialization)) { SpiralsTask() }.0
    return try Trainer(task: task, config: config, modelName: "spirals", settings: "{\"tutorial\":3}", directory: folder)
}
let trainer = try makeTrainer(directory + "/whole", config: config)
trainer.interactiveProgress = false
let summary = try trainer.run()
let before = summary.initialEvaluation?["accuracy"] ?? 0, after = summary.evaluation?["accuracy"] ?? 0
print(String(format: "1. accuracy %.2f untrained → %.2f after %d steps (loss %.3f → %.3f)", before, after, summary.lastStep,
             summary.firstLoss ?? .nan, summary.lastLoss ?? .nan))

// 3. Stop half-way, then resume in a fresh trainer from the checkpoint: the result is the
//    same, bit for bit, as training straight through. The fresh trainer starts from other
//    weights (as a new process would), so only the checkpoint can make it match.
let halves = try makeTrainer(directory + "/halves", config: config)
halves.interactiveProgress = false
halves.maxSteps = trainer.totalSteps / 2
_ = try halves.run()
let resumed = try makeTrainer(directory + "/halves", config: config, initialization: 2)
resumed.interactiveProgress = false
try resumed.resume(from: Checkpoint.latest(in: directory + "/halves")!)
let resumedAt = resumed.state.step
_ = try resumed.run()
let identical = zip(trainer.task.model.stateDict(), resumed.task.model.stateDict()).allSatisfy { $0.1.doubles() == $1.1.doubles() }
print("2. stopped at step \(halves.state.step), resumed to step \(resumed.state.step): parameters identical to the straight run: \(identical)")

guard after > 0.9, after > before, identical, resumedAt == halves.state.step, resumedAt > 0 else {
    print("tutorial check failed")
    exit(1)
}
print("all tutorial checks passed")
