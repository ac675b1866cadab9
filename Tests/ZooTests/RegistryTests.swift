import Foundation
import Detection
import Testing
import Training
@testable import Zoo

@Suite struct ZooRegistry {
    @Test func namesModelsAndRejectsUnknownOnes() throws {
        #expect(Registry.names == ["detr", "deformable-detr", "smca", "stacked-detr", "sasa-resnet", "resnet"])
        #expect(throws: ZooError.unknownModel("yolo", known: Registry.names)) { try Registry.entry(named: "yolo") }
    }

    @Test func detrSettingsAreThePapersWithTheOriginalNames() throws {
        let settings = try ZooRun.settings(model: "detr", shapes: false)
        #expect(settings.json.contains("\"hidden_dim\":256") && settings.json.contains("\"num_queries\":100") && settings.json.contains("\"enc_layers\":6"))
        #expect(settings.json.contains("\"eos_coef\":0.1") && settings.json.contains("\"set_cost_class\":1"))
        #expect(try settings.decode(DETR.Config.self, section: "model") == DETR.Config())
        #expect(try settings.decode(TrainerConfig.self, section: "trainer") == TrainerConfig())
        #expect(try settings.decode(SoftmaxCriterionSettings.self, section: "loss") == SoftmaxCriterionSettings())
        let shapes = try ZooRun.settings(model: "detr", shapes: true, assignments: ["enc_layers=2"])
        #expect(try shapes.decode(DETR.Config.self, section: "model").encLayers == 2)
        #expect(try shapes.decode(DETR.Config.self, section: "model").backbone == "resnet18")
        let (detector, built) = try Registry.entry(named: "detr").build(settings)
        let criterion = try #require(built as? SetCriterion)
        #expect(detector.postProcessor == .softmax && criterion.weights == ["loss_ce": 1, "loss_bbox": 5, "loss_giou": 2])
        #expect(criterion.matcher.scoring == .softmax(noObjectWeight: 0.1) && criterion.matcher.costClass == 1)
    }

    /// Settings that used to reach the model and crash it are refused when the settings are
    /// assembled, naming the key, the value and the range.
    @Test func settingsOutsideTheirRangesAreRefusedBeforeAnythingIsBuilt() throws {
        let cases: [(String, String)] = [
            ("hidden_dim=30", "hidden_dim 30 must be a multiple of 4"), ("hidden_dim=2", "model.hidden_dim is 2, must be at least 4"),
            ("hidden_dim=36", "hidden_dim 36 is not divisible by nheads 8"), ("nheads=0", "model.nheads is 0, must be at least 1"),
            ("nheads=-2", "model.nheads is -2"), ("dec_layers=0", "model.dec_layers is 0, must be at least 1"),
            ("dec_layers=-1", "model.dec_layers is -1"), ("enc_layers=-1", "model.enc_layers is -1, must be at least 0"),
            ("num_queries=-1", "model.num_queries is -1"), ("dim_feedforward=-1", "model.dim_feedforward is -1"),
            ("dropout=1", "model.dropout is 1.0, must be at least 0.0 and below 1.0"), ("dropout=-0.1", "model.dropout is -0.1"),
            ("eos_coef=-1", "loss.eos_coef is -1.0, must be from 0.0 to 1.0"), ("set_cost_class=-1", "loss.set_cost_class is -1.0"),
            ("backbone=resnet9", "model.backbone is \"resnet9\", must be one of resnet18, resnet34, resnet50, resnet101"),
            ("dilation=true", "dilation (DC5) needs resnet50 or resnet101"), ("batch_size=0", "trainer.batch_size is 0"),
            ("scales=[8]", "data.scales is [8]"), ("num_queries=2.5", "model.num_queries must be a whole number"),
        ]
        for (assignment, message) in cases {
            #expect { try ZooRun.settings(model: "detr", shapes: true, assignments: [assignment]) } throws: { "\($0)".contains(message) }
        }
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("settings-\(UUID().uuidString).json").path
        defer { try? FileManager.default.removeItem(atPath: file) }
        for (text, message) in [(#"{"modell": {}}"#, "unknown section modell"), (#"{"model": {"dropout": 1.5}}"#, "model.dropout is 1.5")] {
            try Data(text.utf8).write(to: URL(fileURLWithPath: file))
            #expect { try ZooRun.settings(model: "detr", shapes: true, configFile: file) } throws: { "\($0)".contains(message) }
        }
    }

    @Test func invalidConfigurationsBuiltInCodeAreTypedErrors() {
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
