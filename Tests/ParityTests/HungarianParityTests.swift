import Testing
@testable import Parity
@testable import Tapestry

@Suite struct HungarianFixtureParity {
    @Test func reachesScipysTotalsOnTheFixture() throws {
        let report = try ParityCheck.run(try Fixture(path: fixturePath("hungarian.safetensors")), dtype: .float64, runners: DetectionFixtures.runners)
        let failures = report.failures.map { "\($0.name): \($0.note ?? String($0.error))" }
        #expect(report.passed && failures.isEmpty, "\(failures)")
        #expect(report.lines.filter { $0.name.hasPrefix("total.") }.count == 20)
    }
}
