import Foundation
import Testing
import Training
@testable import Zoo

@Suite struct ZooRegistry {
    @Test func namesModelsAndRejectsUnknownOnes() throws {
        #expect(Registry.names == ["detr"])
        #expect(throws: ZooError.unknownModel("yolo", known: ["detr"])) { try Registry.entry(named: "yolo") }
        // The paper's settings use the original argument names and decode to the paper's defaults.
        let settings = try ZooRun.settings(model: "detr", shapes: false)
        #expect(settings.json.contains("\"hidden_dim\":256") && settings.json.contains("\"num_queries\":100") && settings.json.contains("\"enc_layers\":6"))
        #expect(try settings.decode(DETR.Config.self, section: "model") == DETR.Config())
        #expect(try settings.decode(TrainerConfig.self, section: "trainer") == TrainerConfig())
        #expect(try settings.decode(DETRLossConfig.self, section: "loss") == DETRLossConfig())
        let shapes = try ZooRun.settings(model: "detr", shapes: true, assignments: ["enc_layers=2"])
        #expect(try shapes.decode(DETR.Config.self, section: "model").encLayers == 2)
        #expect(try shapes.decode(DETR.Config.self, section: "model").backbone == "resnet18")
    }

    @Test func invalidConfigurationsAreTypedErrors() {
        var config = DETR.Config()
        config.backbone = "resnet9"
        #expect(throws: ZooError.self) { try DETR(config) }
        config = DETR.Config(); config.hiddenDim = 30
        #expect(throws: ZooError.self) { try DETR(config) }
        config = DETR.Config(); config.backbone = "resnet18"; config.dilation = true
        #expect(throws: ZooError.self) { try DETR(config) }
    }

    @Test func numClassesFollowsTheDatasetUnlessSetExplicitly() throws {
        var settings = try ZooRun.settings(model: "detr", shapes: false)
        try ZooRun.fitClasses(&settings, categories: 4)
        #expect(settings.value("model.num_classes")?.intValue == 4)
        var explicit = try ZooRun.settings(model: "detr", shapes: false, assignments: ["num_classes=3"])
        #expect(throws: SettingsError.self) { try ZooRun.fitClasses(&explicit, categories: 4) }
        #expect(throws: SettingsError.self) { try ZooRun.fitClasses(&settings, categories: 0) }
    }
}
