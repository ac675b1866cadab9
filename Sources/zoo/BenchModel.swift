import ArgumentParser
import Classification
import Detection
import Foundation
import Tapestry
import TapestryNN
import Training
import Zoo

/// One training step and one inference pass of a zoo model, timed: the figure every
/// model's speed goal is read from, comparable with `shared/bench/torch_anchor.py`'s.
struct BenchModel: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "model",
        abstract: "Time one training step and one inference pass of a zoo model on random images.",
        discussion: """
            The training step is zoo train's: forward, the loss (a detector's weighted set loss with Hungarian \
            matching, a classifier's cross-entropy), backward, gradient clipping at clip_max_norm and the \
            trainer's optimizer with the model's parameter groups, subnormals flushed to zero as in zoo train. \
            Inference is the forward pass in evaluation mode without gradients. Each figure is the median of 5 \
            runs after 2 warm-ups; peak RSS is the process's. Images are random, each with 3 or 2 random boxes \
            (a detector) or one random label (a classifier).
            """)

    @Argument(help: "The model (see zoo models).")
    var model: String

    @Flag(help: "The paper's defaults (ResNet-50, d 256, 6 + 6 layers, ...) instead of the shapes preset.")
    var paper = false

    @Option(help: "Images per batch (default: 2 for a detector, the trainer's batch size for a classifier).")
    var batch: Int?

    @Option(help: "Image side in pixels (default: 256 for a detector, the data's image size for a classifier).")
    var size: Int?

    @Option(name: .customLong("set"), help: "Override one setting: key=value or section.key=value (repeatable), as for zoo train.")
    var assignments: [String] = []

    @Option(help: "Attention path where no weights are needed: auto (lean on large matrices), plain or lean.")
    var attention = AttentionPath.automatic

    @Flag(help: "Keep subnormal numbers (IEEE gradual underflow, PyTorch's default) instead of flushing them to zero as zoo train does.")
    var keepSubnormals = false

    @Flag(help: "Print {\"train_step_s\": ..., \"inference_s\": ..., \"peak_rss_mib\": ...}.")
    var json = false

    @Flag(help: "After the timings, profile 5 more training steps: time per step of each operation, forward and backward, by output shape.")
    var profile = false

    @Option(help: "Rows of the profile's tables.")
    var top = 30

    func validate() throws {
        if let batch, batch < 1 { throw ValidationError("--batch must be at least 1") }
        if let size, !(32...4096).contains(size) { throw ValidationError("--size must be from 32 to 4096") }
        if top < 1 { throw ValidationError("--top must be at least 1") }
    }

    func run() throws {
        do {
            let result = try AttentionPath.$preferred.withValue(attention) {
                try Subnormals.withFlushed(!keepSubnormals) {
                    try ModelBenchmark.run(model: model, paper: paper, batch: batch, size: size, assignments: assignments,
                                           profiled: profile)
                }
            }
            if json {
                print(String(format: "{\"train_step_s\": %.4f, \"inference_s\": %.4f, \"peak_rss_mib\": %.0f}",
                             result.trainStep, result.inference, result.peakRSS))
            } else {
                print(result.summary)
            }
            if let profile = result.profile {
                print("\nprofile of \(profile.runs) training steps, per step (forward: time since the previous recorded operation):")
                print(profile.table(top: top))
            }
        } catch {
            fail("\(error)")
        }
    }
}

/// The timings of one model at one batch and image size.
struct ModelBenchmark {
    var label: String
    var trainStep: Double
    var inference: Double
    var peakRSS: Double
    /// Median seconds of each part of the training step, in order.
    var phases: [(name: String, seconds: Double)]
    /// Operation by operation, `runs` more training steps (when asked for).
    var profile: OpProfile?

    var summary: String {
        String(format: "%@: training step %.3f s, inference %.3f s, peak RSS %.0f MiB", label, trainStep, inference, peakRSS)
            + "\n  training step: " + phases.map { String(format: "%@ %.3f s", $0.name, $0.seconds) }.joined(separator: ", ")
    }

