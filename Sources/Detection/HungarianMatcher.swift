import Tapestry

/// Exact minimum-cost assignment for rectangular cost matrices (the linear sum assignment
/// problem), by shortest augmenting paths with row and column potentials — the Hungarian
/// method of Kuhn (1955) and Munkres (1957) in the O(n²m) form of Jonker & Volgenant (1987).
///
/// For an n×m matrix it matches min(n, m) rows to distinct columns with the smallest total
/// cost, like `scipy.optimize.linear_sum_assignment`, and returns the pairs sorted by row.
/// Ties may be broken differently from scipy; the total is always optimal.
public enum LinearAssignment {
    public struct Matching: Equatable, Sendable {
        public var rows: [Int]
        public var columns: [Int]
        public var total: Double
    }

    public enum Failure: Error, Equatable, CustomStringConvertible {
        case invalidCost(row: Int, column: Int)
        case infeasible

        public var description: String {
            switch self {
            case let .invalidCost(r, c): return "cost matrix entry [\(r), \(c)] is NaN or −∞"
            case .infeasible: return "cost matrix is infeasible: no complete assignment has a finite cost"
            }
        }
    }

    /// Solves the assignment for `cost`, row-major with `rows`×`columns` entries.
    public static func solve(_ cost: [Double], rows n: Int, columns m: Int) throws(Failure) -> Matching {
        check(cost.count == n * m, "LinearAssignment: \(cost.count) costs for a \(n)×\(m) matrix")
        for (index, c) in cost.enumerated() where c.isNaN || c == -.infinity {
            throw .invalidCost(row: index / max(m, 1), column: index % max(m, 1))
        }
        guard n > 0 && m > 0 else { return Matching(rows: [], columns: [], total: 0) }
        // Work with at most as many rows as columns.
        let transposed = n > m
        let (r, c) = transposed ? (m, n) : (n, m)
        let a: (Int, Int) -> Double = transposed ? { i, j in cost[j * m + i] } : { i, j in cost[i * m + j] }

        // 1-based arrays; column 0 is the virtual start of each augmenting path.
        var u = [Double](repeating: 0, count: r + 1), v = [Double](repeating: 0, count: c + 1)
        var owner = [Int](repeating: 0, count: c + 1)      // owner[j] = row matched to column j
        var previous = [Int](repeating: 0, count: c + 1)
        for i in 1...r {
            owner[0] = i
            var j0 = 0
            var shortest = [Double](repeating: .infinity, count: c + 1)
            var visited = [Bool](repeating: false, count: c + 1)
            repeat {
                visited[j0] = true
                let i0 = owner[j0]
                var delta = Double.infinity, j1 = 0
                for j in 1...c where !visited[j] {
                    let reduced = a(i0 - 1, j - 1) - u[i0] - v[j]
                    if reduced < shortest[j] { shortest[j] = reduced; previous[j] = j0 }
                    if shortest[j] < delta { delta = shortest[j]; j1 = j }
                }
                guard delta.isFinite else { throw .infeasible }
                for j in 0...c {
                    if visited[j] { u[owner[j]] += delta; v[j] -= delta } else { shortest[j] -= delta }
                }
                j0 = j1
            } while owner[j0] != 0
            repeat {                                           // flip the augmenting path
                let j1 = previous[j0]
                owner[j0] = owner[j1]
                j0 = j1
            } while j0 != 0
        }
        var pairs: [(Int, Int)] = []
        for j in 1...c where owner[j] != 0 {
            pairs.append(transposed ? (j - 1, owner[j] - 1) : (owner[j] - 1, j - 1))
        }
        pairs.sort { $0.0 < $1.0 }
        let total = pairs.reduce(0.0) { $0 + cost[$1.0 * m + $1.1] }
        return Matching(rows: pairs.map(\.0), columns: pairs.map(\.1), total: total)
    }
}
