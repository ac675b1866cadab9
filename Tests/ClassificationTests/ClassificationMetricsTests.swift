import Testing
import Tapestry
@testable import Classification

@Suite struct ClassificationMetricsTests {
    /// Three examples of three classes, ranks worked out by hand.
    @Test func topKAndConfusionByHand() {
        var metrics = ClassificationMetrics(classes: 3)
        // Example 0: true 2, scores 0.1 0.5 0.9 → predicted 2, top-1 hit.
        // Example 1: true 0, scores 0.3 0.8 0.1 → predicted 1, true class ranks second.
        // Example 2: true 1, scores 0.2 0.2 0.7 → predicted 2, true class ties for second.
        metrics.add(logits: Tensor([0.1, 0.5, 0.9, 0.3, 0.8, 0.1, 0.2, 0.2, 0.7], shape: [3, 3]), labels: [2, 0, 1])
        #expect(metrics.top1Hits == 1 && metrics.count == 3)
        #expect(metrics.top5Hits == 3)
        #expect(metrics.confusion == [[0, 1, 0], [0, 0, 1], [0, 0, 1]])
        // A tie for the top between two classes predicts the lower index and counts as a top-1 hit for both.
        var tie = ClassificationMetrics(classes: 2)
        tie.add(logits: Tensor([1.0, 1.0, 1.0, 1.0], shape: [2, 2]), labels: [0, 1])
        #expect(tie.top1Hits == 2 && tie.confusion == [[1, 0], [1, 0]])
    }
}
