import ArgumentParser
import Detection
import Foundation
import Tapestry
import Training
import Zoo

struct Eval: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Evaluate trained models on their validation images (COCO bbox AP, or a classifier's top-1 and top-5 accuracy).",
        discussion: """
            One detector prints COCO's full summary, one classifier its accuracy and confusion matrix; several \
            models (all detectors or all classifiers) print one line each, side by side. \
            --untrained MODEL adds that model freshly initialised (seeded) as a baseline.
            """)

    @Argument(help: "Checkpoint files, or run folders (their newest checkpoint is used).")
    var checkpoints: [String] = []

    @Option(help: "Dataset folder (default: the one each model was trained on).")
    var data: String?

    @Option(help: "Also evaluate this zoo model untrained (with the shapes preset unless --data is given).")
    var untrained: String?

    @Option(help: "Use only the first N validation images.")
    var limit: Int?

    @Flag(help: "Print one JSON object per model whose stats holds the 12 numbers in pycocotools' order.")
    var json = false

    func validate() throws {
        if checkpoints.isEmpty && untrained == nil { throw ValidationError("name a checkpoint or run folder, or --untrained MODEL") }
        if let limit, limit < 1 { throw ValidationError("--limit must be at least 1") }
    }

    func run() throws {
        do {
            let loaded = try checkpoints.map { try ZooRun.open(checkpoint: $0, warn: warn) }
            let kinds = try Set((untrained.map { [$0] } ?? []).map { try Registry.entry(named: $0).isDetector } + loaded.map(\.entry.isDetector))
            guard kinds.count == 1 else { fail("cannot compare detectors with classifiers: evaluate them separately") }
            if kinds.first == false { return try evaluateClassifiers(loaded) }
            var rows: [(label: String, evaluation: COCOEvaluation, images: Int, path: String)] = []
            if let model = untrained {
                let settings = try ZooRun.settings(model: model, shapes: data == nil, assignments: data.map { ["data.path=\($0)"] } ?? [])
                var fitted = settings
                let (train, _, _) = try ZooRun.dataset(settings)
                try ZooRun.fitClasses(&fitted, categories: train.dataset.categories.count)
                let seed = try settings.decode(TrainerConfig.self, section: "trainer").seed
                let detector = try DefaultRandom.withGenerator(RandomGenerator(seed: seed)) { try Registry.entry(named: model).build(fitted).detector }.0
                detector.eval()
                rows.append(try evaluate(detector, settings, label: "\(model), untrained"))
            }
            for run in loaded {
                rows.append(try evaluate(run.model as! any Detector, run.settings, label: "\(run.checkpoint) (step \(run.step))"))
            }
            for row in rows where json {
                print("{\"model\":\(JSONValue.string(row.label).serialized),\"images\":\(row.images),\"stats\":[\(row.evaluation.stats.map { "\($0)" }.joined(separator: ","))]}")
            }
            guard !json else { return }
            if rows.count == 1 {
                print("\(rows[0].label) on \(rows[0].images) images of \(rows[0].path):")
                print(rows[0].evaluation.summary)
            } else {
                print("   AP   AP50   AP75    APs    APm    APl  model (validation images)")
                for row in rows {
                    let s = row.evaluation.stats
                    print(String(format: "%.3f  %.3f  %.3f  %.3f  %.3f  %.3f  %@ (%d of %@)", s[0], s[1], s[2], s[3], s[4], s[5], row.label, row.images, row.path))
                }
            }
        } catch {
            fail("\(error)")
        }
    }

    func evaluate(_ detector: any Detector, _ settings: Settings, label: String) throws -> (label: String, evaluation: COCOEvaluation, images: Int, path: String) {
        let (_, validation, dataConfig) = try ZooRun.dataset(try adjusted(settings))
        let evaluation = try reportingProgress(label) { try DetectionTask.evaluate(detector, on: validation, data: dataConfig, progress: $0) }
        return (label, evaluation, validation.images.count, dataConfig.path)
    }

    /// `settings` with --data and --limit applied.
    func adjusted(_ settings: Settings) throws -> Settings {
        var adjusted = settings
        if let data { try adjusted.set("data.path=\(data)") }
        if let limit { try adjusted.set("data.val_limit=\(limit)") }
        return adjusted
    }

    /// Runs `body` with a progress callback that redraws "evaluating LABEL: done/total" on a terminal.
    func reportingProgress<T>(_ label: String, _ body: (_ progress: (Int, Int) -> Void) throws -> T) rethrows -> T {
        let interactive = isatty(STDERR_FILENO) != 0
        defer { if interactive { FileHandle.standardError.write(Data("\r\u{1B}[2K".utf8)) } }
        return try body { done, total in
            if interactive { FileHandle.standardError.write(Data("\r\u{1B}[2Kevaluating \(label): \(done)/\(total)".utf8)) }
        }
    }
}
