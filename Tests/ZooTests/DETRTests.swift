import Foundation
import Testing
@testable import Detection
@testable import Tapestry
@testable import TapestryNN
@testable import Zoo

func fixturePath(_ relative: String) -> String {
    URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures").appendingPathComponent(relative).path
}

@Suite struct DETRParity {
    @Test(arguments: [DType.float64, .float32])
    func reproducesTheReferenceFixture(_ dtype: DType) throws {
        let report = try ParityCheck.run(try Fixture(path: fixturePath("detr-r50-tiny.safetensors")), dtype: dtype, runners: ZooFixtures.runners)
        #expect(report.passed, "\(report.failures.prefix(12).map { "\($0.name): \($0.note ?? String($0.error))" })")
        #expect(report.lines.count > 500, "outputs, losses, matches, gradients and checksums were all compared")
    }
}
