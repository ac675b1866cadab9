import Classification
import Foundation
import Tapestry
import TapestryNN
import Training
import Zoo

extension Eval {
    /// Top-1 and top-5 accuracy of classifiers on their validation images, side by side;
    /// one model also prints its confusion matrix.
    func evaluateClassifiers(_ loaded: [(model: Module, entry: Registry.Entry, settings: Settings, checkpoint: String, step: Int)]) throws {
        var rows: [(label: String, metrics: ClassificationMetrics, path: String, classes: [String])] = []
        if let model = untrained {
            var settings = try ZooRun.settings(model: model, shapes: data == nil, assignments: data.map { ["data.path=\($0)"] } ?? [])
            let (train, _, _) = try ZooRun.classificationDataset(settings)
            try ZooRun.fitClasses(&settings, categories: train.classes.count)
            let seed = try settings.decode(TrainerConfig.self, section: "trainer").seed
            let classifier = try DefaultRandom.withGenerator(RandomGenerator(seed: seed)) { try Registry.entry(named: model).buildClassifier(settings) }.0
            classifier.eval()
            rows.append(try evaluate(classifier, settings, label: "\(model), untrained"))
        }
        for run in loaded {
            rows.append(try evaluate(run.model as! any Classifier, run.settings, label: "\(run.checkpoint) (step \(run.step))"))
        }
        if json {
            for row in rows {
                print("{\"model\":\(JSONValue.string(row.label).serialized),\"images\":\(row.metrics.count),\"top1\":\(row.metrics.top1),\"top5\":\(row.metrics.top5)}")
            }
            return
        }
        print("top-1  top-5  model (validation images)")
        for row in rows {
            print(String(format: "%.3f  %.3f  %@ (%d of %@)", row.metrics.top1, row.metrics.top5, row.label, row.metrics.count, row.path))
        }
        if rows.count == 1 {
            print("\nconfusion matrix (rows: true class):\n" + rows[0].metrics.confusionTable(names: rows[0].classes))
        }
    }

    func evaluate(_ classifier: any Classifier, _ settings: Settings, label: String) throws -> (label: String, metrics: ClassificationMetrics, path: String, classes: [String]) {
        let (_, validation, dataConfig) = try ZooRun.classificationDataset(try adjusted(settings))
        let metrics = try reportingProgress(label) { try ClassificationTask.evaluate(classifier, on: validation, data: dataConfig, progress: $0) }
        return (label, metrics, dataConfig.path, validation.classes)
    }
}
