import Foundation
import Detection
import Tapestry
import TapestryNN
import Training

/// Assembling a zoo model's run from its name and settings: the settings layers, the
/// dataset, the detector and the trainer's task. The `zoo` command and the tests share it.
public enum ZooRun {
    /// A model's settings: its defaults (the shapes preset when `shapes`), then `configFile`,
    /// then each `key=value` of `assignments`.
    public static func settings(model: String, shapes: Bool, configFile: String? = nil, assignments: [String] = []) throws -> Settings {
        let entry = try Registry.entry(named: model)
        var settings = try Settings(defaults: entry.defaults(shapes))
        if let configFile { try settings.merge(file: configFile) }
        for assignment in assignments { try settings.set(assignment) }
        try entry.validate(settings)
        return settings
    }

    /// Settings stored in a checkpoint, read back against the model's defaults.
    public static func settings(model: String, stored json: String) throws -> Settings {
        try Settings(json: json, defaults: try Registry.entry(named: model).defaults(false))
    }

    /// The dataset named by `data.path`, with the shapes dataset written there first when it
    /// is the embedded one and missing.
    public static func dataset(_ settings: Settings, log: (String) -> Void = { print($0) }) throws -> (train: DetectionSplit, validation: DetectionSplit, config: DetectionDataConfig) {
        let config = try settings.decode(DetectionDataConfig.self, section: "data")
        if config.path == DetectionDataConfig.shapes.path && (try? DatasetLocation.find(in: config.path)) == nil {
            log("writing the shapes dataset to \(config.path) (2000 training and 200 validation images)")
            try ShapesDataset().write(to: config.path, trainCount: 2000, valCount: 200)
        }
        let location = try DatasetLocation.find(in: config.path)
        return (try DetectionSplit(annotations: location.trainAnnotations, images: location.trainImages, limit: config.trainLimit),
                try DetectionSplit(annotations: location.valAnnotations, images: location.valImages, limit: config.valLimit), config)
    }

    /// Sets `model.num_classes` to the dataset's category count unless it was set
    /// explicitly, in which case it must cover every category.
    public static func fitClasses(_ settings: inout Settings, categories: Int) throws {
        guard categories > 0 else { throw SettingsError(reason: "the dataset lists no categories, so there is nothing to detect") }
        guard let current = settings.value("model.num_classes")?.intValue else { return }
        if settings.explicitKeys.contains("model.num_classes") {
            guard current >= categories else {
                throw SettingsError(reason: "model.num_classes is \(current) but the dataset has \(categories) categories")
            }
        } else if current != categories {
            try settings.set("model.num_classes=\(categories)")
        }
    }

    /// The trainer's task for `model` on the dataset of `settings`.
    public static func task(model: String, settings: Settings, train: DetectionSplit, validation: DetectionSplit?, data: DetectionDataConfig) throws -> DetectionTask {
        let (detector, criterion) = try Registry.entry(named: model).build(settings)
        return DetectionTask(detector: detector, criterion: criterion, train: train, validation: validation, data: data)
    }

    /// A trained detector from a checkpoint file, or the newest readable one in a run folder
    /// (each newer one passed over goes to `warn`).
    public static func load(checkpoint path: String, warn: (String) -> Void = { _ in }) throws -> (detector: any Detector, settings: Settings, checkpoint: String, step: Int) {
        let opened = try Checkpoint.open(path)
        for skipped in opened.skipped { warn("passed over \(skipped)") }
        let (file, checkpoint) = (opened.path, opened.checkpoint)
        let settings = try settings(model: checkpoint.modelName, stored: checkpoint.settings)
        let (detector, _) = try Registry.entry(named: checkpoint.modelName).build(settings)
        try checkpoint.restore(into: detector, path: file)
        detector.eval()
        return (detector, settings, file, checkpoint.state.step)
    }
}
