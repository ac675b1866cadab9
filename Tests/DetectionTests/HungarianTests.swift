import Foundation
import Testing
@testable import Detection
@testable import Tapestry
@testable import TapestryNN

/// The optimal total by trying every assignment: an independent path for small matrices.
func bruteForceTotal(_ cost: [Double], rows n: Int, columns m: Int) -> Double {
    let (r, c) = n <= m ? (n, m) : (m, n)
    let at: (Int, Int) -> Double = n <= m ? { cost[$0 * m + $1] } : { cost[$1 * m + $0] }
    var best = Double.infinity
    func search(_ row: Int, _ used: Set<Int>, _ total: Double) {
        if row == r { best = min(best, total); return }
        for col in 0..<c where !used.contains(col) { search(row + 1, used.union([col]), total + at(row, col)) }
    }
    search(0, [], 0)
    return best
}

@Suite struct HungarianMatching {
    @Test func matchesBruteForceOnRandomMatricesWithTies() throws {
        var rng = RandomGenerator(seed: 11)
        for trial in 0..<200 {
            let n = 1 + rng.nextInt(below: 5), m = 1 + rng.nextInt(below: 5)
            // Small integer costs (many ties), sometimes negative, sometimes huge.
            let cost = (0..<(n * m)).map { _ -> Double in
                let base = Double(rng.nextInt(below: 4)) - (trial % 3 == 0 ? 2 : 0)
                return trial % 7 == 0 && rng.nextInt(below: 3) == 0 ? 1e9 : base
            }
            let matching = try LinearAssignment.solve(cost, rows: n, columns: m)
            #expect(matching.rows.count == min(n, m))
            #expect(Set(matching.columns).count == matching.columns.count && matching.rows == matching.rows.sorted())
            #expect(Swift.abs(matching.total - bruteForceTotal(cost, rows: n, columns: m)) <= 1e-9 * max(1, Swift.abs(matching.total)),
                    "trial \(trial): \(n)×\(m) \(cost)")
        }
    }

    @Test func emptyInvalidAndInfeasibleMatrices() throws {
        #expect(try LinearAssignment.solve([], rows: 0, columns: 4) == .init(rows: [], columns: [], total: 0))
        #expect(try LinearAssignment.solve([], rows: 3, columns: 0).rows.isEmpty)
        #expect(throws: LinearAssignment.Failure.invalidCost(row: 1, column: 0)) { try LinearAssignment.solve([1, 2, .nan, 4], rows: 2, columns: 2) }
        #expect(throws: LinearAssignment.Failure.infeasible) { try LinearAssignment.solve([1, .infinity, .infinity, .infinity], rows: 2, columns: 2) }
        // +∞ entries are allowed where a finite assignment exists.
        let matching = try LinearAssignment.solve([.infinity, 1, 2, .infinity], rows: 2, columns: 2)
        #expect(matching.columns == [1, 0] && matching.total == 3)
    }
}
