import Tapestry
import TapestryNN
import Detection

/// Runners for the detection toolkit's fixtures.
public enum DetectionFixtures {
    public static let runners: [String: FixtureRunner] = [
        "hungarian": hungarian,
    ]

    /// shared/fixtures/hungarian.safetensors: every matrix must reach scipy's optimal total
    /// with a complete, valid matching (ties may pick another optimum).
    static func hungarian(_ f: Fixture, _ dtype: DType) throws -> FixtureRun {
        var run = FixtureRun()
        var index = 0
        while let cost = f.file["cost.\(index)"] {
            let (n, m) = (cost.shape[0], cost.shape[1])
            let name = "matrix \(index) (\(n)×\(m))"
            do {
                let matching = try LinearAssignment.solve(cost.doubles(), rows: n, columns: m)
                run.named["total.\(index)"] = Tensor([matching.total], shape: [1], dtype: .float64)
                let complete = matching.rows.count == min(n, m)
                let distinct = Set(matching.rows).count == matching.rows.count && Set(matching.columns).count == matching.columns.count
                let inRange = matching.rows.allSatisfy { $0 >= 0 && $0 < n } && matching.columns.allSatisfy { $0 >= 0 && $0 < m }
                run.checks.append((name + " matching is complete and valid",
                                   complete && distinct && inRange ? nil : "\(matching.rows.count) pairs, distinct \(distinct), in range \(inRange)"))
            } catch {
                run.checks.append((name, "\(error)"))
            }
            index += 1
        }
        if index == 0 { run.checks.append(("cost matrices", "the fixture holds no cost.0")) }
        return run
    }
}
