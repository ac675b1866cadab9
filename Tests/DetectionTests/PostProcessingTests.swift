import Foundation
import Testing
@testable import Detection
@testable import Tapestry

@Suite struct PostProcessingByHand {
    @Test func detrBoxesScoresAndCOCOResults() {
        // One image 200 wide × 100 high, two queries, classes {0, 1} plus no-object.
        let logits = Tensor([0, Foundation.log(3), 0, 0, 0, Foundation.log(6)], shape: [1, 2, 3], dtype: .float64)
        let boxes = Tensor([0.5, 0.5, 0.2, 0.4, 0.25, 0.75, 0.1, 0.1], shape: [1, 2, 4], dtype: .float64)
        let detections = PostProcessing.softmaxDetections(DetectionOutput(logits: logits, boxes: boxes), imageSizes: [(100, 200)])
        // Query 0: probabilities (1, 3, 1)/5 → class 1, score 0.6; box (80, 30, 120, 70).
        #expect(detections[0][0].classIndex == 1 && Swift.abs(detections[0][0].score - 0.6) < 1e-12)
        #expect(zip(detections[0][0].box, [80.0, 30, 120, 70]).allSatisfy { Swift.abs($0 - $1) < 1e-9 })
        // Query 1: (1, 1, 6)/8 → the best real class is 0 (first of the tie) with score 0.125.
        #expect(detections[0][1].classIndex == 0 && Swift.abs(detections[0][1].score - 0.125) < 1e-12)
        let results = PostProcessing.cocoResults(detections, imageIds: [42], categoryIds: [7, 9])
        #expect(results[0].imageId == 42 && results[0].categoryId == 9)
        #expect(zip(results[0].bbox, [80.0, 30, 40, 40]).allSatisfy { Swift.abs($0 - $1) < 1e-9 })
    }
}
