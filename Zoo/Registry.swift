import Foundation
import Classification
import Detection
import Tapestry
import TapestryNN
import Training

/// The zoo's models by name: what each is, its settings, and how to build it.
///
/// A model's settings have four sections: `model` (the architecture, with the original
/// code's argument names), `loss` (detectors only), `trainer` and `data`. Each model has two
/// sets of defaults: the paper's (COCO, CIFAR-10) and a small one sized for the embedded
/// shapes datasets on a CPU.
public enum Registry {
    /// Every model of the zoo: one line each.
    public static let models: [Entry] = [
        Entry(DETR.self),
        Entry(DeformableDETR.self),
        Entry(SMCADETR.self),
        Entry(StackedDETR.self),
        Entry(SASAResNet.self),
        Entry(ConvResNet.self),
    ]

    public struct Entry: Sendable {
        /// What a model does, and how it is built from settings.
        public enum Kind: Sendable {
            case detector(@Sendable (Settings) throws -> (detector: any Detector, criterion: any DetectionCriterion))
            case classifier(@Sendable (Settings) throws -> any Classifier)
        }

        public let name: String
        public let summary: String
        public let paper: String
        public let kind: Kind
        /// The settings' default sections, the paper's or the shapes preset.
        public let defaults: @Sendable (_ shapes: Bool) -> [(section: String, value: any Encodable)]
        /// Decodes every section, so that a value outside its range is refused before any work starts.
        public let validate: @Sendable (Settings) throws -> Void

        public init<Model: ZooDetector>(_ model: Model.Type) {
            (name, summary, paper) = (Model.name, Model.summary, Model.paper)
            defaults = { shapes in
                [("model", shapes ? Model.shapesModel : Model.Config()), ("loss", Model.Loss()),
                 ("trainer", shapes ? Model.shapesTrainer : Model.paperTrainer), ("data", shapes ? DetectionDataConfig.shapes : DetectionDataConfig())]
            }
            kind = .detector { settings in
                (try Model(try settings.decode(Model.Config.self, section: "model")), try settings.decode(Model.Loss.self, section: "loss").criterion)
            }
            validate = { settings in
                _ = try settings.decode(Model.Config.self, section: "model")
                _ = try settings.decode(Model.Loss.self, section: "loss")
                _ = try settings.decode(TrainerConfig.self, section: "trainer")
                _ = try settings.decode(DetectionDataConfig.self, section: "data")
            }
        }

        public init<Model: ZooClassifier>(_ model: Model.Type) {
            (name, summary, paper) = (Model.name, Model.summary, Model.paper)
            defaults = { shapes in
                [("model", shapes ? Model.shapesModel : Model.Config()),
                 ("trainer", shapes ? Model.shapesTrainer : Model.paperTrainer), ("data", shapes ? ClassificationDataConfig.shapes : ClassificationDataConfig())]
            }
            kind = .classifier { settings in try Model(try settings.decode(Model.Config.self, section: "model")) }
            validate = { settings in
                _ = try settings.decode(Model.Config.self, section: "model")
                _ = try settings.decode(TrainerConfig.self, section: "trainer")
                _ = try settings.decode(ClassificationDataConfig.self, section: "data")
            }
        }

        public var isDetector: Bool { if case .detector = kind { return true } else { return false } }

        /// The detector and its criterion; a classifier's entry throws `ZooError.wrongKind`.
        public func build(_ settings: Settings) throws -> (detector: any Detector, criterion: any DetectionCriterion) {
            guard case .detector(let build) = kind else { throw ZooError.wrongKind(model: name, expected: "a detector") }
            return try build(settings)
        }

        /// The classifier; a detector's entry throws `ZooError.wrongKind`.
        public func buildClassifier(_ settings: Settings) throws -> any Classifier {
            guard case .classifier(let build) = kind else { throw ZooError.wrongKind(model: name, expected: "a classifier") }
            return try build(settings)
        }

        /// The model, whatever its kind.
        public func buildModel(_ settings: Settings) throws -> Module {
            switch kind {
            case .detector(let build): return try build(settings).detector
            case .classifier(let build): return try build(settings)
            }
        }
    }

    public static var names: [String] { models.map(\.name) }

    /// The entry called `name`, or an error listing the known ones.
    public static func entry(named name: String) throws(ZooError) -> Entry {
        guard let entry = models.first(where: { $0.name == name }) else { throw .unknownModel(name, known: names) }
        return entry
    }
}
