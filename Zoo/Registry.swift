import Foundation
import Detection
import Tapestry
import TapestryNN
import Training

/// The zoo's models by name: what each is, its settings, and how to build it.
///
/// A model's settings have four sections: `model` (the architecture, with the original
/// code's argument names), `loss`, `trainer` and `data`. Each model has two sets of
/// defaults: the paper's (for COCO) and a small one sized for the embedded shapes dataset
/// on a CPU.
public enum Registry {
    /// Every model of the zoo: one line each.
    public static let models: [Entry] = [
        Entry(DETR.self),
        Entry(DeformableDETR.self),
        Entry(SMCADETR.self),
        Entry(StackedDETR.self),
    ]

    public struct Entry: Sendable {
        public let name: String
        public let summary: String
        public let paper: String
        /// The settings' default sections, the paper's or the shapes preset.
        public let defaults: @Sendable (_ shapes: Bool) -> [(section: String, value: any Encodable)]
        /// Builds the detector and its criterion from settings.
        public let build: @Sendable (Settings) throws -> (detector: any Detector, criterion: any DetectionCriterion)
        /// Decodes every section, so that a value outside its range is refused before any work starts.
        public let validate: @Sendable (Settings) throws -> Void

        public init<Model: ZooModel>(_ model: Model.Type) {
            (name, summary, paper) = (Model.name, Model.summary, Model.paper)
            defaults = { shapes in
                [("model", shapes ? Model.shapesModel : Model.Config()), ("loss", Model.Loss()),
                 ("trainer", shapes ? Model.shapesTrainer : Model.paperTrainer), ("data", shapes ? DetectionDataConfig.shapes : DetectionDataConfig())]
            }
            build = { settings in
                (try Model(try settings.decode(Model.Config.self, section: "model")), try settings.decode(Model.Loss.self, section: "loss").criterion)
            }
            validate = { settings in
                _ = try settings.decode(Model.Config.self, section: "model")
                _ = try settings.decode(Model.Loss.self, section: "loss")
                _ = try settings.decode(TrainerConfig.self, section: "trainer")
                _ = try settings.decode(DetectionDataConfig.self, section: "data")
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
