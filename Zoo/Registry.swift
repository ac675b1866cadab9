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
    public struct Entry: Sendable {
        public let name: String
        public let summary: String
        public let paper: String
        /// The settings' default sections, the paper's or the shapes preset.
        public let defaults: @Sendable (_ shapes: Bool) -> [(section: String, value: any Encodable)]
        /// Builds the detector and its criterion from settings.
        public let build: @Sendable (Settings) throws -> (detector: any Detector, criterion: DETRCriterion)
    }

    public static let models: [Entry] = [
        Entry(name: "detr", summary: "DETR: ResNet backbone, transformer encoder–decoder, set prediction with Hungarian matching",
              paper: "Carion et al., End-to-End Object Detection with Transformers, ECCV 2020",
              defaults: { shapes in
                  [("model", shapes ? DETR.Config.shapes : DETR.Config()), ("loss", DETRLossConfig()),
                   ("trainer", shapes ? TrainerConfig.detrShapes : TrainerConfig()), ("data", shapes ? DetectionDataConfig.shapes : DetectionDataConfig())]
              },
              build: { settings in
                  (try DETR(try settings.decode(DETR.Config.self, section: "model")), try settings.decode(DETRLossConfig.self, section: "loss").criterion)
              }),
    ]

    public static var names: [String] { models.map(\.name) }

    /// The entry called `name`, or an error listing the known ones.
    public static func entry(named name: String) throws(ZooError) -> Entry {
        guard let entry = models.first(where: { $0.name == name }) else { throw .unknownModel(name, known: names) }
        return entry
    }
}

extension DETR.Config {
    /// DETR sized for the 128-pixel shapes dataset on a CPU: a half-width ResNet-18 with
    /// trainable BatchNorm trained from scratch at the full learning rate, d = 128, 3 + 3
    /// layers, 20 queries.
    public static let shapes: DETR.Config = {
        var c = DETR.Config()
        (c.backbone, c.backboneWidth, c.frozenBatchNorm, c.lrBackbone) = ("resnet18", 32, false, 1e-4)
        (c.hiddenDim, c.nheads, c.encLayers, c.decLayers, c.dimFeedforward, c.numQueries, c.numClasses) = (128, 8, 3, 3, 512, 20, 4)
        return c
    }()
}

extension TrainerConfig {
    /// Training on the shapes dataset: batches of 8, evaluation every 5 epochs.
    public static let detrShapes: TrainerConfig = {
        var c = TrainerConfig()
        (c.epochs, c.lrDrop, c.batchSize, c.evalEvery, c.logEvery) = (100, 80, 8, 5, 10)
        return c
    }()
}
