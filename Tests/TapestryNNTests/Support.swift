import Foundation
import Testing
@testable import Tapestry
@testable import TapestryNN

func fixturePath(_ relative: String) -> String {
    URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures").appendingPathComponent(relative).path
}

func temporaryDirectory() throws -> String {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("tapestry-nn-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

func maxAbsDifference(_ a: [Double], _ b: [Double]) -> Double {
    precondition(a.count == b.count, "compared arrays differ in length: \(a.count) vs \(b.count)")
    return zip(a, b).map { Swift.abs($0 - $1) }.max() ?? 0
}

func randomTensor(_ shape: [Int], seed: UInt64, low: Double = -1, high: Double = 1, dtype: DType = .float64) -> Tensor {
    var rng = RandomGenerator(seed: seed)
    return Tensor.uniform(shape, low: low, high: high, dtype: dtype, generator: &rng)
}

/// Gradcheck of a module's forward with respect to its input and every parameter, in Float64.
func expectModuleGradcheck(_ module: Module, input: Tensor, sourceLocation: SourceLocation = #_sourceLocation,
                           _ forward: @escaping (Tensor) -> Tensor) {
    let report = gradcheck(module, inputs: [input]) { forward($0[0]) }
    #expect(report.passed, "\(report)", sourceLocation: sourceLocation)
}

/// Gradcheck of a function of tensors alone (a loss, a parameter-free layer), in Float64.
func expectGradcheck(_ inputs: [Tensor], sourceLocation: SourceLocation = #_sourceLocation, _ function: @escaping ([Tensor]) -> Tensor) {
    let report = gradcheck(function, inputs: inputs)
    #expect(report.passed && report.checkedValues > 0, "\(report)", sourceLocation: sourceLocation)
}
