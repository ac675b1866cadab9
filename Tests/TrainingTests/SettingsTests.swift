import Foundation
import Testing
@testable import Training

@Suite struct SettingsTests {
    func settings() throws -> Settings {
        var model = ["hidden_dim": 256, "num_queries": 100]
        model["seed"] = 1
        return try Settings(defaults: [("model", model), ("trainer", TrainerConfig())])
    }

    @Test func layersApplyInOrderAndDecode() throws {
        var s = try settings()
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("settings-\(UUID().uuidString).json").path
        defer { try? FileManager.default.removeItem(atPath: file) }
        try Data(#"{"trainer": {"epochs": 12, "lr": 0.0002}}"#.utf8).write(to: URL(fileURLWithPath: file))
        try s.merge(file: file)
        try s.set("hidden_dim=128")
        try s.set("trainer.epochs=3")
        let trainer = try s.decode(TrainerConfig.self, section: "trainer")
        #expect(trainer.epochs == 3 && trainer.lr == 0.0002 && trainer.batchSize == TrainerConfig().batchSize)
        #expect(try s.decode([String: Int].self, section: "model") == ["hidden_dim": 128, "num_queries": 100, "seed": 1])
        #expect(s.explicitKeys == ["trainer.epochs", "trainer.lr", "model.hidden_dim"])
        // The JSON form reads back to the same settings, and differences name the keys.
        let defaults: [(section: String, value: any Encodable)] = [("model", ["hidden_dim": 256, "num_queries": 100, "seed": 1]), ("trainer", TrainerConfig())]
        let restored = try Settings(json: s.json, defaults: defaults)
        #expect(restored == s)
        #expect(try s.differences(from: settings()).sorted() == ["model.hidden_dim: 256 → 128", "trainer.epochs: 300 → 3", "trainer.lr: 0.0001 → 0.0002"])
    }

    @Test func mistakesAreErrorsThatSayWhatExists() throws {
        var s = try settings()
        #expect { try s.set("hiden_dim=3") } throws: { "\($0)".contains("unknown key hiden_dim") && "\($0)".contains("model.hidden_dim") }
        #expect { try s.set("seed=3") } throws: { "\($0)".contains("model.seed or trainer.seed") }
        #expect { try s.set("trainer.epochs=many") } throws: { "\($0)".contains("must be a number") }
        #expect { try s.set("trainer.epochs") } throws: { "\($0)".contains("key=value") }
        #expect { try s.set("optimizer.lr=1") } throws: { "\($0)".contains("unknown section optimizer") }
        #expect { try s.merge("[1]", source: "f.json") } throws: { "\($0)".contains("object of sections") }
        #expect { try s.merge("{\"trainer\": {\"epochs\": 1,}}", source: "f.json") } throws: { "\($0)".contains("invalid JSON") }
    }
}
