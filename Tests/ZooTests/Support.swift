import Foundation
import Tapestry
import Training

/// A trainer for `task` with the run's settings, writing to `directory`, quiet.
func quietTrainer(_ task: TrainingTask, _ settings: Settings, model: String, directory: String) throws -> Trainer {
    let trainer = try Trainer(task: task, config: try settings.decode(TrainerConfig.self, section: "trainer"), modelName: model,
                              settings: settings.json, directory: directory)
    trainer.interactiveProgress = false
    return trainer
}

/// A fresh folder name under the temporary directory.
func temporaryRunDirectory() -> String {
    FileManager.default.temporaryDirectory.appendingPathComponent("tapestry-run-\(UUID().uuidString)").path
}

func randomTensor(_ shape: [Int], seed: UInt64, low: Double = -1, high: Double = 1) -> Tensor {
    var rng = RandomGenerator(seed: seed)
    return Tensor.uniform(shape, low: low, high: high, dtype: .float64, generator: &rng)
}

/// Whether two sequences have the same length and agree element by element within
/// `tolerance` (a zip alone would pass when the computed side came out empty).
func elementsClose<A: Collection<Double>>(_ a: A, _ b: [Double], within tolerance: Double) -> Bool {
    a.count == b.count && zip(a, b).allSatisfy { Swift.abs($0 - $1) < tolerance }
}
