import Foundation
import Testing
@testable import Detection
@testable import Tapestry

@Suite struct PostProcessingByHand {
    @Test func detrBoxesScoresAndCOCOResults() {
        // One image 200 wide × 100 high, two queries, classes {0, 1} plus no-object.
        let logits = Tensor([0, Foundation.log(3), 0, 0, 0, Foundation.log(6)], shape: [1, 2, 3], dtype: .float64)
        let boxes = Tensor([0.5, 0.5, 0.2, 0.4, 0.25, 0.75, 0.1, 0.1], shape: [1, 2, 4], dtype: .float64)
        let detections = PostProcessor.softmax.detections(DetectionOutput(logits: logits, boxes: boxes), imageSizes: [(100, 200)])
        // Query 0: probabilities (1, 3, 1)/5 → class 1, score 0.6; box (80, 30, 120, 70).
        #expect(detections[0][0].classIndex == 1 && Swift.abs(detections[0][0].score - 0.6) < 1e-12)
        #expect(elementsClose(detections[0][0].box, [80.0, 30, 120, 70], within: 1e-9))
        // Query 1: (1, 1, 6)/8 → the best real class is 0 (first of the tie) with score 0.125.
        #expect(detections[0][1].classIndex == 0 && Swift.abs(detections[0][1].score - 0.125) < 1e-12)
        let results = PostProcessing.cocoResults(detections, imageIds: [42], categoryIds: [7, 9])
        #expect(results[0].imageId == 42 && results[0].categoryId == 9)
        #expect(elementsClose(results[0].bbox, [80.0, 30, 40, 40], within: 1e-9))
    }

    @Test func sigmoidTopKRanksQueriesTimesClasses() {
        // Two images 100 × 100, two queries, two classes. Logits log(p/(1−p)) give σ = p exactly.
        func logit(_ p: Double) -> Double { Foundation.log(p / (1 - p)) }
        let logits = Tensor([0.2, 0.9, 0.6, 0.1, /* image 1 */ 0.3, 0.3, 0.8, 0.05].map(logit), shape: [2, 2, 2], dtype: .float64)
        let boxes = Tensor([0.5, 0.5, 0.2, 0.2, 0.1, 0.1, 0.2, 0.2, 0.5, 0.5, 1, 1, 0.25, 0.25, 0.5, 0.5], shape: [2, 2, 4], dtype: .float64)
        let detections = PostProcessor.sigmoidTopK(3).detections(DetectionOutput(logits: logits, boxes: boxes), imageSizes: [(100, 100), (100, 200)])
        // Image 0: scores by (query, class) 0.2, 0.9, 0.6, 0.1 → (q0, c1) 0.9, (q1, c0) 0.6, (q0, c0) 0.2.
        #expect(detections[0].map(\.classIndex) == [1, 0, 0])
        #expect(elementsClose(detections[0].map(\.score), [0.9, 0.6, 0.2], within: 1e-12))
        #expect(elementsClose(detections[0][1].box, [0.0, 0, 20, 20], within: 1e-9))
        // Image 1 (200 wide): (q1, c0) 0.8, then the tie 0.3/0.3 in index order: (q0, c0), (q0, c1).
        #expect(detections[1].map(\.classIndex) == [0, 0, 1])
        #expect(elementsClose(detections[1][0].box, [0.0, 0, 100, 50], within: 1e-9))
        #expect(elementsClose(detections[1][1].box, [0.0, 0, 200, 100], within: 1e-9))
        // Asking for more than Q·C returns all four.
        #expect(PostProcessor.sigmoidTopK(100).detections(DetectionOutput(logits: logits, boxes: boxes), imageSizes: [(1, 1), (1, 1)])[0].count == 4)
    }

    /// SMCA's logits keep DETR's no-object column as a sigmoid output; it is left out, so the
    /// top-k ranks real classes only, and labels count C real classes.
    @Test func sigmoidTopKLeavesOutTheNoObjectColumn() {
        func logit(_ p: Double) -> Double { Foundation.log(p / (1 - p)) }
        // One image, two queries, classes {0, 1} and the no-object column (0.95, 0.99 would win).
        let logits = Tensor([0.3, 0.7, 0.95, /* query 1 */ 0.4, 0.1, 0.99].map(logit), shape: [1, 2, 3], dtype: .float64)
        let boxes = Tensor([0.5, 0.5, 0.2, 0.2, 0.25, 0.25, 0.5, 0.5], shape: [1, 2, 4], dtype: .float64)
        let detections = PostProcessor.sigmoidTopK(3, noObjectColumn: true).detections(DetectionOutput(logits: logits, boxes: boxes), imageSizes: [(100, 100)])
        // Scores by (query, class): 0.3, 0.7, 0.4, 0.1 → (q0, c1) 0.7, (q1, c0) 0.4, (q0, c0) 0.3.
        #expect(detections[0].map(\.classIndex) == [1, 0, 0])
        #expect(elementsClose(detections[0].map(\.score), [0.7, 0.4, 0.3], within: 1e-12))
        #expect(elementsClose(detections[0][1].box, [0.0, 0, 50, 50], within: 1e-9))
    }
}
