import Foundation

func fixturePath(_ relative: String) -> String {
    URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures").appendingPathComponent(relative).path
}

/// Whether two sequences have the same length and agree element by element within
/// `tolerance` (a zip alone would pass when the computed side came out empty).
func elementsClose<A: Collection<Double>>(_ a: A, _ b: [Double], within tolerance: Double) -> Bool {
    a.count == b.count && zip(a, b).allSatisfy { Swift.abs($0 - $1) < tolerance }
}
