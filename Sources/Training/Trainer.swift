import Foundation
import Tapestry
import TapestryNN

/// The one training loop, for any `TrainingTask` (DETR's original engine.py, generalised):
///
///     for each step: for each of `gradient_accumulation` batches: (loss / accumulation).backward()
///                    clip ‖g‖₂ to clip_max_norm;  AdamW (or SGD) step at lr·0.1^⌊epoch/lr_drop⌋
///
/// An epoch takes the examples in an order shuffled from (seed, epoch), `batch_size` at a
/// time, dropping an incomplete last batch; each batch's augmentation draws from its own
/// generator seeded by (seed, epoch, batch). So a run is fixed by its seed, and a checkpoint
/// only needs the step, the epoch position and the dropout generator to continue exactly.
/// The next batch is read on a loader thread while a step computes (`BatchLoader`).
///
/// Outputs in `directory`: `metrics.jsonl`, TensorBoard events under `tensorboard/`,
/// `checkpoint-<step>.safetensors` (the newest `keep_checkpoints` kept) and `settings.json`.
public final class Trainer {
    public let task: TrainingTask
    public let config: TrainerConfig
    public let modelName: String
    /// The run's full settings (stored in every checkpoint).
    public let settings: String
    public let directory: String
    public private(set) var state = TrainerState()
    public let optimizer: Optimizer
    /// Stop after this many steps in this run (nil: train to the last epoch).
    public var maxSteps: Int?
    /// Stop after the step that passes this many seconds.
    public var timeLimit: Double?
    /// Train with subnormal numbers flushed to zero (`Subnormals`, process-wide while `run`
    /// lasts; `zoo train` sets it): a saturated attention softmax otherwise fills gradients
    /// with subnormals, which slow every gemm that reads them 30–50×. Only numbers smaller
    /// than 1.18·10⁻³⁸ (Float32) in magnitude are read and written as 0.
    public var flushesSubnormals = false
    /// Asked after every step whether to save and stop as on Ctrl-C (by default: was
    /// Ctrl-C pressed, see `Interrupt`).
    public var stopRequested: () -> Bool = { Interrupt.requested }
    /// Where progress lines go (standard output by default).
    public var interactiveProgress = isatty(STDERR_FILENO) != 0

    public let stepsPerEpoch: Int
    public var totalSteps: Int { config.epochs * stepsPerEpoch }
    public var schedule: LearningRateSchedule { .step(size: config.lrDrop * stepsPerEpoch, gamma: 0.1) }

    private var metrics: MetricsLog?
    private var events: TensorBoardWriter?
    private var lastCheckpointStep = -1, lastEvaluationStep = -1
    /// The shuffled example order of the epoch in progress (computed once per epoch).
    private var epochOrder: (epoch: Int, order: [Int])?
    private lazy var loader = BatchLoader(task: task)

    public init(task: TrainingTask, config: TrainerConfig, modelName: String, settings: String, directory: String) throws {
        if case let problems = config.problems(), !problems.isEmpty { throw TrainingError.invalidConfig(problems.joined(separator: "; ")) }
        let batchesPerEpoch = task.exampleCount / config.batchSize
        guard batchesPerEpoch >= config.gradientAccumulation else {
            throw TrainingError.invalidConfig("\(task.exampleCount) training examples make \(batchesPerEpoch) batches of \(config.batchSize), fewer than one step of \(config.gradientAccumulation) accumulated batches")
        }
        (self.task, self.config, self.modelName, self.settings, self.directory) = (task, config, modelName, settings, directory)
        stepsPerEpoch = batchesPerEpoch / config.gradientAccumulation
        let groups = task.parameterGroups(learningRate: config.lr, weightDecay: config.weightDecay)
        optimizer = config.makeOptimizer(groups)
        state.random = RandomGenerator(seed: config.seed)
    }

    /// Continues from a checkpoint: parameters, optimizer moments, position and generator.
    /// Refuses one written for another model or other settings, naming what differs.
    public func resume(from path: String) throws {
        try resume(from: try Checkpoint.read(path), path: path)
    }

