import Foundation
import Classification
import Detection
import Tapestry
import TapestryNN
import TorchCheckpoint
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

    /// A classifier's dataset named by `data.path`, with the embedded shapes set written
    /// there first when it is the one named and missing; limited by `train_limit`/`val_limit`
    /// (examples spread evenly over each split).
    public static func classificationDataset(_ settings: Settings, log: (String) -> Void = { print($0) }) throws -> (train: ClassificationSplit, validation: ClassificationSplit, config: ClassificationDataConfig) {
        let config = try settings.decode(ClassificationDataConfig.self, section: "data")
        if config.path == ClassificationDataConfig.shapes.path && !FileManager.default.fileExists(atPath: config.path) {
            log("writing the shapes classification set to \(config.path) (3000 training and 500 validation images of 10 shapes)")
            try ShapesClassification(imageSize: config.imageSize).write(to: config.path, trainCount: 3000, valCount: 500)
        }
        let (train, validation) = try ClassificationDataset.load(config.path)
        return (train.subset(config.trainLimit), validation.subset(config.valLimit), config)
    }

    /// A training run's task for any kind of model, with `model.num_classes` fitted to its
    /// dataset, and a line describing the data.
    public static func prepare(model: String, settings: inout Settings, log: (String) -> Void = { print($0) }) throws -> (task: TrainingTask, data: String) {
        switch try Registry.entry(named: model).kind {
        case .detector:
            let (train, validation, data) = try dataset(settings, log: log)
            for warning in train.dataset.warnings + validation.dataset.warnings { log("warning: \(warning)") }
            try fitClasses(&settings, categories: train.dataset.categories.count)
            return (try task(model: model, settings: settings, train: train, validation: validation, data: data),
                    "\(train.images.count) training images (\(data.path)), \(validation.images.count) for evaluation")
        case .classifier(let build):
            let (train, validation, data) = try classificationDataset(settings, log: log)
            try fitClasses(&settings, categories: train.classes.count)
            return (ClassificationTask(classifier: try build(settings), train: train, validation: validation, data: data),
                    "\(train.count) training images of \(train.classes.count) classes (\(data.path)), \(validation.count) for evaluation")
        }
    }

    /// Sets `model.num_classes` to the dataset's category count unless it was set
    /// explicitly, in which case it must cover every category.
    public static func fitClasses(_ settings: inout Settings, categories: Int) throws {
        guard categories > 0 else { throw SettingsError(reason: "the dataset lists no categories, so there is nothing to learn") }
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

    /// A trained model of any kind from a checkpoint file, or the newest readable one in a
    /// run folder (each newer one passed over goes to `warn`), in evaluation mode.
    public static func open(checkpoint path: String, warn: (String) -> Void = { _ in }) throws -> (model: Module, entry: Registry.Entry, settings: Settings, checkpoint: String, step: Int) {
        let opened = try Checkpoint.open(path)
        for skipped in opened.skipped { warn("passed over \(skipped)") }
        let (file, checkpoint) = (opened.path, opened.checkpoint)
        let entry = try Registry.entry(named: checkpoint.modelName)
        let settings = try settings(model: checkpoint.modelName, stored: checkpoint.settings)
        let model = try entry.buildModel(settings)
        try checkpoint.restore(into: model, path: file)
        model.eval()
        return (model, entry, settings, file, checkpoint.state.step)
    }

    /// A PyTorch checkpoint (`.pth`, zip or legacy; its state dict or the one under `model`
    /// or `state_dict`) as a zoo checkpoint of `model` built with `settings`: every tensor
    /// loaded by name, none missing or left over (the error names them).
    public static func convert(pyTorchCheckpoint path: String, model: String, settings: Settings) throws -> Checkpoint {
        let network = try Registry.entry(named: model).buildModel(settings)
        let tensors = try PyTorchCheckpoint.read(path).stateDict()
        let report = network.load(Dictionary(tensors.map { ($0.name, $0.tensor) }, uniquingKeysWith: { a, _ in a }))
        guard report.isClean else { throw ZooError.weightsMismatch("\(path) does not fit \(model) with these settings: \(report.description)") }
        return Checkpoint(modelName: model, settings: settings.json, state: TrainerState(), model: network.stateDict(), optimizer: [])
    }

    /// A trained classifier from a checkpoint (see `open`); a detector's is refused.
    public static func loadClassifier(checkpoint path: String, warn: (String) -> Void = { _ in }) throws -> (classifier: any Classifier, settings: Settings, checkpoint: String, step: Int) {
        let opened = try open(checkpoint: path, warn: warn)
        guard let classifier = opened.model as? any Classifier else { throw ZooError.wrongKind(model: opened.entry.name, expected: "a classifier") }
        return (classifier, opened.settings, opened.checkpoint, opened.step)
    }

    /// A trained detector from a checkpoint (see `open`); a classifier's is refused.
    public static func load(checkpoint path: String, warn: (String) -> Void = { _ in }) throws -> (detector: any Detector, settings: Settings, checkpoint: String, step: Int) {
        let opened = try open(checkpoint: path, warn: warn)
        guard let detector = opened.model as? any Detector else { throw ZooError.wrongKind(model: opened.entry.name, expected: "a detector") }
        return (detector, opened.settings, opened.checkpoint, opened.step)
    }
}
