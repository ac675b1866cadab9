import Foundation
import Testing
@testable import Detection
@testable import Tapestry

/// Float64 central-difference checks of the detection losses: GIoU, and the whole set
/// criterion (matching held fixed, as it is in training) for both class scorings.
@Suite struct CriterionGradientTests {
    func random(_ shape: [Int], seed: UInt64, low: Double = -1, high: Double = 1) -> Tensor {
        var rng = RandomGenerator(seed: seed)
        return Tensor.uniform(shape, low: low, high: high, dtype: .float64, generator: &rng)
    }

    func expectGradcheck(_ inputs: [Tensor], sourceLocation: SourceLocation = #_sourceLocation, _ function: @escaping ([Tensor]) throws -> Tensor) {
        let report = gradcheck({ try! function($0) }, inputs: inputs)
        #expect(report.passed && report.checkedValues > 0, "\(report)", sourceLocation: sourceLocation)
    }

    /// Valid cxcywh boxes from unconstrained values (as a detector's head makes them).
    func boxes(_ raw: Tensor) -> Tensor { raw.sigmoid() * 0.5 + 0.25 }

    @Test func generalizedIoU() {
        // Five against four boxes: overlapping, nested and disjoint pairs.
        let a = random([5, 4], seed: 1, low: -3, high: 3), b = random([4, 4], seed: 2, low: -3, high: 3)
        expectGradcheck([a, b]) { try Boxes.generalizedIoU(Boxes.cxcywhToXyxy(boxes($0[0])), Boxes.cxcywhToXyxy(boxes($0[1]))) }
    }

    @Test(arguments: [ClassScoring.softmax(noObjectWeight: 0.1), .sigmoidFocal(alpha: 0.25, gamma: 2)])
    func setCriterion(_ scoring: ClassScoring) {
        let classes = 3, columns = { if case .softmax = scoring { return classes + 1 } else { return classes } }()
        let matcher = HungarianMatcher(scoring: scoring, costClass: 2, costBbox: 5, costGiou: 2)
        let criterion = SetCriterion(matcher: matcher, weights: ["loss_ce": 2, "loss_bbox": 5, "loss_giou": 2])
        // Two images, 4 queries, one auxiliary layer; the second image has no objects.
        let targets = [DetectionTarget(labels: Tensor([2, 0] as [Int64]), boxes: Tensor([0.3, 0.4, 0.2, 0.3, 0.6, 0.6, 0.3, 0.2] as [Double], shape: [2, 4])),
                       DetectionTarget(labels: Tensor([] as [Int64], shape: [0]), boxes: Tensor([] as [Double], shape: [0, 4], dtype: .float64))]
        let inputs = [random([2, 4, columns], seed: 3, low: -2, high: 2), random([2, 4, 4], seed: 4, low: -3, high: 3),
                      random([2, 4, columns], seed: 5, low: -2, high: 2), random([2, 4, 4], seed: 6, low: -3, high: 3)]
        expectGradcheck(inputs) { x in
            let prediction = SetPrediction(layers: [DetectionOutput(logits: x[2], boxes: boxes(x[3])), DetectionOutput(logits: x[0], boxes: boxes(x[1]))])
            return try criterion(prediction, targets: targets).total
        }
    }
}