    /// Continues from a checkpoint already read from `path`.
    public func resume(from checkpoint: Checkpoint, path: String) throws {
        guard checkpoint.modelName == modelName else {
            throw CheckpointError(path: path, reason: "was written for model \(checkpoint.modelName), not \(modelName)")
        }
        guard checkpoint.settings == settings else {
            throw CheckpointError(path: path, reason: "was written with other settings:\n  stored:  \(checkpoint.settings)\n  current: \(settings)")
        }
        try checkpoint.restore(into: task.model, path: path)
        do { try optimizer.load(stateDict: checkpoint.optimizer) } catch {
            throw CheckpointError(path: path, reason: "\(error)")
        }
        state = checkpoint.state
        (lastCheckpointStep, lastEvaluationStep) = (state.step, -1)
    }

    /// What a run did.
    public struct Summary {
        public var firstStep: Int
        public var lastStep: Int
        /// Mean loss of the first and last logging windows of this run.
        public var firstLoss: Double?
        public var lastLoss: Double?
        /// The last evaluation's metrics.
        public var evaluation: [String: Double]?
        /// The untrained model's metrics, with `eval_at_start`.
        public var initialEvaluation: [String: Double]?
        public var checkpoint: String?
    }

    /// Trains until the last epoch, `maxSteps`, `timeLimit` or Ctrl-C (which saves a
    /// checkpoint and throws `TrainingError.interrupted`).
    public func run() throws -> Summary {
        try OutputFolder.prepare(directory)
        Checkpoint.removeAbandonedTemporaries(in: directory)
        metrics = try MetricsLog(path: path("metrics.jsonl"))
        events = try TensorBoardWriter(directory: path("tensorboard"))
        try Data(settings.utf8).write(to: URL(fileURLWithPath: path("settings.json")), options: .atomic)
        // The run draws its dropout masks from its own generator, saved with each step.
        return try Subnormals.withFlushed(flushesSubnormals) {
            try DefaultRandom.withGenerator(state.random) { try trainingLoop() }.0
        }
    }

    func trainingLoop() throws -> Summary {
        var summary = Summary(firstStep: state.step, lastStep: state.step)
        let stopStep = min(totalSteps, maxSteps.map { state.step + $0 } ?? totalSteps)
        let progress = ProgressReporter(totalSteps: totalSteps, firstStep: state.step, every: config.logEvery, interactive: interactiveProgress)
        if let warning = OpenBLASCore.warning { progress.message("warning: \(warning)") }
        if state.step >= totalSteps { progress.message("training is already complete (\(state.step) of \(totalSteps) steps)") }
        if config.evalAtStart && state.step == 0 {
            summary.initialEvaluation = try evaluate(progress, label: "untrained model")
        }
        defer { loader.finish() }
        let started = Date()
        var window: [String: Double] = [:], windowSteps = 0
        while state.step < stopStep {
            let (loss, terms, gradientNorm) = try trainStep()
            for (key, value) in terms { window[key, default: 0] += value }
            window["loss", default: 0] += loss
            windowSteps += 1
            progress.update(step: state.step, epoch: state.epoch, loss: loss, learningRate: optimizer.groups[0].currentLearningRate)
            if state.step % config.logEvery == 0 || state.step == stopStep {
                var record = window.mapValues { $0 / Double(windowSteps) }
                (record["lr"], record["grad_norm"], record["epoch"]) = (optimizer.groups[0].currentLearningRate, gradientNorm, Double(state.epoch))
                try log(record, prefix: "train/")
                if summary.firstLoss == nil { summary.firstLoss = record["loss"] }
                summary.lastLoss = record["loss"]
                (window, windowSteps) = ([:], 0)
            }
            let epochEnded = state.position == stepsPerEpoch
            if epochEnded { (state.epoch, state.position) = (state.epoch + 1, 0) }
            // Saved before evaluating, so a failing or interrupted evaluation loses no training.
            if epochEnded || (config.checkpointEvery > 0 && state.step % config.checkpointEvery == 0) {
                summary.checkpoint = try saveCheckpoint()
            }
            if epochEnded && config.evalEvery > 0 && state.epoch % config.evalEvery == 0 {
                summary.evaluation = try evaluate(progress, label: "epoch \(state.epoch)")
            }
            if stopRequested() {
                let saved = try saveCheckpoint()
                progress.message("stopped at step \(state.step); checkpoint \(saved)")
                throw TrainingError.interrupted(step: state.step, checkpoint: saved)
            }
            if let timeLimit, Date().timeIntervalSince(started) >= timeLimit { break }
        }
        summary.lastStep = state.step
        if state.step > summary.firstStep || summary.checkpoint == nil { summary.checkpoint = try saveCheckpoint() }
        if lastEvaluationStep != state.step && state.step > summary.firstStep { summary.evaluation = try evaluate(progress, label: "step \(state.step)") }
        return summary
    }

