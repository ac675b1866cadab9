import Foundation
import Classification
import Detection
import Tapestry
import TapestryNN
import Training

/// Training and evaluating a classifier on an ImageFolder or CIFAR-10: the trainer's task
/// for every classifier of the zoo.
///
/// Loss: cross-entropy of the logits, the mean over the batch (`nn.CrossEntropyLoss`).
/// Evaluation: top-1 and top-5 accuracy over the validation split ("top1", "top5"), and
/// for up to 32 classes the confusion matrix as "confusion.<true>.<predicted>" counts.
public final class ClassificationTask: TrainingTask {
    public let classifier: any Classifier
    public var model: Module { classifier }
    public let train: ClassificationSplit
    public let validation: ClassificationSplit?
    public let data: ClassificationDataConfig
    /// Images per forward pass during evaluation.
    public var evaluationBatchSize = 64

    public init(classifier: any Classifier, train: ClassificationSplit, validation: ClassificationSplit?, data: ClassificationDataConfig) {
        (self.classifier, self.train, self.validation, self.data) = (classifier, train, validation, data)
    }

    public var exampleCount: Int { train.count }

    public func parameterGroups(learningRate: Double, weightDecay: Double) -> [ParameterGroup] {
        classifier.parameterGroups(learningRate: learningRate, weightDecay: weightDecay)
    }

    /// The images decoded and augmented into one batch; the loss is cross-entropy, with the
    /// batch's accuracy beside it.
    public func batch(examples: [Int], random: inout RandomGenerator) throws -> TrainingBatch {
        let images = Tensor.stack(try examples.map { data.trainingExample(try train.image($0), &random) }, axis: 0)
        let labels = examples.map { train.labels[$0] }
        return TrainingBatch { [self] in
            let logits = classifier(images)
            let loss = Losses.crossEntropy(logits: logits, targets: Tensor(labels.map(Int64.init)))
            let hits = zip(logits.argmax(axis: 1).scalars(as: Int64.self), labels).filter { Int($0) == $1 }.count
            return TrainingLoss(total: loss, terms: ["loss_ce": loss.cast(to: .float64).item(), "accuracy": Double(hits) / Double(labels.count)])
        }
    }

    public func evaluate(progress: (Int, Int) -> Void) throws -> [String: Double] {
        guard let validation else { return [:] }
        let metrics = try Self.evaluate(classifier, on: validation, data: data, batchSize: evaluationBatchSize, progress: progress)
        var results = ["top1": metrics.top1, "top5": metrics.top5]
        if metrics.confusion.count <= 32 {
            for (t, row) in metrics.confusion.enumerated() {
                for (p, n) in row.enumerated() { results["confusion.\(t).\(p)"] = Double(n) }
            }
        }
        return results
    }

    /// Top-k accuracy and the confusion matrix of `classifier` on `split`.
    public static func evaluate(_ classifier: any Classifier, on split: ClassificationSplit, data: ClassificationDataConfig, batchSize: Int = 64,
                                progress: (Int, Int) -> Void = { _, _ in }) throws -> ClassificationMetrics {
        var metrics = ClassificationMetrics(classes: split.classes.count)
        for start in stride(from: 0, to: split.count, by: batchSize) {
            let indices = Array(start..<min(start + batchSize, split.count))
            let logits = logitsOf(classifier, try indices.map { data.evaluationImage(try split.image($0)) })
            guard logits.shape[1] == split.classes.count else {
                throw ZooError.datasetMismatch("the model predicts \(logits.shape[1]) classes, but the dataset has \(split.classes.count): evaluate it on data with the classes it was trained on")
            }
            metrics.add(logits: logits, labels: indices.map { split.labels[$0] })
            progress(indices.last! + 1, split.count)
        }
        return metrics
    }

    /// Logits [B, classes] of prepared images, without gradients.
    public static func logitsOf(_ classifier: any Classifier, _ images: [Tensor]) -> Tensor {
        noGrad { classifier(Tensor.stack(images, axis: 0)) }
    }

    public func describe(examples: [Int]) -> String {
        examples.map { train.origin($0) }.joined(separator: ", ")
    }
}
