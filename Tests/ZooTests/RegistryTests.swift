import Foundation
import Testing
@testable import Zoo

@Suite struct ZooRegistry {
    @Test func namesModelsAndRejectsUnknownOnes() throws {
        #expect(Registry.names == ["detr"])
        #expect(throws: ZooError.unknownModel("yolo", known: ["detr"])) { try Registry.entry(named: "yolo") }
        // The default configuration round-trips through JSON with the original argument names.
        let json = try Registry.entry(named: "detr").defaultConfig()
        #expect(json.contains("\"hidden_dim\":256") && json.contains("\"num_queries\":100") && json.contains("\"enc_layers\":6"))
        #expect(try JSONDecoder().decode(DETR.Config.self, from: Data(json.utf8)) == DETR.Config())
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
}