    /// One optimizer step over `gradient_accumulation` batches: (mean loss, mean terms, gradient norm).
    func trainStep() throws -> (Double, [String: Double], Double) {
        task.model.train()
        optimizer.zeroGrad()
        let accumulation = config.gradientAccumulation
        var lossSum = 0.0, terms: [String: Double] = [:]
        for micro in 0..<accumulation {
            let key = BatchLoader.Key(epoch: state.epoch, batch: state.position * accumulation + micro)
            let examples = batchExamples(key)
            let batch = try loader.take(key, examples: examples, random: batchGenerator(key))
            if let next = nextBatch(after: key) { loader.loadAhead(next, examples: batchExamples(next), random: batchGenerator(next)) }
            let loss = try batch.loss()
            let value = loss.total.cast(to: .float64).item()
            guard value.isFinite, loss.terms.values.allSatisfy(\.isFinite) else {
                throw TrainingError.nonFiniteLoss(step: state.step + 1, total: value, terms: loss.terms, examples: task.describe(examples: examples))
            }
            (accumulation == 1 ? loss.total : loss.total / Double(accumulation)).backward()
            lossSum += value
            for (name, term) in loss.terms { terms[name, default: 0] += term / Double(accumulation) }
        }
        optimizer.apply(schedule, step: state.step)
        let parameters = optimizer.groups.flatMap { $0.parameters.map(\.parameter) }
        // With clipping off, an infinite bound only measures the norm.
        let (norm, gradientScale) = gradientClipping(parameters, maxNorm: config.clipMaxNorm > 0 ? config.clipMaxNorm : .infinity)
        guard norm.isFinite else {
            let examples = (0..<accumulation).flatMap { batchExamples(epoch: state.epoch, batch: state.position * accumulation + $0) }
            throw TrainingError.nonFiniteGradient(step: state.step + 1, norm: norm, examples: task.describe(examples: examples))
        }
        optimizer.step(gradientScale: gradientScale)
        optimizer.zeroGrad()
        state.step += 1
        state.position += 1
        state.random = DefaultRandom.state
        return (lossSum / Double(accumulation), terms, norm)
    }

    /// The examples of batch `batch` of `epoch`: a seeded shuffle, cut into batches.
    public func batchExamples(epoch: Int, batch: Int) -> [Int] {
        if epochOrder?.epoch != epoch {
            var order = Array(0..<task.exampleCount)
            var random = derivedGenerator(UInt64(epoch), UInt64.max)
            for i in stride(from: order.count - 1, to: 0, by: -1) { order.swapAt(i, random.nextInt(below: i + 1)) }
            epochOrder = (epoch, order)
        }
        return Array(epochOrder!.order[(batch * config.batchSize)..<((batch + 1) * config.batchSize)])
    }

    func batchExamples(_ key: BatchLoader.Key) -> [Int] { batchExamples(epoch: key.epoch, batch: key.batch) }

