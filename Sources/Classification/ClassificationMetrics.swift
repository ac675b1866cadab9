import Tapestry

/// Top-k accuracy and the confusion matrix of a classifier's predictions.
public struct ClassificationMetrics: Sendable, Equatable {
    /// confusion[t][p]: examples of true class t predicted as p (top-1).
    public private(set) var confusion: [[Int]]
    public private(set) var top1Hits = 0
    public private(set) var top5Hits = 0
    public private(set) var count = 0

    public init(classes: Int) { confusion = Array(repeating: Array(repeating: 0, count: classes), count: classes) }

    /// Adds a batch: logits [B, classes] and the true labels. An example is a top-k hit when
    /// fewer than k classes score strictly higher than its true class (so ties count as hits).
    public mutating func add(logits: Tensor, labels: [Int]) {
        check(logits.rank == 2 && logits.shape[0] == labels.count && logits.shape[1] == confusion.count,
              "ClassificationMetrics: logits \(logits.shape) for \(labels.count) labels of \(confusion.count) classes")
        let classes = logits.shape[1], values = logits.doubles()
        for (b, label) in labels.enumerated() {
            let row = values[(b * classes)..<((b + 1) * classes)]
            let above = row.filter { $0 > row[row.startIndex + label] }.count
            top1Hits += above < 1 ? 1 : 0
            top5Hits += above < 5 ? 1 : 0
            let predicted = row.indices.max { row[$0] < row[$1] || (row[$0] == row[$1] && $0 > $1) }! - row.startIndex
            confusion[label][predicted] += 1
            count += 1
        }
    }

    public var top1: Double { count == 0 ? 0 : Double(top1Hits) / Double(count) }
    public var top5: Double { count == 0 ? 0 : Double(top5Hits) / Double(count) }

    /// The matrix as text: one row per true class, columns the predictions.
    public func confusionTable(names: [String]) -> String {
        let width = max(5, (confusion.joined().max() ?? 0).description.count + 1)
        let label = names.map(\.count).max() ?? 0
        var lines = [String(repeating: " ", count: label + 2) + (0..<confusion.count).map { String($0).leftPadded(width) }.joined() + "   (columns: predicted class index)"]
        for (t, row) in confusion.enumerated() {
            let name = t < names.count ? names[t] : "\(t)"
            lines.append(name.padding(toLength: label, withPad: " ", startingAt: 0) + String(t).leftPadded(2) + row.map { String($0).leftPadded(width) }.joined())
        }
        return lines.joined(separator: "\n")
    }
}

extension String {
    func leftPadded(_ width: Int) -> String { String(repeating: " ", count: max(0, width - count)) + self }
}
