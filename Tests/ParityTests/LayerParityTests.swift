import Testing
@testable import Tapestry
@testable import TapestryNN
@testable import Parity

@Suite struct WeightRecipeVectors {
    /// The test vectors of shared/fixtures/FORMAT.md.
    @Test func matchesTheFormatDocument() {
        #expect(WeightRecipe.fnv1a64("a") == 0xaf63dc4c8601ec8c)
        #expect(WeightRecipe.fnv1a64("probe.weight") == 0xaf136b5a21a08381)
        #expect(WeightRecipe.values(name: "probe.weight", shape: [2, 3], seed: 0)
                == [0.5933300256729126, 0.6326833963394165, -0.29644250869750977, -0.5531861782073975, -0.9632500410079956, -0.10381412506103516])
        #expect(WeightRecipe.values(name: "probe.bias", shape: [4], seed: 0)
                == [0.03146956115961075, 0.053590189665555954, -0.006555342581123114, -0.03762169927358627])
        #expect(WeightRecipe.values(name: "bn.running_var", shape: [3], seed: 0) == [0.9308295249938965, 0.6820007562637329, 0.5691431760787964])
        #expect(WeightRecipe.values(name: "conv.weight", shape: [2, 1, 2, 2], seed: 7)
                == [-0.6559960246086121, 0.8262798190116882, 0.41216981410980225, 0.5152251720428467,
                    0.7407979965209961, -0.10533669590950012, 0.7648769617080688, 0.45934227108955383])
    }
}

@Suite struct LayerFixtureParity {
    static let layerFixtures = ["conv2d", "max_pool2d", "layer_norm", "group_norm", "frozen_batch_norm", "grid_sample",
                                "interpolate_nearest", "multihead_attention", "box_losses", "sigmoid_focal_loss",
                                "weighted_cross_entropy", "sasa_attention", "sasa_stem"]

    @Test(arguments: layerFixtures, [DType.float64, .float32])
    func reproducesTheReference(_ name: String, _ dtype: DType) throws {
        let report = try ParityCheck.run(try Fixture(path: fixturePath("layers/\(name).safetensors")), dtype: dtype, runners: LayerFixtures.runners)
        let failures = report.failures.map { "\($0.name): \($0.note ?? String($0.error))" }
        #expect(report.passed && failures.isEmpty, "\(failures)")
        #expect(report.lines.contains { $0.name.hasPrefix("grad.") }, "the fixture's gradients were compared")
    }

    @Test func aWrongLayerFailsParity() throws {
        // The same fixture with a runner that forgets the bias must fail, naming the tensors.
        let broken: [String: FixtureRunner] = ["conv2d": { f, dtype in
            var run = try LayerFixtures.conv2d(f, dtype)
            run.outputs["output"] = run.outputs["output"]! * 1.001
            return run
        }]
        let report = try ParityCheck.run(try Fixture(path: fixturePath("layers/conv2d.safetensors")), dtype: .float64, runners: broken)
        #expect(!report.passed)
        #expect(Set(report.failures.map(\.name)).isSuperset(of: ["output.output", "grad.weight", "loss.total"]))
    }

    @Test func unknownModelsAndNonFixturesAreErrors() throws {
        #expect(throws: FixtureError.self) {
            try ParityCheck.run(try Fixture(path: fixturePath("layers/conv2d.safetensors")), dtype: .float64, runners: [:])
        }
        let directory = try temporaryDirectory()
        try SafetensorsFile(tensors: [("a", Tensor.zeros([1]))]).write(to: directory + "/plain.safetensors")
        #expect(throws: FixtureError.self) { try Fixture(path: directory + "/plain.safetensors") }
    }
}