    /// The generator of batch `key`'s augmentation.
    func batchGenerator(_ key: BatchLoader.Key) -> RandomGenerator { derivedGenerator(UInt64(key.epoch), UInt64(key.batch)) }

    /// The batch after `key` in training order (nil after the last epoch's last batch).
    func nextBatch(after key: BatchLoader.Key) -> BatchLoader.Key? {
        if key.batch + 1 < stepsPerEpoch * config.gradientAccumulation { return .init(epoch: key.epoch, batch: key.batch + 1) }
        return key.epoch + 1 < config.epochs ? .init(epoch: key.epoch + 1, batch: 0) : nil
    }

    /// A generator determined by (seed, a, b) alone.
    func derivedGenerator(_ a: UInt64, _ b: UInt64) -> RandomGenerator {
        var root = RandomGenerator(seed: config.seed)
        root.counter = a &* 0x1_0000_0001 &+ b
        return RandomGenerator(seed: root.next())
    }

    func evaluate(_ progress: ProgressReporter, label: String) throws -> [String: Double] {
        task.model.eval()
        defer { task.model.train() }
        let started = Date()
        let results = try noGrad { try task.evaluate { done, total in
            if progress.interactive { FileHandle.standardError.write(Data("\r\u{1B}[2Kevaluating \(done)/\(total)".utf8)) }
        } }
        lastEvaluationStep = state.step
        try log(results, prefix: "eval/")
        // Detail metrics (names with a dot, such as a confusion matrix's cells) go to the logs only.
        let figures = results.filter { !$0.key.contains(".") }.sorted { $0.key < $1.key }.map { String(format: "%@ %.4f", $0.key, $0.value) }.joined(separator: "  ")
        progress.message(String(format: "eval (%@, %.0fs): %@", label, Date().timeIntervalSince(started), figures))
        return results
    }

    func log(_ values: [String: Double], prefix: String) throws {
        let named = Dictionary(uniqueKeysWithValues: values.map { (prefix + $0.key, $0.value) })
        try metrics?.write(step: state.step, named)
        try events?.add(step: state.step, named)
    }

    @discardableResult
    func saveCheckpoint() throws -> String {
        let file = path(Checkpoint.fileName(step: state.step))
        if lastCheckpointStep == state.step, FileManager.default.fileExists(atPath: file) { return file }
        var checkpoint = Checkpoint(modelName: modelName, settings: settings, state: state, model: task.model.stateDict(),
                                    optimizer: optimizer.stateDict())
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let rates = optimizer.groups.map { "\(schedule.learningRate(base: $0.learningRate, step: state.step))" }.joined(separator: ",")
        checkpoint.schedule = "{\"schedule\":\(String(decoding: try encoder.encode(schedule), as: UTF8.self)),\"learning_rates\":[\(rates)]}"
        try checkpoint.write(to: file)
        Checkpoint.prune(directory, keep: config.keepCheckpoints)
        lastCheckpointStep = state.step
        return file
    }

    func path(_ name: String) -> String { (directory as NSString).appendingPathComponent(name) }
}

/// Why training stopped before its end.
public enum TrainingError: Error, CustomStringConvertible {
    case invalidConfig(String)
    case nonFiniteLoss(step: Int, total: Double, terms: [String: Double], examples: String)
    case nonFiniteGradient(step: Int, norm: Double, examples: String)
    case interrupted(step: Int, checkpoint: String)

    public var description: String {
        switch self {
        case .invalidConfig(let why): return "invalid trainer settings: \(why)"
        case let .nonFiniteLoss(step, total, terms, examples):
            let listed = terms.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ", ")
            return "loss is \(total) at step \(step) (\(listed)) on \(examples); stopped without writing a checkpoint"
        case let .nonFiniteGradient(step, norm, examples):
            return "gradient norm is \(norm) at step \(step) on \(examples); stopped without writing a checkpoint"
        case let .interrupted(step, checkpoint):
            return "interrupted at step \(step); saved \(checkpoint)"
        }
    }
}
