import Foundation
import Testing
@testable import Tapestry
@testable import Training

/// A model section as a zoo model writes one: each field once, with default and range.
struct ModelSection: SettingsGroup {
    @Setting(4...) var hiddenDim = 256
    @Setting(1...) var numQueries = 100
    @Setting(0..<1) var dropout = 0.1
    @Setting(oneOf: ["resnet18", "resnet50"]) var backbone = "resnet50"
    @Setting(1...) var encNPoints = 4
    @Setting var seed = 1

    func combinationProblem() -> String? { hiddenDim % numQueries == 0 ? nil : "hidden_dim must be a multiple of num_queries" }
}

/// A model's own fields on top of `ModelSection`: 300 queries by default, and a rule that
/// needs fields of both.
struct ExtraFields: SettingsExtension {
    typealias Base = ModelSection
    @Setting(above: 0) var smooth = 8.0
    @Setting(1...) var nheads = 8

    static func adjustDefaults(_ base: inout ModelSection) { base.numQueries = 300 }
    func combinationProblem(with base: ModelSection) -> String? { base.hiddenDim % nheads == 0 ? nil : "hidden_dim is not divisible by nheads" }
}

@Suite struct SettingsTests {
    func settings() throws -> Settings {
        try Settings(defaults: [("model", ModelSection()), ("trainer", TrainerConfig())])
    }

    @Test func layersApplyInOrderAndDecode() throws {
        var s = try settings()
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("settings-\(UUID().uuidString).json").path
        defer { try? FileManager.default.removeItem(atPath: file) }
        try Data(#"{"trainer": {"epochs": 12, "lr": 0.0002}}"#.utf8).write(to: URL(fileURLWithPath: file))
        try s.merge(file: file)
        try s.set("hidden_dim=200")
        try s.set("trainer.epochs=3")
        let trainer = try s.decode(TrainerConfig.self, section: "trainer")
        #expect(trainer.epochs == 3 && trainer.lr == 0.0002 && trainer.batchSize == TrainerConfig().batchSize)
        var expected = ModelSection()
        expected.hiddenDim = 200
        #expect(try s.decode(ModelSection.self, section: "model") == expected)
        #expect(s.explicitKeys == ["trainer.epochs", "trainer.lr", "model.hidden_dim"])
        // The JSON form reads back to the same settings, and differences name the keys.
        let restored = try Settings(json: s.json, defaults: [("model", ModelSection()), ("trainer", TrainerConfig())])
        #expect(restored == s)
        #expect(try s.differences(from: settings()).sorted() == ["model.hidden_dim: 256 → 200", "trainer.epochs: 300 → 3", "trainer.lr: 0.0001 → 0.0002"])
    }

    @Test func keysAreTheFieldNamesInSnakeCase() throws {
        let s = try settings()
        #expect(s.json.hasPrefix(#"{"model":{"backbone":"resnet50","dropout":0.1,"enc_n_points":4,"hidden_dim":256,"num_queries":100,"seed":1}"#))
        #expect(s.value("trainer.clip_max_norm") == .number("0.1") && s.value("trainer.gradient_accumulation") == .number("1"))
        #expect(SettingsCoding.camelCase("lr_linear_proj_mult") == "lrLinearProjMult" && SettingsCoding.snakeCase("encNPoints") == "enc_n_points")
    }

    @Test func mistakesAreErrorsThatSayWhatExists() throws {
        var s = try settings()
        #expect { try s.set("hiden_dim=3") } throws: { "\($0)".contains("unknown key hiden_dim") && "\($0)".contains("model.hidden_dim") }
        #expect { try s.set("seed=3") } throws: { "\($0)".contains("model.seed or trainer.seed") }
        #expect { try s.set("trainer.epochs=many") } throws: { "\($0)".contains("must be a number") }
        #expect { try s.set("trainer.epochs") } throws: { "\($0)".contains("key=value") }
        #expect { try s.set("optimizer.lr=1") } throws: { "\($0)".contains("unknown section optimizer") }
        #expect { try s.set("lr=1e309") } throws: { "\($0)".contains("trainer.lr must be a finite number") }
        #expect { try s.merge("[1]", source: "f.json") } throws: { "\($0)".contains("object of sections") }
        #expect { try s.merge("{\"trainer\": {\"epochs\": 1,}}", source: "f.json") } throws: { "\($0)".contains("invalid JSON") }
    }

    /// Each value outside its declared range is named with the value and the range when the
    /// section is decoded; a fraction for a whole number names the key.
    @Test func valuesOutsideTheirRangeAreRefusedByKey() throws {
        let cases: [(String, String)] = [
            ("hidden_dim=2", "model.hidden_dim is 2, must be at least 4"),
            ("num_queries=-1", "model.num_queries is -1, must be at least 1"),
            ("dropout=1", "model.dropout is 1.0, must be at least 0.0 and below 1.0"),
            ("dropout=-0.1", "model.dropout is -0.1, must be at least 0.0 and below 1.0"),
            ("backbone=vgg", "model.backbone is \"vgg\", must be one of resnet18, resnet50"),
            ("hidden_dim=250", "hidden_dim must be a multiple of num_queries"),
        ]
        for (assignment, message) in cases {
            var s = try settings()
            try s.set(assignment)
            #expect(throws: SettingsError.self, "\(assignment)") { try s.decode(ModelSection.self, section: "model") }
            #expect { try s.decode(ModelSection.self, section: "model") } throws: { "\($0)".contains(message) }
        }
        var s = try settings()
        try s.set("enc_n_points=1.5")
        #expect { try s.decode(ModelSection.self, section: "model") } throws: { "\($0)" == "model.enc_n_points must be a whole number" }
        try s.set("trainer.batch_size=0")
        #expect { try s.decode(TrainerConfig.self, section: "trainer") } throws: { "\($0)".contains("trainer.batch_size is 0, must be at least 1") }
    }

    /// A shared group and a model's own fields are one flat section: every key once, read
    /// and written through the one value, the model's defaults, and problems from both parts.
    @Test func extendedGroupsAreOneFlatSection() throws {
        var s = try Settings(defaults: [("model", Extended<ExtraFields>())])
        #expect(s.value("model.num_queries")?.intValue == 300 && s.value("model.smooth") != nil && s.value("model.base") == nil)
        try s.set("smooth=2.5")
        try s.set("hidden_dim=600")
        var expected = Extended<ExtraFields>()
        (expected.smooth, expected.hiddenDim) = (2.5, 600)
        #expect(try s.decode(Extended<ExtraFields>.self, section: "model") == expected)
        #expect(expected.own.smooth == 2.5 && expected.base.hiddenDim == 600)
        for (assignment, message) in [("smooth=0", "model.smooth is 0.0, must be above 0"), ("dropout=1", "model.dropout is 1.0"),
                                      ("nheads=7", "hidden_dim is not divisible by nheads"), ("num_queries=7", "multiple of num_queries")] {
            var bad = s
            try bad.set(assignment)
            #expect { try bad.decode(Extended<ExtraFields>.self, section: "model") } throws: { "\($0)".contains(message) }
        }
        #expect(throws: SettingsError.self) { try s.set("base.smooth=1") }
    }
}