    static func run(model: String, paper: Bool, batch: Int? = nil, size: Int? = nil, assignments: [String] = [], warmups: Int = 2,
                    runs: Int = 5, profiled: Bool = false) throws -> ModelBenchmark {
        let settings = try ZooRun.settings(model: model, shapes: !paper, assignments: assignments)
        let trainer = try settings.decode(TrainerConfig.self, section: "trainer")
        DefaultRandom.manualSeed(trainer.seed)
        let workload = try BenchWorkload(model: model, settings: settings, trainer: trainer, batch: batch, size: size)
        let optimizer = trainer.makeOptimizer(workload.groups)
        let parameters = optimizer.groups.flatMap { $0.parameters.map(\.parameter) }

        let phaseNames = ["forward", "loss", "backward", "clipping and \(trainer.optimizer == "sgd" ? "SGD" : "AdamW")"]
        var phaseTimes: [[Double]] = Array(repeating: [], count: phaseNames.count)
        func trainingStep() throws {
            var clock = DispatchTime.now().uptimeNanoseconds
            func lap(_ phase: Int) {
                let now = DispatchTime.now().uptimeNanoseconds
                phaseTimes[phase].append(Double(now - clock) / 1e9)
                clock = now
            }
            optimizer.zeroGrad()
            let lossOfPredictions = workload.forward()
            lap(0)
            let loss = try lossOfPredictions()
            lap(1)
            loss.backward()
            lap(2)
            let (_, gradientScale) = gradientClipping(parameters, maxNorm: trainer.clipMaxNorm > 0 ? trainer.clipMaxNorm : .infinity)
            optimizer.step(gradientScale: gradientScale)
            lap(3)
        }
        workload.model.train()
        let trainStep = try median(warmups: warmups, runs: runs, trainingStep)
        let phases = phaseNames.indices.map { (phaseNames[$0], phaseTimes[$0].suffix(runs).sorted()[runs / 2]) }
        let profile = try profiled ? (0..<runs).map { _ in try OpProfile.measure(trainingStep).profile }.reduce(nil) { $0?.merging($1) ?? $1 } : nil
        workload.model.eval()
        let inference = median(warmups: warmups, runs: runs) { noGrad { workload.inference() } }
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        let preset = (paper ? "paper defaults" : "shapes preset") + assignments.map { ", " + $0 }.joined()
        let label = "\(model) \(preset) (\(workload.model.parameterCount(trainableOnly: true) / 1000)k parameters), batch \(workload.batch) of \(workload.size)²"
        return ModelBenchmark(label: label, trainStep: trainStep, inference: inference, peakRSS: Double(usage.ru_maxrss) / 1024, phases: phases,
                              profile: profile)
    }

    /// The median wall time of `runs` calls after `warmups` untimed ones, in seconds.
    static func median(warmups: Int, runs: Int, _ body: () throws -> Void) rethrows -> Double {
        for _ in 0..<warmups { try body() }
        var times: [Double] = []
        for _ in 0..<runs {
            let start = DispatchTime.now().uptimeNanoseconds
            try body()
            times.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
        }
        return times.sorted()[runs / 2]
    }
}

/// What `ModelBenchmark` times of one zoo model: random images of one size, with 3 or 2
/// random boxes each for a detector (its set loss) or a random label each for a classifier
/// (cross-entropy, as `ClassificationTask`).
struct BenchWorkload {
    let model: Module
    /// The model's parameter groups at the trainer's rate and weight decay.
    let groups: [ParameterGroup]
    let batch: Int, size: Int
    /// Runs the forward pass and hands back the loss of its predictions, so that each is timed apart.
    let forward: () -> () throws -> Tensor
    let inference: () -> Void

    /// A detector's batch is 2 images of 256² unless given; a classifier's is its trainer's
    /// batch size of its data's image size (upstream's CIFAR run: 25 of 32² for the paper).
    init(model name: String, settings: Settings, trainer: TrainerConfig, batch: Int?, size: Int?) throws {
        let classes = settings.value("model.num_classes")?.intValue ?? 1
        var random = RandomGenerator(seed: 123)
        switch try Registry.entry(named: name).kind {
        case .detector(let build):
            (self.batch, self.size) = (batch ?? 2, size ?? 256)
            let (detector, criterion) = try build(settings)
            let images = Tensor.normal([self.batch, 3, self.size, self.size], generator: &random)
            let mask = Tensor.zeros([self.batch, self.size, self.size], dtype: .bool)
            let targets = (0..<self.batch).map { image in
                let count = image % 2 == 0 ? 3 : 2
                return DetectionTarget(labels: Tensor((0..<count).map { _ in Int64(random.nextInt(below: classes)) }),
                                       boxes: Tensor.uniform([count, 4], low: 0.2, high: 0.5, generator: &random))
            }
            (model, groups) = (detector, detector.parameterGroups(learningRate: trainer.lr, weightDecay: trainer.weightDecay))
            forward = {
                let predictions = detector(images: images, mask: mask)
                return { try criterion(predictions, targets: targets).total }
            }
            inference = { _ = detector(images: images, mask: mask) }
        case .classifier(let build):
            let data = try settings.decode(ClassificationDataConfig.self, section: "data")
            (self.batch, self.size) = (batch ?? trainer.batchSize, size ?? data.imageSize)
            let classifier = try build(settings)
            let images = Tensor.normal([self.batch, 3, self.size, self.size], generator: &random)
            let labels = Tensor((0..<self.batch).map { _ in Int64(random.nextInt(below: classes)) })
            (model, groups) = (classifier, classifier.parameterGroups(learningRate: trainer.lr, weightDecay: trainer.weightDecay))
            forward = {
                let logits = classifier(images)
                return { Losses.crossEntropy(logits: logits, targets: labels) }
            }
            inference = { _ = classifier(images) }
        }
    }
}
