import Foundation
import Detection
import Tapestry
import TapestryNN
import Training

/// Training and evaluating a detector on a COCO-format dataset: the trainer's task for every
/// detector of the zoo.
///
/// Loss: the criterion on the final layer plus the auxiliary layers. Evaluation: the
/// post-processed detections of every validation image, scored with COCO's 12 numbers.
public final class DetectionTask: TrainingTask {
    public let detector: any Detector
    public var model: Module { detector }
    public let criterion: any DetectionCriterion
    public let train: DetectionSplit
    public let validation: DetectionSplit?
    public let data: DetectionDataConfig
    /// Images per forward pass during evaluation.
    public var evaluationBatchSize = 8

    public init(detector: any Detector, criterion: any DetectionCriterion, train: DetectionSplit, validation: DetectionSplit?, data: DetectionDataConfig) {
        (self.detector, self.criterion, self.train, self.validation, self.data) = (detector, criterion, train, validation, data)
    }

    public var exampleCount: Int { train.images.count }

    /// The detector's own groups (a backbone rate, Deformable DETR's offset rate).
    public func parameterGroups(learningRate: Double, weightDecay: Double) -> [ParameterGroup] {
        detector.parameterGroups(learningRate: learningRate, weightDecay: weightDecay)
    }

    /// The images decoded, augmented and padded into one batch with their mask; the loss is
    /// the criterion on the detector's prediction.
    public func batch(examples: [Int], random: inout RandomGenerator) throws -> TrainingBatch {
        var images: [Tensor] = [], targets: [DetectionTarget] = []
        for index in examples {
            let (image, target) = data.trainingExample(try train.sample(index), &random)
            images.append(image)
            targets.append(target)
        }
        let (batch, mask) = DetectionTransforms.batch(images)
        return TrainingBatch { [self] in try loss(prediction: detector(images: batch, mask: mask), targets: targets) }
    }

    func loss(prediction: SetPrediction, targets: [DetectionTarget]) throws -> TrainingLoss {
        let result: CriterionResult
        do { result = try criterion(prediction, targets: targets) } catch {
            // A diverged model predicts NaN or infinite boxes, which the matcher cannot match:
            // report them as a non-finite loss, so the trainer stops with the step and the images.
            let broken = Self.nonFiniteOutputs(prediction)
            guard !broken.isEmpty else { throw error }
            return TrainingLoss(total: Tensor.full([], value: .nan), terms: Dictionary(uniqueKeysWithValues: broken.map { ($0, Double.nan) }))
        }
        let terms = result.terms.mapValues { $0.cast(to: .float64).item() }
        return TrainingLoss(total: result.total, terms: terms)
    }

    /// The prediction's outputs holding a NaN or an infinity, named like "pred_boxes" (final
    /// layer), "pred_logits_0" (auxiliary layer 0) or "pred_boxes_enc" (encoder proposals).
    static func nonFiniteOutputs(_ prediction: SetPrediction) -> [String] {
        let outputs = prediction.layers.enumerated().map { ($1, $0 == prediction.layers.count - 1 ? "" : "_\($0)") }
            + (prediction.encoder.map { [($0, "_enc")] } ?? [])
        return outputs.flatMap { output, suffix in
            [("pred_logits", output.logits), ("pred_boxes", output.boxes)].compactMap { name, tensor in
                tensor.firstNonFinite == nil ? nil : name + suffix
            }
        }
    }

    /// COCO AP and friends on the validation split ("AP", "AP50", …, "AR100", …).
    public func evaluate(progress: (Int, Int) -> Void) throws -> [String: Double] {
        guard let validation else { return [:] }
        let evaluation = try Self.evaluate(detector, on: validation, data: data, batchSize: evaluationBatchSize, progress: progress)
        return Dictionary(uniqueKeysWithValues: zip(COCOEvaluation.statNames, evaluation.stats))
    }

    /// Detections for every image of `split`, scored against its ground truth.
    public static func evaluate(_ detector: any Detector, on split: DetectionSplit, data: DetectionDataConfig, batchSize: Int = 8,
                                progress: (Int, Int) -> Void = { _, _ in }) throws -> COCOEvaluation {
        var results: [COCOResult] = []
        for start in stride(from: 0, to: split.images.count, by: batchSize) {
            let indices = Array(start..<min(start + batchSize, split.images.count))
            let samples = try indices.map { try split.sample($0) }
            let detections = predict(detector, samples.map { data.evaluationImage($0) }, sizes: samples.map { ($0.height, $0.width) })
            if let unknown = detections.joined().map(\.classIndex).max(), unknown >= split.categoryIds.count {
                let count = split.categoryIds.count
                throw ZooError.datasetMismatch("the model predicts class index \(unknown), but the dataset has only \(count) categor\(count == 1 ? "y" : "ies"): evaluate it on data with the categories it was trained on")
            }
            results += PostProcessing.cocoResults(detections, imageIds: samples.map(\.imageId), categoryIds: split.categoryIds)
            progress(indices.last! + 1, split.images.count)
        }
        return try COCOEvaluation.evaluate(groundTruth: split.groundTruth(), results: results, resultsName: "detections")
    }

    /// Scored boxes (one per query) in each image's original pixels.
    public static func predict(_ detector: any Detector, _ images: [Tensor], sizes: [(height: Int, width: Int)]) -> [[ScoredBox]] {
        noGrad {
            let (batch, mask) = DetectionTransforms.batch(images)
            return detector.postProcessor.detections(detector(images: batch, mask: mask).final, imageSizes: sizes)
        }
    }

    public func describe(examples: [Int]) -> String {
        "image id\(examples.count == 1 ? "" : "s") " + examples.map { String(train.images[$0].id) }.joined(separator: ", ")
    }
}
