import ArgumentParser
import Detection
import Foundation
import Tapestry
import Training
import Zoo

struct Eval: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Evaluate a trained model on its validation images (COCO bbox AP).",
        discussion: "With --untrained MODEL, evaluates that model freshly initialised (seeded) instead, as a baseline.")

    @Argument(help: "A checkpoint file, or a run folder (its newest checkpoint is used).")
    var checkpoint = "runs/detr"

    @Option(help: "Dataset folder (default: the one the model was trained on).")
    var data: String?

    @Option(help: "Evaluate this zoo model untrained (shapes preset) instead of a checkpoint.")
    var untrained: String?

    @Option(help: "Use only the first N validation images.")
    var limit: Int?

    @Flag(help: "Print a JSON object whose stats holds the 12 numbers in pycocotools' order.")
    var json = false

    func run() throws {
        do {
            let detector: any Detector, settings: Settings, label: String
            if let model = untrained {
                settings = try ZooRun.settings(model: model, shapes: data == nil, assignments: data.map { ["data.path=\($0)"] } ?? [])
                DefaultRandom.manualSeed(try settings.decode(TrainerConfig.self, section: "trainer").seed)
                var fitted = settings
                let (train, _, _) = try ZooRun.dataset(settings)
                try ZooRun.fitClasses(&fitted, categories: train.dataset.categories.count)
                detector = try Registry.entry(named: model).build(fitted).detector
                detector.eval()
                label = "\(model), untrained"
            } else {
                let loaded = try ZooRun.load(checkpoint: checkpoint)
                (detector, settings, label) = (loaded.detector, loaded.settings, "\(loaded.checkpoint) (step \(loaded.step))")
            }
            var adjusted = settings
            if let data { try adjusted.set("data.path=\(data)") }
            if let limit { try adjusted.set("data.val_limit=\(limit)") }
            let (_, validation, dataConfig) = try ZooRun.dataset(adjusted)
            let interactive = isatty(STDERR_FILENO) != 0
            let evaluation = try DetectionTask.evaluate(detector, on: validation, data: dataConfig) { done, total in
                if interactive { FileHandle.standardError.write(Data("\r\u{1B}[2Kevaluating \(done)/\(total)".utf8)) }
            }
            if interactive { FileHandle.standardError.write(Data("\r\u{1B}[2K".utf8)) }
            if json {
                print("{\"model\":\(JSONValue.string(label).serialized),\"images\":\(validation.images.count),\"stats\":[\(evaluation.stats.map { "\($0)" }.joined(separator: ","))]}")
            } else {
                print("\(label) on \(validation.images.count) images of \(dataConfig.path):")
                print(evaluation.summary)
            }
        } catch {
            fail("\(error)")
        }
    }
}
